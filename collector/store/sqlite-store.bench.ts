/**
 * Benchmark of the SQLite store at scale: fills a fresh file with N synthetic alerts (default
 * 1,000,000) from one writer in batches, then times every kind of query, deep pagination,
 * counts and retention, and prints one JSON report.
 *
 *   node .build-H/collector/store/sqlite-store.bench.js [--alerts N] [--late SHARE] [--dir DIR] [--keep]
 *
 * Alerts look like Falco's (60 rules, 200 nodes, 50 namespaces, ~5,000 pods, three tags each,
 * priorities skewed towards Notice/Warning as in practice, one in ten an anomaly) and span
 * seven days; a share of them (`--late`, default one in twenty) arrives up to an hour out of
 * time order, as after an agent's outage.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import { isoTimeNs } from '../../core/alert.js';
import { openCollectorDatabase } from './database.js';
import { openSqliteStore } from './sqlite-store.js';
import type { AlertQuery, CollectorStore } from './store.js';

const { values } = parseArgs({
  options: {
    alerts: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    late: { type: 'string', default: '0.05' },
  },
});
const N = Number(values.alerts);
const LATE_SHARE = Number(values.late);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'vigil-store-bench-'));
const file = join(dir, 'collector.db');

let seed = 42;
const rnd = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;

const ruleNames = Array.from(
  { length: 60 },
  (_, i) =>
    `${pick(['Terminal shell in container', 'Read sensitive file', 'Unexpected outbound connection', 'Write below etc', 'Launch privileged container', 'Modify binary dirs'])} ${i}`,
);
const procs = [
  'bash',
  'sh',
  'curl',
  'wget',
  'nginx',
  'python3',
  'node',
  'java',
  'cat',
  'nc',
  'sshd',
  'kubectl',
];
const files = [
  '/etc/shadow',
  '/etc/passwd',
  '/root/.ssh/id_rsa',
  '/var/run/secrets/token',
  '/tmp/x.sh',
  '/proc/1/environ',
];
const tagSets = [
  ['container', 'host'],
  ['shell', 'filesystem', 'network', 'process'],
  ['mitre_execution', 'mitre_credential_access', 'mitre_discovery', 'T1059', 'T1552'],
] as const;
const priorities: readonly [PriorityName, number][] = [
  ['Emergency', 0.001],
  ['Alert', 0.004],
  ['Critical', 0.02],
  ['Error', 0.075],
  ['Warning', 0.3],
  ['Notice', 0.4],
  ['Informational', 0.15],
  ['Debug', 0.05],
];
function priority(): PriorityName {
  let r = rnd();
  for (const [name, p] of priorities) {
    if (r < p) return name;
    r -= p;
  }
  return 'Notice';
}

const SPAN_MS = 7 * 24 * 3600 * 1000;
const START_MS = Date.UTC(2024, 4, 1);

function makeAlert(i: number): Alert {
  const namespace = `ns-${Math.floor(rnd() * 50)}`;
  const pod = `${namespace}-app-${Math.floor(rnd() * 100)}`;
  const node = `node-${Math.floor(rnd() * 200)}`;
  const proc = pick(procs);
  const file = pick(files);
  const p = priority();
  const late = rnd() < LATE_SHARE ? Math.floor(rnd() * 3_600_000) : 0;
  const ms = START_MS + Math.floor((i / N) * SPAN_MS) - late;
  const time = isoTimeNs(BigInt(ms) * 1_000_000n + BigInt(Math.floor(rnd() * 1e6)));
  const rule = pick(ruleNames);
  return {
    time,
    rule,
    priority: p,
    output:
      `${time.slice(11, 29)}: ${p} ${rule} (user=root command=${proc} -c "cat ${file}" pid=${Math.floor(rnd() * 65535)} ` +
      `file=${file} parent=${pick(procs)} container_id=${Math.floor(rnd() * 1e12).toString(16)} ` +
      `image=registry.example.com/${namespace}/app:1.${Math.floor(rnd() * 20)} k8s.ns=${namespace} k8s.pod=${pod})`,
    output_fields: {
      'evt.time': ms * 1e6,
      'proc.name': proc,
      'fd.name': file,
      'k8s.ns.name': namespace,
      'k8s.pod.name': pod,
      'user.name': 'root',
    },
    source: 'syscall',
    tags: tagSets.map((s) => pick(s)),
    hostname: node,
    id: randomUUID(),
    kind: rnd() < 0.1 ? 'anomaly' : 'signature',
    node,
    workload: { namespace, pod, container: 'app', image: `registry.example.com/${namespace}/app` },
  };
}

function quantiles(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    Number((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0).toFixed(2));
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

function timeQuery(store: CollectorStore, q: AlertQuery, runs = 20): { ms: number; rows: number } {
  const samples: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    rows = store.queryAlerts(q).alerts.length;
    samples.push(performance.now() - t);
  }
  return { ms: quantiles(samples).p50, rows };
}

const db = openCollectorDatabase({ path: file });
const store = openSqliteStore({ database: db });
const report: Record<string, unknown> = { alerts: N, late_share: LATE_SHARE, file };
const t0 = performance.now();
const progress = (what: string): void => {
  process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)}s ${what}\n`);
};

// Fill with batches of 500, timing each; then time batches of 100 on top (newer alerts).
const fill = performance.now();
const batchMs: number[] = [];
const BATCH = 500;
for (let i = 0; i < N; i += BATCH) {
  const batch = Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => makeAlert(i + k));
  const t = performance.now();
  store.insertAlerts(batch, START_MS + SPAN_MS);
  batchMs.push(performance.now() - t);
}
const fillS = (performance.now() - fill) / 1000;
progress('insert_batch500');
report['insert_batch500'] = {
  alerts_per_s: Math.round(N / (batchMs.reduce((a, b) => a + b, 0) / 1000)),
  batch_ms: quantiles(batchMs),
  wall_s_including_generation: Number(fillS.toFixed(1)),
};
const small: number[] = [];
const extra = Math.min(50_000, N);
for (let i = 0; i < extra; i += 100) {
  const batch = Array.from({ length: 100 }, (_, k) => makeAlert(N + i + k));
  const t = performance.now();
  store.insertAlerts(batch, START_MS + SPAN_MS);
  small.push(performance.now() - t);
}
progress('insert_batch100_on_top');
report['insert_batch100_on_top'] = {
  alerts_per_s: Math.round(extra / (small.reduce((a, b) => a + b, 0) / 1000)),
  batch_ms: quantiles(small),
};
const dupT = performance.now();
const again = store.insertAlerts(
  (store.queryAlerts({ limit: 500 }).alerts ?? []).map((r) => r.alert),
  START_MS + SPAN_MS,
);
report['insert_500_duplicates_ms'] = Number((performance.now() - dupT).toFixed(2));
if (again.duplicates !== 500) throw new Error(`expected 500 duplicates, got ${again.duplicates}`);

db.pragma('wal_checkpoint(TRUNCATE)');
report['file_mib'] = Number((statSync(file).size / 2 ** 20).toFixed(1));
report['size_bytes_reported_mib'] = Number((store.sizeBytes() / 2 ** 20).toFixed(1));
report['rss_mib_after_fill'] = Number((process.memoryUsage().rss / 2 ** 20).toFixed(1));
report['count_ms'] = (() => {
  const t = performance.now();
  store.alertCount();
  return Number((performance.now() - t).toFixed(2));
})();

const mid = START_MS + SPAN_MS / 2;
const sample = store.queryAlerts({ limit: 1 }).alerts[0]?.alert as Alert;
const queries: Record<string, AlertQuery> = {
  none: {},
  last_hour: { fromMs: START_MS + SPAN_MS - 3_600_000 },
  day_range_mid: { fromMs: mid, toMs: mid + 86_400_000 },
  priority_critical: { minPriority: 'Critical' },
  priority_emergency: { minPriority: 'Emergency' },
  priority_warning: { minPriority: 'Warning' },
  rule: { rule: sample.rule },
  tag_common: { tag: 'container' },
  tag_rare: { tag: 'T1552' },
  node: { node: 'node-17' },
  namespace: { namespace: 'ns-7' },
  pod: { pod: 'ns-7-app-3' },
  kind_anomaly: { kind: 'anomaly' },
  text_common: { text: 'bash' },
  text_phrase: { text: '/etc/shadow' },
  text_rare: { text: 'ns-7-app-3' },
  text_prefix: { text: 'kubect*' },
  text_absent: { text: 'nothingmatchesthis' },
  ns_and_critical: { namespace: 'ns-7', minPriority: 'Critical' },
  node_and_rule: { node: 'node-17', rule: sample.rule },
  tag_and_namespace: { tag: 'T1552', namespace: 'ns-7' },
  text_and_critical: { text: 'shadow', minPriority: 'Critical' },
  everything: {
    fromMs: START_MS,
    toMs: START_MS + SPAN_MS,
    minPriority: 'Warning',
    tag: 'shell',
    namespace: 'ns-7',
    kind: 'signature',
    text: 'root',
  },
};
const firstPage: Record<string, unknown> = {};
for (const [name, q] of Object.entries(queries)) firstPage[name] = timeQuery(store, { ...q, limit: 100 });
progress('first_page_limit100');
report['first_page_limit100'] = firstPage;

// Deep pagination: a cursor half-way down (500,000 rows in), for each filter kind.
const deep: Record<string, unknown> = {};
for (const [name, q] of Object.entries(queries)) {
  let cursor: string | undefined;
  let seen = 0;
  const target = name === 'none' ? N / 2 : 20_000;
  do {
    const page = store.queryAlerts({ ...q, limit: 1000, ...(cursor !== undefined && { cursor }) });
    seen += page.alerts.length;
    cursor = page.next;
  } while (cursor !== undefined && seen < target);
  if (cursor === undefined) continue;
  deep[name] = { depth: seen, ...timeQuery(store, { ...q, limit: 100, cursor }) };
}
progress('page_at_depth_limit100');
report['page_at_depth_limit100'] = deep;

// A full walk of all alerts, 1000 per page: per-page latency must not grow with depth.
{
  const samples: number[] = [];
  let cursor: string | undefined;
  let total = 0;
  const ids = new Set<string>();
  do {
    const t = performance.now();
    const page = store.queryAlerts({ limit: 1000, ...(cursor !== undefined && { cursor }) });
    samples.push(performance.now() - t);
    for (const r of page.alerts) ids.add(r.alert.id);
    total += page.alerts.length;
    cursor = page.next;
  } while (cursor !== undefined);
  if (ids.size !== total || total !== store.alertCount()) {
    throw new Error(`walk saw ${total} rows, ${ids.size} distinct, store has ${store.alertCount()}`);
  }
  report['full_walk_limit1000'] = { pages: samples.length, page_ms: quantiles(samples) };
}

const counts: Record<string, unknown> = {};
const countCases: Record<string, [AlertQuery, number]> = {
  last_24h_by_1m: [{ fromMs: START_MS + SPAN_MS - 86_400_000, toMs: START_MS + SPAN_MS }, 60_000],
  all_by_1h: [{}, 3_600_000],
  all_by_1h_namespace: [{ namespace: 'ns-7' }, 3_600_000],
  all_by_1h_critical: [{ minPriority: 'Critical' }, 3_600_000],
  all_by_1h_tag: [{ tag: 'shell' }, 3_600_000],
};
for (const [name, [q, bucket]] of Object.entries(countCases)) {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    store.countAlerts(q, bucket);
    samples.push(performance.now() - t);
  }
  counts[name] = quantiles(samples).p50;
}
progress('counts_ms');
report['counts_ms'] = counts;
report['rss_mib_after_queries'] = Number((process.memoryUsage().rss / 2 ** 20).toFixed(1));

// Retention down to 80% by size, one transaction (500 alerts, the default chunk) per call:
// each call's time is how long an insert could wait behind retention.
{
  const before = store.sizeBytes();
  const chunkMs: number[] = [];
  let deleted = 0;
  const t = performance.now();
  for (;;) {
    const t1 = performance.now();
    const n = store.applyRetention({ maxBytes: Math.floor(before * 0.8) }, START_MS + SPAN_MS, 500);
    chunkMs.push(performance.now() - t1);
    deleted += n;
    if (n < 500) break;
  }
  report['retention_by_size'] = {
    deleted,
    total_ms: Math.round(performance.now() - t),
    chunk_ms: quantiles(chunkMs),
    size_before_mib: Number((before / 2 ** 20).toFixed(1)),
    size_after_mib: Number((store.sizeBytes() / 2 ** 20).toFixed(1)),
  };
}

store.close();
db.close();
if (!values.keep && values.dir === undefined) rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
