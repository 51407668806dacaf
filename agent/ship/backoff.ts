/**
 * Exponential backoff with full jitter, for reconnecting to the collector.
 *
 * The n-th delay (from 0) is drawn uniformly from [0, min(maxMs, initialMs * multiplier^n)):
 * "full jitter", which spreads a fleet of agents that lost the collector at the same moment
 * over the whole window instead of having them return in waves. The ceiling stops growing at
 * `maxMs`. `reset()` after a session that worked starts again from `initialMs`.
 */

/** How the delays grow. */
export interface BackoffOptions {
  /** Ceiling of the first delay (default 500 ms). */
  readonly initialMs?: number;
  /** Largest ceiling (default 30 s). */
  readonly maxMs?: number;
  /** Growth of the ceiling per attempt (default 2). */
  readonly multiplier?: number;
  /** Uniform in [0, 1) (default Math.random); injected by tests. */
  readonly random?: () => number;
}

/** A sequence of reconnect delays. */
export interface Backoff {
  /** The delay before the next attempt, in ms; each call counts an attempt. */
  next(): number;
  /** Starts over: the next delay is drawn from the first window again. */
  reset(): void;
  /** Attempts since the last reset. */
  readonly attempts: number;
}

/**
 * Creates a backoff.
 *
 * @example
 * const backoff = createBackoff({ initialMs: 200, maxMs: 10_000 });
 * setTimeout(reconnect, backoff.next());
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 500;
  const maxMs = options.maxMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(multiplier >= 1)) {
    throw new Error(
      `backoff: need 0 < initialMs <= maxMs and multiplier >= 1, got ${initialMs}, ${maxMs}, ${multiplier}`,
    );
  }
  let attempts = 0;
  return {
    next() {
      // Capping the exponent keeps the power finite however long the collector stays away.
      const ceiling = Math.min(maxMs, initialMs * multiplier ** Math.min(attempts, 64));
      attempts++;
      return Math.floor(random() * ceiling);
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
