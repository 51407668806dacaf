/**
 * The real agent with exactly the DaemonSet's capabilities, on a real node (privileged): the
 * `vigil agent` process runs as root with every capability but those of
 * deploy/kubernetes/agent-daemonset.yaml dropped (`setpriv --bounding-set`, as the container
 * runtime does for `drop: [ALL]` + `add: [...]`), with the configuration of the ConfigMap (eBPF
 * source, enforcement on), the containerd harness's CRI socket and real pods, shipping to a real
 * collector process. With the set, the eBPF sensor runs and a quarantine is applied on the node
 * and released; without CAP_SYS_ADMIN, or without CAP_SYS_PTRACE, the node layer of the same
 * quarantine fails, so neither is there for nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_SENSOR_PATH } from '../../agent/sources/ebpf/ebpf-source.js';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { initCertificateDirectory, issueAgentFiles } from '../../collector/certs/certificate-directory.js';
import { startNodeInABox, type NodeInABox, type Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import { arr, at, kindOf, obj, parseManifests, plainManifests } from './manifests.js';
import { daemon, fetchText, vigilCli, type Daemon } from './vigil-stack.js';

const NODE = 'lp-node';

interface LayerState {
  state: string;
  detail: string;
}
interface QuarantineBody {
  id: string;
  state: string;
  layers: { kubernetes: LayerState; node: LayerState };
}

describe('the agent with only the DaemonSet capabilities, on a real node (privileged)', function () {
  this.timeout(240_000);
  let node: NodeInABox | undefined;
  let collector: Daemon | undefined;
  let agent: Daemon | undefined;
  let work = '';
  let api = '';
  let token = '';
  let caps: string[] = [];
  let agentConfigFile = '';
  const pods: Pod[] = [];

  const startAgent = async (withCaps: readonly string[]): Promise<Daemon> => {
    const bounding = ['-all', ...withCaps.map((c) => `+${c.toLowerCase()}`)].join(',');
    const d = daemon(
      ['agent', '--config', agentConfigFile],
      ['setpriv', '--bounding-set', bounding, '--inh-caps', '-all', '--ambient-caps', '-all'],
    );
    await d.logged('the link to the collector', (r) => r['msg'] === 'connected to the collector', 60_000);
    return d;
  };
  const request = async (path: string, body: unknown): Promise<{ status: number; body: QuarantineBody }> => {
    const res = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as QuarantineBody };
  };
  const quarantine = (pod: Pod): Promise<{ status: number; body: QuarantineBody }> =>
    request('/api/v1/quarantines', {
      namespace: pod.namespace,
      pod: pod.name,
      reason: 'least-privilege test',
    });
  const podTable = (pod: Pod): string =>
    spawnSync('nsenter', [`--net=${pod.netnsPath}`, 'nft', 'list', 'table', 'inet', 'vigil_quarantine'], {
      encoding: 'utf8',
    }).stdout;

  before(async function () {
    requirePrivileged(this, ['setpriv', 'nsenter', 'nft', 'conntrack']);
    if (!existsSync(DEFAULT_SENSOR_PATH)) {
      const why = `the eBPF sensor is not built at ${DEFAULT_SENSOR_PATH} (npm run build, with clang, libbpf-dev and bpftool)`;
      if (process.env['CI'] === 'true') throw new Error(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const manifests = plainManifests();
    const ds = manifests.find((m) => kindOf(m) === 'DaemonSet');
    caps = arr(
      at(obj(arr(at(ds?.doc, 'spec.template.spec.containers'))[0]), 'securityContext.capabilities.add'),
    ).map(String);
    // The agent's configuration as the ConfigMap has it, with this machine's paths.
    const cm = manifests.find(
      (m) => kindOf(m) === 'ConfigMap' && obj(m.doc['data'])['agent.yaml'] !== undefined,
    );
    const shipped = parseManifests(String(obj(cm?.doc['data'])['agent.yaml']), 'agent.yaml')[0]?.doc ?? {};

    work = mkdtempSync(join(tmpdir(), 'vigil-least-privilege-'));
    node = await startNodeInABox({ name: 'deplp' });
    const certs = join(work, 'certs');
    initCertificateDirectory(certs, defaultCollectorNames('vigil'));
    issueAgentFiles(certs, NODE);
    collector = daemon([
      'collector',
      '--data-dir',
      join(work, 'collector'),
      '--tls-dir',
      join(certs, 'collector'),
      '--grpc-listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ]);
    const up = await collector.logged('"collector started"', (r) => r['msg'] === 'collector started');
    api = `http://${String(up['http'])}`;
    const created = spawnSync(
      process.execPath,
      [
        vigilCli,
        'tokens',
        'create',
        '--name',
        'lp',
        '--role',
        'responder',
        '--db',
        join(work, 'collector', 'collector.db'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(created.status, 0, created.stderr);
    token = created.stdout.trim();

    const agentTls = join(certs, 'agents', NODE);
    agentConfigFile = join(work, 'agent.yaml');
    writeFileSync(
      agentConfigFile,
      stringify({
        ...shipped,
        node: NODE,
        data_dir: join(work, 'agent'),
        outputs: ['none'],
        http: { listen: '127.0.0.1:0' },
        cri: { socket: node.criSocket },
        collector: {
          address: `127.0.0.1:${String(up['grpcPort'])}`,
          ca: join(agentTls, 'ca.crt'),
          cert: join(agentTls, 'tls.crt'),
          key: join(agentTls, 'tls.key'),
        },
      }),
    );
    assert.deepEqual(shipped['sources'], ['ebpf:']);
    assert.equal(obj(shipped['enforce'])['enabled'], true);
    agent = await startAgent(caps);
  });

  after(async () => {
    await agent?.stop();
    await collector?.stop();
    for (const p of pods) await p.stop();
    await node?.stop();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('the eBPF sensor runs (no fallback to procfs) and sees a pod exec', async () => {
    assert.ok(agent !== undefined && node !== undefined);
    const started = await agent.logged('a source to start', (r) => r['msg'] === 'source started');
    assert.equal(started['source'], 'ebpf', JSON.stringify(started));
    const listening = await agent.logged('the metrics endpoint', (r) => typeof r['url'] === 'string');
    const pod = await node.runPod({ name: 'exec-probe', namespace: 'shop' });
    pods.push(pod);
    await pod.exec(['sh', '-c', 'true']);
    const deadline = Date.now() + 15_000;
    let execs = 0;
    while (Date.now() < deadline && execs === 0) {
      const text = await fetchText(String(listening['url']));
      execs = [...text.matchAll(/^vigil_agent_events_total\{source="ebpf",type="execve"\} (\d+)/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
      if (execs === 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(execs > 0, 'no execve event from the eBPF source');
  });

  it('quarantines a pod on the node and releases it', async () => {
    assert.ok(node !== undefined);
    const pod = await node.runPod({ name: 'web', namespace: 'shop' });
    pods.push(pod);
    const q = await quarantine(pod);
    assert.equal(q.status, 201, JSON.stringify(q.body));
    assert.equal(q.body.layers.node.state, 'applied', q.body.layers.node.detail);
    assert.match(podTable(pod), /table inet vigil_quarantine/);
    const r = await request(`/api/v1/quarantines/${q.body.id}/release`, { reason: 'done' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.layers.node.state, 'released', r.body.layers.node.detail);
    assert.equal(podTable(pod), '');
  });

  for (const missing of ['SYS_ADMIN', 'SYS_PTRACE', 'NET_ADMIN']) {
    it(`without CAP_${missing} the node layer of quarantine fails`, async () => {
      assert.ok(node !== undefined && agent !== undefined);
      await agent.stop();
      agent = await startAgent(caps.filter((c) => c !== missing));
      const pod = await node.runPod({
        name: `web-no-${missing.toLowerCase().replace('_', '')}`,
        namespace: 'shop',
      });
      pods.push(pod);
      const q = await quarantine(pod);
      assert.notEqual(q.body.layers?.node?.state, 'applied', `applied without CAP_${missing}`);
      assert.equal(podTable(pod), '');
      console.log(
        `      without CAP_${missing}: node layer ${q.body.layers?.node?.state}: ${q.body.layers?.node?.detail}`,
      );
    });
  }
});
