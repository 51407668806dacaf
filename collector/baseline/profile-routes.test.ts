import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import {
  decodeProfile,
  encodeProfile,
  lockProfile,
  type ProfileSummary,
} from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { createTestPki } from '../../test/support/link-pki.js';
import { startTestApi, type TestApi } from '../api/api-harness.test.js';
import { loadCollectorConfig } from '../config.js';
import { startIngestServer, type IngestServer } from '../ingest/ingest-server.js';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import type { AuditRecord } from '../response/audit-log.js';
import { startResponseHarness, type ResponseHarness } from '../response/response-harness.test.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { CollectorStore } from '../store/store.js';
import { keyFor, observed, observedBytes } from './baseline-harness.test.js';
import { createBaselineService, type BaselineService } from './baseline-service.js';
import { startCollectorBaselines, type CollectorBaselines } from './collector-baselines.js';
import { profileRoutes } from './profile-routes.js';
import { openProfileStore, type ProfileStore } from './profile-store.js';

const WEB = keyFor('web');
const DB_KEY = keyFor('db', 'bank', 'postgres:16');

describe('profiles API', function () {
  this.timeout(30_000);
  let dir: string;
  let db: CollectorDatabase;
  let alerts: CollectorStore;
  let profiles: ProfileStore;
  let ingest: IngestServer;
  let service: BaselineService;
  let t: TestApi;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-profile-api-'));
    db = openCollectorDatabase({ path: join(dir, 'baselines.db') });
    alerts = openSqliteStore({ database: db });
    profiles = openProfileStore({ database: db });
    const logger = createLogger({ write: () => undefined, now: Date.now });
    ingest = await startIngestServer({
      listen: '127.0.0.1:0',
      tls: createTestPki().collector,
      store: alerts,
      onAlertsStored: () => undefined,
      logger,
      registry: new Registry(),
    });
    service = createBaselineService({
      store: profiles,
      link: ingest,
      registry: new Registry(),
      logger,
      timers: false,
    });
    t = await startTestApi({ routes: profileRoutes(service) });
    service.acceptDelta('node-a', {
      workloadKey: WEB,
      delta: observedBytes(WEB, 'node-a', [
        ['exec', '/usr/bin/app'],
        ['user', 'www-data'],
      ]),
    });
    service.acceptDelta('node-b', {
      workloadKey: DB_KEY,
      delta: encodeProfile(
        lockProfile(observed(DB_KEY, 'node-b', [['listen', 'tcp 5432']]), {
          actor: 'agent:node-b',
          nowMs: 1_700_000_100_000,
        }),
      ),
    });
  });
  after(async () => {
    await t.close();
    service.stop();
    await ingest.close({ graceMs: 100 });
    alerts.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${t.base}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }

  const at = (key: string, suffix = ''): string => `/api/v1/profiles/${encodeURIComponent(key)}${suffix}`;

  it('lists summaries without items, filtered by namespace and status', async () => {
    const all = await call('GET', '/api/v1/profiles', t.token.viewer);
    assert.equal(all.status, 200);
    const list = all.body['profiles'] as (ProfileSummary & { itemCount: number })[];
    assert.deepEqual(
      list.map((p) => [p.key, p.namespace, p.status, p.itemCount, p.items.length]),
      [
        [DB_KEY, 'bank', 'locked', 1, 0],
        [WEB, 'shop', 'learning', 2, 0],
      ],
    );
    assert.equal(list[1]?.ownerName, 'web');
    assert.equal(list[1]?.image, 'registry.example/app:1.0');
    const shop = await call('GET', '/api/v1/profiles?namespace=shop', t.token.viewer);
    assert.deepEqual(
      (shop.body['profiles'] as ProfileSummary[]).map((p) => p.key),
      [WEB],
    );
    const locked = await call('GET', '/api/v1/profiles?status=locked', t.token.viewer);
    assert.deepEqual(
      (locked.body['profiles'] as ProfileSummary[]).map((p) => p.key),
      [DB_KEY],
    );
    const limited = await call('GET', '/api/v1/profiles?limit=1', t.token.viewer);
    assert.equal((limited.body['profiles'] as unknown[]).length, 1);
  });

  it('answers 400 naming the parameter for a bad status, limit or an unknown parameter', async () => {
    for (const [query, parameter] of [
      ['status=frozen', 'status'],
      ['limit=0', 'limit'],
      ['limit=many', 'limit'],
      ['node=node-a', 'node'],
    ] as const) {
      const res = await call('GET', `/api/v1/profiles?${query}`, t.token.viewer);
      assert.equal(res.status, 400, query);
      assert.equal(res.body['error'], 'bad_request');
      assert.equal(res.body['parameter'], parameter);
    }
  });

  it('shows one profile with its items by URL-encoded key, and 404 for an unknown key', async () => {
    const res = await call('GET', at(WEB), t.token.viewer);
    assert.equal(res.status, 200);
    assert.equal(res.body['key'], WEB);
    assert.deepEqual(
      (res.body['items'] as ProfileSummary['items']).map((i) => [i.kind, i.value, i.manual]),
      [
        ['exec', '/usr/bin/app', false],
        ['user', 'www-data', false],
      ],
    );
    assert.deepEqual(res.body['nodes'], ['node-a']);
    const missing = await call('GET', at(keyFor('nothing')), t.token.viewer);
    assert.equal(missing.status, 404);
    assert.match(String(missing.body['detail']), /no profile with key 'shop\/Deployment\/nothing\/app\|/);
    assert.equal((await call('POST', at(keyFor('nothing'), '/lock'), t.token.responder)).status, 404);
    assert.equal(
      (
        await call('POST', at(keyFor('nothing'), '/items'), t.token.responder, {
          action: 'add',
          kind: 'exec',
          value: '/x',
        })
      ).status,
      404,
    );
  });

  it('needs a token to read and a responder to edit', async () => {
    assert.equal((await call('GET', '/api/v1/profiles', undefined)).status, 401);
    for (const suffix of ['/lock', '/reopen']) {
      const res = await call('POST', at(WEB, suffix), t.token.viewer);
      assert.equal(res.status, 403, suffix);
    }
    const items = await call('POST', at(WEB, '/items'), t.token.viewer, {
      action: 'add',
      kind: 'exec',
      value: '/x',
    });
    assert.equal(items.status, 403);
    assert.equal(service.get(WEB)?.status, 'learning', 'nothing changed');
  });

  it('refuses bad item edits with a 400 naming the field', async () => {
    const cases: [unknown, string | undefined][] = [
      [{ action: 'add', kind: 'syscall', value: 'ptrace' }, 'kind'],
      [{ action: 'add', value: '/bin/sh' }, 'kind'],
      [{ action: 'replace', kind: 'exec', value: '/bin/sh' }, 'action'],
      [{ action: 'add', kind: 'exec', value: '' }, 'value'],
      [{ action: 'add', kind: 'exec', value: 42 }, 'value'],
      [{ action: 'add', kind: 'exec', value: 'x'.repeat(600) }, 'value'],
      [{ action: 'add', kind: 'exec', value: '/bin/a\nb' }, 'value'],
      [{ action: 'add', kind: 'exec', value: '/bin/\ud800' }, 'value'],
      [{ action: 'add', kind: 'exec', value: '/bin/sh', note: 'why' }, 'note'],
      [[1, 2], undefined],
      ['{not json', undefined],
    ];
    for (const [body, parameter] of cases) {
      const res = await call('POST', at(WEB, '/items'), t.token.responder, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body['parameter'], parameter, JSON.stringify(body));
    }
    const unknownKind = await call('POST', at(WEB, '/items'), t.token.responder, {
      action: 'add',
      kind: 'syscall',
      value: 'ptrace',
    });
    assert.match(
      String(unknownKind.body['detail']),
      /unknown item kind "syscall"; expected one of exec, spawn/,
    );
    assert.equal(service.get(WEB)?.items.length, 2, 'nothing changed');
  });

  it('locks, edits items and reopens, recording the caller as the actor', async () => {
    const locked = await call('POST', at(WEB, '/lock'), t.token.responder);
    assert.equal(locked.status, 200);
    assert.equal(locked.body['status'], 'locked');
    assert.equal(typeof locked.body['lockedAtMs'], 'number');

    const added = await call('POST', at(WEB, '/items'), t.token.responder, {
      action: 'add',
      kind: 'connect',
      value: 'tcp 10.0.0.7:5432',
    });
    assert.equal(added.status, 200);
    const removed = await call('POST', at(WEB, '/items'), t.token.admin, {
      action: 'remove',
      kind: 'user',
      value: 'www-data',
    });
    assert.equal(removed.status, 200);
    assert.deepEqual(
      (removed.body['items'] as ProfileSummary['items']).map((i) => [i.kind, i.value, i.manual]),
      [
        ['connect', 'tcp 10.0.0.7:5432', true],
        ['exec', '/usr/bin/app', false],
      ],
    );
    // Stored, with who did what.
    const stored = decodeProfile(profiles.get(WEB)!.profile);
    assert.equal(stored.lock?.actor, 'responder-token');
    const edits = [...stored.items.values()].filter((i) => i.manual !== undefined);
    assert.deepEqual(
      edits.map((i) => [i.value, i.manual?.actor, i.manual?.present]),
      [
        ['www-data', 'admin-token', false],
        ['tcp 10.0.0.7:5432', 'responder-token', true],
      ],
    );

    const reopened = await call('POST', at(WEB, '/reopen'), t.token.responder);
    assert.equal(reopened.status, 200);
    assert.equal(reopened.body['status'], 'learning');
    assert.equal(reopened.body['lockedAtMs'], null);
    const listed = await call('GET', '/api/v1/profiles?status=learning', t.token.viewer);
    assert.deepEqual(
      (listed.body['profiles'] as ProfileSummary[]).map((p) => p.key),
      [WEB],
    );
  });
});

