/**
 * The API's own routes: the alert list, one alert, counts over time, the agents, and who the
 * caller is. All read-only, so all for `viewer` and up.
 *
 * - `GET /api/v1/alerts?...` → `{ alerts: [{ alert, receivedMs }], next }` (`next` is null on the
 *   last page; pass it back as `cursor`). Parameters: `alert-params.ts`.
 * - `GET /api/v1/alerts/counts?bucket=1m&...` → `{ bucketMs, fromMs, toMs, buckets: [{ startMs,
 *   counts: { Critical: 3, ... } }] }`
 * - `GET /api/v1/alerts/:id` → `{ alert, receivedMs }`, or 404
 * - `GET /api/v1/agents` → `{ agents: [...] }`
 * - `GET /api/v1/whoami` → `{ name, role, expiresMs }`
 */
import { AlertQueryError, type CollectorStore } from '../store/store.js';
import { ApiError } from './api-error.js';
import type { ApiMetrics } from './api-metrics.js';
import { parseAlertQuery, parseCountsQuery, queryParams, queryRefused } from './alert-params.js';
import type { Route } from './router.js';

/** What the alert routes need. */
export interface AlertRoutesOptions {
  readonly store: CollectorStore;
  readonly metrics: ApiMetrics;
  /** The clock (ms since the epoch): the default end of the counts range. */
  readonly now: () => number;
}

function refusedAs400<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof AlertQueryError) throw queryRefused(err);
    throw err;
  }
}

/** The built-in read routes. */
export function alertRoutes({ store, metrics, now }: AlertRoutesOptions): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/alerts',
      access: 'viewer',
      handler(req) {
        const query = parseAlertQuery(queryParams(req.query));
        const page = refusedAs400(() => metrics.timeStore('query', () => store.queryAlerts(query)));
        return { body: { alerts: page.alerts, next: page.next ?? null } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/alerts/counts',
      access: 'viewer',
      handler(req) {
        const { filter, bucketMs } = parseCountsQuery(queryParams(req.query), now());
        const counts = refusedAs400(() =>
          metrics.timeStore('counts', () => store.countAlerts(filter, bucketMs)),
        );
        return { body: { bucketMs, fromMs: filter.fromMs, toMs: filter.toMs, buckets: counts.buckets } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/alerts/:id',
      access: 'viewer',
      handler(req) {
        const id = req.params['id'] as string;
        const record = metrics.timeStore('get', () => store.getAlert(id));
        if (record === undefined) throw new ApiError(404, `no alert with id '${id}'`);
        return { body: record };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/agents',
      access: 'viewer',
      handler() {
        return { body: { agents: metrics.timeStore('agents', () => store.listAgents()) } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/whoami',
      access: 'viewer',
      handler(req) {
        const p = req.principal;
        return { body: { name: p?.name, role: p?.role, expiresMs: p?.expiresMs ?? null } };
      },
    },
  ];
}
