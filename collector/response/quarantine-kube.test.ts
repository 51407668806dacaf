import assert from 'node:assert/strict';
import type { QuarantineActor } from './quarantine-service.js';
import { podHolder, withKubeHarness, type ResponseHarness } from './response-harness.test.js';

const alice: QuarantineActor = { kind: 'token', name: 'alice', role: 'responder' };

async function metric(h: ResponseHarness, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await h.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (m?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return (
    values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))?.value ?? 0
  );
}

describe('quarantine service with the Kubernetes layer (fake API server, real client)', function () {
  this.timeout(20_000);
  const k = withKubeHarness();
  const { pod, label, policyNames } = k;

  it('labels the pod, adds the policy, sends the command only to the pod\u2019s node, and undoes it all', async () => {
    k.kube.addPod(pod('web-1', 'node-b', '5b0c7a52-1111-4c1e-9a3e-000000000001'));
    const a = await k.h.agent('node-a', podHolder([]));
    const b = await k.h.agent('node-b', podHolder(['shop/web-1']));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-1', reason: 'miner' },
      alice,
    );
    assert.equal(q.state, 'active');
    assert.equal(q.node, 'node-b');
    assert.equal(q.podUid, '5b0c7a52-1111-4c1e-9a3e-000000000001');
    assert.equal(q.layers.kubernetes.state, 'applied', q.layers.kubernetes.detail);
    assert.equal(q.layers.node.state, 'applied');
    assert.equal(a.commands.length, 0);
    assert.equal(b.commands.length, 1);
    assert.equal(b.commands[0]?.action.type === 'quarantine' && b.commands[0].action.podUid, q.podUid);
    assert.equal(label('web-1'), q.id);
    assert.deepEqual(policyNames(), ['vigil-quarantine']);
    assert.equal(await metric(k.h, 'vigil_collector_quarantines', { state: 'active' }), 1);
    assert.equal(
      await metric(k.h, 'vigil_collector_quarantine_layer_outcomes_total', {
        layer: 'kubernetes',
        operation: 'quarantine',
        state: 'applied',
      }),
      1,
    );

    const r = await k.h.response.service.release(q.id, 'cleared', alice);
    assert.equal(r.state, 'released');
    assert.equal(r.layers.kubernetes.state, 'released');
    assert.equal(label('web-1'), undefined);
    assert.deepEqual(policyNames(), []);
    assert.equal(await metric(k.h, 'vigil_collector_quarantines', { state: 'released' }), 1);
    assert.equal(await metric(k.h, 'vigil_collector_quarantines', { state: 'active' }), 0);
  });

  it('a Kubernetes failure leaves the node layer working; asking again retries Kubernetes', async () => {
    k.kube.addPod(pod('web-2', 'node-b', '5b0c7a52-2222-4c1e-9a3e-000000000002'));
    const b = await k.h.agent('node-b', podHolder(['shop/web-2']));
    k.kube.failNext(
      'PATCH',
      '/api/v1/namespaces/shop/pods/web-2',
      403,
      'pods "web-2" is forbidden: no patch for you',
    );
    const first = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-2', reason: 'shell' },
      alice,
    );
    assert.equal(first.quarantine.state, 'active');
    assert.equal(first.quarantine.layers.kubernetes.state, 'failed');
    assert.match(first.quarantine.layers.kubernetes.detail, /forbidden/);
    assert.equal(first.quarantine.layers.node.state, 'applied');
    assert.equal(label('web-2'), undefined);
    const again = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-2', reason: 'retry' },
      alice,
    );
    assert.equal(again.created, false);
    assert.equal(again.quarantine.id, first.quarantine.id);
    assert.equal(again.quarantine.layers.kubernetes.state, 'applied');
    assert.equal(label('web-2'), first.quarantine.id);
    // The node layer was applied already: not sent again.
    assert.equal(b.commands.length, 1);
    const actions = k.h.response.audit
      .list({ quarantineId: first.quarantine.id })
      .records.map((r) => `${r.action} ${typeof r.detail['state'] === 'string' ? r.detail['state'] : ''}`)
      .reverse();
    assert.deepEqual(actions, [
      'quarantine.requested ',
      'quarantine.kubernetes failed',
      'quarantine.node applied',
      'quarantine.applied ',
      'quarantine.retried ',
      'quarantine.kubernetes applied',
      'quarantine.applied ',
    ]);
  });

  it('a command the agent did not answer is sent again while it stays connected', async () => {
    await k.restart({ commandTimeoutMs: 200, retryIntervalMs: 300 });
    k.kube.addPod(pod('web-4', 'node-b', '5b0c7a52-4444-4c1e-9a3e-000000000004'));
    const holder = podHolder(['shop/web-4']);
    let seen = 0;
    // The first command is lost (no answer); the next ones are answered.
    const b = await k.h.agent('node-b', (c) => (++seen === 1 ? 'ignore' : holder(c)));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-4', reason: 'r' },
      alice,
    );
    assert.equal(q.layers.node.state, 'pending');
    assert.match(q.layers.node.detail, /no answer from node node-b/);
    const deadline = Date.now() + 5000;
    while (k.h.response.service.get(q.id)?.layers.node.state !== 'applied') {
      if (Date.now() > deadline) throw new Error('the command was not sent again');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(b.commands.length, 2);
    // Applied: nothing more is sent.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(b.commands.length, 2);
  });

  it('a pod Kubernetes does not know: the Kubernetes layer says not-found, the agents are asked', async () => {
    const b = await k.h.agent('node-b', podHolder(['shop/static-pod']));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'static-pod', reason: 'r' },
      alice,
    );
    assert.equal(q.layers.kubernetes.state, 'not-found');
    assert.equal(q.layers.node.state, 'applied');
    assert.equal(q.node, 'node-b');
    assert.equal(b.commands.length, 1);
  });

  it('the pod\u2019s node offline: pending, then applied when its agent connects', async () => {
    k.kube.addPod(pod('web-3', 'node-c', '5b0c7a52-3333-4c1e-9a3e-000000000003'));
    await k.h.agent('node-a', podHolder([]));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-3', reason: 'r' },
      alice,
    );
    assert.equal(q.state, 'active');
    assert.equal(q.node, 'node-c');
    assert.equal(q.layers.kubernetes.state, 'applied');
    assert.equal(q.layers.node.state, 'pending');
    assert.match(q.layers.node.detail, /node-c is not connected/);
    const c = await k.h.agent('node-c', podHolder(['shop/web-3']));
    const deadline = Date.now() + 5000;
    while (k.h.response.service.get(q.id)?.layers.node.state !== 'applied') {
      if (Date.now() > deadline) throw new Error('the node layer was not applied on connect');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(c.commands.length, 1);
  });
});
