import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/log.js';
import { QuarantineRequestError, type QuarantineActor } from './quarantine-service.js';
import {
  podAlert,
  podHolder,
  responseConfig,
  startResponseHarness,
  type ResponseHarness,
} from './response-harness.test.js';
import { startResponse } from './response.js';

const alice: QuarantineActor = { kind: 'token', name: 'alice', role: 'responder' };
const root: QuarantineActor = { kind: 'token', name: 'root', role: 'admin' };

async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function refusedWith(status: number, message: RegExp): (err: unknown) => boolean {
  return (err) => err instanceof QuarantineRequestError && err.status === status && message.test(err.message);
}

describe('quarantine service (real ingest, agents on real streams)', function () {
  this.timeout(20_000);
  let h: ResponseHarness;
  beforeEach(async () => {
    h = await startResponseHarness({ commandTimeoutMs: 500 });
  });
  afterEach(async () => {
    await h.close();
  });

  it('without Kubernetes, asks every agent; the one with the pod applies it; a repeat returns the same record', async () => {
    const a = await h.agent('node-a', podHolder(['other/x']));
    const b = await h.agent('node-b', podHolder(['shop/web-1']));
    const { quarantine: q, created } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-1', reason: 'reverse shell', freeze: true },
      alice,
    );
    assert.equal(created, true);
    assert.equal(q.state, 'active');
    assert.equal(q.node, 'node-b');
    assert.equal(q.actor, 'token:alice');
    assert.equal(q.cutEstablished, true);
    assert.equal(q.freeze, true);
    assert.equal(q.layers.node.state, 'applied');
    assert.match(q.layers.node.detail, /node node-b: cut shop\/web-1/);
    assert.equal(q.layers.kubernetes.state, 'skipped');
    assert.equal(a.commands.length, 1);
    assert.equal(b.commands.length, 1);
    assert.deepEqual(b.commands[0]?.action, {
      type: 'quarantine',
      quarantineId: q.id,
      namespace: 'shop',
      pod: 'web-1',
      podUid: '',
      cutEstablished: true,
      freeze: true,
      reason: 'reverse shell',
    });
    const again = await h.response.service.start({ namespace: 'shop', pod: 'web-1', reason: 'again' }, alice);
    assert.equal(again.created, false);
    assert.equal(again.quarantine.id, q.id);
    assert.equal(b.commands.length, 1);
    assert.deepEqual(h.response.service.get(q.id), q);

    const released = await h.response.service.release(q.id, 'false positive', alice);
    assert.equal(released.state, 'released');
    assert.equal(released.releaseReason, 'false positive');
    assert.equal(released.releasedMs, h.clock.now);
    assert.equal(released.layers.node.state, 'released');
    // Only the pod's node gets the release.
    assert.equal(a.commands.length, 1);
    assert.equal(b.commands[1]?.action.type, 'release');
    // Release is idempotent.
    assert.deepEqual(await h.response.service.release(q.id, 'twice', alice), released);
    assert.equal(b.commands.length, 2);
    const audit = h.response.audit
      .list({ quarantineId: q.id })
      .records.map((r) => r.action)
      .reverse();
    assert.deepEqual(audit, [
      'quarantine.requested',
      'quarantine.kubernetes',
      'quarantine.node',
      'quarantine.applied',
      'release.requested',
      'release.kubernetes',
      'release.node',
      'release.completed',
    ]);
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('leaves the node layer pending while no agent has the pod, and sends it when one connects', async () => {
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-2', reason: 'miner' },
      alice,
    );
    assert.equal(q.state, 'active');
    assert.equal(q.layers.node.state, 'pending');
    assert.equal(q.node, null);
    const other = await h.agent('node-a', podHolder([]));
    await eventually(() => other.commands.length === 1, 'the command to the first agent');
    await eventually(
      () => /waiting for other agents/.test(h.response.service.get(q.id)?.layers.node.detail ?? ''),
      'the first agent answering',
    );
    assert.equal(h.response.service.get(q.id)?.layers.node.state, 'pending');
    const holder = await h.agent('node-b', podHolder(['shop/web-2']));
    await eventually(
      () => h.response.service.get(q.id)?.layers.node.state === 'applied',
      'the node layer applied',
    );
    assert.equal(holder.commands[0]?.action.type, 'quarantine');
    assert.equal(h.response.service.get(q.id)?.node, 'node-b');
    const resent = h.response.audit
      .list({ quarantineId: q.id })
      .records.filter((r) => r.detail['resent'] === true);
    assert.deepEqual(
      resent
        .map((r) => `${r.actor} ${r.action} ${String(r.detail['node'])} ${String(r.detail['state'])}`)
        .reverse(),
      ['collector quarantine.node node-a pending', 'collector quarantine.node node-b applied'],
    );
  });

  it('a release while the node is away stays releasing, and completes when its agent reconnects', async () => {
    const answer = podHolder(['shop/web-3']);
    const first = await h.agent('node-c', answer);
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-3', reason: 'exfil' },
      alice,
    );
    assert.equal(q.node, 'node-c');
    first.close();
    await eventually(() => !h.ingest.connectedNodes().includes('node-c'), 'the agent gone');
    const releasing = await h.response.service.release(q.id, 'cleared', alice);
    assert.equal(releasing.state, 'releasing');
    assert.equal(releasing.layers.node.state, 'pending');
    assert.match(releasing.layers.node.detail, /node-c is not connected/);
    // Not released yet: a new quarantine of the pod is refused until the release finishes.
    await assert.rejects(
      h.response.service.start({ namespace: 'shop', pod: 'web-3', reason: 'again' }, alice),
      refusedWith(400, /release in progress/),
    );
    const back = await h.agent('node-c', answer);
    await eventually(() => h.response.service.get(q.id)?.state === 'released', 'the release to complete');
    assert.equal(back.commands[0]?.action.type, 'release');
    const actions = h.response.audit.list({ quarantineId: q.id }).records.map((r) => r.action);
    assert.equal(actions[0], 'release.completed');
    assert.equal(actions.filter((a) => a === 'release.incomplete').length, 1);
  });

  it('an agent that does not answer leaves the layer pending; one that fails marks it failed', async () => {
    await h.agent('node-d', (c) =>
      c.action.pod === 'slow' ? 'ignore' : { outcome: 'failed', detail: 'nft: permission denied' },
    );
    const slow = await h.response.service.start({ namespace: 'shop', pod: 'slow', reason: 'r' }, alice);
    assert.equal(slow.quarantine.state, 'active');
    assert.equal(slow.quarantine.layers.node.state, 'pending');
    assert.match(slow.quarantine.layers.node.detail, /did not answer/);
    const bad = await h.response.service.start({ namespace: 'shop', pod: 'broken', reason: 'r' }, alice);
    assert.equal(bad.quarantine.state, 'failed');
    assert.equal(bad.quarantine.layers.node.state, 'failed');
    assert.match(bad.quarantine.layers.node.detail, /permission denied/);
    assert.equal(
      h.response.audit.list({ quarantineId: bad.quarantine.id }).records[0]?.action,
      'quarantine.failed',
    );
    // A failed quarantine does not block a new attempt.
    const retry = await h.response.service.start({ namespace: 'shop', pod: 'broken', reason: 'r2' }, alice);
    assert.equal(retry.created, true);
    assert.notEqual(retry.quarantine.id, bad.quarantine.id);
  });

  it('a release of a quarantine no agent confirmed goes to every agent (a silent one may have applied it)', async () => {
    const d = await h.agent('node-d', (c) =>
      c.action.type === 'quarantine' ? 'ignore' : { outcome: 'released', detail: 'table removed' },
    );
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'slow', reason: 'r' },
      alice,
    );
    assert.equal(q.node, null);
    assert.equal(q.layers.node.state, 'pending');
    const released = await h.response.service.release(q.id, 'done', alice);
    assert.deepEqual(
      d.commands.map((c) => c.action.type),
      ['quarantine', 'release'],
    );
    assert.equal(released.state, 'released');
    assert.equal(released.layers.node.state, 'released');
  });

  it('survives a collector restart: a pending command is sent when the agent connects to the new one', async () => {
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-9', reason: 'r' },
      alice,
    );
    assert.equal(q.layers.node.state, 'pending');
    // The collector stops; a new one opens the same database (its response, on the same agent link).
    await h.response.close();
    const restarted = startResponse({
      config: responseConfig(),
      database: h.db,
      alerts: h.store,
      link: h.ingest,
      registry: new Registry(),
      logger: createLogger({ write: () => undefined, now: () => h.clock.now }),
      now: () => h.clock.now,
      commandTimeoutMs: 500,
    });
    assert.equal(restarted.service.get(q.id)?.layers.node.state, 'pending');
    const agent = await h.agent('node-z', podHolder(['shop/web-9']));
    await eventually(
      () => restarted.service.get(q.id)?.layers.node.state === 'applied',
      'the resent command applied',
    );
    assert.equal(agent.commands.length, 1);
    assert.equal(restarted.audit.verify().ok, true);
    await restarted.close();
  });

  it('concurrent requests for one pod make one quarantine', async () => {
    const agent = await h.agent('node-e', podHolder(['shop/web-4']));
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        h.response.service.start({ namespace: 'shop', pod: 'web-4', reason: `r${i}` }, alice),
      ),
    );
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.quarantine.id)).size, 1);
    assert.equal(agent.commands.length, 1);
  });

  it('refuses never-touch namespaces unless an admin forces it; policies never', async () => {
    const agent = await h.agent('node-f', podHolder(['kube-system/coredns-1']));
    const req = { namespace: 'kube-system', pod: 'coredns-1', reason: 'suspicious' };
    await assert.rejects(
      h.response.service.start(req, alice),
      refusedWith(403, /an admin may pass force: true/),
    );
    await assert.rejects(
      h.response.service.start({ ...req, force: true }, alice),
      refusedWith(403, /needs an admin token; token 'alice' has role responder/),
    );
    await assert.rejects(
      h.response.service.start({ ...req, force: true }, { kind: 'policy', name: 'p' }),
      refusedWith(403, /never quarantined by policy/),
    );
    assert.equal(agent.commands.length, 0);
    const forced = await h.response.service.start({ ...req, force: true }, root);
    assert.equal(forced.quarantine.state, 'active');
    assert.equal(
      h.response.audit.list({ quarantineId: forced.quarantine.id }).records.at(-1)?.detail['force'],
      true,
    );
  });

  it('takes the pod from the alert; refuses a missing reason, bad names, unknown alerts and pod-less alerts', async () => {
    await h.agent('node-g', podHolder(['payments/api-7']));
    h.store.insertAlerts(
      [
        podAlert('al-1', 'payments', 'api-7'),
        { ...podAlert('al-2', 'x', 'y', { output_fields: {} }), workload: {} },
      ],
      h.clock.now,
    );
    const { quarantine: q } = await h.response.service.start(
      { alertId: 'al-1', reason: 'from the alert' },
      alice,
    );
    assert.equal(q.namespace, 'payments');
    assert.equal(q.pod, 'api-7');
    assert.equal(q.alertId, 'al-1');
    assert.equal(q.layers.node.state, 'applied');
    await assert.rejects(
      h.response.service.start({ alertId: 'al-2', reason: 'r' }, alice),
      refusedWith(400, /names no pod/),
    );
    await assert.rejects(
      h.response.service.start({ alertId: 'nope', reason: 'r' }, alice),
      refusedWith(404, /no alert with id 'nope'/),
    );
    await assert.rejects(
      h.response.service.start({ namespace: 'shop', pod: 'web', reason: '   ' }, alice),
      refusedWith(400, /reason is required/),
    );
    await assert.rejects(
      h.response.service.start({ namespace: 'Shop!', pod: 'web', reason: 'r' }, alice),
      refusedWith(400, /namespace "Shop!" is not a Kubernetes namespace name/),
    );
    await assert.rejects(
      h.response.service.release('q-none', 'r', alice),
      refusedWith(404, /no quarantine with id 'q-none'/),
    );
  });
});
