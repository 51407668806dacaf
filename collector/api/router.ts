/**
 * The API's routes and how a request finds one. A route names its method, a path pattern
 * (`/api/v1/alerts/:id`: literal segments and `:name` parameters), the role a caller needs, and
 * a handler that returns a JSON answer. Other parts of the collector add routes of their own
 * (`createApiServer({ routes })`) and get the same authentication, errors and metrics.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Principal } from '../auth/token-store.js';
import type { Role } from '../auth/role.js';

/**
 * Who may call a route: at least this role, or `anonymous` — anyone, no token checked (for
 * health probes; use it deliberately).
 */
export type RouteAccess = Role | 'anonymous';

/** What a handler is given. */
export interface ApiRequest {
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  /** The values of the pattern's `:name` segments, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The caller; undefined on `anonymous` routes. */
  readonly principal: Principal | undefined;
  /** The body, at most the route's (or the server's) limit; over it, the request is answered 413. */
  body(): Promise<Buffer>;
  /** The body parsed as JSON; a 400 when it is not JSON, 415 when it is not declared as JSON. */
  json(): Promise<unknown>;
  /** The underlying request, for what the above does not cover (the peer address, say). */
  readonly raw: IncomingMessage;
}

/** A handler's answer: a status (default 200), a JSON body, and extra headers. */
export interface ApiResponse {
  readonly status?: number;
  /** Serialised as JSON; omitted (or undefined) for an empty body. */
  readonly body?: unknown;
  /**
   * Sent as it is instead of `body`, for the few answers that are not JSON (Prometheus text);
   * give its `content-type` in `headers`.
   */
  readonly raw?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** One route. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `/api/v1/things/:id`; literal segments match before parameters. */
  readonly path: string;
  readonly access: RouteAccess;
  /** Largest body accepted, in bytes (default: the server's `maxBodyBytes`). */
  readonly maxBodyBytes?: number;
  /**
   * Answers the request. Throw `ApiError` for an error answer; anything else thrown becomes a
   * 500 (logged).
   */
  handler(request: ApiRequest): ApiResponse | Promise<ApiResponse>;
}

/** What {@link Router.match} found. */
export type RouteMatch =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[]; readonly pattern: string }
  | { readonly kind: 'not-found' };

/** Routes by path pattern. */
export interface Router {
  match(method: string, path: string): RouteMatch;
  readonly routes: readonly Route[];
}

interface Node {
  readonly literal: Map<string, Node>;
  param: { readonly name: string; readonly node: Node } | undefined;
  readonly methods: Map<string, Route>;
}

function newNode(): Node {
  return { literal: new Map(), param: undefined, methods: new Map() };
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/**
 * Builds a router. Throws when two routes claim the same method and pattern, or when one
 * position has parameters of different names (`/a/:id` and `/a/:name`).
 */
export function createRouter(routes: readonly Route[]): Router {
  const root = newNode();
  for (const route of routes) {
    if (!route.path.startsWith('/')) throw new Error(`route path '${route.path}' must start with '/'`);
    let node = root;
    for (const seg of segments(route.path)) {
      if (seg.startsWith(':')) {
        const name = seg.slice(1);
        if (name === '') throw new Error(`route path '${route.path}' has a parameter without a name`);
        if (node.param === undefined) node.param = { name, node: newNode() };
        else if (node.param.name !== name) {
          throw new Error(
            `route '${route.path}': parameter ':${name}' where another route has ':${node.param.name}'`,
          );
        }
        node = node.param.node;
      } else {
        let next = node.literal.get(seg);
        if (next === undefined) {
          next = newNode();
          node.literal.set(seg, next);
        }
        node = next;
      }
    }
    if (node.methods.has(route.method)) throw new Error(`two routes for ${route.method} ${route.path}`);
    node.methods.set(route.method, route);
  }

  const walk = (
    node: Node,
    segs: readonly string[],
    i: number,
    params: Record<string, string>,
  ): Node | undefined => {
    if (i === segs.length) return node.methods.size > 0 ? node : undefined;
    const seg = segs[i] as string;
    const literal = node.literal.get(seg);
    if (literal !== undefined) {
      const found = walk(literal, segs, i + 1, params);
      if (found !== undefined) return found;
    }
    if (node.param !== undefined) {
      const found = walk(node.param.node, segs, i + 1, params);
      if (found !== undefined) {
        params[node.param.name] = seg;
        return found;
      }
    }
    return undefined;
  };

  return {
    routes,
    match(method, path) {
      let segs: string[];
      try {
        segs = segments(path).map((s) => decodeURIComponent(s));
      } catch {
        return { kind: 'not-found' };
      }
      const params: Record<string, string> = {};
      const node = walk(root, segs, 0, params);
      if (node === undefined) return { kind: 'not-found' };
      const route = node.methods.get(method === 'HEAD' ? 'GET' : method);
      if (route === undefined) {
        const any = node.methods.values().next().value as Route;
        return { kind: 'method-not-allowed', allow: [...node.methods.keys()], pattern: any.path };
      }
      return { kind: 'found', route, params };
    },
  };
}
