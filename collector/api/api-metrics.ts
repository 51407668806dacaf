/**
 * The API's Prometheus metrics (`vigil_collector_*`), registered in the registry the collector
 * passes in. Labels stay low-cardinality: a route is its pattern (`/api/v1/alerts/:id`), never
 * the concrete path.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The API's metrics, and a timer for store calls. */
export interface ApiMetrics {
  /** Requests answered, by route pattern (`unmatched` for no route), method and status. */
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route'>;
  /** Store calls the API makes, by operation (`query`, `get`, `counts`, `agents`). */
  readonly storeQueryDuration: Histogram<'operation'>;
  /** Live-feed clients connected (subscribed or still authenticating). */
  readonly feedClients: Gauge;
  /** Live-feed clients disconnected for falling behind. */
  readonly feedDroppedClients: Counter;
  /** Alerts sent to live-feed clients (one per client per alert). */
  readonly feedAlertsSent: Counter;
  /** Runs a store call and records how long it took under `operation`. */
  timeStore<T>(operation: string, call: () => T): T;
}

/** Registers the API's metrics in `registry`. Call once per registry. */
export function createApiMetrics(registry: Registry): ApiMetrics {
  const registers = [registry];
  const storeQueryDuration = new Histogram({
    name: 'vigil_collector_store_query_duration_seconds',
    help: 'Time the API spent in store calls, by operation.',
    labelNames: ['operation'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  return {
    requests: new Counter({
      name: 'vigil_collector_api_requests_total',
      help: 'HTTP API requests answered, by route pattern, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'vigil_collector_api_request_duration_seconds',
      help: 'Time to answer HTTP API requests, by route pattern.',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    storeQueryDuration,
    feedClients: new Gauge({
      name: 'vigil_collector_feed_clients',
      help: 'WebSocket live-feed clients connected.',
      registers,
    }),
    feedDroppedClients: new Counter({
      name: 'vigil_collector_feed_dropped_clients_total',
      help: 'Live-feed clients disconnected because they read too slowly (their send queue was full).',
      registers,
    }),
    feedAlertsSent: new Counter({
      name: 'vigil_collector_feed_alerts_sent_total',
      help: 'Alerts sent to live-feed clients (one per client per alert).',
      registers,
    }),
    timeStore(operation, call) {
      const end = storeQueryDuration.startTimer({ operation });
      try {
        return call();
      } finally {
        end();
      }
    },
  };
}
