import assert from 'node:assert/strict';
import type { Alert } from '../../core/alert.js';
import type { AlertOutput } from './alert-output.js';
import { sampleAlert } from './alert-output-conformance.test.js';
import { createQueuedOutput, type OutputWarning } from './queued-output.js';

/** An output whose writes finish (or fail) only when the test says so. */
class ManualOutput implements AlertOutput {
  readonly name = 'manual';
  readonly batches: string[][] = [];
  private readonly waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  closed = 0;

  write(alerts: readonly Alert[]): Promise<void> {
    this.batches.push(alerts.map((a) => a.id));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: () => {
          this.inFlight--;
          resolve();
        },
        reject: (err) => {
          this.inFlight--;
          reject(err);
        },
      });
    });
  }

  /** Completes the oldest pending write. */
  finish(err?: Error): void {
    const next = this.waiting.shift();
    assert.ok(next !== undefined, 'no write is pending');
    if (err === undefined) next.resolve();
    else next.reject(err);
  }

  get pending(): number {
    return this.waiting.length;
  }

  close(): void {
    this.closed++;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('queued output', () => {
  it('returns from write at once and hands the output one batch at a time', async () => {
    const inner = new ManualOutput();
    const out = createQueuedOutput(inner, { batchSize: 2 });
    out.write([sampleAlert('a'), sampleAlert('b'), sampleAlert('c')]);
    assert.equal(inner.batches.length, 0, 'nothing is written inside write()');
    await tick();
    assert.deepEqual(inner.batches, [['a', 'b']]);
    out.write([sampleAlert('d'), sampleAlert('e')]);
    inner.finish();
    await tick();
    assert.deepEqual(inner.batches, [
      ['a', 'b'],
      ['c', 'd'],
    ]);
    inner.finish();
    await tick();
    inner.finish();
    await out.flush();
    assert.deepEqual(inner.batches, [['a', 'b'], ['c', 'd'], ['e']]);
    assert.equal(inner.maxInFlight, 1);
    assert.deepEqual(out.stats(), {
      output: 'manual',
      queued: 0,
      written: 5,
      failed: 0,
      dropped: 0,
      droppedByPriority: {
        Emergency: 0,
        Alert: 0,
        Critical: 0,
        Error: 0,
        Warning: 0,
        Notice: 0,
        Informational: 0,
        Debug: 0,
      },
    });
  });

  it('bounds what waits for a stuck output, drops the least important, and warns once per interval', async () => {
    const inner = new ManualOutput();
    const warnings: OutputWarning[] = [];
    let now = 1_000;
    const out = createQueuedOutput(inner, {
      maxQueued: 4,
      batchSize: 10,
      warnIntervalMs: 60_000,
      now: () => now,
      onWarning: (w) => warnings.push(w),
    });
    out.write([sampleAlert('first', 'Alert')]);
    await tick();
    assert.equal(inner.pending, 1, 'the output is stuck on the first batch');

    out.write([sampleAlert('d1', 'Debug'), sampleAlert('c1', 'Critical'), sampleAlert('d2', 'Debug')]);
    out.write([sampleAlert('c2', 'Critical'), sampleAlert('c3', 'Critical')]);
    // Full at four: the oldest Debug (d1) made room for c3. The first drop is reported at once;
    // later ones are summed until the interval has passed.
    assert.equal(out.stats().queued, 4);
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0]!.dropped.Debug, 1);
    assert.match(warnings[0]!.message, /output manual dropped 1 alert\(s\) \(1 Debug\)/);

    for (let i = 0; i < 10; i++) out.write([sampleAlert(`i${i}`, 'Informational')]);
    out.write([sampleAlert('e1', 'Emergency')]);
    assert.equal(warnings.length, 1, 'no second warning inside the interval');
    now += 60_000;
    out.write([sampleAlert('n1', 'Notice')]);
    assert.equal(warnings.length, 2);
    assert.equal(warnings[1]!.dropped.Informational, 10);
    assert.equal(warnings[1]!.dropped.Debug, 1);
    assert.equal(warnings[1]!.dropped.Notice, 1);

    const stats = out.stats();
    assert.equal(stats.dropped, 13);
    assert.equal(stats.droppedByPriority.Debug, 2);
    assert.equal(stats.droppedByPriority.Informational, 10);
    assert.equal(stats.droppedByPriority.Notice, 1);

    inner.finish();
    await tick();
    assert.deepEqual(inner.batches[1], ['c1', 'c2', 'c3', 'e1']);
    inner.finish();
    await out.flush();
    assert.equal(out.stats().written, 5);
  });

  it('counts a failed batch, reports its error, and carries on with the next', async () => {
    const inner = new ManualOutput();
    const warnings: OutputWarning[] = [];
    const out = createQueuedOutput(inner, { batchSize: 2, now: () => 0, onWarning: (w) => warnings.push(w) });
    out.write([sampleAlert('a'), sampleAlert('b'), sampleAlert('c')]);
    await tick();
    inner.finish(new Error('disk full'));
    await tick();
    inner.finish();
    await out.flush();
    assert.deepEqual(out.stats().failed, 2);
    assert.deepEqual(out.stats().written, 1);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.failed, 2);
    assert.match(warnings[0]!.message, /failed to write 2 alert\(s\): disk full/);
    assert.ok(warnings[0]!.err instanceof Error);
  });

  it('counts a synchronous throw from the output as a failure too', async () => {
    const out = createQueuedOutput({
      name: 'throws',
      write() {
        throw new Error('boom');
      },
      close() {},
    });
    out.write([sampleAlert('a')]);
    await out.flush();
    assert.equal(out.stats().failed, 1);
  });

  it('on close, drains what it can within the deadline, drops and reports the rest, and closes the output', async () => {
    const inner = new ManualOutput();
    const warnings: OutputWarning[] = [];
    const out = createQueuedOutput(inner, {
      batchSize: 1,
      closeTimeoutMs: 20,
      onWarning: (w) => warnings.push(w),
    });
    out.write([sampleAlert('a', 'Critical'), sampleAlert('b', 'Warning'), sampleAlert('c', 'Warning')]);
    await tick();
    const closing = out.close();
    out.write([sampleAlert('late', 'Error')]);
    inner.finish();
    // 'a' finished; 'b' is now stuck past the deadline.
    await closing;
    assert.equal(inner.closed, 1);
    const stats = out.stats();
    assert.equal(stats.written, 1);
    assert.equal(stats.droppedByPriority.Warning, 1, 'c never reached the output');
    assert.equal(stats.droppedByPriority.Error, 1, 'written after close');
    // Every drop is reported: the late one at once, the one left at the deadline when closing.
    const reported = warnings.reduce((n, w) => n + w.dropped.Warning + w.dropped.Error, 0);
    assert.equal(reported, 2);
    await out.close();
    assert.equal(inner.closed, 1, 'close is idempotent');
  });

  it('refuses bad queue options', () => {
    assert.throws(
      () => createQueuedOutput(new ManualOutput(), { maxQueued: 0 }),
      /maxQueued must be a positive integer/,
    );
    assert.throws(() => createQueuedOutput(new ManualOutput(), { batchSize: 1.5 }), /batchSize/);
  });
});
