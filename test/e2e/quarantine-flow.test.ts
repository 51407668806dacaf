/**
 * Issue 7 end to end (privileged): a real pod in the containerd harness raises an alert through a
 * real agent (procfs source, CRI), the alert reaches a real collector over the mutual-TLS link, a
 * response policy quarantines the pod: the fake Kubernetes API server shows the label and the
 * NetworkPolicy, the agent cut the pod's network namespace (nftables table, connections time
 * out), and the audit log shows every step and verifies. Release through `vigil release` undoes
 * everything. A viewer token is refused; a kube-system pod raising the same alert is never
 * quarantined by the policy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../cli/main.js';
import type { AuditRecord } from '../../collector/response/audit-log.js';
import type { Quarantine } from '../../collector/response/quarantine-store.js';
import type { Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import {
  podQuarantineTable,
  POD_HTTP_PORT,
  startResponseNode,
  tcpProbe,
  until,
  type ResponseNode,
  collectorApi,
} from '../support/response-node.js';

const RULE = 'Marked sleep in a pod';
const rules = `- rule: ${RULE}
  desc: the test pods run sleep 4711 on cue
  condition: evt.type = execve and container.id != host and proc.name = sleep and proc.cmdline contains 4711
  output: "marked sleep (cmd=%proc.cmdline ns=%k8s.ns.name pod=%k8s.pod.name)"
  priority: CRITICAL
  tags: [e2e, shell]
`;

/** Runs `vigil ARGS` in this process; its exit code and output. */
async function vigil(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        append(chunk.toString('utf8'));
        cb();
      },
    });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(args, {
      stdin: process.stdin,
      stdout: sink((s) => (out += s)),
      stderr: sink((s) => (err += s)),
    });
    return { code, out, err };
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
  }
}

