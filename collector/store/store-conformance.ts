/**
 * The conformance suite every {@link CollectorStore} runs: one set of cases, each store's test
 * file calls {@link describeStoreConformance} with a way to open a fresh store. It checks what
 * the collector relies on whatever the store: idempotent, atomic inserts; every filter alone and
 * combined, agreeing with the live feed's matcher; newest-first order with a stable tie-break;
 * keyset pages that neither repeat nor skip, also while alerts arrive; counts; retention by age
 * and size that takes the oldest and leaves no trace in filters; agents.
 *
 * Also exports {@link sampleAlert}, a complete alert for tests.
 */
import assert from 'node:assert/strict';
import { isoTimeNs, type Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import { alertCandidate, compileAlertFilter } from './alert-filter.js';
import {
  AlertQueryError,
  MAX_COUNT_BUCKETS,
  type AgentRecord,
  type AlertFilter,
  type AlertQuery,
  type CollectorStore,
} from './store.js';

/** A store made for one test, and how to dispose of what it left. */
export interface StoreUnderTest {
  readonly store: CollectorStore;
  /** Called after the store is closed. */
  cleanup(): void;
}

/** A writable copy of {@link Alert}, for building test alerts. */
export type AlertOverrides = { -readonly [K in keyof Alert]?: Alert[K] } & {
  /** Event time in ms since the epoch (sets `time`), plus `ns` nanoseconds. */
  readonly atMs?: number;
  readonly ns?: number;
};

/** Base time of sample alerts: 2024-05-01T12:00:00Z. */
export const T0 = Date.UTC(2024, 4, 1, 12);

/**
 * A complete alert: Falco's fields and Vigil's, in namespace `default`, pod `web-1`, on
 * `node-1`, at {@link T0} unless overridden.
 *
 * @example sampleAlert({ id: 'a1', priority: 'Critical', atMs: T0 + 5000, tags: ['shell'] })
 */
export function sampleAlert(overrides: AlertOverrides = {}): Alert {
  const { atMs, ns, ...fields } = overrides;
  const time = isoTimeNs(BigInt(atMs ?? T0) * 1_000_000n + BigInt(ns ?? 0));
  const priority: PriorityName = fields.priority ?? 'Warning';
  const base: Alert = {
    time,
    rule: 'Terminal shell in container',
    priority,
    output: `${time.slice(11, 29)}: ${priority} A shell was spawned in a container (user=root command=bash -i container_id=5f6c4e2a1b3d)`,
    output_fields: { 'evt.time': (atMs ?? T0) * 1e6, 'proc.name': 'bash', 'container.id': '5f6c4e2a1b3d' },
    source: 'syscall',
    tags: ['container', 'shell', 'mitre_execution'],
    hostname: 'node-1',
    id: 'alert-1',
    kind: 'signature',
    node: 'node-1',
    workload: {
      namespace: 'default',
      pod: 'web-1',
      container: 'nginx',
      ownerKind: 'Deployment',
      ownerName: 'web',
    },
  };
  return { ...base, ...fields };
}

const ids = (alerts: readonly { alert: Alert }[]): string[] => alerts.map((r) => r.alert.id);

/** Every alert matching `query`, following `next` to the end. */
function listAll(store: CollectorStore, query: AlertQuery): string[] {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = store.queryAlerts({ ...query, ...(cursor !== undefined && { cursor }) });
    out.push(...ids(page.alerts));
    if (page.next === undefined) return out;
    cursor = page.next;
  }
  throw new Error('pagination did not end');
}

