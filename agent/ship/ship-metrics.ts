/**
 * The shipper's Prometheus metrics (`vigil_agent_ship_*`), registered in the registry the caller
 * passes.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The shipper's metrics. */
export interface ShipMetrics {
  /** 1 while a stream is open and welcomed. */
  readonly connected: Gauge;
  /** Streams opened (attempts, successful or not). */
  readonly connects: Counter;
  /** Streams that ended, by gRPC status code name. */
  readonly disconnects: Counter<'code'>;
  /** Alerts written to a stream (a resend counts again). */
  readonly alertsSent: Counter;
  /** Alerts the collector acknowledged. */
  readonly alertsAcked: Counter;
  /** Alerts the collector rejected as unreadable (acknowledged, not stored). */
  readonly alertsRejected: Counter;
  /** Alerts too large for any message: deleted from the spool, never delivered. */
  readonly alertsUndeliverable: Counter;
  readonly batchesInFlight: Gauge;
  /** From sending a batch to its Ack. */
  readonly ackSeconds: Histogram;
  /** Commands from the collector, by outcome. */
  readonly commands: Counter<'outcome'>;
}

/** Creates the shipper's metrics in `registry`. */
export function createShipMetrics(registry: Registry): ShipMetrics {
  const registers = [registry];
  return {
    connected: new Gauge({
      name: 'vigil_agent_ship_connected',
      help: '1 while the agent has a welcomed stream to the collector.',
      registers,
    }),
    connects: new Counter({
      name: 'vigil_agent_ship_connects_total',
      help: 'Streams the agent opened to the collector (attempts).',
      registers,
    }),
    disconnects: new Counter({
      name: 'vigil_agent_ship_disconnects_total',
      help: 'Streams to the collector that ended, by gRPC status.',
      labelNames: ['code'] as const,
      registers,
    }),
    alertsSent: new Counter({
      name: 'vigil_agent_ship_alerts_sent_total',
      help: 'Alerts sent to the collector (resends after a reconnect count again).',
      registers,
    }),
    alertsAcked: new Counter({
      name: 'vigil_agent_ship_alerts_acked_total',
      help: 'Alerts the collector acknowledged (and the agent deleted from its spool).',
      registers,
    }),
    alertsRejected: new Counter({
      name: 'vigil_agent_ship_alerts_rejected_total',
      help: 'Alerts the collector could not read and rejected (not stored).',
      registers,
    }),
    alertsUndeliverable: new Counter({
      name: 'vigil_agent_ship_alerts_undeliverable_total',
      help: "Alerts larger than the collector's message limit: deleted from the spool, not delivered.",
      registers,
    }),
    batchesInFlight: new Gauge({
      name: 'vigil_agent_ship_batches_in_flight',
      help: 'Batches sent and not yet acknowledged.',
      registers,
    }),
    ackSeconds: new Histogram({
      name: 'vigil_agent_ship_ack_duration_seconds',
      help: 'Time from sending a batch to its acknowledgement.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    commands: new Counter({
      name: 'vigil_agent_ship_commands_total',
      help: 'Commands received from the collector, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
