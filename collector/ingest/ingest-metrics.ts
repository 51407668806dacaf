/**
 * The ingest server's Prometheus metrics (`vigil_collector_*`), registered in the registry the
 * caller passes. Per-alert counts are summed per batch first, so a batch costs one counter call
 * per distinct (node, priority, kind), not one per alert.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why the collector refused or ended an agent's stream (a label value). */
export type RefusalReason =
  | 'no-certificate'
  | 'node-mismatch'
  | 'no-hello'
  | 'protocol'
  | 'invalid-message'
  | 'too-many-agents'
  | 'oversized-batch'
  | 'store-failed'
  | 'replaced';

/** The ingest metrics. */
export interface IngestMetrics {
  /** Valid alerts received (new and duplicate), by node, priority and kind. */
  readonly alertsReceived: Counter<'node' | 'priority' | 'kind'>;
  /** Alerts received that the store had already: not stored again, not passed on. */
  readonly duplicates: Counter;
  /** Alerts that could not be decoded or accepted (acked, not stored). */
  readonly rejected: Counter;
  /** Time for one `insertAlerts` call. */
  readonly storeSeconds: Histogram;
  readonly connectedAgents: Gauge;
  readonly refusals: Counter<'reason'>;
  /** Commands sent to agents, by how they ended (`applied`, `failed`, ..., `timeout`, `disconnected`). */
  readonly commands: Counter<'outcome'>;
}

/** Creates the ingest metrics in `registry`. */
export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  return {
    alertsReceived: new Counter({
      name: 'vigil_collector_alerts_received_total',
      help: 'Alerts received from agents (including duplicates), by node, priority and kind.',
      labelNames: ['node', 'priority', 'kind'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'vigil_collector_alerts_duplicates_total',
      help: 'Alerts received that were stored already (resent after a reconnect): suppressed.',
      registers,
    }),
    rejected: new Counter({
      name: 'vigil_collector_alerts_rejected_total',
      help: 'Alerts received that could not be read (no id, unknown priority or kind, bad fields): not stored.',
      registers,
    }),
    storeSeconds: new Histogram({
      name: 'vigil_collector_store_insert_duration_seconds',
      help: 'Time to store one batch of alerts durably.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    connectedAgents: new Gauge({
      name: 'vigil_collector_agents_connected',
      help: 'Agents with an open stream that passed Hello.',
      registers,
    }),
    refusals: new Counter({
      name: 'vigil_collector_agent_streams_refused_total',
      help: 'Agent streams the collector refused or ended, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    commands: new Counter({
      name: 'vigil_collector_agent_commands_total',
      help: 'Commands sent to agents, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
