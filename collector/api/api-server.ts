/**
 * The collector's HTTP API on node:http: a router of our own, bearer-token authentication per
 * route, JSON errors, bounded request bodies, metrics, and the live feed's WebSocket upgrade.
 *
 * Answers are JSON (a route may send other text with `raw`, as `/metrics` would). Errors are `{ error, detail }` (`api-error.ts`): 400 for a bad parameter
 * (named), 401 without a valid token (with `WWW-Authenticate: Bearer`), 403 when the token's role
 * is too weak, 404, 405 (with `Allow`), 413 for a body over the limit, 500 for a failure (logged;
 * the caller sees no internals).
 *
 * Other parts of the collector add routes with `routes` (the quarantine API, a Falco-compatible
 * ingest endpoint); they get the same authentication, errors, body limit and metrics.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import type { Principal, TokenStore } from '../auth/token-store.js';
import { AlertQueryError, type CollectorStore } from '../store/store.js';
import { ApiError } from './api-error.js';
import { createApiMetrics, type ApiMetrics } from './api-metrics.js';
import { alertRoutes } from './alert-routes.js';
import { queryRefused } from './alert-params.js';
import { createAlertFeed, FEED_PATH, type AlertFeed, type AlertFeedOptions } from './feed.js';
import { createRouter, type ApiRequest, type ApiResponse, type Route, type Router } from './router.js';

/** Default largest request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** What the API server is built from. */
export interface ApiServerOptions {
  readonly store: CollectorStore;
  readonly tokens: TokenStore;
  /** The collector's metrics registry; the API registers its metrics here (never the global one). */
  readonly registry: Registry;
  readonly logger: Logger;
  /** Routes to serve beside the built-in ones. */
  readonly routes?: readonly Route[];
  /** The clock, ms since the epoch (default `Date.now`). */
  readonly now?: () => number;
  /** Largest request body in bytes, unless a route says otherwise (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Live-feed limits. */
  readonly feed?: Pick<
    AlertFeedOptions,
    'maxBufferedBytes' | 'maxClients' | 'heartbeatMs' | 'authTimeoutMs' | 'dropGraceMs'
  >;
}

/** The running API. */
export interface ApiServer {
  readonly server: Server;
  /** The live feed: the ingest path calls `feed.publish(alerts)`. */
  readonly feed: AlertFeed;
  readonly router: Router;
  readonly metrics: ApiMetrics;
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, closes the feed's clients and waits for open requests to finish. */
  close(): Promise<void>;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** Reads a request body, refusing (413) once more than `limit` bytes have come (chunked bodies). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        // Stop keeping what arrives; the connection closes after the 413.
        req.resume();
        reject(new ApiError(413, `the body is over ${limit} bytes`, { headers: { connection: 'close' } }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', (err) =>
      reject(new ApiError(400, 'the request body could not be read', {}, { cause: err })),
    );
  });
}

/**
 * Creates the API server with the built-in routes (`alert-routes.ts`), `routes`, and the live
 * feed at `/api/v1/feed`.
 *
 * @example
 * const api = createApiServer({ store, tokens, registry, logger, routes: quarantineRoutes });
 * await api.listen(8443, '0.0.0.0');
 * ingest.onStored((alerts) => api.feed.publish(alerts));
 */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const { store, tokens } = options;
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'api' });
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const metrics = createApiMetrics(options.registry);
  const router = createRouter([...alertRoutes({ store, metrics, now }), ...(options.routes ?? [])]);
  const feed = createAlertFeed({ tokens, metrics, logger: options.logger, now, ...options.feed });
  new Gauge({
    name: 'vigil_collector_feed_buffered_bytes',
    help: 'Bytes waiting to be sent to live-feed clients, all together.',
    registers: [options.registry],
    collect() {
      this.set(feed.bufferedBytes());
    },
  });

  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    response: ApiResponse,
    label: string,
    started: bigint,
  ): void => {
    const status = response.status ?? 200;
    const text = response.raw ?? (response.body === undefined ? '' : JSON.stringify(response.body));
    const headers: Record<string, string | number> = { ...JSON_HEADERS, ...response.headers };
    headers['content-length'] = Buffer.byteLength(text);
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : text);
    metrics.requests.inc({ route: label, method: req.method ?? '', status: String(status) });
    metrics.requestDuration.observe({ route: label }, Number(process.hrtime.bigint() - started) / 1e9);
  };

  const failure = (err: unknown, req: IncomingMessage): ApiResponse => {
    const apiErr = err instanceof AlertQueryError ? queryRefused(err) : err;
    if (apiErr instanceof ApiError) {
      return {
        status: apiErr.status,
        body: apiErr.body(),
        ...(apiErr.extra.headers && { headers: apiErr.extra.headers }),
      };
    }
    logger.error('API request failed', { method: req.method, path: req.url?.split('?')[0], err });
    return { status: 500, body: new ApiError(500, 'the collector failed to answer; see its log').body() };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    let label = 'unmatched';
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://api.invalid');
      } catch (err) {
        throw new ApiError(400, 'the request target is not a valid URL', {}, { cause: err });
      }
      const match = router.match(req.method ?? 'GET', url.pathname);
      if (match.kind === 'not-found') throw new ApiError(404, `no such endpoint: ${url.pathname}`);
      if (match.kind === 'method-not-allowed') {
        label = match.pattern;
        throw new ApiError(405, `${req.method} is not allowed here; allowed: ${match.allow.join(', ')}`, {
          headers: { allow: match.allow.join(', ') },
        });
      }
      const { route, params } = match;
      label = route.path;
      let principal: Principal | undefined;
      if (route.access !== 'anonymous') {
        const auth = tokens.authenticate(req.headers.authorization, route.access);
        if (!auth.ok) {
          throw new ApiError(auth.status, auth.reason, {
            ...(auth.status === 401 && { headers: { 'www-authenticate': 'Bearer realm="vigil"' } }),
          });
        }
        principal = auth.principal;
      }
      const limit = route.maxBodyBytes ?? maxBody;
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        throw new ApiError(413, `the body is ${declared} bytes; at most ${limit}`, {
          headers: { connection: 'close' },
        });
      }
      let body: Promise<Buffer> | undefined;
      const request: ApiRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        params,
        query: url.searchParams,
        headers: req.headers,
        principal,
        raw: req,
        body: () => (body ??= readBody(req, limit)),
        async json() {
          const type = req.headers['content-type'] ?? '';
          if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
            throw new ApiError(415, `expected Content-Type: application/json, got '${type}'`);
          }
          const raw = await request.body();
          try {
            return JSON.parse(raw.toString('utf8')) as unknown;
          } catch (err) {
            throw new ApiError(400, 'the body is not valid JSON', {}, { cause: err });
          }
        },
      };
      answer(req, res, await route.handler(request), label, started);
    } catch (err) {
      answer(req, res, failure(err, req), label, started);
    }
  };

  const server = createServer({ requestTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // answer() itself failed (the socket went away mid-write): nothing left to tell the caller.
      logger.warn('API response could not be written', { err });
      res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === FEED_PATH) {
      feed.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });

  return {
    server,
    feed,
    router,
    metrics,
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close() {
      await feed.close();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeIdleConnections();
      });
    },
  };
}
