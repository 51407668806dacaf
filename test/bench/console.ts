/**
 * Benchmark of the SOC console over a large store: fills a collector database with N synthetic
 * alerts (default 1,000,000, spread over the last seven days), starts a real collector on it,
 * and times in Debian's Chromium how long the alerts page takes to show its first page, a
 * filtered page, a text search, the next page, and the timeline. Prints one JSON report.
 *
 *   node dist/test/bench/console.js [--alerts N] [--dir DIR] [--keep] [--runs R]
 *
 * `--dir` with an already filled database skips the fill (same N expected). Each figure is the
 * median of R runs, measured twice: wall clock here from the action (navigation, Enter) to the
 * list's `data-state="ready"`, which includes the automation's own round trips; and in the page
 * with User Timing (from navigation start for a first render, from the list's request for a
 * filter), which is what a user waits for.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import type { Alert } from '../../core/alert.js';
import { isoTimeNs } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import { openCollectorDatabase } from '../../collector/store/database.js';
import { openSqliteStore } from '../../collector/store/sqlite-store.js';
import { launchChromium, startConsoleCollector } from '../support/console-fixture.js';

const { values } = parseArgs({
  options: {
    alerts: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    runs: { type: 'string', default: '5' },
  },
});
const N = Number(values.alerts);
const RUNS = Number(values.runs);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'vigil-console-bench-'));
const dataDir = join(dir, 'data');
const SPAN_MS = 7 * 86_400_000;
const END_MS = Date.now();

let seed = 7;
const rnd = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const PRIORITY_MIX: readonly [PriorityName, number][] = [
  ['Critical', 0.02],
  ['Error', 0.08],
  ['Warning', 0.3],
  ['Notice', 0.4],
  ['Informational', 0.15],
  ['Debug', 0.05],
];
const RULES = [
  'Terminal shell in container',
  'Read sensitive file untrusted',
  'Unexpected outbound connection',
  'Write below etc',
  'Launch privileged container',
  'Anomalous executable',
];
const PROCS = ['bash', 'sh', 'curl', 'wget', 'python3', 'nc', 'cat'];

function priority(): PriorityName {
  let r = rnd();
  for (const [p, share] of PRIORITY_MIX) {
    if (r < share) return p;
    r -= share;
  }
  return 'Notice';
}

function makeAlert(i: number): Alert {
  const namespace = `ns-${Math.floor(rnd() * 50)}`;
  const pod = `${namespace}-app-${Math.floor(rnd() * 100)}`;
  const node = `node-${Math.floor(rnd() * 200)}`;
  const proc = PROCS[Math.floor(rnd() * PROCS.length)] as string;
  const rule = RULES[Math.floor(rnd() * RULES.length)] as string;
  const p = priority();
  const ms = END_MS - SPAN_MS + Math.floor((i / N) * SPAN_MS);
  const time = isoTimeNs(BigInt(ms) * 1_000_000n + BigInt(Math.floor(rnd() * 1e6)));
  return {
    time,
    rule,
    priority: p,
    output: `${time.slice(11, 29)}: ${p} ${rule} (user=root command=${proc} -c id pid=${Math.floor(rnd() * 65535)} k8s.ns=${namespace} k8s.pod=${pod})`,
    output_fields: { 'proc.name': proc, 'k8s.ns.name': namespace, 'k8s.pod.name': pod, 'user.name': 'root' },
    source: 'syscall',
    tags: ['container', rnd() < 0.5 ? 'shell' : 'network'],
    hostname: node,
    id: randomUUID(),
    kind: rule === 'Anomalous executable' ? 'anomaly' : 'signature',
    node,
    workload: {
      namespace,
      pod,
      ownerKind: 'Deployment',
      ownerName: `${namespace}-app`,
      container: 'app',
      image: 'app:1',
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.floor(s.length / 2)] ?? 0).toFixed(1));
};

async function ready(page: Page): Promise<void> {
  await page.locator('#alert-list[data-state="ready"]').waitFor({ timeout: 120_000 });
}

const report: Record<string, unknown> = { alerts: N, runs: RUNS };
mkdirSync(dataDir, { recursive: true });
if (!existsSync(join(dataDir, 'collector.db'))) {
  const t = performance.now();
  const db = openCollectorDatabase({ path: join(dataDir, 'collector.db') });
  const store = openSqliteStore({ database: db });
  for (let i = 0; i < N; i += 1000) {
    store.insertAlerts(
      Array.from({ length: Math.min(1000, N - i) }, (_, k) => makeAlert(i + k)),
      END_MS,
    );
    if (i % 100_000 === 0) process.stderr.write(`filled ${i}\n`);
  }
  store.close();
  db.close();
  report['fill_s'] = Number(((performance.now() - t) / 1000).toFixed(1));
}

const vigil = await startConsoleCollector({ dataDir });
const browser = await launchChromium();
try {
  report['stored'] = vigil.collector.store.alertCount();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(`${vigil.base}/console/`);
  await page.locator('#token').fill(vigil.token.viewer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await ready(page);

  /**
   * Times `action` R times: wall clock here (with the automation's own overhead), and in the
   * page: from navigation start (`fromNavigation`) or from the list's request
   * (`vigil:list` measure) to the rows on screen.
   */
  const time = async (
    what: string,
    action: () => Promise<void>,
    setup: () => Promise<unknown> = () => Promise.resolve(),
    fromNavigation = false,
  ): Promise<void> => {
    const wall: number[] = [];
    const inPage: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await setup();
      const t = performance.now();
      await action();
      wall.push(performance.now() - t);
      const m = await page.evaluate<{ start: number; end: number } | null>(
        "(() => { const m = performance.getEntriesByName('vigil:list', 'measure').at(-1); return m === undefined ? null : { start: m.startTime, end: m.startTime + m.duration }; })()",
      );
      if (m !== null) inPage.push(fromNavigation ? m.end : m.end - m.start);
    }
    report[what] = {
      wall_median_ms: median(wall),
      in_page_median_ms: median(inPage),
      in_page_max_ms: Number(Math.max(...inPage).toFixed(1)),
    };
  };
  const rowsShown = (): Promise<number> => page.locator('#alert-list tbody tr.row').count();

  // A fresh page load (signed in: the token is in this tab's sessionStorage) to the first rows.
  for (const [name, hash] of [
    ['first_render_24h', '#/alerts'],
    ['first_render_7d', '#/alerts?range=7d'],
    ['first_render_any_time', '#/alerts?range=all'],
  ] as const) {
    await time(
      name,
      async () => {
        await page.goto(`${vigil.base}/console/${hash}`);
        await ready(page);
      },
      // Away first (not timed), so that this is a full load, not a same-document hash change.
      () => page.goto('about:blank'),
      true,
    );
  }
  report['rows_first_page'] = await rowsShown();

  const submit = async (fill: () => Promise<void>): Promise<void> => {
    await fill();
    await page.locator('#f-q').press('Enter');
    await ready(page);
  };
  await page.goto(`${vigil.base}/console/#/alerts?range=7d`);
  await ready(page);
  await page.locator('#f-priority').selectOption('error');
  await ready(page);
  await time('filter_namespace_and_priority', () =>
    submit(async () => {
      await page.locator('#f-namespace').fill(`ns-${Math.floor(Math.random() * 50)}`);
    }),
  );
  report['rows_filtered'] = await rowsShown();
  await page.locator('#f-priority').selectOption('');
  await ready(page);
  await time('filter_pod_rare', () =>
    submit(async () => {
      await page.locator('#f-namespace').fill('');
      await page
        .locator('#f-pod')
        .fill(`ns-${Math.floor(Math.random() * 50)}-app-${Math.floor(Math.random() * 100)}`);
    }),
  );
  report['rows_pod'] = await rowsShown();
  await time('text_search', () =>
    submit(async () => {
      await page.locator('#f-pod').fill('');
      await page.locator('#f-q').fill(Math.random() < 0.5 ? 'wget' : 'curl');
    }),
  );
  report['rows_search'] = await rowsShown();
  await page.locator('#f-q').fill('');
  await page.locator('#f-q').press('Enter');
  await ready(page);
  await time('next_page', async () => {
    const before = await rowsShown();
    await page.getByRole('button', { name: 'Load older alerts' }).click();
    await page.locator(`#alert-list tbody tr.row >> nth=${before + 99}`).waitFor();
  });
  report['rows_after_paging'] = await rowsShown();

  // What the page waits for, straight from the API: a page of the list, and the timeline's
  // counts (the page asks for the list first and draws the counts after it).
  const apiPaths: readonly (readonly [string, () => string])[] = [
    ['api_list_24h_ms', () => `/api/v1/alerts?limit=100&from=${Date.now() - 86_400_000}`],
    ['api_list_7d_ms', () => `/api/v1/alerts?limit=100&from=${Date.now() - SPAN_MS}`],
    ['api_list_namespace_error_ms', () => '/api/v1/alerts?limit=100&namespace=ns-7&priority=error'],
    ['api_search_7d_ms', () => `/api/v1/alerts?limit=100&q=wget&from=${Date.now() - SPAN_MS}`],
    ['api_counts_24h_ms', () => `/api/v1/alerts/counts?from=${Date.now() - 86_400_000}&bucket=30m`],
    ['api_counts_7d_ms', () => `/api/v1/alerts/counts?from=${Date.now() - SPAN_MS}&bucket=3h`],
  ];
  for (const [name, path] of apiPaths) {
    const samples: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      const res = await fetch(`${vigil.base}${path()}`, {
        headers: { authorization: `Bearer ${vigil.token.viewer}` },
      });
      await res.json();
      samples.push(performance.now() - t);
    }
    report[name] = median(samples);
  }
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} finally {
  await browser.close();
  await vigil.stop();
  if (!values.keep && values.dir === undefined) rmSync(dir, { recursive: true, force: true });
}
