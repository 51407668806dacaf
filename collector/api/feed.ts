/**
 * The live feed: new alerts pushed over a WebSocket at `/api/v1/feed` to every client whose
 * filter they match.
 *
 * Protocol (JSON text messages):
 *
 * 1. Connect. Authenticate with `Authorization: Bearer vgl_...` on the upgrade request (programs),
 *    or — browsers cannot set that header — with `token` in the first message. A token never
 *    goes in the URL, where proxies and browser history would keep it. A bad header is refused
 *    before the upgrade, with the HTTP API's 401/403 answer.
 * 2. Send `{"type":"subscribe","token":"vgl_...","filter":{"priority":"warning","namespace":"prod"}}`
 *    within {@link AlertFeedOptions.authTimeoutMs}. The filter takes the list's parameters minus
 *    paging (`from`, `to`, `priority`, `rule`, `tag`, `node`, `namespace`, `pod`, `kind`, `q`),
 *    with the same meaning; an empty or missing filter means every alert. The answer is
 *    `{"type":"subscribed","principal":{...},"filter":{...}}`. Send `subscribe` again to change
 *    the filter; a bad filter is answered `{"type":"error",...}` and the old one stays.
 * 3. Receive `{"type":"alert","alert":{...},"receivedMs":...}` for each new matching alert.
 *
 * Close codes: 4400 a first message that is not a valid subscribe; 4401 no valid token (also
 * when the token expires or is revoked while connected — checked at each heartbeat); 4403 the
 * token's role may not read alerts; 4408 no subscribe in time; 4009 too slow (below); 1001 the
 * collector is shutting down.
 *
 * Slow clients. Each client's unsent data (ws's `bufferedAmount`: its socket's write buffer and
 * ws's own queue) may reach {@link AlertFeedOptions.maxBufferedBytes}. An alert that would take a
 * client past that is not queued: the client is sent `{"type":"dropped","reason":"too slow"}`,
 * closed with 4009 and, if it does not read even that, cut off shortly after. A client that
 * cannot keep up can never hold more than its bound of the collector's memory, and the drop is
 * counted in `vigil_collector_feed_dropped_clients_total`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import type { Principal, TokenStore } from '../auth/token-store.js';
import { alertCandidate, compileAlertFilter, type AlertMatcher } from '../store/alert-filter.js';
import { AlertQueryError, type AlertFilter } from '../store/store.js';
import { ApiError, ERROR_CODES } from './api-error.js';
import type { ApiMetrics } from './api-metrics.js';
import { objectParams, parseAlertFilter, queryRefused } from './alert-params.js';

/** Where the feed is served. */
export const FEED_PATH = '/api/v1/feed';

/** The WebSocket close codes the feed uses. */
export const FEED_CLOSE = {
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  authTimeout: 4408,
  tooSlow: 4009,
  shuttingDown: 1001,
} as const;

/** How the feed behaves. */
export interface AlertFeedOptions {
  readonly tokens: TokenStore;
  readonly metrics: ApiMetrics;
  readonly logger: Logger;
  /** The clock, ms since the epoch: the default `receivedMs` of published alerts. */
  readonly now: () => number;
  /** Unsent bytes a client may have before it is dropped (default 4 MiB). */
  readonly maxBufferedBytes?: number;
  /** Clients at once; more are refused with 503 (default 256). */
  readonly maxClients?: number;
  /** How often clients are pinged and their tokens re-checked (default 30 s). */
  readonly heartbeatMs?: number;
  /** How long a new client has to subscribe (default 10 s). */
  readonly authTimeoutMs?: number;
  /** How long a dropped client has to read its close before it is cut off (default 1 s). */
  readonly dropGraceMs?: number;
}

/** The live feed. */
export interface AlertFeed {
  /** Takes over an HTTP upgrade request for {@link FEED_PATH}. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Sends each alert to the clients whose filter it matches. The ingest path calls this with
   * the alerts it newly stored (not the duplicates), after storing them.
   */
  publish(alerts: readonly Alert[], receivedMs?: number): void;
  /** Clients connected now. */
  clientCount(): number;
  /** Bytes waiting to be sent to all clients together (each client's at most `maxBufferedBytes`). */
  bufferedBytes(): number;
  /** Disconnects every client (1001) and stops the heartbeat. */
  close(): Promise<void>;
}

