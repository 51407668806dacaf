import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openTokenStore } from '../auth/token-store.js';
import { migrateSchema, openCollectorDatabase } from './database.js';
import { openSqliteStore } from './sqlite-store.js';
import { describeStoreConformance, sampleAlert, T0 } from './store-conformance.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vigil-store-'));
}

describeStoreConformance('sqlite (own file)', () => {
  const dir = tempDir();
  return {
    store: openSqliteStore({ path: join(dir, 'collector.db') }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeStoreConformance('sqlite (shared database, one alert per retention chunk)', () => {
  const dir = tempDir();
  const database = openCollectorDatabase({ path: join(dir, 'collector.db') });
  return {
    store: openSqliteStore({ database, retentionChunk: 1 }),
    cleanup: () => {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store: the file', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps alerts and agents across a reopen, still idempotent and searchable', () => {
    const path = join(dir, 'nested', 'collector.db');
    const first = openSqliteStore({ path });
    first.insertAlerts([sampleAlert({ id: 'k1', output: 'kept across restarts' })], T0);
    first.close();
    const second = openSqliteStore({ path });
    try {
      assert.equal(second.getAlert('k1')?.receivedMs, T0);
      assert.deepEqual(second.insertAlerts([sampleAlert({ id: 'k1' })], T0), { stored: 0, duplicates: 1 });
      assert.equal(second.queryAlerts({ text: 'restarts' }).alerts.length, 1);
    } finally {
      second.close();
    }
  });

  it('shares one file with the token store, and a second connection sees committed writes', () => {
    const path = join(dir, 'collector.db');
    const db = openCollectorDatabase({ path });
    const store = openSqliteStore({ database: db });
    const tokens = openTokenStore({ database: db, now: () => T0 });
    const created = tokens.create({ name: 'ops', role: 'viewer' });
    assert.ok(created.ok);
    store.insertAlerts([sampleAlert({ id: 's1' })], T0);
    // What `vigil tokens` does while the collector runs: its own connection to the same file.
    const other = openCollectorDatabase({ path });
    try {
      assert.deepEqual(
        openTokenStore({ database: other, now: () => T0 })
          .list()
          .map((t) => t.name),
        ['ops'],
      );
      assert.equal(openSqliteStore({ database: other }).alertCount(), 1);
      assert.equal(openTokenStore({ database: other, now: () => T0 }).revoke('ops'), true);
      assert.equal(tokens.authenticate(`Bearer ${created.token}`, 'viewer').ok, false);
    } finally {
      other.close();
      store.close();
      db.close();
    }
  });

  it('refuses a SQLite file that belongs to something else', () => {
    const path = join(dir, 'other.db');
    const foreign = new Database(path);
    foreign.exec('CREATE TABLE alerts (seq INTEGER PRIMARY KEY, alert TEXT)');
    foreign.close();
    assert.throws(() => openSqliteStore({ path }), /other\.db.*not marked as a Vigil collector database/);
    const spool = new Database(join(dir, 'spool.db'));
    spool.pragma('application_id = 1447515984');
    spool.close();
    assert.throws(
      () => openCollectorDatabase({ path: join(dir, 'spool.db') }),
      /not a Vigil collector database/,
    );
  });

  it('refuses tables written by a newer Vigil', () => {
    const db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    try {
      migrateSchema(db, 'alerts', ['CREATE TABLE t1 (x)', 'CREATE TABLE t2 (x)']);
      assert.throws(
        () => openSqliteStore({ database: db }),
        /schema version 2, newer than this Vigil knows \(1\)/,
      );
    } finally {
      db.close();
    }
  });

  it('keeps the list order right across the microsecond tie-break overflowing', () => {
    const store = openSqliteStore({ path: join(dir, 'collector.db') });
    try {
      // 2100 alerts in one microsecond: more than the 2048 tie-break slots of one key.
      const burst = Array.from({ length: 2100 }, (_, i) => sampleAlert({ id: `b${i}` }));
      store.insertAlerts(burst, T0);
      store.insertAlerts(
        [sampleAlert({ id: 'next-us', ns: 1000 }), sampleAlert({ id: 'before', atMs: T0 - 1 })],
        T0,
      );
      const page = store.queryAlerts({ limit: 1000 });
      assert.equal(page.alerts.length, 1000);
      const all = [...page.alerts];
      let cursor = page.next;
      while (cursor !== undefined) {
        const next = store.queryAlerts({ limit: 1000, cursor });
        all.push(...next.alerts);
        cursor = next.next;
      }
      const order = all.map((r) => r.alert.id);
      assert.equal(new Set(order).size, 2102);
      assert.equal(order.at(-1), 'before');
      // The burst keeps its arrival order (newest first) even where it spilled into the next microsecond.
      const burstOrder = order.filter((id) => /^b\d+$/.test(id));
      assert.deepEqual(burstOrder, burst.map((a) => a.id).reverse());
    } finally {
      store.close();
    }
  });
});
