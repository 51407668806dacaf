import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQuarantineStore, type QuarantineRecord } from './quarantine-store.js';

const record = (id: string, pod = 'web', over: Partial<QuarantineRecord> = {}): QuarantineRecord => ({
  quarantineId: id,
  namespace: 'shop',
  pod,
  podUid: `uid-${pod}`,
  cutEstablished: true,
  freeze: false,
  reason: 'test',
  appliedMs: 1000,
  ...over,
});

describe('quarantine store (SQLite)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-qstore-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('remembers quarantines across a reopen', () => {
    const path = join(dir, 'sub', 'quarantines.db');
    const store = openQuarantineStore(path);
    store.put(record('q-1', 'web', { freeze: true, cutEstablished: false }));
    store.put(record('q-2', 'api', { appliedMs: 2000 }));
    store.close();
    const again = openQuarantineStore(path);
    assert.deepEqual(again.get('q-1'), record('q-1', 'web', { freeze: true, cutEstablished: false }));
    assert.deepEqual(
      again.all().map((r) => r.quarantineId),
      ['q-1', 'q-2'],
    );
    assert.equal(again.forPod('shop', 'api')?.quarantineId, 'q-2');
    assert.equal(again.delete('q-1'), true);
    assert.equal(again.delete('q-1'), false);
    assert.equal(again.count(), 1);
    again.close();
  });

  it('keeps one quarantine per pod: a newer one replaces the older', () => {
    const store = openQuarantineStore(join(dir, 'q.db'));
    store.put(record('q-1'));
    store.put(record('q-2'));
    assert.equal(store.get('q-1'), undefined);
    assert.equal(store.forPod('shop', 'web')?.quarantineId, 'q-2');
    assert.equal(store.count(), 1);
    store.close();
  });

  it('refuses a second process on the same file', () => {
    const path = join(dir, 'q.db');
    const store = openQuarantineStore(path);
    store.put(record('q-1'));
    assert.throws(() => openQuarantineStore(path).put(record('q-2', 'api')), /locked/);
    store.close();
  });
});
