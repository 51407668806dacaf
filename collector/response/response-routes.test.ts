import assert from 'node:assert/strict';
import { startTestApi, type TestApi } from '../api/api-harness.test.js';
import { podAlert, podHolder, startResponseHarness, type ResponseHarness } from './response-harness.test.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('response HTTP API', function () {
  this.timeout(20_000);
  let h: ResponseHarness;
  let t: TestApi;

  before(async () => {
    h = await startResponseHarness({ commandTimeoutMs: 500 });
    t = await startTestApi({ routes: h.response.routes });
    await h.agent('node-1', podHolder(['shop/web-1', 'shop/web-2', 'kube-system/coredns-1']));
    h.store.insertAlerts([podAlert('alert-7', 'shop', 'web-2')], h.clock.now);
  });
  after(async () => {
    await t.close();
    await h.close();
  });

  async function call(method: string, path: string, token: string | null, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(t.base + path, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  }

  it('refuses a viewer token (403) and no token (401) on POST, and leaves no trace', async () => {
    const body = { namespace: 'shop', pod: 'web-1', reason: 'shell' };
    const viewer = await call('POST', '/api/v1/quarantines', t.token.viewer, body);
    assert.equal(viewer.status, 403);
    assert.equal(viewer.body['error'], 'forbidden');
    assert.match(viewer.body['detail'] as string, /role viewer; this needs responder/);
    assert.equal((await call('POST', '/api/v1/quarantines', null, body)).status, 401);
    assert.equal(h.response.service.list().length, 0);
    assert.equal(h.response.audit.count(), 0);
  });

  it('answers 400 naming the field: missing or blank reason, unknown field, half a pod, wrong types', async () => {
    const bad = async (body: unknown, parameter: string, detail: RegExp): Promise<void> => {
      const r = await call('POST', '/api/v1/quarantines', t.token.responder, body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body['parameter'], parameter);
      assert.match(r.body['detail'] as string, detail);
    };
    await bad({ namespace: 'shop', pod: 'web-1' }, 'reason', /required/);
    await bad({ namespace: 'shop', pod: 'web-1', reason: '  ' }, 'reason', /required/);
    await bad({ namespace: 'shop', pod: 'web-1', reason: 'r', color: 'red' }, 'color', /unknown field/);
    await bad({ namespace: 'shop', reason: 'r' }, 'pod', /give namespace and pod/);
    await bad({ namespace: 'shop', pod: 'web-1', reason: 'r', freeze: 'yes' }, 'freeze', /true or false/);
    await bad(
      { namespace: 'Shop', pod: 'web-1', reason: 'r' },
      'namespace',
      /not a Kubernetes namespace name/,
    );
    const notJson = await fetch(t.base + '/api/v1/quarantines', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token.responder}`, 'content-type': 'application/json' },
      body: '{nope',
    });
    assert.equal(notJson.status, 400);
    const release = await call('POST', '/api/v1/quarantines/q-x/release', t.token.responder, {});
    assert.equal(release.status, 400);
    assert.equal(release.body['parameter'], 'reason');
  });

  it('quarantines (201), returns the open one on a repeat (200), lists, gets, releases, audits', async () => {
    const created = await call('POST', '/api/v1/quarantines', t.token.responder, {
      namespace: 'shop',
      pod: 'web-1',
      reason: 'reverse shell',
      cutEstablished: false,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body['id'] as string;
    assert.match(id, /^q-[0-9a-z]+-[0-9a-f]{10}$/);
    assert.equal(created.body['actor'], 'token:responder-token');
    assert.equal(created.body['state'], 'active');
    assert.equal(created.body['cutEstablished'], false);
    assert.deepEqual((created.body['layers'] as Record<string, { state: string }>)['node']?.state, 'applied');

    const repeat = await call('POST', '/api/v1/quarantines', t.token.responder, {
      namespace: 'shop',
      pod: 'web-1',
      reason: 'again',
    });
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body['id'], id);

    const fromAlert = await call('POST', '/api/v1/quarantines', t.token.admin, {
      alertId: 'alert-7',
      reason: 'triage',
    });
    assert.equal(fromAlert.status, 201);
    assert.equal(fromAlert.body['pod'], 'web-2');
    assert.equal(fromAlert.body['actor'], 'token:admin-token');

    const list = await call('GET', '/api/v1/quarantines?state=active', t.token.viewer);
    assert.deepEqual((list.body['quarantines'] as { pod: string }[]).map((q) => q.pod).sort(), [
      'web-1',
      'web-2',
    ]);
    const byPod = await call('GET', '/api/v1/quarantines?namespace=shop&pod=web-1', t.token.viewer);
    assert.deepEqual(
      (byPod.body['quarantines'] as { id: string }[]).map((q) => q.id),
      [id],
    );
    assert.equal((await call('GET', `/api/v1/quarantines/${id}`, t.token.viewer)).body['id'], id);
    assert.equal((await call('GET', '/api/v1/quarantines/q-nope', t.token.viewer)).status, 404);
    const badState = await call('GET', '/api/v1/quarantines?state=gone', t.token.viewer);
    assert.equal(badState.status, 400);
    assert.equal(badState.body['parameter'], 'state');

    assert.equal(
      (await call('POST', `/api/v1/quarantines/${id}/release`, t.token.viewer, { reason: 'x' })).status,
      403,
    );
    const released = await call('POST', `/api/v1/quarantines/${id}/release`, t.token.responder, {
      reason: 'cleared',
    });
    assert.equal(released.status, 200);
    assert.equal(released.body['state'], 'released');
    assert.equal(released.body['releaseReason'], 'cleared');
    assert.equal(
      (await call('POST', '/api/v1/quarantines/q-nope/release', t.token.responder, { reason: 'x' })).status,
      404,
    );

    const audit = await call('GET', `/api/v1/audit?limit=3`, t.token.viewer);
    const records = audit.body['records'] as { seq: number; action: string; actor: string; hash: string }[];
    assert.equal(records.length, 3);
    assert.equal(records[0]?.action, 'release.completed');
    assert.equal(records[0]?.actor, 'token:responder-token');
    const older = await call(
      'GET',
      `/api/v1/audit?limit=1000&before=${String(audit.body['next'])}`,
      t.token.viewer,
    );
    assert.equal(older.body['next'], null);
    assert.equal((older.body['records'] as unknown[]).length + 3, h.response.audit.count());
    const one = await call('GET', `/api/v1/audit?quarantine=${id}`, t.token.viewer);
    assert.ok(
      (one.body['records'] as { action: string }[]).every(
        (r) => r.action.startsWith('quarantine.') || r.action.startsWith('release.'),
      ),
    );
    assert.equal((await call('GET', '/api/v1/audit?limit=0', t.token.viewer)).status, 400);
    const verify = await call('GET', '/api/v1/audit/verify', t.token.viewer);
    assert.equal(verify.status, 200);
    assert.equal(verify.body['ok'], true);
    assert.equal(verify.body['records'], h.response.audit.count());
  });

  it('kube-system: 403 for a responder and for an admin without force; an admin with force may', async () => {
    const body = { namespace: 'kube-system', pod: 'coredns-1', reason: 'dns tunnel' };
    const r = await call('POST', '/api/v1/quarantines', t.token.responder, { ...body, force: true });
    assert.equal(r.status, 403);
    assert.match(r.body['detail'] as string, /needs an admin token/);
    const a = await call('POST', '/api/v1/quarantines', t.token.admin, body);
    assert.equal(a.status, 403);
    assert.match(a.body['detail'] as string, /never_namespaces; an admin may pass force: true/);
    const forced = await call('POST', '/api/v1/quarantines', t.token.admin, { ...body, force: true });
    assert.equal(forced.status, 201);
  });
});
