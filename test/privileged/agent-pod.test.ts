/**
 * The agent against a real pod (privileged): a process started in a pod of the containerd
 * harness is seen by the agent's procfs source, its container id comes from its cgroup, its pod
 * from the runtime's CRI socket, and the alert carries the pod's name, namespace and labels.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodeInABox, type NodeInABox } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';

describe('agent with a real pod (privileged: containerd, CRI, procfs source)', function () {
  this.timeout(90_000);
  let node: NodeInABox | undefined;
  let agent: AgentProcess | undefined;
  let work: string;

  before(async function () {
    requirePrivileged(this);
    work = mkdtempSync(join(tmpdir(), 'vigil-agent-pod-'));
    node = await startNodeInABox({ name: 'agentpod' });
  });

  after(async () => {
    await agent?.stop();
    await node?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('raises an alert naming the pod, its namespace and labels', async () => {
    assert.ok(node !== undefined);
    const rules = join(work, 'rules.yaml');
    writeFileSync(
      rules,
      [
        '- rule: Marked sleep in a container',
        '  desc: the test pod runs sleep 313',
        '  condition: evt.type = execve and container.id != host and proc.name = sleep and proc.cmdline contains 313',
        '  output: "%proc.cmdline pod=%k8s.pod.name ns=%k8s.ns.name app=%k8s.pod.label[app] container=%container.name image=%container.image.repository id=%container.id"',
        '  priority: WARNING',
        '',
      ].join('\n'),
    );
    agent = startAgentProcess([
      '--source',
      'procfs:',
      '--rules',
      rules,
      '--cri-socket',
      node.criSocket,
      '--data-dir',
      join(work, 'data'),
      '--listen',
      '127.0.0.1:0',
    ]);
    await agent.metricsUrl();
    const pod = await node.runPod({
      name: 'payments-api-6f7c9d8b5-x2k4q',
      namespace: 'payments',
      labels: { app: 'payments-api', 'pod-template-hash': '6f7c9d8b5' },
      containerName: 'api',
      command: ['sh', '-c', 'sleep 313'],
    });
    await agent.waitFor('the alert from the pod', () => agent?.alerts.length === 1, 30_000);
    const alert = agent.alerts[0] as Record<string, unknown>;
    assert.equal(alert['rule'], 'Marked sleep in a container');
    assert.match(
      alert['output'] as string,
      new RegExp(
        `sleep 313 pod=payments-api-6f7c9d8b5-x2k4q ns=payments app=payments-api container=api image=\\S+ id=${pod.containerId.slice(0, 12)}$`,
      ),
    );
    assert.deepEqual(alert['workload'], {
      namespace: 'payments',
      ownerKind: 'Deployment',
      ownerName: 'payments-api',
      pod: 'payments-api-6f7c9d8b5-x2k4q',
      container: 'api',
      image: (alert['workload'] as { image: string }).image,
    });
  });
});
