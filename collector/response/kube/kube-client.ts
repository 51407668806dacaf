/**
 * A small Kubernetes REST client on node:http/node:https — no client library. It reaches the API
 * server one of three ways ({@link KubeConnection}):
 *
 * - `in-cluster`: the pod's service account — `token` and `ca.crt` under
 *   `/var/run/secrets/kubernetes.io/serviceaccount`, the server at
 *   `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`. The token is a projected,
 *   rotating one: the file is re-read every minute (as client-go does) and at once on a 401.
 * - `kubeconfig`: a kubeconfig file and one of its contexts (see ./kubeconfig.ts).
 * - `url`: an explicit server, with an optional token and CA.
 *
 * Every request has a timeout covering the whole exchange. A non-2xx answer rejects with a
 * {@link KubeApiError} carrying the API's `Status` (code, reason, message, details); no answer at
 * all (refused, TLS, timeout) rejects with a {@link KubeTransportError}.
 *
 * What the collector's quarantine needs from RBAC (deploy/ grants exactly this, as a ClusterRole
 * bound to the collector's service account, since quarantined pods may be in any namespace):
 *
 * ```yaml
 * - apiGroups: ['']
 *   resources: ['pods']
 *   verbs: ['get', 'list', 'patch']
 * - apiGroups: ['networking.k8s.io']
 *   resources: ['networkpolicies']
 *   verbs: ['get', 'create', 'patch', 'delete']
 * ```
 *
 * (`patch` on networkpolicies repairs a `vigil-quarantine` policy whose spec was changed by
 * someone else; `list` on them is not needed.)
 */
import { readFileSync, statSync } from 'node:fs';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { KubeconfigError, loadKubeconfig } from './kubeconfig.js';

/** The default folder of the pod's service account files. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How to reach the API server. */
export type KubeConnection =
  | {
      readonly mode: 'in-cluster';
      /** Where `token` and `ca.crt` are (default {@link SERVICE_ACCOUNT_DIR}). */
      readonly serviceAccountDir?: string;
    }
  | { readonly mode: 'kubeconfig'; readonly path: string; readonly context?: string }
  | {
      readonly mode: 'url';
      readonly server: string;
      readonly token?: string;
      readonly caPem?: string;
      readonly insecureSkipTlsVerify?: boolean;
    };

/** Options of {@link createKubeClient}. */
export interface KubeClientOptions {
  /** Per-request timeout, connection to last byte (default 10 s). */
  readonly timeoutMs?: number;
  /** How long a token read from a file is used before the file is read again (default 60 s). */
  readonly tokenRefreshMs?: number;
  /** Where `KUBERNETES_SERVICE_HOST`/`_PORT` are read for in-cluster mode (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The largest response body accepted (default 32 MiB). */
  readonly maxResponseBytes?: number;
}

/** One request to the API server. */
export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The API path, e.g. `/api/v1/namespaces/default/pods/web-0` (no query). */
  readonly path: string;
  /** Query parameters; undefined values are left out. */
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** The body's content type (default `application/json`; patches name their kind). */
  readonly contentType?: string;
  /** Overrides the client's timeout for this request. */
  readonly timeoutMs?: number;
}

/** A Kubernetes REST client; see the module comment. */
export interface KubeClient {
  /** The server's base URL. */
  readonly server: string;
  /** Sends `req` and resolves with the parsed JSON answer of a 2xx. */
  request<T = unknown>(req: KubeRequest): Promise<T>;
  /** Closes idle connections. Requests after this still work (on new connections). */
  close(): void;
}

/** The fields of a Kubernetes `Status` the client keeps. */
export interface KubeStatus {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The API server answered with an error status; `status` is its Status object (or made from the reply). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: KubeStatus,
  ) {
    super(`${method} ${path}: ${status.code} ${status.reason}: ${status.message}`);
  }

  /** The HTTP status code. */
  get code(): number {
    return this.status.code;
  }

  /** The Status reason (`NotFound`, `Conflict`, `AlreadyExists`, `Forbidden`, ...). */
  get reason(): string {
    return this.status.reason;
  }
}

/** No answer from the API server: connection refused or reset, TLS failure, timeout. */
export class KubeTransportError extends Error {
  override readonly name = 'KubeTransportError';
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_TOKEN_REFRESH_MS = 60_000;
const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** A bearer token kept in a file and re-read when it may have rotated. */
class TokenFile {
  private token: string | undefined;
  private readAtMs = 0;
  private mtimeMs = -1;

  constructor(
    readonly path: string,
    private readonly refreshMs: number,
  ) {
    this.read();
  }