/** A varied set of alerts for filter cases (ids a00..), times 1 s apart, a few sharing a time. */
function fixture(): Alert[] {
  const priorities: PriorityName[] = [
    'Emergency',
    'Alert',
    'Critical',
    'Error',
    'Warning',
    'Notice',
    'Informational',
    'Debug',
  ];
  const outputs = [
    'A shell was spawned (user=root command=bash -i file=/etc/shadow)',
    'Sensitive file opened for reading (user=www file=/etc/passwd command=cat /etc/passwd)',
    'Outbound connection to 10.0.0.7:4444 (command=nc -e /bin/sh connection=Élan)',
    'Package management process launched (command=apt-get install curl)',
    'Read below /root/.ssh (command=python3 exfil.py file=/root/.ssh/id_rsa)',
  ];
  const alerts: Alert[] = [];
  for (let i = 0; i < 40; i++) {
    const id = `a${String(i).padStart(2, '0')}`;
    const namespaced = i % 7 !== 6;
    const alert: { -readonly [K in keyof Alert]: Alert[K] } = sampleAlert({
      id,
      // Every fifth alert shares its time with the one before: the tie-break is exercised.
      atMs: T0 + (i - (i % 5 === 4 ? 1 : 0)) * 1000,
      priority: priorities[i % 8] as PriorityName,
      rule: `Rule ${i % 3}`,
      node: `node-${i % 4}`,
      kind: i % 5 === 0 ? 'anomaly' : 'signature',
      tags: i % 2 === 0 ? ['container', 'shell'] : ['host', `T10${i % 3}`],
      output: outputs[i % outputs.length] as string,
      workload: { namespace: `ns-${i % 3}`, pod: `pod-${i % 6}` },
    });
    if (!namespaced) {
      // Alerts from Falco carry the workload only in output fields.
      delete alert.workload;
      alert.output_fields = { 'k8s.ns.name': 'ns-falco', 'k8s.pod.name': 'falco-pod' };
    }
    alerts.push(alert);
  }
  return alerts;
}

/** What a filter should return from `alerts`: the feed's matcher, newest first, ties by insertion. */
function expected(alerts: readonly Alert[], filter: AlertFilter): string[] {
  const match = compileAlertFilter(filter);
  return alerts
    .map((a, i) => ({ a, i, t: Date.parse(a.time) }))
    .filter(({ a }) => match(alertCandidate(a, T0)))
    .sort((x, y) => y.t - x.t || y.i - x.i)
    .map(({ a }) => a.id);
}

function agent(node: string, overrides: Partial<AgentRecord> = {}): AgentRecord {
  return {
    node,
    version: '0.1.0',
    host: {
      hostname: node,
      os: 'linux',
      kernel: '6.8.0',
      arch: 'x86_64',
      cpus: 4,
      memoryBytes: 8 * 2 ** 30,
      source: 'ebpf',
    },
    capabilities: ['nftables', 'cgroup-freeze'],
    connected: true,
    firstSeenMs: T0,
    lastSeenMs: T0,
    spoolDepth: 0,
    spoolDropped: 0,
    ...overrides,
  };
}

/**
 * Declares the conformance tests for the store named `name`; `open` makes a fresh, empty store
 * for each test.
 */