describe('profiles API: edits in the audit log', function () {
  this.timeout(30_000);
  let h: ResponseHarness;
  let baselines: CollectorBaselines;
  let t: TestApi;

  before(async () => {
    h = await startResponseHarness();
    // Wired as the collector wires it: the audit callback bound to the response's log.
    baselines = startCollectorBaselines({
      config: loadCollectorConfig(undefined, {}, undefined),
      database: h.db,
      link: h.ingest,
      registry: new Registry(),
      logger: createLogger({ write: () => undefined, now: () => h.clock.now }),
      now: () => h.clock.now,
      audit: (entry) => h.response.audit.append(entry),
    });
    t = await startTestApi({ routes: [...baselines.routes, ...h.response.routes] });
    baselines.service.acceptDelta('node-a', {
      workloadKey: WEB,
      delta: observedBytes(WEB, 'node-a', [['exec', '/usr/bin/app']]),
    });
  });
  after(async () => {
    await t.close();
    baselines.service.stop();
    await h.close();
  });

  async function call(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${t.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }
  const at = (key: string, suffix: string): string => `/api/v1/profiles/${encodeURIComponent(key)}${suffix}`;

  it('records each edit that succeeded, with its actor, key and item, and the chain verifies', async () => {
    const item = { kind: 'listen', value: 'tcp 8080' };
    assert.equal((await call('POST', at(WEB, '/lock'), t.token.responder)).status, 200);
    assert.equal(
      (await call('POST', at(WEB, '/items'), t.token.admin, { action: 'add', ...item })).status,
      200,
    );
    assert.equal(
      (await call('POST', at(WEB, '/items'), t.token.responder, { action: 'remove', ...item })).status,
      200,
    );
    assert.equal((await call('POST', at(WEB, '/reopen'), t.token.responder)).status, 200);
    // Refused edits record nothing: an unknown key, a bad body, a viewer.
    assert.equal((await call('POST', at(keyFor('nobody'), '/lock'), t.token.responder)).status, 404);
    assert.equal(
      (await call('POST', at(WEB, '/items'), t.token.responder, { action: 'add', kind: 'nope', value: 'x' }))
        .status,
      400,
    );
    assert.equal((await call('POST', at(WEB, '/lock'), t.token.viewer)).status, 403);

    const page = await call('GET', '/api/v1/audit', t.token.viewer);
    assert.equal(page.status, 200);
    const records = page.body['records'] as AuditRecord[];
    assert.deepEqual(
      records.map((r) => [r.action, r.actor, r.namespace, r.detail]),
      [
        ['profile.reopen', 'token:responder-token', 'shop', { key: WEB }],
        ['profile.item.remove', 'token:responder-token', 'shop', { key: WEB, item }],
        ['profile.item.add', 'token:admin-token', 'shop', { key: WEB, item }],
        ['profile.lock', 'token:responder-token', 'shop', { key: WEB }],
      ],
    );
    assert.ok(records.every((r) => r.quarantineId === null && r.pod === null));
    const verified = await call('GET', '/api/v1/audit/verify', t.token.viewer);
    assert.equal(verified.status, 200);
    assert.equal(verified.body['ok'], true);
    assert.equal(verified.body['records'], 4);
    assert.equal(verified.body['headHash'], records[0]?.hash);
  });
});
