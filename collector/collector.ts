/**
 * The collector, assembled: the store, the agents' gRPC ingest (mutual TLS), the HTTP API with
 * the live feed and the Falco-compatible ingest endpoint, the outputs, retention, metrics and
 * health. `vigil collector` is a thin wrapper around {@link startCollector}.
 *
 *   agents ══gRPC══► ingest ─► store ─► (newly stored) ─► outputs
 *   Falco http_output ─► /api/v1/falco ─┘                 └──► live feed (WebSocket)
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Alert } from '../core/alert.js';
import type { Logger } from '../core/log.js';
import { createApiServer, type ApiServer } from './api/api-server.js';
import type { Route } from './api/router.js';
import { openTokenStore, type TokenStore } from './auth/token-store.js';
import { storePath, tlsPaths, type CollectorConfig } from './config.js';
import { parseFalcoBody, FalcoPayloadError } from './ingest/falco-http.js';
import { startIngestServer, type IngestServer } from './ingest/ingest-server.js';
import { createOutputRouter, type OutputRouter } from './outputs/output-router.js';
import { createOutputs } from './outputs/registry.js';
import { openCollectorDatabase, type CollectorDatabase } from './store/database.js';
import { openSqliteStore } from './store/sqlite-store.js';
import { startRetention } from './store/retention.js';
import type { CollectorStore } from './store/store.js';
import { ApiError } from './api/api-error.js';
import { consoleRoutes } from './console/console-routes.js';
import { startCollectorBaselines } from './baseline/collector-baselines.js';
import { startResponse, type Response } from './response/response.js';

/** A running collector. */
export interface Collector {
  readonly store: CollectorStore;
  readonly tokens: TokenStore;
  readonly ingest: IngestServer;
  readonly api: ApiServer;
  readonly outputs: OutputRouter;
  /** Quarantines, the audit log and the response policies. */
  readonly response: Response;
  readonly registry: Registry;
  /** Where the HTTP API listens. */
  readonly httpAddress: AddressInfo;
  /** The gRPC port agents dial. */
  readonly grpcPort: number;
  /** Stores alerts that arrived by another path than an agent stream, and passes them on. */
  accept(alerts: readonly Alert[], source: string): { stored: number; duplicates: number };
  stop(): Promise<void>;
}

/** What {@link startCollector} needs besides the configuration. */
export interface CollectorDeps {
  readonly logger: Logger;
  readonly version: string;
  readonly now?: () => number;
  /** Extra API routes (the quarantine API mounts here). */
  readonly routes?: readonly Route[];
}

function splitListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (m === null) throw new Error(`listen address ${JSON.stringify(text)}: expected HOST:PORT`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] as string)), port: Number(m[3]) };
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(
      `cannot read the collector's TLS ${what} ${path} (create them with 'vigil certs init --dir DIR'): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Starts a collector. Rejects with a clear Error when it cannot start; nothing is left running. */
export async function startCollector(config: CollectorConfig, deps: CollectorDeps): Promise<Collector> {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'collector' });
  const tlsFiles = tlsPaths(config);
  const tls = {
    ca: readPem('CA', tlsFiles.ca),
    cert: readPem('certificate', tlsFiles.cert),
    key: readPem('key', tlsFiles.key),
  };

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_collector_process_' });
  // prom-client's nodejs_active_{handles,requests,resources}_total are gauges with a counter's
  // suffix, which `promtool check metrics` rejects; the per-type gauges without _total remain.
  for (const kind of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`vigil_collector_process_nodejs_active_${kind}_total`);
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn('error while stopping', { err });
      }
    }
  };

  let database: CollectorDatabase | undefined;
  try {
    database = openCollectorDatabase({ path: storePath(config) });
    const db = database;
    cleanups.push(() => {
      db.close();
    });
    const store = openSqliteStore({ database: db });
    const tokens = openTokenStore({ database: db, now });

    const outputs = createOutputRouter({
      outputs: createOutputs(config.outputs, { logger: deps.logger.child({ component: 'outputs' }) }),
      metrics: registry,
      logger: deps.logger.child({ component: 'outputs' }),
    });
    cleanups.push(() => outputs.close());

    const alertsReceived = new Counter({
      name: 'vigil_collector_http_ingest_alerts_total',
      help: 'Alerts received on the Falco-compatible HTTP ingest endpoint, by result.',
      labelNames: ['result'],
      registers: [registry],
    });

    // eslint-disable-next-line prefer-const -- assigned once the API exists; used by `passOn`.
    let api: ApiServer | undefined;
    // Set once the response exists; the response policies see every newly stored alert.
    // eslint-disable-next-line prefer-const -- assigned once the response exists; used by `passOn`.
    let respond: ((alerts: readonly Alert[]) => void) | undefined;
    const passOn = (alerts: readonly Alert[]): void => {
      if (alerts.length === 0) return;
      outputs.publish(alerts);
      respond?.(alerts);
      api?.feed.publish(alerts, now());
    };
    const accept = (alerts: readonly Alert[], source: string): { stored: number; duplicates: number } => {
      const fresh = alerts.filter((a) => store.getAlert(a.id) === undefined);
      const result = store.insertAlerts(alerts, now());
      passOn(fresh);
      log.debug('alerts accepted', { source, stored: result.stored, duplicates: result.duplicates });
      return result;
    };

    const falcoRoute: Route = {
      method: 'POST',
      path: '/api/v1/falco',
      access: 'responder',
      maxBodyBytes: config.http.max_body_bytes,
      async handler(req) {
        const text = (await req.body()).toString('utf8');
        let alerts: Alert[];
        try {
          alerts = parseFalcoBody(text);
        } catch (err) {
          alertsReceived.inc({ result: 'rejected' });
          if (err instanceof FalcoPayloadError)
            throw new ApiError(400, err.message, { parameter: err.field });
          throw err;
        }
        const result = accept(alerts, 'falco-http');
        alertsReceived.inc({ result: 'stored' }, result.stored);
        alertsReceived.inc({ result: 'duplicate' }, result.duplicates);
        return {
          status: 200,
          body: { accepted: alerts.length, stored: result.stored, duplicates: result.duplicates },
        };
      },
    };

    let ready = false;
    const ingest = await startIngestServer({
      listen: config.grpc.listen,
      tls,
      store,
      onAlertsStored: (alerts) => passOn(alerts),
      logger: deps.logger.child({ component: 'ingest' }),
      registry,
      limits: {
        maxMessageBytes: config.grpc.max_message_bytes,
        maxBatchAlerts: config.limits.max_batch_alerts,
      },
      collectorVersion: deps.version,
      now,
    });
    cleanups.push(() => ingest.close({ graceMs: 2000 }));

    // Cluster-wide baselines: agents' profile deltas merged per workload and sent back to all.
    const baselines = startCollectorBaselines({
      config,
      database: db,
      link: ingest,
      registry,
      logger: deps.logger,
      now,
      // Profile edits go to the audit log; only the API (started after the response) edits.
      audit: (entry) => response.audit.append(entry),
    });
    // Agents first (close is idempotent), so that no delta arrives after the last write.
    cleanups.push(async () => {
      await ingest.close({ graceMs: 2000 });
      baselines.service.stop();
    });

    // Response: quarantine service (Kubernetes layer + agent commands), audit log, policies.
    const response = startResponse({
      config: config.response,
      database: db,
      alerts: store,
      link: ingest,
      registry,
      logger: deps.logger,
      now,
      commandTimeoutMs: config.commands.timeout,
    });
    respond = (alerts) => response.onAlertsStored(alerts);
    // Agents first (close is idempotent): waiting commands fail at once instead of timing out.
    cleanups.push(async () => {
      await ingest.close({ graceMs: 2000 });
      await response.close();
    });

    api = createApiServer({
      store,
      tokens,
      registry,
      logger: deps.logger.child({ component: 'api' }),
      routes: [
        falcoRoute,
        ...operationalRoutes(registry, () => (ready ? undefined : 'starting')),
        ...baselines.routes,
        ...response.routes,
        // The console's static shell (no data; the page calls the API with the user's token).
        ...consoleRoutes({ logger: deps.logger }),
        ...(deps.routes ?? []),
      ],
      now,
      maxBodyBytes: config.http.max_body_bytes,
      feed: { maxBufferedBytes: config.feed.max_client_bytes },
    });
    const apiServer = api;
    const { host, port } = splitListen(config.http.listen);
    const httpAddress = await apiServer.listen(port, host);
    cleanups.push(() => apiServer.close());

    new Gauge({
      name: 'vigil_collector_alerts_stored',
      help: 'Alerts in the store.',
      registers: [registry],
      collect() {
        this.set(store.alertCount());
      },
    });
    const retention = startRetention({
      store,
      policy: { maxAgeMs: config.retention.max_age, maxBytes: config.retention.max_bytes },
      logger: deps.logger.child({ component: 'collector' }),
      now,
      intervalMs: config.retention.interval,
    });
    cleanups.push(() => retention.stop());
    // A first pass at start, in slices, so a collector that was down long catches up.
    void retention.runOnce().catch((err: unknown) => log.error('retention failed', { err }));

    ready = true;
    log.info('collector started', {
      grpc: config.grpc.listen,
      grpcPort: ingest.port,
      http: `${httpAddress.address}:${httpAddress.port}`,
      store: storePath(config),
      outputs: config.outputs.length,
    });
    let stopping: Promise<void> | undefined;
    return {
      store,
      tokens,
      ingest,
      api: apiServer,
      outputs,
      response,
      registry,
      httpAddress,
      grpcPort: ingest.port,
      accept,
      stop() {
        stopping ??= cleanup().then(() => log.info('collector stopped'));
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * `/metrics` (Prometheus text), `/healthz` and `/readyz`, served on the API's port. They need no
 * token: Prometheus and Kubernetes probes call them, and they reveal counts, not alerts.
 */
function operationalRoutes(registry: Registry, notReady: () => string | undefined): Route[] {
  const text = { 'content-type': 'text/plain; charset=utf-8' };
  return [
    {
      method: 'GET',
      path: '/metrics',
      access: 'anonymous',
      async handler() {
        return { raw: await registry.metrics(), headers: { 'content-type': registry.contentType } };
      },
    },
    { method: 'GET', path: '/healthz', access: 'anonymous', handler: () => ({ raw: 'ok\n', headers: text }) },
    {
      method: 'GET',
      path: '/readyz',
      access: 'anonymous',
      handler() {
        const why = notReady();
        return { status: why === undefined ? 200 : 503, raw: `${why ?? 'ready'}\n`, headers: text };
      },
    },
  ];
}
