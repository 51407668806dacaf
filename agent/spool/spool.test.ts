import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import { openSpool, SpoolError, type Spool, type SpoolErrorReason } from './spool.js';

function alert(id: string, priority: PriorityName, output = `alert ${id}`): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Test rule',
    priority,
    output,
    output_fields: { 'proc.name': 'bash', 'evt.time': 1714564800000000000 },
    source: 'syscall',
    tags: ['test'],
    hostname: 'node-1',
    id,
    kind: 'signature',
    node: 'node-1',
  };
}

/** The JSON size of `alert(id, priority, output)`, for byte-bound arithmetic. */
function size(a: Alert): number {
  return Buffer.byteLength(JSON.stringify(a));
}

/** An alert whose JSON is exactly `bytes` long. */
function sized(id: string, priority: PriorityName, bytes: number): Alert {
  const a = alert(id, priority, '');
  const pad = bytes - size(a);
  assert.ok(pad >= 0, `an alert cannot be as small as ${bytes} bytes`);
  return { ...a, output: 'p'.repeat(pad) };
}

function ids(spool: Spool): string[] {
  return spool.peek({ limit: 1_000_000 }).map((s) => s.alert.id);
}

function expectSpoolError(fn: () => unknown, reason: SpoolErrorReason, pattern: RegExp): SpoolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SpoolError, `expected a SpoolError, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

describe('Spool', () => {
  let dir: string;
  let path: string;
  const open: Spool[] = [];
  const openTracked = (options: Parameters<typeof openSpool>[0]): Spool => {
    const s = openSpool(options);
    open.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-spool-'));
    path = join(dir, 'state', 'spool.db');
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a batch, hands it out in order by sequence number, and deletes what is acked', () => {
    const spool = openTracked({ path });
    const r = spool.append([alert('a', 'Warning'), alert('b', 'Critical'), alert('c', 'Debug')]);
    assert.deepEqual(
      r.stored.map((s) => s.id),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(r.duplicates, []);
    assert.deepEqual(r.dropped, []);
    const seqs = r.stored.map((s) => s.seq);
    assert.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!, `increasing: ${seqs.join(',')}`);

    const peeked = spool.peek({ limit: 10 });
    assert.deepEqual(
      peeked.map((p) => [p.seq, p.alert.id]),
      r.stored.map((s) => [s.seq, s.id]),
    );
    assert.deepEqual(peeked[1]!.alert, alert('b', 'Critical'));
    assert.deepEqual(
      spool.peek({ limit: 10, afterSeq: seqs[0]! }).map((p) => p.alert.id),
      ['b', 'c'],
    );
    assert.deepEqual(
      spool.peek({ limit: 1, afterSeq: seqs[0]! }).map((p) => p.alert.id),
      ['b'],
    );

    assert.equal(spool.ack(['b', 'nope']), 1);
    assert.deepEqual(ids(spool), ['a', 'c']);
    assert.equal(spool.ackThrough(seqs[0]!), 1);
    assert.deepEqual(ids(spool), ['c']);
    assert.equal(spool.depth(), 1);
    assert.equal(spool.stats().bytes, size(alert('c', 'Debug')));
    assert.equal(spool.ackThrough(seqs[2]!), 1);
    assert.equal(spool.depth(), 0);
    assert.equal(spool.stats().bytes, 0);
  });

  it('stops a peek at maxBytes but always returns at least one alert', () => {
    const spool = openTracked({ path });
    const batch = ['a', 'b', 'c'].map((id) => alert(id, 'Notice'));
    spool.append(batch);
    const one = size(batch[0]!);
    assert.deepEqual(
      spool.peek({ limit: 10, maxBytes: 2 * one }).map((p) => p.alert.id),
      ['a', 'b'],
    );
    assert.deepEqual(
      spool.peek({ limit: 10, maxBytes: 1 }).map((p) => p.alert.id),
      ['a'],
    );
    assert.deepEqual(spool.peek({ limit: 0 }), []);
  });

  it('is idempotent by id, within a batch, across batches and across restarts', () => {
    const spool = openTracked({ path });
    const first = spool.append([alert('a', 'Error'), alert('a', 'Error'), alert('b', 'Error')]);
    assert.deepEqual(
      first.stored.map((s) => s.id),
      ['a', 'b'],
    );
    assert.deepEqual(first.duplicates, ['a']);
    spool.close();
    const again = openTracked({ path });
    const second = again.append([alert('b', 'Error'), alert('c', 'Error')]);
    assert.deepEqual(second.duplicates, ['b']);
    assert.deepEqual(
      second.stored.map((s) => s.id),
      ['c'],
    );
    assert.deepEqual(ids(again), ['a', 'b', 'c']);
    assert.equal(again.depth(), 3);
  });

  it('keeps everything not acked across a reopen, and never reuses a sequence number', () => {
    const spool = openTracked({ path });
    const r = spool.append([alert('a', 'Warning'), alert('b', 'Warning'), alert('c', 'Warning')]);
    spool.ack(['b']);
    spool.close();
    const reopened = openTracked({ path });
    assert.deepEqual(ids(reopened), ['a', 'c']);
    assert.equal(reopened.stats().bytes, 2 * size(alert('a', 'Warning')));
    const last = r.stored[2]!.seq;
    assert.equal(reopened.ackThrough(last), 2);
    reopened.close();
    // Every alert acked, the newest included: a plain rowid would start again at 1 here.
    const third = openTracked({ path });
    const next = third.append([alert('d', 'Warning')]).stored[0]!.seq;
    assert.ok(next > last, `seq ${next} after ${last}`);
    assert.ok(third.stats().lastSeq >= next);
  });

  it('when full by count, drops the least important and oldest first, and refuses an arrival less important than everything', () => {
    const spool = openTracked({ path, maxAlerts: 3 });
    spool.append([alert('d1', 'Debug'), alert('w1', 'Warning'), alert('d2', 'Debug')]);

    // Room for a Critical comes from the oldest Debug.
    const r1 = spool.append([alert('c1', 'Critical')]);
    assert.deepEqual(r1.dropped, [{ id: 'd1', priority: 'Debug', reason: 'evicted' }]);
    assert.deepEqual(ids(spool), ['w1', 'd2', 'c1']);

    // An equally important arrival displaces the older one of its priority.
    const r2 = spool.append([alert('d3', 'Debug')]);
    assert.deepEqual(r2.dropped, [{ id: 'd2', priority: 'Debug', reason: 'evicted' }]);
    assert.deepEqual(
      r2.stored.map((s) => s.id),
      ['d3'],
    );

    spool.append([alert('e1', 'Error')]);
    assert.deepEqual(ids(spool), ['w1', 'c1', 'e1']);
    // Everything held is more important than an Informational: the arrival goes, nothing else.
    const r3 = spool.append([alert('i1', 'Informational')]);
    assert.deepEqual(r3.stored, []);
    assert.deepEqual(r3.dropped, [{ id: 'i1', priority: 'Informational', reason: 'refused' }]);
    assert.deepEqual(ids(spool), ['w1', 'c1', 'e1']);

    const stats = spool.stats();
    assert.equal(stats.depth, 3);
    assert.equal(stats.dropped, 4);
    assert.equal(stats.droppedByPriority.Debug, 3);
    assert.equal(stats.droppedByPriority.Informational, 1);
    assert.equal(stats.droppedByPriority.Warning, 0);
    assert.deepEqual(
      [stats.depthByPriority.Critical, stats.depthByPriority.Error, stats.depthByPriority.Warning],
      [1, 1, 1],
    );
  });

  it('reports an alert that a later alert of the same batch evicted as dropped, not stored', () => {
    const spool = openTracked({ path, maxAlerts: 2 });
    const r = spool.append([alert('n1', 'Notice'), alert('a1', 'Alert'), alert('e1', 'Emergency')]);
    assert.deepEqual(
      r.stored.map((s) => s.id),
      ['a1', 'e1'],
    );
    assert.deepEqual(r.dropped, [{ id: 'n1', priority: 'Notice', reason: 'evicted' }]);
  });

  it('when full by bytes, evicts as many less important alerts as a large arrival needs', () => {
    const unit = 400;
    // Room for exactly four unit-sized alerts.
    const spool = openTracked({ path, maxBytes: 4 * unit });
    spool.append([
      sized('x1', 'Debug', unit),
      sized('x2', 'Notice', unit),
      sized('x3', 'Debug', unit),
      sized('x4', 'Critical', unit),
    ]);
    assert.equal(spool.stats().bytes, 4 * unit);

    // Nearly two units: needs two evictions, taken Debug-oldest first.
    const r = spool.append([sized('big', 'Warning', 2 * unit - 10)]);
    assert.deepEqual(r.dropped, [
      { id: 'x1', priority: 'Debug', reason: 'evicted' },
      { id: 'x3', priority: 'Debug', reason: 'evicted' },
    ]);
    assert.deepEqual(ids(spool), ['x2', 'x4', 'big']);
    assert.equal(spool.stats().bytes, 4 * unit - 10);

    // A Notice of three units: the only alert it may displace (the Notice x2) makes too little
    // room, so it is refused and nothing is evicted for it.
    const refused = spool.append([sized('n-big', 'Notice', 3 * unit)]);
    assert.deepEqual(refused.dropped, [{ id: 'n-big', priority: 'Notice', reason: 'refused' }]);
    assert.deepEqual(ids(spool), ['x2', 'x4', 'big']);

    const r2 = spool.append([sized('huge', 'Emergency', 4 * unit + 1)]);
    assert.deepEqual(r2.dropped, [{ id: 'huge', priority: 'Emergency', reason: 'oversized' }]);
    assert.deepEqual(ids(spool), ['x2', 'x4', 'big']);
    assert.deepEqual(spool.stats().droppedByPriority, {
      Emergency: 1,
      Alert: 0,
      Critical: 0,
      Error: 0,
      Warning: 0,
      Notice: 1,
      Informational: 0,
      Debug: 2,
    });
  });

  it('does not report an alert it already holds as dropped when the spool is full', () => {
    const spool = openTracked({ path, maxAlerts: 2 });
    spool.append([alert('c1', 'Critical'), alert('d1', 'Debug')]);
    spool.append([alert('c2', 'Critical')]);
    // Full of Criticals; d1 is gone. Resending c1 is a duplicate, not a drop, even when the copy
    // resent differs from the one held (here: a lower priority that alone would be refused).
    const same = spool.append([alert('c1', 'Critical')]);
    assert.deepEqual(same.duplicates, ['c1']);
    assert.deepEqual(same.dropped, []);
    const changed = spool.append([alert('c1', 'Debug')]);
    assert.deepEqual(changed.duplicates, ['c1']);
    assert.deepEqual(changed.dropped, []);
    assert.equal(spool.stats().dropped, 1);
    assert.equal(spool.peek({ limit: 1 })[0]!.alert.priority, 'Critical');
  });

  it('keeps the drop counts across restarts, and trims to smaller bounds on reopen, counting it', () => {
    const spool = openTracked({ path, maxAlerts: 4 });
    spool.append([
      alert('w1', 'Warning'),
      alert('i1', 'Informational'),
      alert('c1', 'Critical'),
      alert('i2', 'Informational'),
      alert('d1', 'Debug'),
    ]);
    assert.equal(spool.stats().droppedByPriority.Debug, 1);
    spool.close();

    const smaller = openTracked({ path, maxAlerts: 2 });
    assert.deepEqual(ids(smaller), ['w1', 'c1']);
    const stats = smaller.stats();
    assert.equal(stats.droppedByPriority.Debug, 1);
    assert.equal(stats.droppedByPriority.Informational, 2);
    assert.equal(stats.dropped, 3);
    smaller.close();

    const reread = openTracked({ path, maxAlerts: 2 });
    assert.equal(reread.stats().dropped, 3);
  });

  it('reports depth, bytes, oldest time and depth by priority', () => {
    const spool = openTracked({ path });
    assert.equal(spool.stats().oldestTime, undefined);
    assert.equal(spool.stats().lastSeq, 0);
    const first = { ...alert('a', 'Alert'), time: '2024-05-01T11:00:00.000000001Z' };
    spool.append([first, alert('b', 'Alert'), alert('c', 'Debug')]);
    const stats = spool.stats();
    assert.equal(stats.path, path);
    assert.equal(stats.depth, 3);
    assert.equal(stats.bytes, size(first) + size(alert('b', 'Alert')) + size(alert('c', 'Debug')));
    assert.equal(stats.oldestTime, '2024-05-01T11:00:00.000000001Z');
    assert.equal(stats.depthByPriority.Alert, 2);
    assert.equal(stats.depthByPriority.Debug, 1);
    assert.equal(stats.dropped, 0);
  });

  it('refuses a batch with an invalid alert without writing any of it', () => {
    const spool = openTracked({ path });
    const bad = { ...alert('x', 'Warning'), priority: 'Loud' } as unknown as Alert;
    expectSpoolError(
      () => spool.append([alert('ok', 'Warning'), bad]),
      'invalid-alert',
      /alert x has no known priority/,
    );
    const noId = { ...alert('', 'Warning') };
    expectSpoolError(() => spool.append([noId]), 'invalid-alert', /#0 of the batch has no id/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const unserialisable = { ...alert('cyc', 'Warning'), output_fields: cyclic };
    const err = expectSpoolError(
      () => spool.append([unserialisable]),
      'invalid-alert',
      /cyc cannot be written as JSON/,
    );
    assert.ok(err.cause instanceof TypeError);
    assert.equal(spool.depth(), 0);
    assert.deepEqual(ids(spool), []);
  });

  it('accepts priorities in any case, and Info for Informational, as Falco does', () => {
    const spool = openTracked({ path, maxAlerts: 1 });
    spool.append([{ ...alert('a', 'Warning'), priority: 'info' as PriorityName }]);
    assert.equal(spool.stats().depthByPriority.Informational, 1);
    const r = spool.append([{ ...alert('b', 'Warning'), priority: 'WARNING' as PriorityName }]);
    assert.deepEqual(r.dropped, [{ id: 'a', priority: 'Informational', reason: 'evicted' }]);
  });

  it('refuses a second process (or connection) on the same file, naming the path', () => {
    openTracked({ path });
    const err = expectSpoolError(() => openSpool({ path }), 'in-use', /in use by another process/);
    assert.ok(err.message.includes(path));
    assert.equal(err.path, path);
  });

  it('names the path when the file is not a database', () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(
      path,
      'this is not a SQLite database, it is a text file that is long enough to matter\n'.repeat(100),
    );
    const err = expectSpoolError(() => openSpool({ path }), 'corrupt', /unreadable/);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /move the file aside/);
    assert.ok(err.cause !== undefined);
  });

  it('names the path when a spool file is damaged inside', () => {
    const spool = openSpool({ path });
    for (let b = 0; b < 20; b++) {
      spool.append(Array.from({ length: 100 }, (_, i) => alert(`a${b}-${i}`, 'Warning', 'x'.repeat(300))));
    }
    spool.close();
    // Overwrite pages past the header (b-tree pages of the table and its indexes) with garbage.
    const length = statSync(path).size;
    const fd = openSync(path, 'r+');
    const garbage = Buffer.alloc(4096 * 8, 0xa5);
    writeSync(fd, garbage, 0, garbage.length, Math.floor(length / 2 / 4096) * 4096);
    closeSync(fd);
    const err = expectSpoolError(() => openSpool({ path }), 'corrupt', /damaged|unreadable/);
    assert.ok(err.message.includes(path), err.message);
  });

  it('refuses a SQLite database that is not a spool, and one of another schema version', () => {
    mkdirSync(join(dir, 'state'));
    const other = new Database(path);
    other.exec('CREATE TABLE things (x)');
    other.close();
    expectSpoolError(() => openSpool({ path }), 'not-a-spool', /not a Vigil alert spool/);

    const versioned = join(dir, 'versioned.db');
    openSpool({ path: versioned }).close();
    const db = new Database(versioned);
    db.pragma('user_version = 99');
    db.close();
    expectSpoolError(() => openSpool({ path: versioned }), 'not-a-spool', /schema version 99/);
  });

  it('names the path when it cannot open the file at all', () => {
    mkdirSync(path, { recursive: true });
    const err = expectSpoolError(() => openSpool({ path }), 'io', /cannot open the alert spool/);
    assert.ok(err.message.includes(path));
  });

  it('refuses bad options and use after close', () => {
    expectSpoolError(
      () => openSpool({ path, maxAlerts: 0 }),
      'invalid-option',
      /maxAlerts must be a positive integer/,
    );
    expectSpoolError(() => openSpool({ path, maxBytes: 1.5 }), 'invalid-option', /maxBytes/);
    const spool = openSpool({ path });
    expectSpoolError(() => spool.peek({ limit: -1 }), 'invalid-option', /peek limit/);
    spool.close();
    spool.close();
    expectSpoolError(() => spool.append([alert('a', 'Debug')]), 'closed', /is closed/);
    expectSpoolError(() => spool.depth(), 'closed', /is closed/);
    // Closing released the lock: the file opens again.
    openTracked({ path }).close();
  });

  it('leaves no shared-memory file beside the spool and keeps its data in the WAL-mode file', () => {
    const spool = openTracked({ path, synchronous: 'full' });
    spool.append([alert('a', 'Debug')]);
    assert.throws(() => readFileSync(path + '-shm'), /ENOENT/);
    spool.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.prepare('SELECT id FROM alerts').pluck().get(), 'a');
    } finally {
      db.close();
    }
  });
});
