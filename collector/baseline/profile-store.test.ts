import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { openProfileStore, type ProfileWrite } from './profile-store.js';

function write(key: string, namespace: string, status: string, bytes: number[]): ProfileWrite {
  return {
    key,
    profile: Uint8Array.from(bytes),
    namespace,
    status,
    summaryJson: JSON.stringify({ key, namespace, status }),
  };
}

describe('profile store (SQLite)', () => {
  let dir: string;
  let db: CollectorDatabase;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-profiles-'));
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores bytes by key, stamps the time, and bumps the version on each write', () => {
    const store = openProfileStore({ database: db });
    assert.equal(store.get('a'), undefined);
    assert.equal(store.has('a'), false);
    store.write([write('a', 'shop', 'learning', [1, 2, 3])], 1000);
    assert.deepEqual(store.get('a'), {
      key: 'a',
      profile: Uint8Array.from([1, 2, 3]),
      updatedMs: 1000,
      version: 1,
    });
    store.write([write('a', 'shop', 'locked', [4])], 2000);
    assert.deepEqual(store.get('a'), {
      key: 'a',
      profile: Uint8Array.from([4]),
      updatedMs: 2000,
      version: 2,
    });
    assert.equal(store.has('a'), true);
    assert.equal(store.count(), 1);
  });

  it('keeps profiles across a reopen of the database (the schema migrates once)', () => {
    openProfileStore({ database: db }).write([write('k', 'ns', 'learning', [9, 9])], 5);
    db.close();
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    const again = openProfileStore({ database: db });
    assert.deepEqual(again.get('k')?.profile, Uint8Array.from([9, 9]));
    assert.equal(
      (
        db.prepare("SELECT version FROM schema_versions WHERE part = 'baselines'").get() as {
          version: number;
        }
      ).version,
      1,
    );
  });

  it('lists by key with namespace and status filters and a limit', () => {
    const store = openProfileStore({ database: db });
    store.write(
      [
        write('b', 'shop', 'learning', [1]),
        write('a', 'shop', 'locked', [1]),
        write('c', 'bank', 'locked', [1]),
      ],
      10,
    );
    assert.deepEqual(
      store.list({ limit: 10 }).map((p) => p.key),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      store.list({ namespace: 'shop', limit: 10 }).map((p) => p.key),
      ['a', 'b'],
    );
    assert.deepEqual(
      store.list({ status: 'locked', limit: 10 }).map((p) => p.key),
      ['a', 'c'],
    );
    assert.deepEqual(
      store.list({ namespace: 'shop', status: 'locked', limit: 10 }).map((p) => p.summary),
      [{ key: 'a', namespace: 'shop', status: 'locked' }],
    );
    assert.equal(store.list({ limit: 2 }).length, 2);
  });

  it('walks profiles newest first, page by page, with a cursor', () => {
    const store = openProfileStore({ database: db });
    store.write([write('old-1', 'n', 'learning', [1]), write('old-2', 'n', 'learning', [2])], 100);
    store.write([write('mid', 'n', 'learning', [3])], 200);
    store.write([write('new', 'n', 'learning', [4])], 300);
    const seen: string[] = [];
    let after: { updatedMs: number; key: string } | undefined;
    for (;;) {
      const page = store.recent(after, 2);
      if (page.length === 0) break;
      seen.push(...page.map((p) => p.key));
      const last = page.at(-1)!;
      after = { updatedMs: last.updatedMs, key: last.key };
    }
    assert.deepEqual(seen, ['new', 'mid', 'old-2', 'old-1']);
  });

  it('walks idle profiles oldest first, deletes only those still idle, and touches without a new version', () => {
    const store = openProfileStore({ database: db });
    store.write([write('b', 'shop', 'learning', [1]), write('a', 'shop', 'learning', [2])], 1000);
    store.write([write('c', 'shop', 'learning', [3])], 2000);
    store.write([write('d', 'shop', 'learning', [4])], 5000);
    assert.deepEqual(store.idle(3000, undefined, 10), [
      { key: 'a', updatedMs: 1000 },
      { key: 'b', updatedMs: 1000 },
      { key: 'c', updatedMs: 2000 },
    ]);
    assert.deepEqual(store.idle(3000, { key: 'a', updatedMs: 1000 }, 1), [{ key: 'b', updatedMs: 1000 }]);
    store.touch('a', 4000);
    store.touch('d', 4000); // never moves back
    assert.deepEqual(store.get('a'), {
      key: 'a',
      profile: Uint8Array.from([2]),
      updatedMs: 4000,
      version: 1,
    });
    assert.equal(store.get('d')?.updatedMs, 5000);
    // 'a' was touched after the walk saw it: it is not idle any more and stays.
    assert.deepEqual(store.remove(['a', 'b', 'c', 'missing'], 3000), ['b', 'c']);
    assert.deepEqual(store.remove([], 3000), []);
    assert.deepEqual(
      store.recent(undefined, 10).map((p) => p.key),
      ['d', 'a'],
    );
    assert.equal(store.count(), 2);
  });
});
