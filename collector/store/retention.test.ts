import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/log.js';
import { startRetention } from './retention.js';
import { openSqliteStore } from './sqlite-store.js';
import { sampleAlert, T0 } from './store-conformance.js';
import type { CollectorStore } from './store.js';

describe('retention schedule', () => {
  let dir: string;
  let store: CollectorStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-retention-'));
    store = openSqliteStore({ path: join(dir, 'collector.db'), retentionChunk: 4 });
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes in slices, letting other work run between them, and logs one line per run', async () => {
    store.insertAlerts(
      Array.from({ length: 40 }, (_, i) => sampleAlert({ id: `r${i}`, atMs: T0 + i * 1000 })),
      T0,
    );
    const logs: Record<string, unknown>[] = [];
    let clock = T0 + 60_000;
    const calls: number[] = [];
    const events: string[] = [];
    const counting: CollectorStore = {
      ...store,
      applyRetention: (policy, nowMs, max) => {
        const n = store.applyRetention(policy, nowMs, max);
        calls.push(n);
        events.push('slice');
        return n;
      },
    };
    const retention = startRetention({
      store: counting,
      policy: { maxAgeMs: 30_000 },
      logger: createLogger({
        write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>),
        now: () => clock,
      }),
      now: () => clock,
      sliceAlerts: 10,
    });
    try {
      // Alerts older than 30 s at T0 + 60 s: the first 30.
      // Other work (here: a chain of immediates) gets turns between the slices.
      let ticking = true;
      const tick = (): void => {
        events.push('other');
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const deleted = await retention.runOnce();
      ticking = false;
      assert.equal(deleted, 30);
      assert.deepEqual(calls, [10, 10, 10, 0]);
      const slices = events.flatMap((e, i) => (e === 'slice' ? [i] : []));
      for (let k = 1; k < slices.length; k++) {
        assert.ok(
          events.slice(slices[k - 1], slices[k]).includes('other'),
          `nothing ran between slices: ${events.join(' ')}`,
        );
      }
      assert.equal(store.alertCount(), 10);
      assert.equal(logs.length, 1);
      assert.deepEqual(
        [logs[0]?.['msg'], logs[0]?.['deleted'], logs[0]?.['remaining']],
        ['retention deleted alerts', 30, 10],
      );
      clock += 5000;
      assert.equal(await retention.runOnce(), 5);
      assert.equal(await retention.runOnce(), 0);
      assert.equal(logs.length, 2);
    } finally {
      retention.stop();
    }
  });
});