describe('quarantine end to end (privileged: pods, agent, collector, fake Kubernetes API)', function () {
  this.timeout(180_000);
  let work: string;
  let rig: ResponseNode | undefined;
  let web: Pod;
  let dns: Pod;

  const api = <T>(path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> =>
    collectorApi<T>(rig!.api, path, token, body);
  const podLabels = (pod: Pod): Record<string, string> =>
    rig?.kube?.getPod(pod.namespace, pod.name)?.metadata.labels ?? {};
  const policies = (ns: string): string[] =>
    (rig?.kube?.networkPolicies(ns) ?? []).map((p) => p.metadata.name ?? '');

  before(async function () {
    requirePrivileged(this, ['nft', 'nsenter']);
    work = mkdtempSync(join(tmpdir(), 'vigil-quarantine-flow-'));
    rig = await startResponseNode({
      name: 'qflow',
      work,
      rules,
      sources: ['procfs:'],
      policies: [
        {
          name: 'marked-sleep',
          match: { rules: [RULE], priority: 'error', tags: ['shell'] },
          action: 'quarantine',
          rate_limit: { max: 10, per: '1m' },
        },
      ],
    });
    web = await rig.runPod({ name: 'web-7d9f', namespace: 'shop', labels: { app: 'web' } });
    dns = await rig.runPod({
      name: 'coredns-5c7b',
      namespace: 'kube-system',
      labels: { k8s_app: 'kube-dns' },
    });
  });

  after(async () => {
    await rig?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  let quarantineId = '';

  it('alert -> policy -> label and NetworkPolicy in Kubernetes -> the pod netns cut -> audited', async () => {
    assert.ok(rig !== undefined);
    assert.equal(await tcpProbe(web.ip, POD_HTTP_PORT, 1000), 'open');
    assert.equal(await podQuarantineTable(web), '');
    await web.exec(['sh', '-c', 'sleep 4711 >/dev/null 2>&1 &']);

    const svc = rig.collector.response.service;
    await until(
      'the policy quarantine to be active',
      () => svc.openFor('shop', web.name)?.state === 'active',
      30_000,
    );
    await until('both layers answered', () => {
      const q = svc.openFor('shop', web.name);
      return q?.layers.kubernetes.state !== 'pending' && q?.layers.node.state === 'applied';
    });
    const q = svc.openFor('shop', web.name) as Quarantine;
    quarantineId = q.id;
    assert.equal(q.actor, 'policy:marked-sleep');
    assert.equal(q.node, rig.nodeName);
    assert.equal(q.podUid, web.uid);
    assert.equal(q.layers.kubernetes.state, 'applied', q.layers.kubernetes.detail);
    const alert = rig.collector.store.getAlert(q.alertId ?? '');
    assert.equal(alert?.alert.rule, RULE);

    // Kubernetes: the label on the pod, the deny-all policy in its namespace.
    assert.equal(podLabels(web)['vigil.dev/quarantine'], q.id);
    assert.deepEqual(policies('shop'), ['vigil-quarantine']);
    // Node: the table in the pod's netns, and connections to the pod time out.
    assert.match(await podQuarantineTable(web), /table inet vigil_quarantine/);
    assert.equal(await tcpProbe(web.ip, POD_HTTP_PORT, 1000), 'timeout');

    // The audit log: every step, the policy as actor, the alert linked, the chain intact.
    const { body: page } = await api<{ records: AuditRecord[] }>(
      `/api/v1/audit?quarantine=${q.id}`,
      rig.tokens.viewer,
    );
    const steps = page.records.reverse().map((r) => `${r.actor} ${r.action}`);
    assert.deepEqual(steps, [
      'policy:marked-sleep quarantine.requested',
      'policy:marked-sleep quarantine.kubernetes',
      'policy:marked-sleep quarantine.node',
      'policy:marked-sleep quarantine.applied',
    ]);
    assert.ok(
      page.records.every((r) => r.alertId === q.alertId && r.namespace === 'shop' && r.pod === web.name),
    );
    const all = rig.collector.response.audit.list().records;
    assert.ok(all.some((r) => r.action === 'policy.matched' && r.alertId === q.alertId));
    const { body: verify } = await api<{ ok: boolean; records: number }>(
      '/api/v1/audit/verify',
      rig.tokens.viewer,
    );
    assert.equal(verify.ok, true);

    // `vigil quarantines` shows it with each layer's state.
    const listed = await vigil(['quarantines', '--collector', rig.api, '--token', rig.tokens.viewer]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(
      listed.out,
      new RegExp(
        `${q.id}\\s+shop/${web.name}\\s+active\\s+kubernetes applied, node applied\\s+${rig.nodeName}`,
      ),
    );
  });

  it('refuses a viewer token, over the API and in the CLI', async () => {
    assert.ok(rig !== undefined);
    const r = await api<{ error: string }>('/api/v1/quarantines', rig.tokens.viewer, {
      namespace: 'shop',
      pod: web.name,
      reason: 'viewer tries',
    });
    assert.equal(r.status, 403);
    const cli = await vigil(['release', quarantineId, '--reason', 'viewer tries'], {
      VIGIL_COLLECTOR: rig.api,
      VIGIL_TOKEN: rig.tokens.viewer,
    });
    assert.equal(cli.code, 1);
    assert.match(
      cli.err,
      /not allowed to release .*role viewer; this needs responder.*need a responder or admin token/,
    );
    assert.equal(rig.collector.response.service.get(quarantineId)?.state, 'active');
  });

  it('release through `vigil release POD --namespace` undoes both layers and is audited', async () => {
    assert.ok(rig !== undefined);
    const cli = await vigil(
      [
        'release',
        web.name,
        '--namespace',
        'shop',
        '--reason',
        'investigated: test marker',
        '--collector',
        rig.api,
      ],
      { VIGIL_TOKEN: rig.tokens.responder },
    );
    assert.equal(cli.code, 0, cli.err + cli.out);
    assert.match(cli.out, new RegExp(`${quarantineId}\\s+shop/${web.name}\\s+released`));
    assert.equal(podLabels(web)['vigil.dev/quarantine'], undefined);
    assert.deepEqual(policies('shop'), []);
    assert.equal(await podQuarantineTable(web), '');
    assert.equal(await tcpProbe(web.ip, POD_HTTP_PORT, 1000), 'open');
    const steps = rig.collector.response.audit
      .list({ quarantineId })
      .records.slice(0, 4)
      .reverse()
      .map((r) => `${r.actor} ${r.action}`);
    assert.deepEqual(steps, [
      'token:responder-token release.requested',
      'token:responder-token release.kubernetes',
      'token:responder-token release.node',
      'token:responder-token release.completed',
    ]);
    const verify = await vigil(['audit', 'verify', '--store', join(work, 'collector', 'collector.db')]);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /audit log intact: \d+ records; newest hash [0-9a-f]{64}/);
  });

  it('an on-call quarantine from the CLI with --alert, and its release', async () => {
    assert.ok(rig !== undefined);
    const alertId = rig.collector.response.service.get(quarantineId)?.alertId ?? '';
    const env = { VIGIL_COLLECTOR: rig.api, VIGIL_TOKEN: rig.tokens.responder };
    const started = await vigil(
      ['quarantine', '--alert', alertId, '--reason', 'on-call: re-check', '--json'],
      env,
    );
    assert.equal(started.code, 0, started.err);
    const q = JSON.parse(started.out) as Quarantine;
    assert.equal(q.actor, 'token:responder-token');
    assert.equal(q.pod, web.name);
    assert.equal(q.layers.node.state, 'applied');
    assert.equal(q.layers.kubernetes.state, 'applied');
    assert.equal(await tcpProbe(web.ip, POD_HTTP_PORT, 1000), 'timeout');
    const released = await vigil(['release', q.id, '--reason', 'done'], env);
    assert.equal(released.code, 0, released.err);
    assert.equal(await tcpProbe(web.ip, POD_HTTP_PORT, 1000), 'open');
  });

  it('never quarantines kube-system by policy (the alert is stored; the decision is audited)', async () => {
    assert.ok(rig !== undefined);
    const r = rig;
    await dns.exec(['sh', '-c', 'sleep 4711 >/dev/null 2>&1 &']);
    await until(
      'the kube-system alert',
      () => r.collector.store.queryAlerts({ namespace: 'kube-system', limit: 10 }).alerts.length > 0,
    );
    await until('the policy decision', () =>
      r.collector.response.audit
        .list()
        .records.some((x) => x.action === 'policy.never_namespace' && x.namespace === 'kube-system'),
    );
    assert.equal(r.collector.response.service.list({ namespace: 'kube-system' }).length, 0);
    assert.equal(podLabels(dns)['vigil.dev/quarantine'], undefined);
    assert.deepEqual(policies('kube-system'), []);
    assert.equal(await podQuarantineTable(dns), '');
    assert.equal(await tcpProbe(dns.ip, POD_HTTP_PORT, 1000), 'open');
    assert.equal(r.collector.response.audit.verify().ok, true);
  });
});
