import assert from 'node:assert/strict';
import type { Alert } from '../../core/alert.js';
import { Priority } from '../../core/priority.js';
import {
  sendFailure,
  sendRetryable,
  sendSuccess,
  type CollectorOutput,
  type SendOutcome,
} from './collector-output.js';
import { ManualClock, sampleAlert, waitFor } from './output-fixtures.test.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './retrying-output.js';

/** An output that answers from a script, one outcome per call, and records the calls. */
function scripted(outcomes: SendOutcome[]): CollectorOutput & { calls: number } {
  const output = {
    name: 'scripted',
    type: 'webhook',
    minPriority: Priority.Debug,
    queueSize: 10,
    maxBatch: 5,
    calls: 0,
    send(_batch: readonly Alert[]): Promise<SendOutcome> {
      output.calls++;
      return Promise.resolve(outcomes.shift() ?? sendSuccess());
    },
    close: () => Promise.resolve(),
  };
  return output;
}

const policy: RetryPolicy = {
  maxAttempts: 6,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
  deadlineMs: 10_000,
  jitter: 0.5,
};
const busy = (): SendOutcome => sendRetryable(new Error('503'));

describe('retry decorator', () => {
  it('backs off exponentially up to the cap, with jitter taking at most its share', () => {
    const none = { ...policy, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(none, n, () => 0.5)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(
      backoffDelay(policy, 3, () => 0),
      200,
      'the most jitter halves the delay',
    );
    assert.equal(
      backoffDelay(policy, 3, () => 0.999999),
      399.9998,
    );
    assert.equal(
      backoffDelay(none, 1, () => 0.5, 5000),
      5000,
      'Retry-After is a floor',
    );
  });

  it('retries retryable outcomes on the clock until one succeeds, and says how many attempts it took', async () => {
    const clock = new ManualClock();
    const inner = scripted([busy(), busy(), busy()]);
    const output = withRetry(inner, { ...policy, jitter: 0 }, { clock });
    const sending = output.send([sampleAlert(1)]);
    for (const delay of [100, 200, 400]) {
      await waitFor(() => clock.pending === 1);
      await clock.advance(delay);
    }
    const outcome = await sending;
    assert.deepEqual(outcome, { result: 'success', attempts: 4 });
    assert.deepEqual(clock.scheduled, [100, 200, 400]);
    assert.equal(inner.calls, 4);
  });

  it('does not retry a failure', async () => {
    const inner = scripted([sendFailure(new Error('400 bad request'))]);
    const outcome = await withRetry(inner, policy, { clock: new ManualClock() }).send([sampleAlert(1)]);
    assert.equal(outcome.result, 'failure');
    assert.equal(outcome.attempts, 1);
    assert.equal(inner.calls, 1);
  });

  it('gives up after max attempts, with the last error as cause', async () => {
    const clock = new ManualClock();
    const inner = scripted(Array.from({ length: 10 }, busy));
    const sending = withRetry(inner, { ...policy, maxAttempts: 3 }, { clock, random: () => 1 }).send([]);
    for (const delay of [100, 200]) {
      await waitFor(() => clock.pending === 1);
      await clock.advance(delay);
    }
    const outcome = await sending;
    assert.equal(outcome.result, 'failure');
    assert.equal(outcome.attempts, 3);
    assert.match(outcome.result === 'failure' ? outcome.error.message : '', /gave up after 3 attempts/);
    assert.equal(outcome.result === 'failure' ? (outcome.error.cause as Error).message : '', '503');
  });

  it('gives up at once when the next delay would pass the deadline', async () => {
    const clock = new ManualClock();
    const inner = scripted([busy(), sendRetryable(new Error('429'), 60_000)]);
    const sending = withRetry(inner, { ...policy, jitter: 0 }, { clock }).send([]);
    await waitFor(() => clock.pending === 1);
    await clock.advance(100);
    const outcome = await sending;
    assert.equal(outcome.result, 'failure');
    assert.match(
      outcome.result === 'failure' ? outcome.error.message : '',
      /would pass the 10000 ms deadline/,
    );
    assert.equal(clock.pending, 0);
  });

  it('stops waiting when aborted', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const sending = withRetry(scripted([busy()]), policy, { clock }).send([], abort.signal);
    await waitFor(() => clock.pending === 1);
    abort.abort(new Error('shutdown'));
    const outcome = await sending;
    assert.equal(outcome.result, 'failure');
    assert.match(outcome.result === 'failure' ? outcome.error.message : '', /delivery aborted/);
  });

  it('keeps the identity of the output it wraps and refuses a nonsensical policy', () => {
    const inner = scripted([]);
    const output = withRetry(inner);
    assert.deepEqual(
      [output.name, output.type, output.minPriority, output.queueSize, output.maxBatch],
      [inner.name, inner.type, inner.minPriority, inner.queueSize, inner.maxBatch],
    );
    assert.throws(
      () => withRetry(inner, { ...DEFAULT_RETRY_POLICY, maxAttempts: 0 }),
      /maxAttempts must be a positive integer/,
    );
    assert.throws(
      () => withRetry(inner, { ...DEFAULT_RETRY_POLICY, jitter: 2 }),
      /jitter must be from 0 to 1/,
    );
  });
});