interface Client {
  readonly ws: WebSocket;
  principal: Principal | undefined;
  /** Kept to re-check expiry and revocation at each heartbeat. */
  token: string | undefined;
  matcher: AlertMatcher | undefined;
  alive: boolean;
  dropped: boolean;
  authTimer: NodeJS.Timeout | undefined;
}

const MAX_MESSAGE_BYTES = 64 * 1024;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with an HTTP error instead of a WebSocket. */
function refuseUpgrade(socket: Duplex, status: 401 | 403 | 503, detail: string): void {
  const body = JSON.stringify({ error: ERROR_CODES[status], detail });
  const extra = status === 401 ? 'WWW-Authenticate: Bearer realm="vigil"\r\n' : '';
  socket.on('error', () => undefined);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The text of a received message (ws hands over a Buffer, or fragments, or an ArrayBuffer). */
function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');
}

function bearerToken(header: string): string | undefined {
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
}

/**
 * Creates the live feed. Mount it on the API server's `upgrade` event (`createApiServer` does).
 *
 * @example
 * const feed = createAlertFeed({ tokens, metrics, logger, now: Date.now });
 * feed.publish(storedAlerts);
 */
export function createAlertFeed(options: AlertFeedOptions): AlertFeed {
  const { tokens, metrics, now } = options;
  const logger = options.logger.child({ component: 'feed' });
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const maxClients = options.maxClients ?? 256;
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  const dropGraceMs = options.dropGraceMs ?? 1000;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });
  const clients = new Set<Client>();
  let closed = false;

  const send = (client: Client, message: unknown): void => {
    client.ws.send(JSON.stringify(message));
  };
  const fail = (client: Client, err: ApiError, closeCode?: number): void => {
    send(client, { type: 'error', ...err.body() });
    if (closeCode !== undefined) client.ws.close(closeCode, err.body().error);
  };

  const drop = (client: Client): void => {
    client.dropped = true;
    metrics.feedDroppedClients.inc();
    logger.warn('live-feed client dropped: too slow', {
      principal: client.principal?.name,
      bufferedBytes: client.ws.bufferedAmount,
      limitBytes: maxBuffered,
    });
    send(client, {
      type: 'dropped',
      reason: 'too slow',
      detail: `more than ${maxBuffered} bytes were waiting to be sent; reconnect and read faster, or narrow the filter`,
    });
    client.ws.close(FEED_CLOSE.tooSlow, 'too slow');
    // It is not reading, so it will not answer the close either: cut it off to free its buffer.
    setTimeout(() => client.ws.terminate(), dropGraceMs).unref();
  };

  const subscribe = (client: Client, message: Record<string, unknown>): void => {
    if (message['token'] !== undefined) {
      const token = typeof message['token'] === 'string' ? message['token'] : '';
      const auth = tokens.verify(token, 'viewer');
      if (!auth.ok) {
        const code = auth.status === 403 ? FEED_CLOSE.forbidden : FEED_CLOSE.unauthorized;
        fail(client, new ApiError(auth.status, auth.reason), code);
        return;
      }
      client.principal = auth.principal;
      client.token = token;
    }
    if (client.principal === undefined) {
      fail(
        client,
        new ApiError(401, 'the first message must carry a token (or connect with Authorization: Bearer)'),
        FEED_CLOSE.unauthorized,
      );
      return;
    }
    let filter: AlertFilter;
    let matcher: AlertMatcher;
    try {
      filter = parseAlertFilter(objectParams(message['filter'], 'filter'));
      matcher = compileAlertFilter(filter);
    } catch (err) {
      const apiErr =
        err instanceof AlertQueryError ? queryRefused(err) : err instanceof ApiError ? err : undefined;
      if (apiErr === undefined) throw err;
      // A first subscription that fails leaves nothing to keep: close. A later one keeps the old filter.
      fail(client, apiErr, client.matcher === undefined ? FEED_CLOSE.badRequest : undefined);
      return;
    }
    if (client.authTimer !== undefined) clearTimeout(client.authTimer);
    client.authTimer = undefined;
    client.matcher = matcher;
    send(client, {
      type: 'subscribed',
      principal: { name: client.principal.name, role: client.principal.role },
      filter,
    });
  };

  const onMessage = (client: Client, data: RawData, isBinary: boolean): void => {
    let message: unknown;
    try {
      message = isBinary ? undefined : JSON.parse(rawText(data));
    } catch {
      message = undefined;
    }
    if (
      typeof message !== 'object' ||
      message === null ||
      (message as { type?: unknown }).type !== 'subscribe'
    ) {
      const err = new ApiError(400, 'expected a JSON text message {"type":"subscribe","filter":{...}}');
      fail(client, err, client.matcher === undefined ? FEED_CLOSE.badRequest : undefined);
      return;
    }
    subscribe(client, message as Record<string, unknown>);
  };

  const attach = (ws: WebSocket, principal: Principal | undefined, token: string | undefined): void => {
    const client: Client = {
      ws,
      principal,
      token,
      matcher: undefined,
      alive: true,
      dropped: false,
      authTimer: undefined,
    };
    client.authTimer = setTimeout(() => {
      if (client.matcher === undefined) {
        fail(
          client,
          new ApiError(401, `no subscribe message within ${authTimeoutMs} ms`),
          FEED_CLOSE.authTimeout,
        );
      }
    }, authTimeoutMs).unref();
    clients.add(client);
    metrics.feedClients.set(clients.size);
    ws.on('message', (data, isBinary) => {
      try {
        onMessage(client, data, isBinary);
      } catch (err) {
        // A bug here must cost one connection, not the collector.
        logger.error('live-feed message handling failed', { err });
        ws.close(1011, 'internal error');
      }
    });
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('error', (err) => logger.debug('live-feed client error', { err }));
    ws.on('close', () => {
      if (client.authTimer !== undefined) clearTimeout(client.authTimer);
      clients.delete(client);
      metrics.feedClients.set(clients.size);
    });
  };

  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
      if (client.token !== undefined) {
        const auth = tokens.verify(client.token, 'viewer');
        if (!auth.ok) {
          const code = auth.status === 403 ? FEED_CLOSE.forbidden : FEED_CLOSE.unauthorized;
          fail(client, new ApiError(auth.status, auth.reason), code);
        }
      }
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeat.unref();

  return {
    handleUpgrade(req, socket, head) {
      if (closed) return refuseUpgrade(socket, 503, 'the collector is shutting down');
      if (clients.size >= maxClients)
        return refuseUpgrade(socket, 503, `the feed has its ${maxClients} clients`);
      let principal: Principal | undefined;
      let token: string | undefined;
      const header = req.headers.authorization;
      if (header !== undefined) {
        const auth = tokens.authenticate(header, 'viewer');
        if (!auth.ok) return refuseUpgrade(socket, auth.status, auth.reason);
        principal = auth.principal;
        token = bearerToken(header);
      }
      wss.handleUpgrade(req, socket, head, (ws) => attach(ws, principal, token));
    },

    publish(alerts, receivedMs = now()) {
      if (clients.size === 0) return;
      for (const alert of alerts) {
        // Worked out and serialised once, whatever the number of clients; the frame is shared by
        // every client's send queue.
        const candidate = alertCandidate(alert, receivedMs);
        let frame: Buffer | undefined;
        for (const client of clients) {
          if (client.matcher === undefined || client.dropped || client.ws.readyState !== WebSocket.OPEN)
            continue;
          if (!client.matcher(candidate)) continue;
          frame ??= Buffer.from(JSON.stringify({ type: 'alert', alert, receivedMs }));
          if (client.ws.bufferedAmount + frame.length > maxBuffered) {
            drop(client);
            continue;
          }
          client.ws.send(frame, { binary: false });
          metrics.feedAlertsSent.inc();
        }
      }
    },

    clientCount() {
      return clients.size;
    },

    bufferedBytes() {
      let total = 0;
      for (const client of clients) total += client.ws.bufferedAmount;
      return total;
    },

    close() {
      closed = true;
      clearInterval(heartbeat);
      for (const client of clients) client.ws.close(FEED_CLOSE.shuttingDown, 'shutting down');
      const terminate = setTimeout(() => {
        for (const client of clients) client.ws.terminate();
      }, dropGraceMs);
      terminate.unref();
      return new Promise((resolve) => {
        wss.close(() => {
          clearTimeout(terminate);
          resolve();
        });
      });
    },
  };
}
