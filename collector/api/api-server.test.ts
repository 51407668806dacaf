import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { Alert } from '../../core/alert.js';
import { sampleAlert, T0 } from '../store/store-conformance.js';
import { ApiError } from './api-error.js';
import { startTestApi, type TestApi } from './api-harness.test.js';
import type { Route } from './router.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A request with `token` as bearer (the viewer's by default; null for none). */
async function get(
  t: TestApi,
  path: string,
  token: string | null = t.token.viewer,
  init: RequestInit = {},
): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(t.base + path, { ...init, headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

/** Routes a later part of the collector would add: one per role, one that echoes a JSON body, one that fails. */
const extraRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/v1/quarantines',
    access: 'responder',
    handler: (req) => ({ status: 201, body: { by: req.principal?.name } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/tokens/:name',
    access: 'admin',
    handler: (req) => ({ body: { deleted: req.params['name'] } }),
  },
  { method: 'GET', path: '/healthz', access: 'anonymous', handler: () => ({ body: { ok: true } }) },
  {
    method: 'GET',
    path: '/metrics',
    access: 'anonymous',
    handler: () => ({
      raw: '# plain text\nup 1\n',
      headers: { 'content-type': 'text/plain; version=0.0.4' },
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/echo',
    access: 'viewer',
    maxBodyBytes: 1000,
    handler: async (req) => ({ body: { got: await req.json() } }),
  },
  {
    method: 'GET',
    path: '/api/v1/broken',
    access: 'viewer',
    handler: () => {
      throw new Error('secret internals: connection string postgres://u:p@db');
    },
  },
  {
    method: 'GET',
    path: '/api/v1/teapot',
    access: 'viewer',
    handler: () => {
      throw new ApiError(503, 'brewing');
    },
  },
];

function ids(body: Record<string, unknown>): string[] {
  return (body['alerts'] as { alert: Alert }[]).map((r) => r.alert.id);
}

describe('API server', function () {
  this.timeout(30_000);
  let t: TestApi;
  beforeEach(async () => {
    t = await startTestApi({ routes: extraRoutes });
  });
  afterEach(() => t.close());

  describe('authentication and roles', () => {
    it('answers 401 without a valid token, with WWW-Authenticate, for every kind of bad token', async () => {
      t.tokens.revoke('admin-token');
      t.clock.now += 60_000;
      const cases: [string, string | null, RegExp][] = [
        ['missing', null, /missing bearer token/],
        ['malformed', 'not-a-token', /malformed/],
        ['unknown', `vgl_${'x'.repeat(43)}`, /unknown or revoked/],
        ['revoked', t.token.admin, /unknown or revoked/],
        ['expired', t.token.expiring, /has expired/],
      ];
      for (const [label, token, reason] of cases) {
        const res = await get(t, '/api/v1/alerts', token);
        assert.equal(res.status, 401, label);
        assert.equal(res.body['error'], 'unauthorized', label);
        assert.match(String(res.body['detail']), reason, label);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="vigil"', label);
      }
    });

    it('enforces each role boundary: 403 below the route role, 2xx at or above it', async () => {
      const matrix: [string, string, string, number][] = [
        ['GET', '/api/v1/alerts', 'viewer', 200],
        ['POST', '/api/v1/quarantines', 'viewer', 403],
        ['POST', '/api/v1/quarantines', 'responder', 201],
        ['POST', '/api/v1/quarantines', 'admin', 201],
        ['DELETE', '/api/v1/tokens/x', 'viewer', 403],
        ['DELETE', '/api/v1/tokens/x', 'responder', 403],
        ['DELETE', '/api/v1/tokens/x', 'admin', 200],
      ];
      for (const [method, path, role, status] of matrix) {
        const res = await get(t, path, t.token[role as 'viewer'], { method });
        assert.equal(res.status, status, `${role} ${method} ${path}`);
        if (status === 403) {
          assert.equal(res.body['error'], 'forbidden');
          assert.match(String(res.body['detail']), new RegExp(`role ${role}; this needs`));
        }
      }
      const made = await get(t, '/api/v1/quarantines', t.token.responder, { method: 'POST' });
      assert.deepEqual(made.body, { by: 'responder-token' });
    });

    it('serves anonymous routes without a token, and says who the caller is', async () => {
      assert.deepEqual((await get(t, '/healthz', null)).body, { ok: true });
      const metrics = await fetch(`${t.base}/metrics`);
      assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4');
      assert.equal(await metrics.text(), '# plain text\nup 1\n');
      assert.deepEqual((await get(t, '/api/v1/whoami', t.token.responder)).body, {
        name: 'responder-token',
        role: 'responder',
        expiresMs: null,
      });
    });
  });

  describe('errors', () => {
    it('answers 404 and 405 (with Allow) as JSON', async () => {
      const missing = await get(t, '/api/v1/nothing');
      assert.equal(missing.status, 404);
      assert.equal(missing.body['error'], 'not_found');
      assert.equal(missing.headers.get('content-type'), 'application/json; charset=utf-8');
      const wrong = await get(t, '/api/v1/alerts', t.token.admin, { method: 'DELETE' });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.body['error'], 'method_not_allowed');
      assert.equal(wrong.headers.get('allow'), 'GET');
    });

    it('answers 413 for a body over the limit, declared or streamed, and reads a body under it', async () => {
      const json = { 'content-type': 'application/json' };
      const small = await get(t, '/api/v1/echo', t.token.viewer, {
        method: 'POST',
        headers: json,
        body: '{"a":[1,2]}',
      });
      assert.deepEqual(small.body, { got: { a: [1, 2] } });
      const declared = await get(t, '/api/v1/echo', t.token.viewer, {
        method: 'POST',
        headers: json,
        body: 'x'.repeat(1001),
      });
      assert.equal(declared.status, 413);
      assert.equal(declared.body['error'], 'payload_too_large');
      // Chunked: no Content-Length, so the limit is found while reading.
      const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${t.base}/api/v1/echo`, {
          method: 'POST',
          headers: { ...json, authorization: `Bearer ${t.token.viewer}`, 'transfer-encoding': 'chunked' },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (let i = 0; i < 5; i++) req.write('y'.repeat(400));
        req.end();
      });
      assert.equal(streamed.status, 413);
      assert.match(streamed.body, /over 1000 bytes/);
      const notJson = await get(t, '/api/v1/echo', t.token.viewer, {
        method: 'POST',
        headers: json,
        body: '{nope',
      });
      assert.equal(notJson.status, 400);
      const wrongType = await get(t, '/api/v1/echo', t.token.viewer, { method: 'POST', body: '{}' });
      assert.equal(wrongType.status, 415);
    });

    it('answers 500 without internals, logs the failure, and passes ApiError statuses through', async () => {
      const res = await get(t, '/api/v1/broken');
      assert.equal(res.status, 500);
      assert.equal(res.body['error'], 'internal');
      assert.doesNotMatch(JSON.stringify(res.body), /postgres|secret/);
      assert.ok(t.logs.some((l) => l['level'] === 'error' && /secret internals/.test(String(l['err']))));
      assert.equal((await get(t, '/api/v1/teapot')).status, 503);
    });

    it('answers 400 naming the parameter for every bad filter', async () => {
      const bad: [string, string][] = [
        ['prio=high', 'prio'],
        ['priority=urgent', 'priority'],
        ['kind=malware', 'kind'],
        ['from=yesterday', 'from'],
        ['to=2024-13-45T00:00:00Z', 'to'],
        ['from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z', 'to'],
        ['limit=0', 'limit'],
        ['limit=5000', 'limit'],
        ['limit=ten', 'limit'],
        ['cursor=bogus', 'cursor'],
        ['q=%20--%20', 'q'],
        ['q=ab*', 'q'],
        ['rule=', 'rule'],
        ['node=a&node=b', 'node'],
      ];
      for (const [query, parameter] of bad) {
        const res = await get(t, `/api/v1/alerts?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.body['parameter'], parameter, query);
        assert.match(String(res.body['detail']), new RegExp(`parameter '${parameter}'`), query);
      }
      const counts = await get(t, '/api/v1/alerts/counts?bucket=1ms&from=0&to=1000000');
      assert.equal(counts.status, 400);
      assert.equal(counts.body['parameter'], 'bucket');
      assert.equal((await get(t, '/api/v1/alerts/counts?bucket=often')).body['parameter'], 'bucket');
      assert.equal((await get(t, '/api/v1/alerts/counts?limit=5')).body['parameter'], 'limit');
    });
  });

  describe('alerts', () => {
    let alerts: Alert[];
    beforeEach(() => {
      alerts = [
        sampleAlert({
          id: 'e1',
          atMs: T0 + 1000,
          priority: 'Critical',
          rule: 'Read sensitive file',
          tags: ['filesystem', 'T1552'],
          output: 'read /etc/shadow by cat',
        }),
        sampleAlert({ id: 'e2', atMs: T0 + 2000, priority: 'Notice', node: 'node-2', kind: 'anomaly' }),
        sampleAlert({
          id: 'e3',
          atMs: T0 + 3000,
          priority: 'Warning',
          workload: { namespace: 'payments', pod: 'api-7' },
        }),
        sampleAlert({
          id: 'e4',
          atMs: T0 + 4000,
          priority: 'Emergency',
          workload: { namespace: 'payments', pod: 'db-0' },
        }),
      ];
      t.store.insertAlerts(alerts, T0 + 10_000);
    });

    it('lists with every filter as a query parameter', async () => {
      const cases: [string, string[]][] = [
        ['', ['e4', 'e3', 'e2', 'e1']],
        [`from=${T0 + 2000}`, ['e4', 'e3', 'e2']],
        [`to=${new Date(T0 + 2000).toISOString()}`, ['e1']],
        [`from=2024-05-01T12:00:02.500Z&to=${T0 + 4000}`, ['e3']],
        ['from=2024-05-01', ['e4', 'e3', 'e2', 'e1']],
        ['priority=critical', ['e4', 'e1']],
        ['priority=INFO', ['e4', 'e3', 'e2', 'e1']],
        ['rule=Read%20sensitive%20file', ['e1']],
        ['tag=T1552', ['e1']],
        ['node=node-2', ['e2']],
        ['namespace=payments', ['e4', 'e3']],
        ['pod=db-0', ['e4']],
        ['kind=anomaly', ['e2']],
        ['kind=signature', ['e4', 'e3', 'e1']],
        ['q=%2Fetc%2Fshadow', ['e1']],
        ['q=shell%20spawned', ['e4', 'e3', 'e2']],
        ['namespace=payments&priority=warning&q=shell', ['e4', 'e3']],
      ];
      for (const [query, want] of cases) {
        const res = await get(t, `/api/v1/alerts?${query}`);
        assert.equal(res.status, 200, query);
        assert.deepEqual(ids(res.body), want, query);
        assert.equal(res.body['next'], null, query);
      }
      const one = await get(t, '/api/v1/alerts?node=node-2');
      assert.deepEqual((one.body['alerts'] as unknown[])[0], { alert: alerts[1], receivedMs: T0 + 10_000 });
    });

    it('pages with limit and cursor, with no repeat or gap while alerts arrive', async () => {
      const many = Array.from({ length: 45 }, (_, i) =>
        sampleAlert({ id: `m${i}`, atMs: T0 + 100_000 + Math.floor(i / 2) }),
      );
      t.store.insertAlerts(many, T0);
      const before = new Set(ids((await get(t, '/api/v1/alerts?limit=1000')).body));
      const seen: string[] = [];
      let cursor: string | null = null;
      let round = 0;
      do {
        const res: Answer = await get(
          t,
          `/api/v1/alerts?limit=4${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        );
        assert.equal(res.status, 200);
        seen.push(...ids(res.body));
        cursor = res.body['next'] as string | null;
        // Newer alerts land above the walk; late ones far below it, still ahead of it.
        t.store.insertAlerts(
          [
            sampleAlert({ id: `new${round}`, atMs: T0 + 500_000 + round }),
            sampleAlert({ id: `old${round}`, atMs: T0 - 500_000 - round }),
          ],
          T0,
        );
        round++;
      } while (cursor !== null && round < 100);
      assert.equal(cursor, null);
      assert.equal(new Set(seen).size, seen.length, 'no alert twice');
      for (const id of before) assert.ok(seen.includes(id), `${id} missing`);
      assert.ok(!seen.some((id) => id.startsWith('new')));
    });

    it('gets one alert by id, 404 for an unknown one', async () => {
      assert.deepEqual((await get(t, '/api/v1/alerts/e3')).body, {
        alert: alerts[2],
        receivedMs: T0 + 10_000,
      });
      const missing = await get(t, '/api/v1/alerts/nope%2Fslash');
      assert.equal(missing.status, 404);
      assert.match(String(missing.body['detail']), /nope\/slash/);
    });

    it('counts per bucket and priority, over the last 24 hours by default', async () => {
      const res = await get(
        t,
        `/api/v1/alerts/counts?bucket=2s&from=${T0}&to=${T0 + 6000}&namespace=payments`,
      );
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        bucketMs: 2000,
        fromMs: T0,
        toMs: T0 + 6000,
        buckets: [
          { startMs: T0, counts: {} },
          { startMs: T0 + 2000, counts: { Warning: 1 } },
          { startMs: T0 + 4000, counts: { Emergency: 1 } },
        ],
      });
      const byDefault = await get(t, '/api/v1/alerts/counts');
      assert.equal(byDefault.body['toMs'], t.clock.now);
      assert.equal(byDefault.body['fromMs'], t.clock.now - 86_400_000);
      assert.equal((byDefault.body['buckets'] as unknown[]).length, 25);
      const total = (byDefault.body['buckets'] as { counts: Record<string, number> }[])
        .flatMap((b) => Object.values(b.counts))
        .reduce((a, b) => a + b, 0);
      assert.equal(total, 4);
    });

    it('lists agents', async () => {
      t.store.upsertAgent({
        node: 'node-9',
        version: '0.1.0',
        host: {
          hostname: 'node-9',
          os: 'linux',
          kernel: '6.8',
          arch: 'arm64',
          cpus: 2,
          memoryBytes: 1,
          source: 'procfs',
        },
        capabilities: [],
        connected: true,
        firstSeenMs: T0,
        lastSeenMs: T0,
        spoolDepth: 0,
        spoolDropped: 0,
      });
      const res = await get(t, '/api/v1/agents');
      assert.deepEqual(
        (res.body['agents'] as { node: string }[]).map((a) => a.node),
        ['node-9'],
      );
    });

    it('answers HEAD like GET without a body', async () => {
      const res = await fetch(`${t.base}/api/v1/alerts`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${t.token.viewer}` },
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), '');
      assert.ok(Number(res.headers.get('content-length')) > 100);
    });
  });

  it('counts requests by route pattern and status, and times store calls', async () => {
    await get(t, '/api/v1/alerts/a1');
    await get(t, '/api/v1/alerts/a2');
    await get(t, '/api/v1/alerts', null);
    await get(t, '/nowhere');
    const text = await t.registry.metrics();
    assert.match(
      text,
      /vigil_collector_api_requests_total\{route="\/api\/v1\/alerts\/:id",method="GET",status="404"\} 2/,
    );
    assert.match(
      text,
      /vigil_collector_api_requests_total\{route="\/api\/v1\/alerts",method="GET",status="401"\} 1/,
    );
    assert.match(text, /vigil_collector_api_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
    assert.match(text, /vigil_collector_store_query_duration_seconds_count\{operation="get"\} 2/);
    assert.match(text, /vigil_collector_feed_clients 0/);
  });
});
