import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { encodeAgentMessage } from '../../proto/link-codec.js';
import type { AlertBatch } from '../../proto/link-messages.js';
import { openSpool, type Spool } from '../spool/spool.js';
import { ShipLedger, type TakeResult } from './ship-ledger.js';

function alert(id: string): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Read sensitive file',
    priority: 'Warning',
    output: `12:00:00.000000000: Warning sensitive file opened (id=${id})`,
    output_fields: { 'fd.name': '/etc/shadow', 'proc.name': 'cat' },
    source: 'syscall',
    tags: ['filesystem'],
    hostname: 'node-1',
    id,
    kind: 'signature',
    node: 'node-1',
  };
}

const ids = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

const encode = (batch: AlertBatch): Buffer => encodeAgentMessage({ type: 'alerts', batch });
const limits = { maxAlerts: 10, maxBytes: 1 << 20 };

function held(spool: Spool): string[] {
  return spool.peek({ limit: 1_000_000 }).map((s) => s.alert.id);
}

function batchOf(result: TakeResult): AlertBatch {
  if (result.type !== 'batch')
    throw new assert.AssertionError({ message: `expected a batch, got ${result.type}` });
  return result.batch;
}

describe('ship ledger', () => {
  let dir: string;
  let spool: Spool;
  let clock: number;
  const now = (): number => clock;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-ledger-'));
    spool = openSpool({ path: join(dir, 'spool.db') });
    clock = 1000;
  });
  afterEach(() => {
    spool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps at most maxInFlight batches, and an Ack deletes exactly its batch, in any order', () => {
    const ledger = new ShipLedger(spool, { maxInFlight: 3, now });
    spool.append(ids('a', 0, 40).map(alert));
    const b1 = batchOf(ledger.take(limits, encode));
    const b2 = batchOf(ledger.take(limits, encode));
    clock = 1500;
    const b3 = batchOf(ledger.take(limits, encode));
    assert.deepEqual([b1.batchId, b2.batchId, b3.batchId], [1, 2, 3]);
    assert.deepEqual(
      b2.alerts.map((a) => a.id),
      ids('a', 10, 20),
    );
    assert.deepEqual(ledger.take(limits, encode), { type: 'idle' }, 'the window is full');
    assert.equal(ledger.batchesInFlight, 3);
    assert.equal(ledger.alertsInFlight, 30);

    // The middle batch first: the older one in flight must stay.
    clock = 2000;
    assert.deepEqual(ledger.acknowledge(2), { alerts: 10, deleted: 10, sentAtMs: 1000 });
    assert.deepEqual(held(spool), [...ids('a', 0, 10), ...ids('a', 20, 40)]);
    assert.equal(ledger.acknowledge(2), undefined, 'a second Ack settles nothing');
    assert.equal(ledger.acknowledge(99), undefined);

    const b4 = batchOf(ledger.take(limits, encode));
    assert.deepEqual(
      b4.alerts.map((a) => a.id),
      ids('a', 30, 40),
    );
    assert.equal(ledger.acknowledge(3)?.sentAtMs, 1500);
    assert.deepEqual(held(spool), [...ids('a', 0, 10), ...ids('a', 30, 40)]);
    ledger.acknowledge(1);
    assert.deepEqual(held(spool), ids('a', 30, 40));
    // Alerts spooled after the last batch was taken survive its Ack.
    spool.append(ids('late', 0, 3).map(alert));
    ledger.acknowledge(4);
    assert.deepEqual(held(spool), ids('late', 0, 3));
    assert.deepEqual(
      batchOf(ledger.take(limits, encode)).alerts.map((a) => a.id),
      ids('late', 0, 3),
    );
  });

  it('after a rewind resends everything unacknowledged, marked resent, under new batch ids', () => {
    const ledger = new ShipLedger(spool, { maxInFlight: 4, now });
    spool.append(ids('a', 0, 25).map(alert));
    const first = [batchOf(ledger.take(limits, encode)), batchOf(ledger.take(limits, encode))];
    assert.deepEqual(
      first.map((b) => b.resent),
      [false, false],
    );
    ledger.acknowledge(2);
    assert.equal(ledger.rewind(), 10);
    assert.equal(ledger.batchesInFlight, 0);

    const again = [batchOf(ledger.take(limits, encode)), batchOf(ledger.take(limits, encode))];
    assert.deepEqual(
      again.map((b) => b.alerts.map((a) => a.id)),
      [ids('a', 0, 10), ids('a', 20, 25)],
    );
    assert.deepEqual(
      again.map((b) => b.batchId),
      [3, 4],
    );
    // The first batch was sent before; the second holds a20..a24, never sent: not resent.
    assert.deepEqual(
      again.map((b) => b.resent),
      [true, false],
    );
    assert.equal(ledger.acknowledge(1), undefined, "the old stream's batch ids are gone");
  });

  it('treats what the spool held at start-up as possibly sent by an earlier run', () => {
    spool.append(ids('old', 0, 5).map(alert));
    const ledger = new ShipLedger(spool, { maxInFlight: 4, now });
    spool.append(ids('new', 0, 5).map(alert));
    const b = batchOf(ledger.take({ maxAlerts: 5, maxBytes: 1 << 20 }, encode));
    assert.equal(b.resent, true);
    const c = batchOf(ledger.take({ maxAlerts: 5, maxBytes: 1 << 20 }, encode));
    assert.deepEqual(
      c.alerts.map((a) => a.id),
      ids('new', 0, 5),
    );
    assert.equal(c.resent, false);
  });

  it('keeps every message within maxBytes, halving a batch until it fits', () => {
    const ledger = new ShipLedger(spool, { maxInFlight: 100, now });
    spool.append(ids('a', 0, 10).map(alert));
    // A stand-in encoder: 1000 bytes per alert, so only two fit in 2500.
    const padded = (batch: AlertBatch): Buffer => Buffer.alloc(batch.alerts.length * 1000);
    const sizes: number[] = [];
    const sent: string[] = [];
    for (;;) {
      const r = ledger.take({ maxAlerts: 10, maxBytes: 2500 }, padded);
      if (r.type === 'idle') break;
      assert.equal(r.type, 'batch');
      if (r.type !== 'batch') return;
      sizes.push(r.encoded.length);
      sent.push(...r.batch.alerts.map((a) => a.id));
    }
    assert.deepEqual(sizes, [2000, 2000, 2000, 2000, 2000]);
    assert.deepEqual(sent, ids('a', 0, 10));
  });

  it('deletes an alert that no message can carry, and goes on with the next', () => {
    const ledger = new ShipLedger(spool, { maxInFlight: 4, now });
    const huge = { ...alert('huge'), output: 'x'.repeat(10_000) };
    spool.append([alert('a0'), huge, alert('a2')]);
    const real = { maxAlerts: 1, maxBytes: 2000 };
    assert.deepEqual(
      batchOf(ledger.take(real, encode)).alerts.map((a) => a.id),
      ['a0'],
    );
    const r = ledger.take(real, encode);
    assert.equal(r.type, 'undeliverable');
    if (r.type === 'undeliverable') {
      assert.equal(r.alert.id, 'huge');
      assert.ok(r.bytes > 10_000);
    }
    assert.deepEqual(held(spool), ['a0', 'a2']);
    assert.deepEqual(
      batchOf(ledger.take(real, encode)).alerts.map((a) => a.id),
      ['a2'],
    );
  });

  it('refuses a window of zero', () => {
    assert.throws(() => new ShipLedger(spool, { maxInFlight: 0, now }), /maxInFlight/);
  });
});
