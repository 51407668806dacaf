/**
 * Benchmark of quarantine (issue 7): the time from the on-call API call
 * (`POST /api/v1/quarantines`) to the pod's network namespace being cut on its node.
 *
 * Privileged (root): the containerd harness runs a pod serving HTTP; a real collector (with the
 * fake Kubernetes API server in URL mode as its Kubernetes layer, unless --no-kube) and a real
 * agent with its nftables enforcement run joined by the mutual-TLS link. `nft monitor`, running
 * inside the pod's network namespace for the whole run, timestamps the commit of the agent's
 * quarantine table. Each round: POST the quarantine, note when the table is committed and when
 * the API answers, check that the table is listed and that a TCP connection to the pod times out,
 * then release (POST .../release) and wait until the table is gone and the pod answers again.
 *
 * Prints p50/p99/max of API call -> cut and API call -> answer (target: cut p99 under 1 s).
 * Run: npm run build && npm run bench:quarantine [-- --count N] [-- --no-kube]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Quarantine } from '../../collector/response/quarantine-store.js';
import { privilegedReason } from '../harness/privileged.js';
import {
  podQuarantineTable,
  POD_HTTP_PORT,
  startResponseNode,
  tcpProbe,
  until,
} from '../support/response-node.js';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '100' }, 'no-kube': { type: 'boolean', default: false } },
});
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 1)
  throw new Error(`--count '${values.count}': expected a positive integer`);

const why = privilegedReason(['nft', 'nsenter']);
if (why !== undefined) {
  console.error(`bench:quarantine cannot run here: ${why}`);
  process.exit(1);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
function summary(label: string, ms: readonly number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (n: number): string => `${n.toFixed(1)} ms`;
  return `${label.padEnd(44)} p50 ${f(percentile(s, 50)).padStart(9)}   p99 ${f(percentile(s, 99)).padStart(9)}   max ${f(s[s.length - 1] as number).padStart(9)}`;
}

const work = mkdtempSync(join(tmpdir(), 'vigil-bench-quarantine-'));
const rig = await startResponseNode({ name: 'qbench', work, kube: !values['no-kube'], logLevel: 'warn' });
try {
  const pod = await rig.runPod({ name: 'bench-web', namespace: 'shop', labels: { app: 'bench-web' } });

  // Table commits as `nft monitor` in the pod's namespace reports them, with when they came.
  const events: { atMs: number; line: string }[] = [];
  const monitor = spawn('nsenter', [`--net=${pod.netnsPath}`, 'nft', 'monitor', 'tables'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let rest = '';
  monitor.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const atMs = performance.now();
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.includes('vigil_quarantine')) events.push({ atMs, line });
  });
  // Let the monitor subscribe before the first round.
  await new Promise((r) => setTimeout(r, 500));

  const post = async (path: string, body: unknown): Promise<{ status: number; q: Quarantine }> => {
    const res = await fetch(rig.api + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${rig.tokens.responder}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, q: (await res.json()) as Quarantine };
  };
  const eventAfter = (t0: number, kind: 'add' | 'delete'): number | undefined =>
    events.find((e) => e.atMs >= t0 && e.line.startsWith(`${kind} table inet vigil_quarantine`))?.atMs;

  const cut: number[] = [];
  const answered: number[] = [];
  const restored: number[] = [];
  let probeCut = 0;
  let probeOpen = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const { status, q } = await post('/api/v1/quarantines', {
      namespace: 'shop',
      pod: pod.name,
      reason: `benchmark round ${i + 1}`,
    });
    answered.push(performance.now() - t0);
    if (status !== 201 || q.layers.node.state !== 'applied') {
      throw new Error(`round ${i + 1}: the quarantine answered ${status}: ${JSON.stringify(q)}`);
    }
    await until('the table commit event', () => eventAfter(t0, 'add') !== undefined, 5000, 2);
    cut.push((eventAfter(t0, 'add') as number) - t0);
    if (!(await podQuarantineTable(pod)).includes('vigil_quarantine'))
      throw new Error(`round ${i + 1}: no table listed`);
    if ((await tcpProbe(pod.ip, POD_HTTP_PORT, 300)) !== 'open') probeCut++;

    const r0 = performance.now();
    const released = await post(`/api/v1/quarantines/${q.id}/release`, { reason: 'benchmark' });
    if (released.q.state !== 'released')
      throw new Error(`round ${i + 1}: release answered ${JSON.stringify(released.q)}`);
    await until('the table removal event', () => eventAfter(r0, 'delete') !== undefined, 5000, 2);
    restored.push((eventAfter(r0, 'delete') as number) - r0);
    if ((await tcpProbe(pod.ip, POD_HTTP_PORT, 1000)) === 'open') probeOpen++;
  }
  monitor.kill();

  const kube = values['no-kube']
    ? 'off (node layer only)'
    : 'fake API server over http (label + NetworkPolicy)';
  console.log(
    `quarantine benchmark: ${count} quarantines of shop/${pod.name} on ${rig.nodeName}; Kubernetes layer: ${kube}`,
  );
  console.log(summary('API call -> pod netns cut (nft table committed)', cut));
  console.log(summary('API call -> API answer (201, both layers)', answered));
  console.log(summary('release call -> table removed', restored));
  console.log(
    `probe to the pod after the cut: ${probeCut}/${count} refused or timed out; after release: ${probeOpen}/${count} open`,
  );
  const p99 = percentile(
    [...cut].sort((a, b) => a - b),
    99,
  );
  console.log(
    `target p99 API call -> cut < 1000 ms: ${p99 < 1000 ? 'met' : 'NOT met'} (${p99.toFixed(1)} ms)`,
  );
} finally {
  await rig.stop();
  rmSync(work, { recursive: true, force: true });
}
