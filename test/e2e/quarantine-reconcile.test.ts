/**
 * No quarantine outlives its release (privileged): a real pod in the containerd harness, a real
 * agent (CRI, nftables enforcement, its quarantine store) and a real collector without a
 * Kubernetes layer, so that quarantines are broadcast to the agents. The mutual-TLS link runs
 * through a TCP relay the test controls (test/support/tcp-relay.ts).
 *
 * The agent applies a broadcast quarantine but its answer is held in the relay, and the link is
 * cut: the collector never learns which node has the pod. The release, made while the agent is
 * away, reaches nobody; the pod stays cut. When the agent reconnects, its Hello reports the
 * quarantine it holds, the collector sends it the release, and the cut and the record are gone.
 * A control: an active quarantine reported the same way is kept. And a quarantine whose record
 * the collector lost is adopted from the agent's report and released through the API.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../collector/response/audit-log.js';
import type { Quarantine } from '../../collector/response/quarantine-store.js';
import type { Enforcement } from '../../agent/enforce/enforcement.js';
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

describe('quarantine reconciled on reconnect (privileged: pod, agent, collector, link through a relay)', function () {
  this.timeout(180_000);
  let work: string;
  let rig: ResponseNode | undefined;
  let pod: Pod;

  const api = <T>(path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> =>
    collectorApi<T>(rig!.api, path, token, body);
  const enforcement = (): Enforcement => {
    const e = rig?.agent.enforcement;
    if (e === undefined) throw new Error('the agent runs no enforcement');
    return e;
  };
  const heldIds = (): string[] =>
    enforcement()
      .report()
      .held.map((q) => q.quarantineId);
  const connected = (): boolean => rig!.collector.ingest.connectedNodes().includes(rig!.nodeName);
  const reconciled = async (outcome: string): Promise<number> => {
    const metric = (await rig!.collector.registry.getMetricsAsJSON()).find(
      (m) => m.name === 'vigil_collector_quarantine_reconciled_total',
    );
    return metric?.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
  };
  const auditOf = async (id: string): Promise<AuditRecord[]> => {
    const { body } = await api<{ records: AuditRecord[] }>(
      `/api/v1/audit?quarantine=${id}`,
      rig!.tokens.viewer,
    );
    return body.records.reverse();
  };
  /** Cuts the link and waits for the agent's next stream to be welcomed. */
  const reconnect = async (): Promise<void> => {
    const relay = rig!.relay!;
    const before = relay.connections;
    relay.cut();
    await until('the agent to reconnect', () => relay.connections > before && connected(), 30_000);
  };

  before(async function () {
    requirePrivileged(this, ['nft', 'nsenter']);
    work = mkdtempSync(join(tmpdir(), 'vigil-quarantine-reconcile-'));
    rig = await startResponseNode({ name: 'qsync', work, kube: false, relay: true });
    pod = await rig.runPod({ name: 'web-1', namespace: 'shop', labels: { app: 'web' } });
  });

  after(async () => {
    await rig?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a broadcast applied by an agent that went away before answering, released meanwhile: released on reconnect', async () => {
    assert.ok(rig?.relay !== undefined);
    const relay = rig.relay;
    assert.equal(await tcpProbe(pod.ip, POD_HTTP_PORT, 1000), 'open');
    assert.deepEqual(heldIds(), []);

    // The command reaches the agent; its answer stays in the relay.
    relay.holdUpstream();
    const started = api<Quarantine>('/api/v1/quarantines', rig.tokens.responder, {
      namespace: 'shop',
      pod: pod.name,
      reason: 'e2e: broadcast',
    });
    await until('the agent to hold the quarantine', () => heldIds().length === 1, 30_000);
    assert.match(await podQuarantineTable(pod), /table inet vigil_quarantine/);
    // The agent goes away before its answer arrived.
    relay.refuse(true);
    relay.cut();
    const { status, body: q } = await started;
    assert.equal(status, 201);
    assert.equal(q.state, 'active');
    assert.equal(q.node, null, 'no node confirmed the quarantine');
    assert.equal(q.layers.node.state, 'pending');
    assert.deepEqual(heldIds(), [q.id]);
    await until('the collector to see the agent gone', () => !connected());

    // Released while the agent is away: the broadcast release reaches nobody.
    const released = await api<Quarantine>(`/api/v1/quarantines/${q.id}/release`, rig.tokens.responder, {
      reason: 'e2e: false positive',
    });
    assert.equal(released.status, 200);
    assert.equal(released.body.state, 'released');
    assert.equal(await tcpProbe(pod.ip, POD_HTTP_PORT, 1000), 'timeout', 'the agent still cuts the pod');
    assert.deepEqual(heldIds(), [q.id]);

    // Back: the Hello reports the quarantine, the collector releases it on this node.
    relay.refuse(false);
    await until('the agent to reconnect', () => connected(), 30_000);
    await until('the agent to drop its record', () => heldIds().length === 0, 30_000);
    assert.equal(await podQuarantineTable(pod), '');
    await until(
      'the pod to answer again',
      async () => (await tcpProbe(pod.ip, POD_HTTP_PORT, 500)) === 'open',
      10_000,
      100,
    );
    assert.equal(await reconciled('released'), 1);
    const records = await auditOf(q.id);
    const rec = records.find((r) => r.action === 'release.node.reconciled');
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.detail['node'], rig.nodeName);
    assert.equal(rec?.detail['state'], 'released');
    assert.match(String(rec?.detail['why']), /was released/);
    assert.equal(rig.collector.response.service.get(q.id)?.state, 'released');
    const { body: verify } = await api<{ ok: boolean; records: number }>(
      '/api/v1/audit/verify',
      rig.tokens.viewer,
    );
    assert.equal(verify.ok, true);
    assert.ok(verify.records > 0);
  });

  it('control: an active quarantine the agent reports on reconnect stays in place', async () => {
    assert.ok(rig !== undefined);
    const { status, body: q } = await api<Quarantine>('/api/v1/quarantines', rig.tokens.responder, {
      namespace: 'shop',
      pod: pod.name,
      reason: 'e2e: active',
    });
    assert.equal(status, 201);
    assert.equal(q.state, 'active');
    assert.equal(q.node, rig.nodeName);
    assert.equal(q.layers.node.state, 'applied');
    const inStep = await reconciled('in_step');
    await reconnect();
    await until('the report to be reconciled', async () => (await reconciled('in_step')) > inStep, 10_000);
    assert.deepEqual(heldIds(), [q.id]);
    assert.match(await podQuarantineTable(pod), /table inet vigil_quarantine/);
    assert.equal(await tcpProbe(pod.ip, POD_HTTP_PORT, 1000), 'timeout');
    assert.equal(rig.collector.response.service.get(q.id)?.state, 'active');
    assert.ok((await auditOf(q.id)).every((r) => r.action !== 'release.node.reconciled'));
    assert.equal(await reconciled('released'), 1);

    // And released the ordinary way, it goes.
    const released = await api<Quarantine>(`/api/v1/quarantines/${q.id}/release`, rig.tokens.responder, {
      reason: 'e2e: done',
    });
    assert.equal(released.body.state, 'released');
    assert.deepEqual(heldIds(), []);
    assert.equal(await podQuarantineTable(pod), '');
    const { body: verify } = await api<{ ok: boolean }>('/api/v1/audit/verify', rig.tokens.viewer);
    assert.equal(verify.ok, true);
  });

  it('a quarantine the collector lost is adopted when the agent reports it, and released through the API', async () => {
    assert.ok(rig !== undefined);
    const { status, body: q } = await api<Quarantine>('/api/v1/quarantines', rig.tokens.responder, {
      namespace: 'shop',
      pod: pod.name,
      reason: 'e2e: to be lost',
    });
    assert.equal(status, 201);
    assert.equal(q.layers.node.state, 'applied');
    assert.deepEqual(heldIds(), [q.id]);
    // The collector loses the record (as with a database restored from before it was made).
    const db = new Database(join(work, 'collector', 'collector.db'), { timeout: 5000 });
    try {
      assert.equal(db.prepare('DELETE FROM quarantines WHERE id = ?').run(q.id).changes, 1);
    } finally {
      db.close();
    }
    assert.equal((await api(`/api/v1/quarantines/${q.id}`, rig.tokens.viewer)).status, 404);
    assert.equal(await tcpProbe(pod.ip, POD_HTTP_PORT, 1000), 'timeout', 'the agent still cuts the pod');

    await reconnect();
    await until('the adoption', async () => (await reconciled('adopted_unknown')) === 1, 10_000);
    const { status: got, body: adopted } = await api<Quarantine>(
      `/api/v1/quarantines/${q.id}`,
      rig.tokens.viewer,
    );
    assert.equal(got, 200);
    assert.equal(adopted.state, 'active');
    assert.equal(adopted.node, rig.nodeName);
    assert.equal(adopted.actor, 'collector');
    assert.equal(adopted.podUid, pod.uid);
    assert.equal(adopted.layers.node.state, 'applied');
    assert.equal(adopted.layers.kubernetes.state, 'skipped');
    assert.match(adopted.reason, /reported by the agent on node .*; no record of it here/);
    assert.deepEqual(heldIds(), [q.id], 'adopting changes nothing on the node');
    assert.ok((await auditOf(q.id)).some((r) => r.action === 'quarantine.adopted-from-agent'));

    const released = await api<Quarantine>(`/api/v1/quarantines/${q.id}/release`, rig.tokens.responder, {
      reason: 'e2e: adopted, released',
    });
    assert.equal(released.status, 200);
    assert.equal(released.body.state, 'released');
    assert.equal(released.body.layers.node.state, 'released');
    assert.deepEqual(heldIds(), []);
    assert.equal(await podQuarantineTable(pod), '');
    await until(
      'the pod to answer again',
      async () => (await tcpProbe(pod.ip, POD_HTTP_PORT, 500)) === 'open',
      10_000,
      100,
    );
    const { body: verify } = await api<{ ok: boolean }>('/api/v1/audit/verify', rig.tokens.viewer);
    assert.equal(verify.ok, true);
  });
});
