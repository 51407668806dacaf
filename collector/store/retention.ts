/**
 * Runs the store's retention on a schedule, a slice at a time: each slice deletes at most
 * `sliceAlerts` alerts (in the store's short transactions) and the next slice waits for the
 * event loop to come round, so ingest and API requests interleave with a large clean-up
 * instead of queueing behind it.
 */
import type { Logger } from '../../core/log.js';
import type { CollectorStore, RetentionPolicy } from './store.js';

/** How retention runs. */
export interface RetentionOptions {
  readonly store: CollectorStore;
  readonly policy: RetentionPolicy;
  readonly logger: Logger;
  /** The clock, ms since the epoch: ages are measured against it. */
  readonly now: () => number;
  /** Time between runs (default 60 s). */
  readonly intervalMs?: number;
  /** Alerts deleted per slice before yielding (default 5000). */
  readonly sliceAlerts?: number;
}

/** A running retention schedule. */
export interface Retention {
  /** Runs retention to completion now (slice by slice); resolves with how many alerts went. */
  runOnce(): Promise<number>;
  /** Stops the schedule; a run in progress stops after its current slice. */
  stop(): void;
}

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Starts applying `policy` every `intervalMs` (the first run after one interval). The timer
 * does not keep the process alive.
 *
 * @example startRetention({ store, policy: { maxAgeMs: 30 * 86_400_000, maxBytes: 10 * 2 ** 30 }, logger, now: Date.now })
 */
export function startRetention(options: RetentionOptions): Retention {
  const { store, policy, now } = options;
  const logger = options.logger.child({ component: 'retention' });
  const slice = options.sliceAlerts ?? 5000;
  let stopped = false;
  let running: Promise<number> | undefined;

  const run = async (): Promise<number> => {
    let total = 0;
    const started = now();
    for (;;) {
      const deleted = store.applyRetention(policy, now(), slice);
      total += deleted;
      if (deleted < slice || stopped) break;
      await nextTick();
    }
    if (total > 0) {
      logger.info('retention deleted alerts', {
        deleted: total,
        ms: now() - started,
        remaining: store.alertCount(),
      });
    }
    return total;
  };

  const runOnce = (): Promise<number> => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    runOnce().catch((err: unknown) => logger.error('retention failed; retrying at the next run', { err }));
  }, options.intervalMs ?? 60_000);
  timer.unref();

  return {
    runOnce,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
