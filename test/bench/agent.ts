/**
 * Benchmark of the whole agent (issue: node agent): `vigil agent` as a separate process, pinned to
 * one core, with both upstream Falco rule files loaded, reading Falco-field JSON lines from its
 * stdin (source -> state -> rules -> spool).
 *
 * 1. Throughput and memory: 10 million events (the captures' lines, repeated) written into the
 *    agent's stdin by this process; prints events/s and the agent's RSS as the count grows.
 *    Targets: at least 300,000 events/s; RSS flat, under 200 MB.
 * 2. Latency: 1,000 alert-raising events per second among background events; prints p50/p99/max
 *    of the time from writing an event line to seeing its alert, which the agent prints only
 *    after the alert is in the spool.
 *
 * Prints figures; does not fail on machine noise. Run: npm run build && npm run bench:agent
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLines, projectRoot, sharedDir, upstreamRuleFiles } from '../support/shared.js';

if (sharedDir === undefined) {
  console.log('bench/agent: ../shared is not beside this checkout; nothing to measure');
  process.exit(0);
}
const rules = upstreamRuleFiles(sharedDir);
const lines = captureLines(sharedDir);
const vigil = join(projectRoot, 'dist', 'cli', 'vigil.js');
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Number(m[1]) / 1024;
  } catch {
    return NaN;
  }
}

function startAgent(work: string, extra: string[]) {
  const args = [
    vigil,
    'agent',
    '--source',
    'jsonl:-',
    ...rules.flatMap((r) => ['--rules', r]),
    '--data-dir',
    join(work, 'data'),
    '--listen',
    'none',
    '--log-level',
    'warn',
    ...extra,
  ];
  return spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function throughput(work: string): Promise<void> {
  const total = 10_000_000;
  const agent = startAgent(work, ['--output', 'none', '--exit-when-done']);
  const block = Buffer.from(lines.join('\n') + '\n');
  const perBlock = lines.length;
  let written = 0;
  const started = process.hrtime.bigint();
  const samples: string[] = [];
  const sampler = setInterval(() => {
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    samples.push(
      `  t=${secs.toFixed(1)}s written=${fmt(written)} rss=${rssMiB(agent.pid ?? 0).toFixed(0)} MiB`,
    );
  }, 2000);
  const done = new Promise<number | null>((resolve) => agent.on('exit', resolve));
  let maxRss = 0;
  const rssWatch = setInterval(() => {
    const r = rssMiB(agent.pid ?? 0);
    if (r > maxRss) maxRss = r;
  }, 200);
  while (written < total) {
    if (!agent.stdin.write(block)) await new Promise((r) => agent.stdin.once('drain', r));
    written += perBlock;
  }
  agent.stdin.end();
  const code = await done;
  clearInterval(sampler);
  clearInterval(rssWatch);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `throughput: ${fmt(written)} events in ${secs.toFixed(1)} s = ${fmt(written / secs)} events/s through the agent on one core (exit ${code})`,
  );
  console.log(`  target >= 300,000 events/s: ${written / secs >= 300_000 ? 'met' : 'NOT met'}`);
  for (const s of samples) console.log(s);
  console.log(
    `agent RSS: max ${maxRss.toFixed(0)} MiB over ${fmt(written)} events (target: flat, < 200 MB: ${maxRss < 200 ? 'met' : 'NOT met'})`,
  );
}

async function latency(work: string): Promise<void> {
  const agent = startAgent(work, ['--output', 'stdout']);
  const sentAt = new Map<string, bigint>();
  const latencies: number[] = [];
  let rest = '';
  agent.stdout.setEncoding('utf8');
  agent.stdout.on('data', (chunk: string) => {
    const now = process.hrtime.bigint();
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) {
      const m = /marker-(\d+)/.exec(p);
      const t = m === null ? undefined : sentAt.get(m[1] as string);
      if (t !== undefined) latencies.push(Number(now - t) / 1e6);
    }
  });
  await new Promise((r) => setTimeout(r, 1500)); // let it load the rules
  const alertEvent = (n: number): string =>
    JSON.stringify({
      'evt.type': 'openat',
      'evt.dir': '<',
      'evt.arg.flags': 'O_RDONLY',
      'fd.name': '/etc/shadow',
      'fd.typechar': 'f',
      'fd.num': 3,
      'proc.name': 'reader',
      'proc.cmdline': `reader marker-${n}`,
      'container.id': 'host',
      'proc.pid': 4242,
    }) + '\n';
  const seconds = 10;
  let n = 0;
  let bg = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    // 1,000 alerts/s in ticks of 10 ms, each tick also carrying 100 background events.
    const tick = Date.now();
    let chunk = '';
    for (let i = 0; i < 100; i++) chunk += (lines[bg++ % lines.length] as string) + '\n';
    for (let i = 0; i < 10; i++) {
      sentAt.set(String(n), process.hrtime.bigint());
      chunk += alertEvent(n++);
    }
    agent.stdin.write(chunk);
    const wait = 10 - (Date.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await new Promise((r) => setTimeout(r, 1000));
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  console.log(
    `latency, event line written -> alert spooled and printed (${latencies.length} of ${n} alerts seen, ~1,000 alerts/s + 10,000 background events/s): ` +
      `p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, max ${(latencies[latencies.length - 1] ?? NaN).toFixed(2)} ms`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'vigil-bench-agent-'));
try {
  await throughput(work);
  rmSync(join(work, 'data'), { recursive: true, force: true });
  await latency(work);
} finally {
  rmSync(work, { recursive: true, force: true });
}
