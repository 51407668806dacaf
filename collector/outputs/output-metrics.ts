/**
 * Prometheus metrics of the collector's outputs (`vigil_collector_output_*`), registered in the
 * registry the collector passes in. Labels stay low-cardinality: the output's configured name,
 * a result, a priority.
 *
 * - `vigil_collector_output_alerts_total{output,result}`: alerts by what became of them —
 *   `success` (delivered), `failure` (given up after retries, or refused for good) and `dropped`
 *   (a full queue, or shutdown, made room).
 * - `vigil_collector_output_dropped_alerts_total{output,priority}`: the drops again, by priority,
 *   to tell whether only Debug noise is being shed.
 * - `vigil_collector_output_retries_total{output}`: attempts beyond the first.
 * - `vigil_collector_output_queue_depth{output}`: alerts waiting, read at scrape time.
 * - `vigil_collector_output_send_duration_seconds{output,result}`: one batch, retries included.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { priorityNames } from '../../core/priority.js';

/** The running totals of one output, which the router keeps as plain numbers. */
export interface OutputReading {
  readonly output: string;
  readonly delivered: number;
  readonly failed: number;
  /** Dropped alerts by priority number (0 = Emergency ... 7 = Debug). */
  readonly dropped: readonly number[];
  readonly queued: number;
}

/** What the router reports as it happens (per batch, not per alert). */
export interface OutputMetrics {
  retried(output: string, retries: number): void;
  sendSeconds(output: string, result: 'success' | 'failure', seconds: number): void;
}

/**
 * Registers the output metrics in `registry`. Per-alert counts are not pushed to prom-client on
 * the hot path: `readings` is asked for every output's totals when Prometheus scrapes, so that
 * publish() costs a few additions per alert and output.
 */
export function createOutputMetrics(
  registry: Registry,
  readings: () => readonly OutputReading[],
): OutputMetrics {
  new Counter({
    name: 'vigil_collector_output_alerts_total',
    help: 'Alerts handed to each output, by result: success, failure (after retries) or dropped (queue full or shutdown).',
    labelNames: ['output', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of readings()) {
        this.inc({ output: r.output, result: 'success' }, r.delivered);
        this.inc({ output: r.output, result: 'failure' }, r.failed);
        this.inc(
          { output: r.output, result: 'dropped' },
          r.dropped.reduce((a, b) => a + b, 0),
        );
      }
    },
  });
  new Counter({
    name: 'vigil_collector_output_dropped_alerts_total',
    help: 'Alerts dropped before reaching an output, by priority.',
    labelNames: ['output', 'priority'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of readings()) {
        priorityNames().forEach((priority, i) => {
          const n = r.dropped[i] ?? 0;
          if (n > 0) this.inc({ output: r.output, priority }, n);
        });
      }
    },
  });
  new Gauge({
    name: 'vigil_collector_output_queue_depth',
    help: 'Alerts waiting in each output queue.',
    labelNames: ['output'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of readings()) this.set({ output: r.output }, r.queued);
    },
  });
  const retries = new Counter({
    name: 'vigil_collector_output_retries_total',
    help: 'Delivery attempts beyond the first, per output.',
    labelNames: ['output'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'vigil_collector_output_send_duration_seconds',
    help: 'Time to deliver one batch to an output, retries included, by result.',
    labelNames: ['output', 'result'] as const,
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 180],
    registers: [registry],
  });
  return {
    retried: (output, n) => retries.inc({ output }, n),
    sendSeconds: (output, result, seconds) => duration.observe({ output, result }, seconds),
  };
}