  /** The token, re-read when it is older than the refresh interval and the file changed. */
  current(): string {
    if (this.token === undefined || Date.now() - this.readAtMs >= this.refreshMs) this.read();
    return this.token as string;
  }

  /** Re-reads the file now; true when the token changed. */
  reread(): boolean {
    const before = this.token;
    this.mtimeMs = -1;
    this.read();
    return this.token !== before;
  }

  private read(): void {
    let mtimeMs: number;
    let token: string;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
      // An unchanged file needs no read; a projected token is replaced, so its mtime moves.
      if (this.token !== undefined && mtimeMs === this.mtimeMs) {
        this.readAtMs = Date.now();
        return;
      }
      token = readFileSync(this.path, 'utf8').trim();
    } catch (err) {
      if (this.token !== undefined) return; // keep the last good token; the API will say if it is stale
      throw new Error(`cannot read the service account token ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (token === '') {
      if (this.token !== undefined) return;
      throw new Error(`the service account token ${this.path} is empty`);
    }
    this.token = token;
    this.mtimeMs = mtimeMs;
    this.readAtMs = Date.now();
  }
}

/** Everything a connection resolves to. */
interface Endpoint {
  readonly server: URL;
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName?: string;
  readonly token?: string;
  readonly tokenFile?: TokenFile;
  readonly basic?: string;
}

function parseServer(server: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`${what}: ${JSON.stringify(server)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${what}: ${JSON.stringify(server)} must be an http or https URL`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error(`${what}: ${JSON.stringify(server)} must not have a query or fragment`);
  }
  return url;
}

function resolveEndpoint(conn: KubeConnection, options: KubeClientOptions): Endpoint {
  const refreshMs = options.tokenRefreshMs ?? DEFAULT_TOKEN_REFRESH_MS;
  switch (conn.mode) {
    case 'in-cluster': {
      const env = options.env ?? process.env;
      const host = env['KUBERNETES_SERVICE_HOST'];
      const port = env['KUBERNETES_SERVICE_PORT'];
      if (host === undefined || host === '' || port === undefined || port === '') {
        throw new Error(
          'in-cluster mode needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (is the collector running in a pod?); ' +
            'use a kubeconfig or a server URL outside the cluster',
        );
      }
      const dir = conn.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
      const caFile = join(dir, 'ca.crt');
      let caPem: string;
      try {
        caPem = readFileSync(caFile, 'utf8');
      } catch (err) {
        throw new Error(`in-cluster mode: cannot read the cluster CA ${caFile}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const hostPart = host.includes(':') ? `[${host}]` : host;
      return {
        server: parseServer(`https://${hostPart}:${port}`, 'KUBERNETES_SERVICE_HOST/PORT'),
        caPem,
        insecureSkipTlsVerify: false,
        tokenFile: new TokenFile(join(dir, 'token'), refreshMs),
      };
    }
    case 'kubeconfig': {
      const t = loadKubeconfig(conn.path, conn.context);
      return {
        server: parseServer(t.server, `kubeconfig ${conn.path}: server`),
        insecureSkipTlsVerify: t.insecureSkipTlsVerify,
        ...(t.caPem !== undefined && { caPem: t.caPem }),
        ...(t.clientCertPem !== undefined && { certPem: t.clientCertPem }),
        ...(t.clientKeyPem !== undefined && { keyPem: t.clientKeyPem }),
        ...(t.tlsServerName !== undefined && { tlsServerName: t.tlsServerName }),
        ...(t.token !== undefined && { token: t.token }),
        ...(t.token === undefined &&
          t.tokenFile !== undefined && { tokenFile: kubeconfigTokenFile(conn.path, t.tokenFile, refreshMs) }),
        ...(t.username !== undefined &&
          t.password !== undefined && {
            basic: Buffer.from(`${t.username}:${t.password}`).toString('base64'),
          }),
      };
    }
    case 'url':
      return {
        server: parseServer(conn.server, 'server'),
        insecureSkipTlsVerify: conn.insecureSkipTlsVerify === true,
        ...(conn.caPem !== undefined && { caPem: conn.caPem }),
        ...(conn.token !== undefined && conn.token !== '' && { token: conn.token }),
      };
  }
}

function kubeconfigTokenFile(kubeconfig: string, path: string, refreshMs: number): TokenFile {
  try {
    return new TokenFile(path, refreshMs);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${kubeconfig}: tokenFile: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Creates a client for `conn`. Throws at once, with a message naming the file or variable at
 * fault, when the connection cannot be set up (missing kubeconfig key, unreadable CA or token,
 * no KUBERNETES_SERVICE_HOST in-cluster, bad URL).
 *
 * @example
 * const kube = createKubeClient({ mode: 'in-cluster' });
 * const pod = await kube.request({ method: 'GET', path: '/api/v1/namespaces/shop/pods/web-0' });
 */
export function createKubeClient(conn: KubeConnection, options: KubeClientOptions = {}): KubeClient {
  const endpoint = resolveEndpoint(conn, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const https = endpoint.server.protocol === 'https:';
  const agent = https
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 16,
        ...(endpoint.caPem !== undefined && { ca: endpoint.caPem }),
        ...(endpoint.certPem !== undefined && { cert: endpoint.certPem }),
        ...(endpoint.keyPem !== undefined && { key: endpoint.keyPem }),
        ...(endpoint.tlsServerName !== undefined && { servername: endpoint.tlsServerName }),
        rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
      })
    : new HttpAgent({ keepAlive: true, maxSockets: 16 });
  const basePath = endpoint.server.pathname.replace(/\/+$/, '');
  const server = endpoint.server.origin + basePath;

  function authorization(): string | undefined {
    if (endpoint.token !== undefined) return `Bearer ${endpoint.token}`;
    if (endpoint.tokenFile !== undefined) return `Bearer ${endpoint.tokenFile.current()}`;
    if (endpoint.basic !== undefined) return `Basic ${endpoint.basic}`;
    return undefined;
  }

  async function request<T>(req: KubeRequest): Promise<T> {
    try {
      return await send<T>(req);
    } catch (err) {
      // A rotated token: the API refuses the old one before our refresh interval ran out.
      if (err instanceof KubeApiError && err.code === 401 && endpoint.tokenFile?.reread() === true) {
        return send<T>(req);
      }
      throw err;
    }
  }

  function send<T>(req: KubeRequest): Promise<T> {
    if (!req.path.startsWith('/'))
      throw new Error(`request path ${JSON.stringify(req.path)} must start with /`);
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) query.set(k, v);
    const qs = query.toString();
    const fullPath = basePath + req.path + (qs === '' ? '' : `?${qs}`);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'vigil-collector' };
    const auth = authorization();
    if (auth !== undefined) headers['authorization'] = auth;
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(body.length);
    }
    const opts: RequestOptions = {
      method: req.method,
      host: endpoint.server.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: endpoint.server.port === '' ? (https ? 443 : 80) : Number(endpoint.server.port),
      path: fullPath,
      headers,
      agent,
    };
    const limit = req.timeoutMs ?? timeoutMs;
    const what = `${req.method} ${req.path}`;
    return new Promise<T>((resolvePromise, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err !== undefined) reject(err);
        else resolvePromise(value as T);
      };
      const r = (https ? httpsRequest : httpRequest)(opts, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            r.destroy(new KubeTransportError(`${what}: the answer is larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => finish(new KubeTransportError(`${what}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            if (text === '') return finish(undefined, undefined);
            try {
              finish(undefined, JSON.parse(text) as T);
            } catch {
              finish(new KubeTransportError(`${what}: ${code} answer is not JSON: ${text.slice(0, 200)}`));
            }
            return;
          }
          finish(new KubeApiError(req.method, req.path, statusOf(code, res.statusMessage, text)));
        });
      });
      const timer = setTimeout(
        () => r.destroy(new KubeTransportError(`${what}: no answer from ${server} within ${limit} ms`)),
        limit,
      );
      r.on('error', (err) =>
        finish(
          err instanceof KubeTransportError
            ? err
            : new KubeTransportError(`${what}: cannot reach ${server}: ${err.message}`, { cause: err }),
        ),
      );
      r.end(body);
    });
  }

  return {
    server,
    request,
    close: () => agent.destroy(),
  };
}

/** The Status of an error answer: the body's own when it is one, else made from the HTTP status. */
function statusOf(code: number, statusMessage: string | undefined, text: string): KubeStatus {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    if (body['kind'] === 'Status') {
      const details = body['details'];
      return {
        code: typeof body['code'] === 'number' ? body['code'] : code,
        reason:
          typeof body['reason'] === 'string' && body['reason'] !== ''
            ? body['reason']
            : (statusMessage ?? ''),
        message: typeof body['message'] === 'string' ? body['message'] : text.slice(0, 500),
        ...(typeof details === 'object' &&
          details !== null && { details: details as Record<string, unknown> }),
      };
    }
  } catch {
    // not JSON: a proxy or a load balancer answered; keep its text
  }
  return { code, reason: statusMessage ?? '', message: text.trim().slice(0, 500) || `HTTP ${code}` };
}
