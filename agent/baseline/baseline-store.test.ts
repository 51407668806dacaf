import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openBaselineStore } from './baseline-store.js';

describe('baseline store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-store-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a baselines.db of the previous version and adds the learner and drift tables', () => {
    const path = join(dir, 'baselines.db');
    // The schema as the previous version created it, with a profile and a model in it.
    const old = new Database(path);
    old.exec(`
      CREATE TABLE profiles (key TEXT PRIMARY KEY, bytes BLOB NOT NULL, updated_ms INTEGER NOT NULL);
      CREATE INDEX profiles_updated ON profiles (updated_ms);
      CREATE TABLE sequence_models (key TEXT NOT NULL, exe TEXT NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (key, exe));
    `);
    old.prepare('INSERT INTO profiles VALUES (?, ?, ?)').run('k', Buffer.from([1, 2, 3]), 5);
    old.prepare('INSERT INTO sequence_models VALUES (?, ?, ?)').run('k', '/bin/sh', Buffer.from([9]));
    old.close();

    const store = openBaselineStore({ path });
    assert.deepEqual(store.get('k'), new Uint8Array([1, 2, 3]));
    assert.deepEqual(store.loadModels('k'), [{ exe: '/bin/sh', bytes: new Uint8Array([9]) }]);
    assert.deepEqual(store.loadLearners('k'), []);
    store.putLearners([{ key: 'k', exe: '/bin/ls', bytes: new Uint8Array([4]) }], 10);
    assert.deepEqual(store.loadLearners('k'), [{ exe: '/bin/ls', bytes: new Uint8Array([4]) }]);
    store.applyDriftChanges({
      forget: [],
      put: [{ containerId: 'c', path: '/x', writtenMs: 7 }],
      remove: [],
    });
    assert.deepEqual(store.loadDriftMemory(10, 10), [{ containerId: 'c', path: '/x', writtenMs: 7 }]);
    // Storing the models of a lock replaces the learners.
    store.putModels('k', [{ exe: '/bin/ls', bytes: new Uint8Array([5]) }]);
    assert.deepEqual(store.loadLearners('k'), []);
    store.close();
  });

  it('keeps at most maxLearnerRows learners (the least recently written go) and none of profiles gone', () => {
    const store = openBaselineStore({ path: join(dir, 'b.db'), maxRows: 2, maxLearnerRows: 3 });
    store.putMany(
      ['a', 'b'].map((key) => ({ key, bytes: new Uint8Array([1]) })),
      1,
    );
    const dropped: number[] = [];
    for (let i = 0; i < 5; i++)
      dropped.push(store.putLearners([{ key: 'a', exe: `/e${i}`, bytes: new Uint8Array([i]) }], 10 + i));
    assert.deepEqual(dropped, [0, 0, 0, 1, 1], 'each trim says how many learners went');
    assert.deepEqual(
      store.loadLearners('a').map((l) => l.exe),
      ['/e2', '/e3', '/e4'],
    );
    store.putLearners([{ key: 'b', exe: '/x', bytes: new Uint8Array([1]) }], 20);
    store.deleteLearners('a', ['/e3']);
    assert.deepEqual(
      store.loadLearners('a').map((l) => l.exe),
      ['/e4'],
    );
    // Profile 'a' is trimmed out of the store: its learners go with it.
    store.putMany([{ key: 'c', bytes: new Uint8Array([1]) }], 30);
    assert.deepEqual(store.loadLearners('a'), []);
    assert.equal(store.loadLearners('b').length, 1);
    store.close();
  });

  it('prunes the drift memory to the most recently written containers and their newest paths', () => {
    const store = openBaselineStore({ path: join(dir, 'c.db') });
    const put = [];
    for (let c = 0; c < 4; c++)
      for (let p = 0; p < 5; p++) put.push({ containerId: `c${c}`, path: `/p${p}`, writtenMs: c * 100 + p });
    store.applyDriftChanges({ forget: [], put, remove: [] });
    store.applyDriftChanges({ forget: ['c0'], put: [], remove: [{ containerId: 'c3', path: '/p4' }] });
    const rows = store.loadDriftMemory(2, 3);
    assert.deepEqual(
      rows.map((r) => `${r.containerId}${r.path}@${r.writtenMs}`),
      ['c2/p2@202', 'c2/p3@203', 'c2/p4@204', 'c3/p1@301', 'c3/p2@302', 'c3/p3@303'],
    );
    assert.equal(store.loadDriftMemory(10, 10).length, 6, 'the rest was deleted');
    store.close();
  });
});
