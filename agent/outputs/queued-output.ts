/**
 * Puts a bounded queue in front of an {@link AlertOutput}, so that a slow or stuck output (a
 * stdout nobody reads, a file on a hung disk) cannot hold up the pipeline or make it grow
 * without bound. `write()` only queues and returns; one drain loop at a time hands batches to
 * the output. When the queue is full the least important alert is dropped (see
 * {@link AlertQueue}); a batch the output fails to write is counted as failed. Both are counted
 * by priority and reported through one aggregated warning per interval, never per alert.
 */
import type { Alert } from '../../core/alert.js';
import { priorityNames, type PriorityName } from '../../core/priority.js';
import type { AlertOutput } from './alert-output.js';
import { AlertQueue, alertRank } from '../../core/alert-queue.js';

/** How to queue in front of an output. */
export interface OutputQueueOptions {
  /** The most alerts waiting for the output (default 10,000). */
  readonly maxQueued?: number;
  /** The most alerts handed to the output in one `write` (default 500). */
  readonly batchSize?: number;
  /** How long `close()` waits for the queue to drain before dropping the rest (default 5 s). */
  readonly closeTimeoutMs?: number;
  /** The least time between two warnings (default 60 s); drops and failures in between are summed. */
  readonly warnIntervalMs?: number;
  /** Milliseconds clock for the warning interval (default `Date.now`); tests inject their own. */
  readonly now?: () => number;
  /** Receives the aggregated warnings (the agent logs them). */
  readonly onWarning?: (warning: OutputWarning) => void;
}

/** A count for each priority. */
export type PriorityCounts = Readonly<Record<PriorityName, number>>;

/** What went wrong since the previous warning, summed. */
export interface OutputWarning {
  /** The output's name. */
  readonly output: string;
  /** One human sentence. */
  readonly message: string;
  /** Alerts dropped because the queue was full (or closed), by priority. */
  readonly dropped: PriorityCounts;
  /** Alerts the output failed to write. */
  readonly failed: number;
  /** The last write error, when there were failures. */
  readonly err?: unknown;
}

/** Counters of a queued output, for metrics. */
export interface OutputStats {
  readonly output: string;
  /** Alerts waiting now. */
  readonly queued: number;
  /** Alerts the output accepted. */
  readonly written: number;
  /** Alerts in batches the output failed to write. */
  readonly failed: number;
  /** Alerts dropped because the queue was full or the output closed, in total and by priority. */
  readonly dropped: number;
  readonly droppedByPriority: PriorityCounts;
}

/** An output behind a bounded queue: `write` never waits. */
export interface QueuedAlertOutput extends AlertOutput {
  /** Queues the batch and returns at once; drops (counted) what does not fit. */
  write(alerts: readonly Alert[]): void;
  /** Resolves once everything queued so far has been handed to the output (or failed). */
  flush(): Promise<void>;
  /**
   * Stops accepting alerts (later ones are counted as dropped), waits up to `closeTimeoutMs` for
   * the queue to drain, drops the rest, reports what is left to report and closes the output.
   */
  close(): Promise<void>;
  stats(): OutputStats;
}

function zeroCounts(): number[] {
  return new Array<number>(priorityNames().length).fill(0);
}

function byName(counts: readonly number[]): PriorityCounts {
  const out = {} as Record<PriorityName, number>;
  priorityNames().forEach((name, rank) => (out[name] = counts[rank] ?? 0));
  return out;
}