export function describeStoreConformance(name: string, open: () => StoreUnderTest): void {
  describe(`${name} store: conformance`, () => {
    let subject: StoreUnderTest;
    let store: CollectorStore;
    beforeEach(() => {
      subject = open();
      store = subject.store;
    });
    afterEach(() => {
      store.close();
      subject.cleanup();
    });

    describe('inserts', () => {
      it('stores an alert and reads it back whole, with when it was received', () => {
        const alert = sampleAlert({ id: 'x1', score: 0.93, reasons: ['rare parent'] });
        assert.deepEqual(store.insertAlerts([alert], T0 + 42), { stored: 1, duplicates: 0 });
        assert.deepEqual(store.getAlert('x1'), { alert, receivedMs: T0 + 42 });
        assert.equal(store.getAlert('nope'), undefined);
        assert.equal(store.alertCount(), 1);
      });

      it('is idempotent by id, across batches and within one; the first copy stays', () => {
        const first = sampleAlert({ id: 'd1', output: 'first copy' });
        assert.deepEqual(store.insertAlerts([first, sampleAlert({ id: 'd2' })], T0), {
          stored: 2,
          duplicates: 0,
        });
        const again = store.insertAlerts(
          [
            sampleAlert({ id: 'd1', output: 'second copy' }),
            sampleAlert({ id: 'd3' }),
            sampleAlert({ id: 'd3' }),
          ],
          T0 + 1,
        );
        assert.deepEqual(again, { stored: 1, duplicates: 2 });
        assert.equal(store.alertCount(), 3);
        assert.equal(store.getAlert('d1')?.alert.output, 'first copy');
        assert.deepEqual(listAll(store, { text: 'copy' }), ['d1']);
      });

      it('stores a batch whole or not at all', () => {
        const bad = { ...sampleAlert({ id: 'b2' }), id: '' };
        assert.throws(() => store.insertAlerts([sampleAlert({ id: 'b1' }), bad], T0));
        assert.equal(store.alertCount(), 0);
        assert.equal(store.getAlert('b1'), undefined);
      });

      it('keeps an alert whose time cannot be read, at the time it was received', () => {
        const odd = sampleAlert({ id: 'odd', time: 'yesterday-ish', output_fields: {} });
        store.insertAlerts(
          [sampleAlert({ id: 'early', atMs: T0 - 1000 }), odd, sampleAlert({ id: 'late', atMs: T0 + 1000 })],
          T0,
        );
        assert.deepEqual(listAll(store, {}), ['late', 'odd', 'early']);
        assert.deepEqual(listAll(store, { fromMs: T0, toMs: T0 + 1 }), ['odd']);
      });

      it('accepts an empty batch', () => {
        assert.deepEqual(store.insertAlerts([], T0), { stored: 0, duplicates: 0 });
      });
    });

    describe('order', () => {
      it('lists newest first by event time, not by arrival', () => {
        store.insertAlerts(
          [sampleAlert({ id: 'mid', atMs: T0 + 5 }), sampleAlert({ id: 'new', atMs: T0 + 9 })],
          T0,
        );
        store.insertAlerts(
          [sampleAlert({ id: 'old', atMs: T0 + 1 }), sampleAlert({ id: 'newest', atMs: T0 + 10 })],
          T0,
        );
        assert.deepEqual(listAll(store, {}), ['newest', 'new', 'mid', 'old']);
      });

      it('orders microsecond-apart alerts by time and same-instant alerts by arrival, newest first', () => {
        store.insertAlerts(
          [sampleAlert({ id: 's1' }), sampleAlert({ id: 's2' }), sampleAlert({ id: 'us', ns: 2000 })],
          T0,
        );
        store.insertAlerts([sampleAlert({ id: 's3' })], T0);
        assert.deepEqual(listAll(store, {}), ['us', 's3', 's2', 's1']);
      });
    });

    describe('filters', () => {
      let alerts: Alert[];
      beforeEach(() => {
        alerts = fixture();
        // Three batches, the middle one out of time order.
        store.insertAlerts(alerts.slice(0, 15), T0);
        store.insertAlerts(alerts.slice(30), T0);
        store.insertAlerts(alerts.slice(15, 30), T0);
      });
      const inserted = (): Alert[] => [...alerts.slice(0, 15), ...alerts.slice(30), ...alerts.slice(15, 30)];

      const cases: Record<string, AlertFilter> = {
        'no filter': {},
        'from (inclusive)': { fromMs: T0 + 20_000 },
        'to (exclusive)': { toMs: T0 + 20_000 },
        'from and to': { fromMs: T0 + 3000, toMs: T0 + 14_000 },
        'empty range': { fromMs: T0 + 5000, toMs: T0 + 5000 },
        'priority Emergency': { minPriority: 'Emergency' },
        'priority at or above Error': { minPriority: 'Error' },
        'priority Debug (everything)': { minPriority: 'Debug' },
        rule: { rule: 'Rule 1' },
        tag: { tag: 'shell' },
        'rare tag': { tag: 'T102' },
        node: { node: 'node-2' },
        namespace: { namespace: 'ns-1' },
        'namespace from output fields': { namespace: 'ns-falco' },
        pod: { pod: 'pod-4' },
        'pod from output fields': { pod: 'falco-pod' },
        'kind anomaly': { kind: 'anomaly' },
        'kind signature': { kind: 'signature' },
        'unknown value': { rule: 'No such rule' },
        'text: one word': { text: 'shadow' },
        'text: case-insensitive': { text: 'SHADOW' },
        'text: a path is a phrase': { text: '/etc/passwd' },
        'text: words are ANDed': { text: 'command cat' },
        'text: part of a word does not match': { text: 'shado' },
        'text: prefix': { text: 'shad*' },
        'text: prefix in a phrase': { text: 'get-inst*' },
        'text: non-ASCII': { text: 'élan' },
        'text: ip and port': { text: '10.0.0.7:4444' },
        'tag and namespace': { tag: 'shell', namespace: 'ns-0' },
        'priority and node': { minPriority: 'Error', node: 'node-1' },
        'text and priority': { text: 'etc', minPriority: 'Warning' },
        everything: {
          fromMs: T0 + 1000,
          toMs: T0 + 39_000,
          minPriority: 'Notice',
          tag: 'container',
          namespace: 'ns-2',
          kind: 'signature',
          node: 'node-2',
          rule: 'Rule 2',
          pod: 'pod-2',
          text: 'command',
        },
      };
      for (const [label, filter] of Object.entries(cases)) {
        it(`${label}: the same alerts as the live feed's matcher, newest first`, () => {
          const want = expected(inserted(), filter);
          assert.deepEqual(listAll(store, { ...filter, limit: 3 }), want);
          assert.deepEqual(ids(store.queryAlerts({ ...filter, limit: 1000 }).alerts), want);
        });
      }

      it('finds what it should (hand-checked, so the matcher is not only checked against itself)', () => {
        assert.deepEqual(listAll(store, { text: 'shadow' }), [
          'a35',
          'a30',
          'a25',
          'a20',
          'a15',
          'a10',
          'a05',
          'a00',
        ]);
        assert.deepEqual(listAll(store, { minPriority: 'Alert', rule: 'Rule 0' }), [
          'a33',
          'a24',
          'a09',
          'a00',
        ]);
        assert.deepEqual(listAll(store, { namespace: 'ns-falco' }), ['a34', 'a27', 'a20', 'a13', 'a06']);
        assert.deepEqual(listAll(store, { tag: 'T102', kind: 'anomaly' }), ['a35', 'a05']);
        assert.deepEqual(listAll(store, { fromMs: T0 + 37_000 }), ['a39', 'a38', 'a37']);
        // a04 has a03's time and arrived after it, so it is listed first.
        assert.deepEqual(listAll(store, { fromMs: T0 + 3000, toMs: T0 + 4000 }), ['a04', 'a03']);
      });
    });

    describe('pages', () => {
      beforeEach(() => {
        const batch: Alert[] = [];
        for (let i = 0; i < 50; i++)
          batch.push(
            sampleAlert({ id: `p${String(i).padStart(2, '0')}`, atMs: T0 + Math.floor(i / 3) * 1000 }),
          );
        store.insertAlerts(batch, T0);
      });

      it('walks every alert once, in list order, and ends without an empty page', () => {
        const whole = ids(store.queryAlerts({ limit: 1000 }).alerts);
        assert.equal(whole.length, 50);
        for (const size of [1, 7, 10, 49, 50]) {
          const pages: string[][] = [];
          let cursor: string | undefined;
          do {
            const page = store.queryAlerts({ limit: size, ...(cursor !== undefined && { cursor }) });
            pages.push(ids(page.alerts));
            cursor = page.next;
          } while (cursor !== undefined && pages.length <= 60);
          assert.deepEqual(pages.flat(), whole, `page size ${size}`);
          assert.equal(pages.length, Math.ceil(50 / size), `page size ${size}`);
          assert.ok(pages.every((p) => p.length > 0));
        }
      });

      it('neither repeats nor skips while alerts arrive between pages', () => {
        const before = new Set(ids(store.queryAlerts({ limit: 1000 }).alerts));
        const seen: string[] = [];
        let cursor: string | undefined;
        let n = 0;
        do {
          const page = store.queryAlerts({ limit: 6, ...(cursor !== undefined && { cursor }) });
          seen.push(...ids(page.alerts));
          cursor = page.next;
          // Newer alerts (above the walk), and late ones older than everything (still ahead of it).
          store.insertAlerts(
            [
              sampleAlert({ id: `new${n}`, atMs: T0 + 100_000 + n }),
              sampleAlert({ id: `late${n}`, atMs: T0 - 1000 - n }),
            ],
            T0,
          );
          n++;
        } while (cursor !== undefined && n <= 60);
        assert.equal(new Set(seen).size, seen.length, 'an alert was listed twice');
        for (const id of before) assert.ok(seen.includes(id), `${id} was skipped`);
        assert.ok(!seen.some((id) => id.startsWith('new')), 'an alert newer than the first page showed up');
        assert.ok(
          seen.some((id) => id.startsWith('late')),
          'late alerts older than the cursor are still ahead',
        );
      });

      it('pages a filtered list the same way', () => {
        assert.deepEqual(
          listAll(store, { text: 'shell', limit: 4 }),
          ids(store.queryAlerts({ text: 'shell', limit: 1000 }).alerts),
        );
        assert.deepEqual(listAll(store, { minPriority: 'Warning', limit: 4 }).length, 50);
      });

      it('refuses cursors it did not issue and page sizes out of range, naming the field', () => {
        for (const cursor of ['garbage', '', 'eyJ4IjoxfQ', Buffer.from('[1,"x"]').toString('base64url')]) {
          assert.throws(
            () => store.queryAlerts({ cursor }),
            (err: unknown) => err instanceof AlertQueryError && err.field === 'cursor',
          );
        }
        for (const limit of [0, -1, 1001, 1.5, Number.NaN]) {
          assert.throws(
            () => store.queryAlerts({ limit }),
            (err: unknown) => err instanceof AlertQueryError && err.field === 'limit',
          );
        }
        assert.throws(
          () => store.queryAlerts({ text: '  --  ' }),
          (err: unknown) => err instanceof AlertQueryError && err.field === 'text',
        );
        assert.throws(
          () => store.queryAlerts({ text: 'sh*' }),
          (err: unknown) => err instanceof AlertQueryError && err.field === 'text',
        );
      });
    });

    describe('counts', () => {
      it('counts per bucket and priority, buckets aligned and dense, filtered like the list', () => {
        const alerts = fixture();
        store.insertAlerts(alerts, T0);
        for (const filter of [
          {},
          { namespace: 'ns-1' },
          { text: 'shadow' },
          { minPriority: 'Error' as const },
          { tag: 'host', kind: 'anomaly' as const },
        ]) {
          const range = { fromMs: T0 - 60_000, toMs: T0 + 120_000 };
          const counts = store.countAlerts({ ...filter, ...range }, 10_000);
          assert.equal(counts.bucketMs, 10_000);
          assert.equal(counts.buckets.length, 18);
          assert.equal(counts.buckets[0]?.startMs, T0 - 60_000);
          const want = new Map<string, number>();
          const match = compileAlertFilter({ ...filter, ...range });
          for (const a of alerts.filter((x) => match(alertCandidate(x, T0)))) {
            const key = `${Math.floor(Date.parse(a.time) / 10_000) * 10_000}/${a.priority}`;
            want.set(key, (want.get(key) ?? 0) + 1);
          }
          const got = new Map<string, number>();
          for (const b of counts.buckets)
            for (const [p, n] of Object.entries(b.counts)) got.set(`${b.startMs}/${p}`, n);
          assert.deepEqual(got, want, JSON.stringify(filter));
        }
      });

      it('spans the stored alerts when no range is given, and refuses too many buckets', () => {
        assert.deepEqual(store.countAlerts({}, 60_000), { bucketMs: 60_000, buckets: [] });
        store.insertAlerts(
          [
            sampleAlert({ id: 'c1', atMs: T0 + 61_000 }),
            sampleAlert({ id: 'c2', atMs: T0 + 250_000, priority: 'Critical' }),
          ],
          T0,
        );
        const counts = store.countAlerts({}, 60_000);
        assert.deepEqual(
          counts.buckets.map((b) => [b.startMs - T0, b.counts]),
          [
            [60_000, { Warning: 1 }],
            [120_000, {}],
            [180_000, {}],
            [240_000, { Critical: 1 }],
          ],
        );
        assert.throws(
          () => store.countAlerts({ fromMs: 0, toMs: (MAX_COUNT_BUCKETS + 1) * 1000 }, 1000),
          (err: unknown) => err instanceof AlertQueryError && err.field === 'bucketMs',
        );
        assert.throws(() => store.countAlerts({}, 0), AlertQueryError);
      });
    });

    describe('retention', () => {
      it('deletes alerts older than the age limit, and they leave every filter', () => {
        const batch = Array.from({ length: 30 }, (_, i) =>
          sampleAlert({
            id: `r${i}`,
            atMs: T0 + i * 60_000,
            output: i < 10 ? 'ancient zebra' : 'recent horse',
            tags: [`t${i % 2}`],
          }),
        );
        store.insertAlerts(batch, T0);
        const now = T0 + 40 * 60_000;
        // Alerts from T0 + 10 min on are younger than 30 min at now.
        assert.equal(store.applyRetention({ maxAgeMs: 30 * 60_000 }, now), 10);
        assert.equal(store.alertCount(), 20);
        assert.equal(store.getAlert('r9'), undefined);
        assert.ok(store.getAlert('r10') !== undefined);
        assert.deepEqual(listAll(store, { text: 'zebra' }), []);
        assert.equal(listAll(store, { tag: 't0' }).length, 10);
        assert.equal(listAll(store, {}).at(-1), 'r10');
        assert.equal(store.applyRetention({ maxAgeMs: 30 * 60_000 }, now), 0);
        // An alert deleted by retention may come again (an agent re-sending): it is new then.
        assert.deepEqual(store.insertAlerts([batch[9] as Alert], now), { stored: 1, duplicates: 0 });
      });

      it('stops after maxDeletes, so a scheduler can spread the work', () => {
        store.insertAlerts(
          Array.from({ length: 25 }, (_, i) => sampleAlert({ id: `m${i}`, atMs: T0 + i })),
          T0,
        );
        assert.equal(store.applyRetention({ maxAgeMs: 1 }, T0 + 1_000_000, 10), 10);
        assert.equal(store.alertCount(), 15);
        assert.equal(store.applyRetention({ maxAgeMs: 1 }, T0 + 1_000_000, 100), 15);
        assert.equal(store.alertCount(), 0);
      });

      it('deletes the oldest alerts while the store is over the size limit', () => {
        const text = 'x'.repeat(2000);
        for (let b = 0; b < 10; b++) {
          store.insertAlerts(
            Array.from({ length: 50 }, (_, i) =>
              sampleAlert({ id: `z${b}-${i}`, atMs: T0 + (b * 50 + i) * 1000, output: `${text} ${b}` }),
            ),
            T0,
          );
        }
        const full = store.sizeBytes();
        assert.ok(full > 500 * 2000, `sizeBytes ${full} should count the alerts`);
        const deleted = store.applyRetention({ maxBytes: Math.floor(full / 2) }, T0);
        assert.ok(deleted >= 150 && deleted <= 400, `deleted ${deleted} of 500 to halve the size`);
        const left = listAll(store, {});
        assert.equal(left.length, 500 - deleted);
        assert.equal(left[0], 'z9-49', 'the newest alert is kept');
        assert.ok(store.getAlert('z0-0') === undefined, 'the oldest alert is gone');
        assert.equal(store.applyRetention({ maxBytes: full * 2 }, T0), 0);
      });
    });

    describe('agents', () => {
      it('records agents, updates them keeping the first sighting, and lists them by node', () => {
        store.upsertAgent(agent('node-b'));
        store.upsertAgent(agent('node-a', { connected: false }));
        store.upsertAgent(
          agent('node-b', {
            version: '0.2.0',
            firstSeenMs: T0 + 5000,
            lastSeenMs: T0 + 9000,
            spoolDepth: 12,
            spoolDropped: 3,
            capabilities: [],
          }),
        );
        const list = store.listAgents();
        assert.deepEqual(
          list.map((a) => a.node),
          ['node-a', 'node-b'],
        );
        assert.equal(list[0]?.connected, false);
        assert.deepEqual(
          list[1],
          agent('node-b', {
            version: '0.2.0',
            firstSeenMs: T0,
            lastSeenMs: T0 + 9000,
            spoolDepth: 12,
            spoolDropped: 3,
            capabilities: [],
          }),
        );
      });
    });

    it('refuses use after close', () => {
      store.close();
      assert.throws(() => store.alertCount(), /after close/);
      store.close();
    });
  });
}
