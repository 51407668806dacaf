/**
 * `vigil agent --source ebpf:` with the upstream Falco rules (privileged): the live sensor,
 * the agent's process table and pod metadata, and the rules as Falco ships them, against a
 * real pod. A shell started with a terminal as a container's entry point raises "Terminal
 * shell in container"; a program reading /etc/shadow raises "Read sensitive file untrusted";
 * both name the pod and its container.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SENSOR_PATH, sensorPreflight } from '../../agent/sources/ebpf/ebpf-source.js';
import { startNodeInABox, type NodeInABox, type Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { requireShared } from '../support/shared.js';

/** requirePrivileged, and the sensor itself: built, and this kernel able to run it. */
function requireSensor(ctx: Mocha.Context): void {
  requirePrivileged(ctx);
  const reason = sensorPreflight(DEFAULT_SENSOR_PATH);
  if (reason === undefined) return;
  if (process.env['CI'] === 'true')
    throw new Error(`the eBPF sensor tests must run in CI but cannot: ${reason}`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/**
 * Starts a second container in `pod` with a terminal (as `kubectl run -it` or a `tty: true`
 * pod spec would), running `command`; returns its id.
 */
async function startTerminalContainer(
  node: NodeInABox,
  pod: Pod,
  name: string,
  command: string[],
): Promise<string> {
  const kubelet = {
    'io.kubernetes.pod.name': pod.name,
    'io.kubernetes.pod.namespace': pod.namespace,
    'io.kubernetes.pod.uid': pod.uid,
  };
  const namespaceOptions = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;
  const id = await node.cri.createContainer(
    pod.sandboxId,
    {
      metadata: { name, attempt: 0 },
      image: { image: node.image },
      command,
      tty: true,
      stdin: true,
      labels: { ...kubelet, 'io.kubernetes.container.name': name },
      linux: { securityContext: { namespaceOptions } },
    },
    {
      metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 },
      hostname: pod.name,
      labels: kubelet,
      linux: { cgroupParent: pod.podCgroupPath, securityContext: { namespaceOptions } },
    },
  );
  await node.cri.startContainer(id);
  return id;
}

describe('agent with the eBPF sensor and the upstream Falco rules (privileged)', function () {
  this.timeout(120_000);
  let node: NodeInABox | undefined;
  let agent: AgentProcess | undefined;
  let work: string;
  let rules: string;

  before(async function () {
    requireSensor(this);
    rules = requireShared(this, join('falco-rules', 'falco_rules.yaml'));
    work = mkdtempSync(join(tmpdir(), 'vigil-ebpf-agent-'));
    node = await startNodeInABox({ name: 'ebpfagent' });
  });

  after(async () => {
    await agent?.stop();
    await node?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('raises Terminal shell in container and Read sensitive file untrusted for a real pod', async () => {
    assert.ok(node !== undefined);
    agent = startAgentProcess([
      '--source',
      'ebpf:',
      '--rules',
      rules,
      '--cri-socket',
      node.criSocket,
      '--data-dir',
      join(work, 'data'),
      '--listen',
      '127.0.0.1:0',
    ]);
    // The endpoint is announced once every source has started: the sensor is attached.
    await agent.metricsUrl();
    assert.ok(
      agent.logs.some((l) => l['msg'] === 'source started' && l['source'] === 'ebpf'),
      'the ebpf source started (not a fallback)',
    );
    const pod = await node.runPod({ name: 'web-5d8f7c6b9-q2x7z', namespace: 'shop', labels: { app: 'web' } });

    const shellId = await startTerminalContainer(node, pod, 'debug', ['sh', '-c', 'sleep 3']);
    const byRule = (rule: string): Record<string, unknown>[] =>
      agent!.alerts.filter((a) => a['rule'] === rule);
    await agent.waitFor(
      'Terminal shell in container',
      () => byRule('Terminal shell in container').length > 0,
      30_000,
    );
    const shell = byRule('Terminal shell in container')[0]!;
    const shellFields = shell['output_fields'] as Record<string, unknown>;
    assert.equal(shellFields['proc.name'], 'sh');
    assert.equal(shellFields['proc.cmdline'], 'sh -c sleep 3');
    assert.notEqual(shellFields['proc.tty'], 0);
    assert.equal(shell['priority'], 'Notice');
    // The pod and container come from the container id the sensor's cgroup id resolved to.
    assert.equal((shell['workload'] as Record<string, unknown>)['pod'], pod.name);
    assert.equal((shell['workload'] as Record<string, unknown>)['container'], 'debug');
    assert.ok(shellId.length === 64);

    await pod.exec(['sh', '-c', 'echo "root:*:19000:0:99999:7:::" > /etc/shadow']);
    await pod.exec(['cat', '/etc/shadow']);
    await agent.waitFor(
      'Read sensitive file untrusted',
      () => byRule('Read sensitive file untrusted').length > 0,
      30_000,
    );
    const read = byRule('Read sensitive file untrusted')[0]!;
    const readFields = read['output_fields'] as Record<string, unknown>;
    assert.equal(readFields['fd.name'], '/etc/shadow');
    assert.equal(readFields['proc.name'], 'cat');
    assert.equal((read['workload'] as Record<string, unknown>)['namespace'], 'shop');
    assert.equal((read['workload'] as Record<string, unknown>)['container'], pod.containerName);
  });
});
