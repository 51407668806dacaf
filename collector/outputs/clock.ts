/**
 * The time source of the output machinery: retries wait on it, the router's warnings are spaced by
 * it. Tests inject their own so that nothing sleeps for real; production uses {@link systemClock},
 * whose timers are unref()ed so that a pending retry never keeps the process alive.
 */

/** Reads the time and schedules callbacks. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

/** The real clock: `Date.now` and unref()ed `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Waits `ms` on `clock`. Resolves `true` when the time is up, `false` at once when `signal` aborts
 * (before or during the wait) — an expected outcome, not an error.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      cancel();
      resolve(false);
    };
    const cancel = clock.schedule(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
