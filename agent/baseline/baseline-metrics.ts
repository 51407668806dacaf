/**
 * The baseline engine's Prometheus metrics (`vigil_agent_baseline_*`), read from the engine's
 * own counters at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BaselineStats } from './baseline-engine.js';

/** Registers the baseline metrics on `registry`, reading `stats` when scraped. */
export function registerBaselineMetrics(registry: Registry, stats: () => BaselineStats): void {
  new Gauge({
    name: 'vigil_agent_baseline_profiles',
    help: 'Workload profiles held in memory, by status (learning, locked).',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ status: 'learning' }, s.profiles.learning);
      this.set({ status: 'locked' }, s.profiles.locked);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_anomalies_total',
    help: 'Anomalies at or above the threshold, by outcome: raised as alerts, or suppressed (rate limit, repeat).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ outcome: 'raised' }, s.anomaliesRaised);
      this.inc({ outcome: 'suppressed_rate' }, s.anomaliesSuppressed.rate);
      this.inc({ outcome: 'suppressed_repeat' }, s.anomaliesSuppressed.repeat);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_drift_total',
    help: 'Executions of binaries that did not come from the container image.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().driftDetected);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_updates_total',
    help: 'Merged profiles received from the collector, by result (merged, rejected: unreadable).',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ result: 'merged' }, s.updatesMerged);
      this.inc({ result: 'rejected' }, s.updatesRejected);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_deltas_sent_total',
    help: 'Profile deltas sent to the collector.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().deltasSent);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_delta_bytes_total',
    help: 'Bytes of profile deltas sent to the collector, by kind (whole: a profile sent whole, the first after a connection; delta: only what changed since it was last sent).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const s = stats().deltaBytesSent;
      this.reset();
      this.inc({ kind: 'whole' }, s.whole);
      this.inc({ kind: 'delta' }, s.delta);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_items_not_learned_total',
    help: 'Profile items not learnt because their kind was full.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().itemsNotLearned);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_store_errors_total',
    help: 'Failed reads and writes of the baseline store (and unreadable stored profiles).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().storeErrors);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_sequence_learners_unreadable_total',
    help: 'Stored system-call sequence learners that could not be read at load (each of those executables learns afresh).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().sequence.learnersUnreadable);
    },
  });
  new Counter({
    name: 'vigil_agent_baseline_sequence_learners_dropped_total',
    help: 'Stored system-call sequence learners deleted to keep the baseline store within its learner limit.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().sequence.learnersDropped);
    },
  });
  new Gauge({
    name: 'vigil_agent_baseline_sequence_models',
    help: 'System-call sequence models held (per executable of a locked profile).',
    registers: [registry],
    collect() {
      this.set(stats().sequence.models);
    },
  });
}
