/**
 * Fans stored alerts out to every configured output without letting any of them hold up ingest
 * or each other.
 *
 * `publish()` only sorts alerts into per-output queues and returns: it never waits and never
 * throws. Each output has its own bounded queue ({@link AlertQueue}: a full queue drops the least
 * important alert), its own worker (one batch in flight at a time, so an output sees its alerts
 * in order) and its own retry budget (the {@link withRetry} decorator the output was built with).
 * A dead output therefore costs a full queue of memory and a counter of drops, nothing more.
 *
 * Drops and failed deliveries are counted in metrics by output and priority, and reported in one
 * aggregated warning per interval for all outputs together — never one line per alert.
 */
import type { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import { priorityAtLeast, priorityName, priorityNames, type PriorityName } from '../../core/priority.js';
import { AlertQueue, alertRank as alertPriority } from '../../core/alert-queue.js';
import { sleep, systemClock, type Clock } from './clock.js';
import type { CollectorOutput, SendOutcome } from './collector-output.js';
import { createOutputMetrics, type OutputMetrics } from './output-metrics.js';

/** What {@link createOutputRouter} needs. */
export interface OutputRouterOptions {
  /** The outputs, already decorated (retry); names must be unique. */
  readonly outputs: readonly CollectorOutput[];
  /** Where the `vigil_collector_output_*` metrics are registered. */
  readonly metrics: Registry;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The least time between two warnings about drops and failures (default 60 s). */
  readonly warnIntervalMs?: number;
  /** How long `close()` lets queues drain before dropping what is left (default 10 s). */
  readonly closeTimeoutMs?: number;
}

/** A snapshot of one output, for the API and the console. */
export interface OutputStatus {
  readonly name: string;
  readonly type: string;
  readonly minPriority: PriorityName;
  /** Alerts waiting, and the bound. */
  readonly queued: number;
  readonly queueSize: number;
  /** Alerts being delivered right now. */
  readonly inFlight: number;
  readonly delivered: number;
  readonly failed: number;
  readonly dropped: number;
  readonly droppedByPriority: Readonly<Record<PriorityName, number>>;
  /** The message of the last failed delivery, if any. */
  readonly lastError?: string;
  /** When the last delivery succeeded (ms since the epoch). */
  readonly lastSuccessMs?: number;
}

/** The fan-out to every output. */
export interface OutputRouter {
  /** Queues `alerts` for every output whose minimum priority they meet; returns at once, never throws. */
  publish(alerts: readonly Alert[]): void;
  /** Resolves once every queue is empty and no delivery is in flight (tests, graceful stops). */
  flush(): Promise<void>;
  status(): readonly OutputStatus[];
  /**
   * Stops accepting alerts, lets the queues drain for up to `closeTimeoutMs`, aborts what is still
   * in flight (waiting at most `closeTimeoutMs` more for it to stop), counts the rest as dropped,
   * reports, and closes every output. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds the fan-out over `options.outputs`.
 *
 * @example
 * const router = createOutputRouter({ outputs, metrics: registry, logger });
 * store.onStored((alerts) => router.publish(alerts));
 */
export function createOutputRouter(options: OutputRouterOptions): OutputRouter {
  return new Router(options);
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause === undefined ? err.message : `${err.message}: ${errorText(err.cause)}`;
}

/** Problems of one output since the last warning. */
interface Pending {
  readonly dropped: number[];
  failed: number;
  lastError: string | undefined;
}

function zeroes(): number[] {
  return priorityNames().map(() => 0);
}

function byName(counts: readonly number[]): Record<PriorityName, number> {
  const out = {} as Record<PriorityName, number>;
  priorityNames().forEach((name, i) => (out[name] = counts[i] ?? 0));
  return out;
}

/** One output with its queue and worker. Only `drain()` calls the output's `send`. */
class Lane {
  readonly queue: AlertQueue;
  inFlight = 0;
  delivered = 0;
  failed = 0;
  readonly dropped = zeroes();
  lastError: string | undefined;
  lastSuccessMs: number | undefined;
  pending: Pending = { dropped: zeroes(), failed: 0, lastError: undefined };
  private running = false;
  private idle: (() => void)[] = [];

  constructor(
    readonly output: CollectorOutput,
    private readonly router: Router,
  ) {
    this.queue = new AlertQueue(output.queueSize);
  }

  get busy(): boolean {
    return this.running;
  }

  offer(alert: Alert, accepting: boolean): void {
    const priority = alertPriority(alert);
    if (!priorityAtLeast(priority, this.output.minPriority)) return;
    const dropped = accepting ? this.queue.push(alert) : alert;
    if (dropped !== undefined) this.drop(dropped);
    if (accepting && !this.running && this.queue.size > 0) {
      this.running = true;
      void this.drain();
    }
  }

  drop(alert: Alert): void {
    const priority = alertPriority(alert);
    this.dropped[priority] = (this.dropped[priority] ?? 0) + 1;
    this.pending.dropped[priority] = (this.pending.dropped[priority] ?? 0) + 1;
    this.router.noteProblem();
  }

  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async drain(): Promise<void> {
    // Start on a later tick, so that publish() never runs an output's code on its caller's stack.
    await Promise.resolve();
    try {
      while (this.queue.size > 0 && !this.router.aborted) {
        const batch = this.queue.take(this.output.maxBatch);
        this.inFlight = batch.length;
        const started = this.router.clock.now();
        const outcome = await this.sendSafely(batch);
        this.inFlight = 0;
        this.record(batch, outcome, (this.router.clock.now() - started) / 1000);
      }
    } finally {
      this.running = false;
      const waiters = this.idle;
      this.idle = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async sendSafely(batch: readonly Alert[]): Promise<SendOutcome> {
    try {
      return await this.output.send(batch, this.router.signal);
    } catch (err) {
      // A rejection is a bug in the output, not an expected outcome; it must not kill the worker.
      return {
        result: 'failure',
        error: new Error(`output ${this.output.name} threw while sending`, { cause: err }),
      };
    }
  }

  private record(batch: readonly Alert[], outcome: SendOutcome, seconds: number): void {
    const metrics = this.router.metrics;
    const name = this.output.name;
    const attempts = outcome.result === 'retryable' ? 1 : (outcome.attempts ?? 1);
    if (attempts > 1) metrics.retried(name, attempts - 1);
    if (outcome.result === 'success') {
      this.delivered += batch.length;
      this.lastSuccessMs = this.router.clock.now();
      metrics.sendSeconds(name, 'success', seconds);
      return;
    }
    // A bare output without the retry decorator may return `retryable`: nobody will retry it here.
    this.failed += batch.length;
    this.lastError = errorText(outcome.error);
    this.pending.failed += batch.length;
    this.pending.lastError = this.lastError;
    metrics.sendSeconds(name, 'failure', seconds);
    this.router.noteProblem();
  }
}

class Router implements OutputRouter {
  readonly metrics: OutputMetrics;
  readonly clock: Clock;
  private readonly lanes: Lane[];
  private readonly logger: Logger;
  private readonly warnIntervalMs: number;
  private readonly closeTimeoutMs: number;
  private readonly abort = new AbortController();
  private accepting = true;
  private closing: Promise<void> | undefined;
  private lastWarnMs: number | undefined;
  private cancelWarn: (() => void) | undefined;

  constructor(options: OutputRouterOptions) {
    const names = new Set<string>();
    for (const output of options.outputs) {
      if (names.has(output.name)) throw new Error(`output router: two outputs are named ${output.name}`);
      names.add(output.name);
    }
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger.child({ component: 'outputs' });
    this.warnIntervalMs = options.warnIntervalMs ?? 60_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.lanes = options.outputs.map((output) => new Lane(output, this));
    this.metrics = createOutputMetrics(options.metrics, () =>
      this.lanes.map((lane) => ({
        output: lane.output.name,
        delivered: lane.delivered,
        failed: lane.failed,
        dropped: lane.dropped,
        queued: lane.queue.size,
      })),
    );
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get aborted(): boolean {
    return this.abort.signal.aborted;
  }

  publish(alerts: readonly Alert[]): void {
    try {
      for (const alert of alerts) {
        for (const lane of this.lanes) lane.offer(alert, this.accepting);
      }
    } catch (err) {
      // Nothing above should throw; if it does, ingest must carry on regardless.
      this.logger.error('output router failed to queue alerts', { err });
    }
  }

  async flush(): Promise<void> {
    // After close() aborts, queues may keep alerts with no worker left to take them: those are
    // shutdown's to count, not something to wait for (waiting would spin forever).
    while (this.lanes.some((lane) => lane.busy || (lane.queue.size > 0 && !this.aborted))) {
      await Promise.all(this.lanes.map((lane) => lane.whenIdle()));
    }
  }

  status(): readonly OutputStatus[] {
    return this.lanes.map((lane) => {
      const o = lane.output;
      return {
        name: o.name,
        type: o.type,
        minPriority: priorityName(o.minPriority),
        queued: lane.queue.size,
        queueSize: o.queueSize,
        inFlight: lane.inFlight,
        delivered: lane.delivered,
        failed: lane.failed,
        dropped: lane.dropped.reduce((a, b) => a + b, 0),
        droppedByPriority: byName(lane.dropped),
        ...(lane.lastError !== undefined ? { lastError: lane.lastError } : {}),
        ...(lane.lastSuccessMs !== undefined ? { lastSuccessMs: lane.lastSuccessMs } : {}),
      };
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Called on every drop and failure: warns now, or once the interval since the last warning is over. */
  noteProblem(): void {
    if (this.cancelWarn !== undefined) return;
    const wait = this.lastWarnMs === undefined ? 0 : this.lastWarnMs + this.warnIntervalMs - this.clock.now();
    if (wait <= 0) {
      this.warn();
      return;
    }
    this.cancelWarn = this.clock.schedule(() => {
      this.cancelWarn = undefined;
      this.warn();
    }, wait);
  }

  private warn(): void {
    const outputs: Record<string, unknown> = {};
    let dropped = 0;
    let failed = 0;
    for (const lane of this.lanes) {
      const p = lane.pending;
      const laneDropped = p.dropped.reduce((a, b) => a + b, 0);
      if (laneDropped === 0 && p.failed === 0) continue;
      dropped += laneDropped;
      failed += p.failed;
      const droppedBy: Partial<Record<PriorityName, number>> = {};
      p.dropped.forEach((n, i) => {
        const name = priorityNames()[i];
        if (n > 0 && name !== undefined) droppedBy[name] = n;
      });
      outputs[lane.output.name] = {
        dropped: droppedBy,
        failed: p.failed,
        ...(p.lastError !== undefined ? { err: p.lastError } : {}),
      };
      lane.pending = { dropped: zeroes(), failed: 0, lastError: undefined };
    }
    if (dropped === 0 && failed === 0) return;
    this.lastWarnMs = this.clock.now();
    this.logger.warn(`outputs dropped ${dropped} and failed to deliver ${failed} alerts`, {
      dropped,
      failed,
      outputs,
      interval_ms: this.warnIntervalMs,
    });
  }

  /** Waits for `work`, or `ms`, whichever ends first. */
  private async within(ms: number, work: Promise<unknown>): Promise<void> {
    const stop = new AbortController();
    try {
      await Promise.race([work, sleep(this.clock, ms, stop.signal)]);
    } finally {
      stop.abort();
    }
  }

  private async shutdown(): Promise<void> {
    this.accepting = false;
    await this.within(this.closeTimeoutMs, this.flush());
    // Whatever is still in flight gives up now; its worker then stops at the top of its loop. An
    // output that ignores the signal gets one more grace period, then is left behind.
    this.abort.abort(new Error('the collector is shutting down'));
    await this.within(this.closeTimeoutMs, Promise.all(this.lanes.map((lane) => lane.whenIdle())));
    for (const lane of this.lanes) {
      for (const alert of lane.queue.take(Number.POSITIVE_INFINITY)) lane.drop(alert);
    }
    this.cancelWarn?.();
    this.cancelWarn = undefined;
    this.warn();
    const results = await Promise.allSettled(this.lanes.map((lane) => lane.output.close()));
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        this.logger.error('output failed to close', { output: this.lanes[i]?.output.name, err: r.reason });
      }
    });
  }
}
