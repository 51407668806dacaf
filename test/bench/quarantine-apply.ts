/**
 * Benchmark of the node layer of quarantine (issue 7): how long the agent takes from receiving a
 * quarantine command to the pod's rules verified in its network namespace.
 *
 * Privileged (root): the containerd harness runs a pod; a real collector and a real agent are
 * joined by the mutual-TLS link (test/support/quarantine-rig.ts). For each mode (cut everything;
 * keep established connections; cut and freeze) it applies and releases N quarantines and times
 * - `agent`: the agent's handler, from the command handed to it to its result (pod lookup over
 *   CRI, nft transaction, listing the table back, conntrack flush / connection snapshot, freeze);
 * - `link`: the collector's `sendCommand` round trip, which adds the gRPC stream both ways.
 * Releases are timed as well. Prints p50/p99/max in milliseconds.
 *
 * Run: node dist/test/bench/quarantine-apply.js [--count N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Command, QuarantineAction } from '../../proto/link-messages.js';
import { privilegedReason } from '../harness/privileged.js';
import { startQuarantineRig } from '../support/quarantine-rig.js';

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

function summary(name: string, samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const f = (n: number): string => n.toFixed(1).padStart(7);
  return `${name.padEnd(42)} n=${s.length}  p50 ${f(quantile(s, 0.5))} ms  p99 ${f(quantile(s, 0.99))} ms  max ${f(s[s.length - 1] ?? NaN)} ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '50' } } });
  const count = Number(values.count);
  const reason = privilegedReason(['nft', 'nsenter', 'conntrack']);
  if (reason !== undefined) throw new Error(`this benchmark needs root and the harness: ${reason}`);
  const work = mkdtempSync(join(tmpdir(), 'vigil-bench-qapply-'));
  const rig = await startQuarantineRig('qapply', join(work, 'rig'));
  try {
    const pod = await rig.node.runPod({
      name: 'web',
      namespace: 'shop',
      command: ['httpd', '-f', '-p', '8080', '-h', '/etc'],
    });
    const handler = rig.agent().enforcement?.handler;
    if (handler === undefined) throw new Error('the agent has no enforcement');
    const modes: [string, Partial<QuarantineAction>][] = [
      ['cut', {}],
      ['keep established', { cutEstablished: false }],
      ['cut + freeze', { freeze: true }],
    ];
    const lines: string[] = [];
    for (const [mode, over] of modes) {
      const agentApply: number[] = [];
      const agentRelease: number[] = [];
      const linkApply: number[] = [];
      for (let i = 0; i < count; i++) {
        // In the agent: the handler the link calls, timed around the call.
        const q = rig.quarantineOf(pod, over);
        let t = performance.now();
        const applied = await handler.handle({ id: `a-${q.quarantineId}`, action: q });
        agentApply.push(performance.now() - t);
        if (applied.outcome !== 'applied') throw new Error(`apply: ${applied.outcome}: ${applied.detail}`);
        const release: Command['action'] = {
          type: 'release',
          quarantineId: q.quarantineId,
          namespace: 'shop',
          pod: 'web',
        };
        t = performance.now();
        const released = await handler.handle({ id: `r-${q.quarantineId}`, action: release });
        agentRelease.push(performance.now() - t);
        if (released.outcome !== 'released')
          throw new Error(`release: ${released.outcome}: ${released.detail}`);

        // Over the link, from the collector.
        const q2 = rig.quarantineOf(pod, over);
        const sent = await rig.send(q2);
        if (sent.result.outcome !== 'applied')
          throw new Error(`link apply: ${sent.result.outcome}: ${sent.result.detail}`);
        linkApply.push(sent.ms);
        await rig.send({ type: 'release', quarantineId: q2.quarantineId, namespace: 'shop', pod: 'web' });
      }
      lines.push(summary(`${mode}: agent apply`, agentApply));
      lines.push(summary(`${mode}: agent release`, agentRelease));
      lines.push(summary(`${mode}: link apply (round trip)`, linkApply));
    }
    process.stdout.write(`quarantine apply on the node (${count} per mode)\n${lines.join('\n')}\n`);
  } finally {
    await rig.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
