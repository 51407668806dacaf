/**
 * Baselines against a real pod (privileged): the agent (in process, procfs source, pod metadata
 * from containerd's CRI socket) learns the profile of a pod's workload while it loops, locks it,
 * and then flags a binary copied into the container after it started and run from there — a new
 * executable, a new parent → child pair, and drift seen from the file's modification time (the
 * procfs source traces no writes).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../../agent/agent.js';
import { openBaselineStore } from '../../agent/baseline/baseline-store.js';
import { loadAgentConfig } from '../../agent/config.js';
import type { Alert } from '../../core/alert.js';
import { decodeProfile, profileStatus, summarizeProfile } from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { startNodeInABox, type NodeInABox } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';

async function eventually(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('baselines with a real pod (privileged: containerd, CRI, procfs source)', function () {
  this.timeout(120_000);
  let node: NodeInABox | undefined;
  let agent: Agent | undefined;
  let work: string;

  before(async function () {
    requirePrivileged(this);
    work = mkdtempSync(join(tmpdir(), 'vigil-baseline-pod-'));
    node = await startNodeInABox({ name: 'blpod' });
  });

  after(async () => {
    await agent?.stop();
    await node?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('learns a pod’s workload, locks, and flags a binary dropped into the container', async () => {
    assert.ok(node !== undefined);
    const rules = join(work, 'rules.yaml');
    const yaml = [
      'node: baseline-node',
      `data_dir: ${JSON.stringify(join(work, 'data'))}`,
      'sources: ["procfs:"]',
      'source_options: { procfs_interval: 200ms }',
      `rules: [${JSON.stringify(rules)}]`,
      'outputs: [none]',
      'http: { listen: none }',
      `cri: { socket: ${JSON.stringify(node.criSocket)} }`,
      'enforce: { enabled: false }',
      'baseline: { learning_period: 4s }',
    ].join('\n');
    // One harmless rule: the agent needs a ruleset; baselines need none.
    const ruleText = [
      '- rule: Never',
      '  desc: matches nothing here',
      '  condition: evt.type = execve and proc.name = no-such-program',
      '  output: "%proc.name"',
      '  priority: DEBUG',
      '',
    ].join('\n');
    const logs: string[] = [];
    agent = await startAgent(loadAgentConfig({ name: 'agent.yaml', text: yaml }, {}, undefined), {
      logger: createLogger({ write: (l) => logs.push(l), now: Date.now, level: 'info' }),
      readRules: () => [{ name: rules, text: ruleText }],
      watchRules: false,
      version: 'test',
    });
    const alerts: Alert[] = [];
    agent.pipeline.onSpooled((batch) => alerts.push(...batch));
    const engine = agent.baseline;
    assert.ok(engine !== undefined);

    // The workload's normal life: a shell starting a short sleep, over and over.
    const pod = await node.runPod({
      name: 'billing-api-6f7c9d8b5-x2k4q',
      namespace: 'billing',
      labels: { app: 'billing-api', 'pod-template-hash': '6f7c9d8b5' },
      containerName: 'api',
      command: ['sh', '-c', 'while true; do sleep 0.3; done'],
    });
    const key = (): string | undefined =>
      engine.keys().find((k) => k.startsWith('billing/Deployment/billing-api/api|'));
    await eventually(
      () => {
        const k = key();
        const p = k === undefined ? undefined : engine.profile(k);
        return p !== undefined && profileStatus(p) === 'locked';
      },
      `the profile to lock after 4 s of activity; logs:\n${logs.slice(-5).join('\n')}`,
      60_000,
    );
    assert.deepEqual(
      alerts.filter((a) => a.kind === 'anomaly'),
      [],
      'the loop itself is what was learnt',
    );

    // A binary dropped into the container after it started, then run from there.
    const cp = await pod.exec(['cp', '/bin/busybox', '/tmp/sleep']);
    assert.equal(cp.exitCode, 0, cp.stderr);
    const run = pod.exec(['/tmp/sleep', '3']);
    await eventually(
      () => alerts.some((a) => a.kind === 'anomaly'),
      `an anomaly alert; baseline: ${JSON.stringify(engine.stats())}`,
      20_000,
    ).catch((err: unknown) => {
      const k = key();
      const p = k === undefined ? undefined : engine.profile(k);
      throw new Error(
        `${(err as Error).message}\nprofile: ${JSON.stringify(p === undefined ? null : summarizeProfile(p).items)}\n` +
          `stats: ${JSON.stringify(engine.stats())}`,
      );
    });
    await run;
    const anomaly = alerts.find((a) => a.kind === 'anomaly') as Alert;
    const reasons = (anomaly.reasons ?? []).join('\n');
    assert.equal(anomaly.rule, 'Anomalous executable drift');
    assert.equal(anomaly.score, 1);
    assert.match(
      reasons,
      /`\/tmp\/sleep` did not come from the container image \(modified at .*after the container started\)/,
    );
    assert.match(reasons, /`\/tmp\/sleep` never executed by billing\/billing-api/);
    assert.equal(anomaly.workload?.namespace, 'billing');
    assert.equal(anomaly.workload?.pod, 'billing-api-6f7c9d8b5-x2k4q');
    assert.equal(anomaly.output_fields['proc.exepath'], '/tmp/sleep');
    // The locked profile is in the agent's store once it stops.
    const k = key() as string;
    await agent.stop();
    agent = undefined;
    const store = openBaselineStore({ path: join(work, 'data', 'baselines.db') });
    const stored = store.get(k);
    store.close();
    assert.ok(stored !== undefined);
    assert.equal(profileStatus(decodeProfile(stored)), 'locked');
  });
});
