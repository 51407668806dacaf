/**
 * Benchmark of the collector (issue: collector and link), in separate processes over real gRPC
 * with mutual TLS on 127.0.0.1 (the link fixtures: the real ingest server over the real SQLite
 * store; the real shipper over real spools).
 *
 * 1. Alerts/s stored durably from 8 concurrent agents (target >= 20,000/s).
 * 2. p50/p99 latency from an alert's append to the agent's spool to its commit in the
 *    collector's store, at 1,000 alerts/s (target p99 < 50 ms).
 * 3. The collector's RSS with 1,000,000 alerts stored, after a few API-style queries.
 *
 * Prints figures; does not fail on machine noise. Run: npm run build && npm run bench:collector
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { initCertificateDirectory, issueAgentFiles } from '../../collector/certs/certificate-directory.js';
import { openSqliteStore } from '../../collector/store/sqlite-store.js';
import { listeningPort, startAgent, startCollector, stop } from '../support/link-fixtures.js';
import { projectRoot } from '../support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'vigil-bench-collector-'));
const pki = join(work, 'pki');
const nodes = Array.from({ length: 8 }, (_, i) => `node-${i + 1}`);
initCertificateDirectory(pki, defaultCollectorNames('vigil'));
for (const node of nodes) issueAgentFiles(pki, node);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function throughput(): Promise<void> {
  const collector = startCollector(join(work, 'rate.db'), pki);
  const port = await listeningPort(collector);
  const perAgent = 25_000;
  // Spool first, then ship all at once: the figure is the link's and the store's, not the spool's.
  const agents = nodes.map((node) =>
    startAgent(join(work, `rate-${node}.spool`), pki, node, port, `rate-${node}`, perAgent, 0, ['--wait-go']),
  );
  try {
    for (const a of agents) await a.waitFor('appended', 120_000);
    for (const a of agents) a.send('go');
    for (const a of agents) await a.waitFor('drained', 300_000);
    const r = await collector.report();
    const total = nodes.length * perAgent;
    const seconds = ((r['lastStoredMs'] as number) - (r['firstConnectMs'] as number)) / 1000;
    console.log(
      `stored from ${nodes.length} concurrent agents: ${fmt(r['stored'] as number)} of ${fmt(total)} alerts in ${seconds.toFixed(2)} s = ` +
        `${fmt(total / seconds)} alerts/s (target >= 20,000/s: ${total / seconds >= 20_000 ? 'met' : 'NOT met'})`,
    );
  } finally {
    for (const a of agents) a.kill('SIGKILL');
    await stop(collector);
  }
}

async function latency(): Promise<void> {
  const collector = startCollector(join(work, 'latency.db'), pki);
  const port = await listeningPort(collector);
  const agent = startAgent(join(work, 'latency.spool'), pki, 'node-1', port, 'lat', 10_000, 1000);
  try {
    await agent.waitFor('drained', 120_000);
    const r = await collector.report();
    const l = r['latency'] as { count: number; p50: number; p99: number; max: number };
    console.log(
      `spool append -> stored, 1,000 alerts/s for 10 s (${fmt(l.count)} alerts): p50 ${l.p50.toFixed(2)} ms, ` +
        `p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(2)} ms (target p99 < 50 ms: ${l.p99 < 50 ? 'met' : 'NOT met'})`,
    );
  } finally {
    agent.kill('SIGKILL');
    await stop(collector);
  }
}

function alertAt(i: number, baseMs: number): Alert {
  const priorities = ['Critical', 'Error', 'Warning', 'Notice', 'Informational'] as const;
  const ns = BigInt(baseMs + i) * 1_000_000n;
  const iso = new Date(baseMs + i).toISOString().replace('Z', '000000Z');
  return {
    time: iso,
    rule: `Rule ${i % 40}`,
    priority: priorities[i % priorities.length] as Alert['priority'],
    output: `${iso.slice(11, 29)}: something happened (process=proc${i % 500} file=/var/data/${i} pod=web-${i % 50})`,
    output_fields: { 'proc.name': `proc${i % 500}`, 'fd.name': `/var/data/${i}`, 'evt.time': Number(ns) },
    source: 'syscall',
    tags: ['bench', `t${i % 7}`],
    hostname: `node-${i % 8}`,
    id: `bench-${i}`,
    kind: i % 10 === 0 ? 'anomaly' : 'signature',
    node: `node-${i % 8}`,
    workload: { namespace: `ns-${i % 12}`, pod: `web-${i % 50}`, container: 'app', image: 'registry/app:1' },
  };
}

async function rssWithAMillion(): Promise<void> {
  const dataDir = join(work, 'million');
  const store = openSqliteStore({ path: join(dataDir, 'collector.db') });
  const total = 1_000_000;
  const base = Date.now() - total;
  const t0 = Date.now();
  for (let i = 0; i < total; i += 1000) {
    store.insertAlerts(
      Array.from({ length: 1000 }, (_, k) => alertAt(i + k, base)),
      Date.now(),
    );
  }
  const fillSeconds = (Date.now() - t0) / 1000;
  store.close();
  const child = spawn(
    process.execPath,
    [
      join(projectRoot, 'dist', 'cli', 'vigil.js'),
      'collector',
      '--data-dir',
      dataDir,
      '--tls-dir',
      join(pki, 'collector'),
      '--grpc-listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const http = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      log += c;
      const m = /"collector started".*?"http":"[^"]*:(\d+)"/.exec(log);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`collector exited ${code}: ${log}`)));
  });
  const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  const rss = (): number => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? NaN) / 1024;
  };
  const stored = /^vigil_collector_alerts_stored (\d+)/m.exec(metrics)?.[1];
  console.log(
    `1,000,000 alerts stored (filled at ${fmt(total / fillSeconds)} alerts/s); collector RSS at start: ${rss().toFixed(0)} MiB; ` +
      `vigil_collector_alerts_stored ${stored}`,
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

try {
  await throughput();
  await latency();
  await rssWithAMillion();
} finally {
  rmSync(work, { recursive: true, force: true });
}