function positive(value: number | undefined, fallback: number, key: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`output queue: ${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Wraps `output` in a bounded queue.
 *
 * @example
 * const out = createQueuedOutput(createStdoutOutput(), { onWarning: (w) => log.warn(w.message, w) });
 * out.write(alerts); // returns at once
 */
export function createQueuedOutput(output: AlertOutput, options: OutputQueueOptions = {}): QueuedAlertOutput {
  return new QueuedOutput(output, options);
}

class QueuedOutput implements QueuedAlertOutput {
  readonly name: string;
  private readonly queue: AlertQueue;
  private readonly batchSize: number;
  private readonly closeTimeoutMs: number;
  private readonly warnIntervalMs: number;
  private readonly now: () => number;
  private readonly onWarning: ((warning: OutputWarning) => void) | undefined;

  private draining = false;
  private accepting = true;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  private written = 0;
  private failed = 0;
  private readonly dropped = zeroCounts();
  // Since the last warning.
  private readonly pendingDropped = zeroCounts();
  private pendingFailed = 0;
  private pendingErr: unknown = undefined;
  private lastWarnAt: number | undefined;

  constructor(
    private readonly output: AlertOutput,
    options: OutputQueueOptions,
  ) {
    this.name = output.name;
    this.queue = new AlertQueue(positive(options.maxQueued, 10_000, 'maxQueued'));
    this.batchSize = positive(options.batchSize, 500, 'batchSize');
    this.closeTimeoutMs = positive(options.closeTimeoutMs, 5_000, 'closeTimeoutMs');
    this.warnIntervalMs = positive(options.warnIntervalMs, 60_000, 'warnIntervalMs');
    this.now = options.now ?? Date.now;
    this.onWarning = options.onWarning;
  }

  write(alerts: readonly Alert[]): void {
    for (const alert of alerts) {
      const dropped = this.accepting ? this.queue.push(alert) : alert;
      if (dropped !== undefined) this.countDrop(alertRank(dropped));
    }
    this.maybeWarn(false);
    if (this.queue.size > 0 && !this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  flush(): Promise<void> {
    if (!this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  stats(): OutputStats {
    return {
      output: this.name,
      queued: this.queue.size,
      written: this.written,
      failed: this.failed,
      dropped: this.dropped.reduce((a, b) => a + b, 0),
      droppedByPriority: byName(this.dropped),
    };
  }

  private async shutdown(): Promise<void> {
    this.accepting = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
      // A stuck output must not keep the process alive on its own.
      timer.unref();
    });
    try {
      await Promise.race([this.flush(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    for (const alert of this.queue.take(Number.POSITIVE_INFINITY)) this.countDrop(alertRank(alert));
    this.maybeWarn(true);
    await this.output.close();
  }

  /** The only loop that calls the output: one batch at a time, until the queue is empty. */
  private async drain(): Promise<void> {
    // Start on a later tick: write() stays O(batch) for its caller even with a synchronous output.
    await Promise.resolve();
    try {
      while (this.queue.size > 0) {
        const batch = this.queue.take(this.batchSize);
        try {
          await this.output.write(batch);
          this.written += batch.length;
        } catch (err) {
          this.failed += batch.length;
          this.pendingFailed += batch.length;
          this.pendingErr = err;
          this.maybeWarn(false);
        }
      }
    } finally {
      this.draining = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private countDrop(rank: number): void {
    this.dropped[rank] = (this.dropped[rank] ?? 0) + 1;
    this.pendingDropped[rank] = (this.pendingDropped[rank] ?? 0) + 1;
  }

  /** Emits the summed warning when there is something to say and the interval has passed (or `force`). */
  private maybeWarn(force: boolean): void {
    const droppedTotal = this.pendingDropped.reduce((a, b) => a + b, 0);
    if (droppedTotal === 0 && this.pendingFailed === 0) return;
    const now = this.now();
    if (!force && this.lastWarnAt !== undefined && now - this.lastWarnAt < this.warnIntervalMs) return;
    this.lastWarnAt = now;
    const parts: string[] = [];
    if (droppedTotal > 0) {
      const names = priorityNames();
      const levels = this.pendingDropped
        .map((n, rank) => (n > 0 ? `${n} ${names[rank] ?? rank}` : ''))
        .filter((s) => s !== '');
      parts.push(`dropped ${droppedTotal} alert(s) (${levels.join(', ')}): its queue was full or closed`);
    }
    if (this.pendingFailed > 0) {
      const why = this.pendingErr instanceof Error ? this.pendingErr.message : String(this.pendingErr);
      parts.push(`failed to write ${this.pendingFailed} alert(s): ${why}`);
    }
    const warning: OutputWarning = {
      output: this.name,
      message: `output ${this.name} ${parts.join('; ')}`,
      dropped: byName(this.pendingDropped),
      failed: this.pendingFailed,
      ...(this.pendingFailed > 0 ? { err: this.pendingErr } : {}),
    };
    this.pendingDropped.fill(0);
    this.pendingFailed = 0;
    this.pendingErr = undefined;
    this.onWarning?.(warning);
  }
}
