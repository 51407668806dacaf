/**
 * Retry as a decorator: wraps any {@link CollectorOutput} so that a `retryable` outcome is tried
 * again after an exponentially growing, jittered delay, until it succeeds, fails for good, runs
 * out of attempts or would pass the batch's deadline. The output itself stays a one-shot
 * transport.
 *
 * The delay before attempt n+1 is `min(maxBackoffMs, initialBackoffMs × 2^(n-1))`, then scaled
 * by a random factor in `[1 - jitter, 1]` so that many collectors hit by the same outage do not
 * retry in lockstep; a receiver's `Retry-After` is a floor on it. A delay that would end past the
 * deadline is not waited: the batch fails at once, so that a dead output holds its worker no
 * longer than `deadlineMs` per batch.
 */
import type { Alert } from '../../core/alert.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { abortedError, sendFailure, type CollectorOutput, type SendOutcome } from './collector-output.js';

/** How hard to try one batch. */
export interface RetryPolicy {
  /** Attempts in total, the first included (1 = never retry). */
  readonly maxAttempts: number;
  /** The delay after the first failed attempt, before jitter. */
  readonly initialBackoffMs: number;
  /** The cap on any one delay (a `Retry-After` may exceed it, within the deadline). */
  readonly maxBackoffMs: number;
  /** The most time one batch may take, attempts and delays included, from its first attempt. */
  readonly deadlineMs: number;
  /** How much of each delay is random, 0 (none) to 1 (anything from 0 to the full delay). */
  readonly jitter: number;
}

/** Eight attempts over at most two minutes: rides out a receiver restart, gives up on a dead one. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 8,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  deadlineMs: 120_000,
  jitter: 0.5,
});

/** What the decorator needs besides the policy. */
export interface RetryOptions {
  readonly clock?: Clock;
  /** Uniform in [0, 1); injectable so that tests know the delays. */
  readonly random?: () => number;
}

/**
 * The delay before the attempt after `failedAttempts` failures, jitter and `Retry-After` applied.
 *
 * @example backoffDelay(DEFAULT_RETRY_POLICY, 1, () => 0.999) ≈ 500; backoffDelay(p, 3, () => 0) === 1000
 */
export function backoffDelay(
  policy: RetryPolicy,
  failedAttempts: number,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponential = policy.initialBackoffMs * 2 ** Math.max(0, failedAttempts - 1);
  const base = Math.min(policy.maxBackoffMs, exponential);
  const jittered = base * (1 - policy.jitter * (1 - random()));
  return Math.max(jittered, retryAfterMs ?? 0);
}

/**
 * Wraps `output` so that retryable outcomes are retried under `policy`. The result reports how
 * many attempts were made; when the decorator gives up, the outcome is a `failure` whose cause is
 * the last attempt's error.
 *
 * @example const soc = withRetry(createWebhookOutput(cfg), { ...DEFAULT_RETRY_POLICY, maxAttempts: 5 });
 */
export function withRetry(
  output: CollectorOutput,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  options: RetryOptions = {},
): CollectorOutput {
  validatePolicy(policy);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;

  async function send(batch: readonly Alert[], signal?: AbortSignal): Promise<SendOutcome> {
    const started = clock.now();
    for (let attempt = 1; ; attempt++) {
      const outcome = await output.send(batch, signal);
      if (outcome.result !== 'retryable') return { ...outcome, attempts: attempt };
      if (signal?.aborted === true)
        return { ...sendFailure(abortedError(output.name, signal)), attempts: attempt };
      if (attempt >= policy.maxAttempts) {
        return {
          ...sendFailure(
            new Error(`output ${output.name}: gave up after ${attempt} attempts`, { cause: outcome.error }),
          ),
          attempts: attempt,
        };
      }
      const delay = backoffDelay(policy, attempt, random, outcome.retryAfterMs);
      if (clock.now() + delay - started > policy.deadlineMs) {
        return {
          ...sendFailure(
            new Error(
              `output ${output.name}: gave up after ${attempt} attempts, the next would pass the ${policy.deadlineMs} ms deadline`,
              { cause: outcome.error },
            ),
          ),
          attempts: attempt,
        };
      }
      if (!(await sleep(clock, delay, signal))) {
        return { ...sendFailure(abortedError(output.name, signal as AbortSignal)), attempts: attempt };
      }
    }
  }

  return {
    name: output.name,
    type: output.type,
    minPriority: output.minPriority,
    queueSize: output.queueSize,
    maxBatch: output.maxBatch,
    send,
    close: () => output.close(),
  };
}

function validatePolicy(policy: RetryPolicy): void {
  const bad = (key: string, expected: string, value: number): never => {
    throw new RangeError(`retry policy: ${key} must be ${expected}, got ${String(value)}`);
  };
  if (!Number.isSafeInteger(policy.maxAttempts) || policy.maxAttempts < 1)
    bad('maxAttempts', 'a positive integer', policy.maxAttempts);
  if (!(policy.initialBackoffMs >= 0)) bad('initialBackoffMs', 'at least 0', policy.initialBackoffMs);
  if (!(policy.maxBackoffMs >= policy.initialBackoffMs))
    bad('maxBackoffMs', 'at least initialBackoffMs', policy.maxBackoffMs);
  if (!(policy.deadlineMs > 0)) bad('deadlineMs', 'positive', policy.deadlineMs);
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) bad('jitter', 'from 0 to 1', policy.jitter);
}
