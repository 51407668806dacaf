/**
 * Reconciling the quarantines agents report holding in their Hello (quarantine-service.ts), with
 * the real service, quarantine store and audit log on a real collector database, and agents on
 * real mutual-TLS streams whose reports and answers the tests script. The real agent side (its
 * store, the report in each new Hello, the nftables cut) is covered by
 * test/e2e/quarantine-reconcile.test.ts.
 */
import assert from 'node:assert/strict';
import type { HeldQuarantine, QuarantineReport } from '../../proto/link-messages.js';
import type { QuarantineActor } from './quarantine-service.js';
import type { Quarantine } from './quarantine-store.js';
import {
  podHolder,
  startResponseHarness,
  withKubeHarness,
  type CommandAnswer,
  type ResponseHarness,
} from './response-harness.test.js';

const alice: QuarantineActor = { kind: 'token', name: 'alice', role: 'responder' };

async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function held(
  q: Pick<Quarantine, 'id' | 'namespace' | 'pod'>,
  appliedMs = 1_714_564_000_000,
): HeldQuarantine {
  return { quarantineId: q.id, namespace: q.namespace, pod: q.pod, podUid: 'uid-1', appliedMs };
}

function report(...entries: HeldQuarantine[]): QuarantineReport {
  return { held: entries, omitted: 0 };
}

const ignore: CommandAnswer = () => 'ignore';

describe('quarantine service: what agents report holding (real ingest, store, audit log)', function () {
  this.timeout(20_000);
  let h: ResponseHarness;
  beforeEach(async () => {
    h = await startResponseHarness({ commandTimeoutMs: 500, retryIntervalMs: 200 });
  });
  afterEach(async () => {
    await h.close();
  });

  /** The reconciliation counter by outcome. */
  async function reconciled(): Promise<Record<string, number>> {
    const metric = (await h.registry.getMetricsAsJSON()).find(
      (m) => m.name === 'vigil_collector_quarantine_reconciled_total',
    );
    const out: Record<string, number> = {};
    for (const v of metric?.values ?? []) out[String(v.labels['outcome'])] = v.value;
    return out;
  }

  async function untilCounted(outcome: string, n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (((await reconciled())[outcome] ?? 0) < n) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${n} ${outcome}: ${JSON.stringify(await reconciled())}`);
      }
      await sleep(10);
    }
  }

  const auditOf = (
    id: string,
    action?: string,
  ): ReturnType<ResponseHarness['response']['audit']['list']>['records'] =>
    h.response.audit
      .list({ quarantineId: id })
      .records.filter((r) => action === undefined || r.action === action)
      .reverse();

  async function gone(node: string): Promise<void> {
    await eventually(() => !h.ingest.connectedNodes().includes(node), `${node} to disconnect`);
  }

  it('a broadcast applied by an agent that went away before answering, released meanwhile: released when it reconnects', async () => {
    const away = await h.agent('node-a', ignore);
    const started = h.response.service.start({ namespace: 'shop', pod: 'web-1', reason: 'miner' }, alice);
    await eventually(() => away.commands.length === 1, 'the broadcast to reach the agent');
    away.close();
    const { quarantine: q } = await started;
    assert.equal(q.state, 'active');
    assert.equal(q.node, null);
    assert.equal(q.layers.node.state, 'pending');
    await gone('node-a');

    const released = await h.response.service.release(q.id, 'false positive', alice);
    assert.equal(released.state, 'released');
    h.clock.now += 60_000;

    const back = await h.agent('node-a', podHolder(['shop/web-1']), report(held(q)));
    await eventually(() => back.commands.length === 1, 'the release to the reconnected agent');
    assert.deepEqual(back.commands[0]?.action, {
      type: 'release',
      quarantineId: q.id,
      namespace: 'shop',
      pod: 'web-1',
    });
    await untilCounted('released', 1);
    const [rec, ...more] = auditOf(q.id, 'release.node.reconciled');
    assert.equal(more.length, 0);
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.detail['node'], 'node-a');
    assert.equal(rec?.detail['state'], 'released');
    assert.equal(rec?.detail['quarantineState'], 'released');
    assert.match(String(rec?.detail['why']), /was released/);
    // The record itself stays as it was: released by alice.
    assert.deepEqual(h.response.service.get(q.id), released);
    assert.deepEqual(h.response.audit.verify().ok, true);
  });

  it('control: an active quarantine applied by the reporting node is left alone; one no node confirmed is adopted', async () => {
    const b = await h.agent('node-b', podHolder(['shop/web-2']));
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-2', reason: 'exfil' },
      alice,
    );
    assert.equal(q.node, 'node-b');
    assert.equal(q.layers.node.state, 'applied');
    b.close();
    await gone('node-b');
    h.clock.now += 1000;
    const bBack = await h.agent('node-b', podHolder(['shop/web-2']), report(held(q)));
    await untilCounted('in_step', 1);
    assert.equal(bBack.commands.length, 0);
    assert.deepEqual(h.response.service.get(q.id), q);
    assert.equal(auditOf(q.id, 'release.node.reconciled').length, 0);

    // An agent that applied a broadcast without its answer arriving, and still holds it.
    const c = await h.agent('node-c', ignore);
    const { quarantine: p } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-3', reason: 'shell' },
      alice,
    );
    assert.equal(p.node, null);
    assert.equal(p.layers.node.state, 'pending');
    c.close();
    await gone('node-c');
    h.clock.now += 1000;
    const cBack = await h.agent('node-c', ignore, report(held(p)));
    await untilCounted('adopted', 1);
    const adopted = h.response.service.get(p.id);
    assert.equal(adopted?.state, 'active');
    assert.equal(adopted?.node, 'node-c');
    assert.equal(adopted?.podUid, 'uid-1');
    assert.equal(adopted?.layers.node.state, 'applied');
    assert.match(adopted?.layers.node.detail ?? '', /node node-c: its agent reports holding the quarantine/);
    // Nothing was released: the only command is the quarantine resent on connect.
    assert.deepEqual(
      cBack.commands.map((x) => x.action.type),
      ['quarantine'],
    );
    const [rec] = auditOf(p.id, 'quarantine.node.reconciled');
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.detail['node'], 'node-c');
    assert.equal(rec?.detail['previousNodeState'], 'pending');
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('an agent holding a quarantine another node applied is told to release it; the other node keeps it', async () => {
    const b = await h.agent('node-b', podHolder(['shop/web-4']));
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-4', reason: 'r' },
      alice,
    );
    assert.equal(q.node, 'node-b');
    const a = await h.agent('node-a', podHolder([]), report(held(q)));
    await eventually(() => a.commands.length === 1, 'the release to node-a');
    assert.equal(a.commands[0]?.action.type, 'release');
    await untilCounted('released', 1);
    const [rec] = auditOf(q.id, 'release.node.reconciled');
    assert.equal(rec?.detail['node'], 'node-a');
    assert.match(String(rec?.detail['why']), /node node-b applied the quarantine/);
    assert.deepEqual(h.response.service.get(q.id), q);
    assert.equal(b.commands.length, 1);
  });

  it('a release left pending (no node confirmed the quarantine) completes when the holder reports it', async () => {
    const d = await h.agent('node-d', ignore);
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'slow', reason: 'r' },
      alice,
    );
    const releasing = await h.response.service.release(q.id, 'done', alice);
    assert.equal(releasing.state, 'releasing');
    assert.equal(releasing.layers.node.state, 'pending');
    d.close();
    await gone('node-d');
    h.clock.now += 1000;
    const back = await h.agent('node-d', podHolder(['shop/slow']), report(held(q)));
    await eventually(() => h.response.service.get(q.id)?.state === 'released', 'the release to complete');
    assert.deepEqual(
      back.commands.map((c) => c.action.type),
      ['release'],
    );
    const done = h.response.service.get(q.id);
    assert.equal(done?.node, 'node-d');
    assert.equal(done?.layers.node.state, 'released');
    assert.equal(done?.releasedMs, h.clock.now);
    const actions = auditOf(q.id).map((r) => `${r.actor} ${r.action}`);
    assert.deepEqual(actions.slice(-3), [
      'collector release.node.reconciled',
      'collector release.node',
      'collector release.completed',
    ]);
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('a quarantine re-created for the pod (new id) while the agent holds the old one: the new one is applied before the old one is released', async () => {
    const away = await h.agent('node-a', ignore);
    const first = h.response.service.start({ namespace: 'shop', pod: 'web-10', reason: 'one' }, alice);
    await eventually(() => away.commands.length === 1, 'the broadcast to reach the agent');
    away.close();
    const { quarantine: old } = await first;
    await gone('node-a');
    assert.equal((await h.response.service.release(old.id, 'wrong pod', alice)).state, 'released');
    const { quarantine: fresh } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-10', reason: 'two' },
      alice,
    );
    assert.notEqual(fresh.id, old.id);
    assert.equal(fresh.layers.node.state, 'pending');
    h.clock.now += 1000;

    const back = await h.agent('node-a', podHolder(['shop/web-10']), report(held(old)));
    await untilCounted('released', 1);
    // Never a moment without a cut: the new quarantine first, then the old one's release.
    assert.deepEqual(
      back.commands.map((c) => `${c.action.type} ${c.action.quarantineId}`),
      [`quarantine ${fresh.id}`, `release ${old.id}`],
    );
    const now = h.response.service.get(fresh.id);
    assert.equal(now?.state, 'active');
    assert.equal(now?.node, 'node-a');
    assert.equal(now?.layers.node.state, 'applied');
    assert.equal(h.response.service.get(old.id)?.state, 'released');
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('a release the agent does not confirm is asked again while it stays connected', async () => {
    const b = await h.agent('node-b', podHolder(['shop/web-5']));
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-5', reason: 'r' },
      alice,
    );
    await h.response.service.release(q.id, 'done', alice);
    assert.equal(b.commands.length, 2);
    let answers = 0;
    const a = await h.agent(
      'node-a',
      () =>
        ++answers === 1
          ? { outcome: 'failed', detail: 'nft: resource busy' }
          : { outcome: 'released', detail: 'table removed' },
      report(held(q)),
    );
    await untilCounted('released', 1);
    assert.equal((await reconciled())['release_failed'], 1);
    assert.equal(a.commands.length, 2);
    await sleep(600);
    // Confirmed: not asked again.
    assert.equal(a.commands.length, 2);
    const states = auditOf(q.id, 'release.node.reconciled').map((r) => r.detail['state']);
    assert.deepEqual(states, ['failed', 'released']);
  });

  it('an unknown quarantine is adopted as a record (once, however often reported) and released like any other', async () => {
    const lost = { id: 'q-lost-1', namespace: 'shop', pod: 'web-9' };
    const appliedMs = h.clock.now - 3_600_000;
    const entries = [
      held(lost, appliedMs),
      held(lost, appliedMs),
      held({ id: 'q-lost-2', namespace: 'shop', pod: 'web-8' }),
    ];
    const a = await h.agent('node-a', podHolder(['shop/web-9', 'shop/web-8']), report(...entries));
    await untilCounted('adopted_unknown', 2);
    const q = h.response.service.get('q-lost-1');
    assert.ok(q !== undefined);
    assert.equal(q.state, 'active');
    assert.equal(q.namespace, 'shop');
    assert.equal(q.pod, 'web-9');
    assert.equal(q.podUid, 'uid-1');
    assert.equal(q.node, 'node-a');
    assert.equal(q.actor, 'collector');
    assert.equal(q.createdMs, appliedMs);
    assert.equal(q.alertId, null);
    assert.equal(q.reason, 'reported by the agent on node node-a; no record of it here');
    assert.equal(q.layers.node.state, 'applied');
    assert.match(q.layers.node.detail, /node node-a: its agent reported holding it .*no record/);
    assert.equal(q.layers.kubernetes.state, 'skipped');
    assert.match(q.layers.kubernetes.detail, /not known here/);
    assert.equal(h.response.service.openFor('shop', 'web-9')?.id, 'q-lost-1');
    assert.equal(h.response.service.get('q-lost-2')?.state, 'active');
    const [rec, ...more] = auditOf('q-lost-1', 'quarantine.adopted-from-agent');
    assert.equal(more.length, 0);
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.namespace, 'shop');
    assert.equal(rec?.pod, 'web-9');
    assert.equal(rec?.detail['node'], 'node-a');
    assert.equal(auditOf('q-lost-1', 'quarantine.unknown-on-agent').length, 0);
    assert.ok(
      h.logs.some(
        (l) =>
          l['level'] === 'warn' &&
          l['quarantine'] === 'q-lost-1' &&
          l['node'] === 'node-a' &&
          l['pod'] === 'web-9',
      ),
    );
    // Nothing was sent: the agent keeps the cut.
    assert.equal(a.commands.length, 0);

    // Reported again on the next stream: in step, not adopted twice.
    a.close();
    await gone('node-a');
    const again = await h.agent('node-a', podHolder(['shop/web-9', 'shop/web-8']), report(held(lost)));
    await untilCounted('in_step', 1);
    assert.equal((await reconciled())['adopted_unknown'], 2);
    assert.equal(auditOf('q-lost-1', 'quarantine.adopted-from-agent').length, 1);
    assert.equal(again.commands.length, 0);

    // Released like any other: the node that holds it gets the release.
    const released = await h.response.service.release('q-lost-1', 'not ours to keep', alice);
    assert.equal(released.state, 'released');
    assert.equal(released.layers.node.state, 'released');
    assert.equal(released.layers.kubernetes.state, 'skipped');
    assert.deepEqual(
      again.commands.map((c) => c.action),
      [{ type: 'release', quarantineId: 'q-lost-1', namespace: 'shop', pod: 'web-9' }],
    );
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('two agents reporting the same unknown quarantine at once: adopted once, the other told to release it', async () => {
    const lost = held({ id: 'q-lost-twice', namespace: 'shop', pod: 'web-14' });
    const [a, b] = await Promise.all([
      h.agent('node-a', podHolder(['shop/web-14']), report(lost)),
      h.agent('node-b', podHolder(['shop/web-14']), report(lost)),
    ]);
    await untilCounted('adopted_unknown', 1);
    await untilCounted('released', 1);
    const q = h.response.service.get('q-lost-twice');
    assert.equal(q?.state, 'active');
    const [holder, other] = q?.node === 'node-a' ? [a, b] : [b, a];
    assert.equal(holder.commands.length, 0);
    assert.deepEqual(
      other.commands.map((c) => c.action.type),
      ['release'],
    );
    assert.equal(auditOf('q-lost-twice', 'quarantine.adopted-from-agent').length, 1);
    assert.equal((await reconciled())['adopted_unknown'], 1);
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('an unknown quarantine of a pod with another open quarantine is not adopted: audited, and the log says how to release it', async () => {
    const b = await h.agent('node-b', ignore);
    const { quarantine: open } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-7', reason: 'r' },
      alice,
    );
    assert.equal(open.state, 'active');
    b.close();
    await gone('node-b');
    const lost = { id: 'q-lost-7', namespace: 'shop', pod: 'web-7' };
    const a = await h.agent('node-a', podHolder(['shop/web-7']), report(held(lost)));
    await untilCounted('unknown', 1);
    await sleep(50);
    assert.equal(h.response.service.get('q-lost-7'), undefined);
    assert.equal(h.response.service.openFor('shop', 'web-7')?.id, open.id);
    const [rec] = auditOf('q-lost-7', 'quarantine.unknown-on-agent');
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.detail['node'], 'node-a');
    assert.equal(rec?.detail['openQuarantine'], open.id);
    const warned = h.logs.find((l) => l['level'] === 'warn' && l['quarantine'] === 'q-lost-7');
    assert.ok(warned !== undefined);
    assert.equal(warned['openQuarantine'], open.id);
    assert.match(String(warned['advice']), new RegExp(`release ${open.id}`));
    assert.ok(a.commands.every((c) => c.action.type !== 'release'));
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('a known id reported for another pod than its record names is not reconciled (counted invalid)', async () => {
    const c = await h.agent('node-c', ignore);
    const { quarantine: p } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-3', reason: 'shell' },
      alice,
    );
    assert.equal(p.node, null);
    assert.equal(p.layers.node.state, 'pending');
    c.close();
    await gone('node-c');
    const other = await h.agent('node-x', ignore, report(held({ id: p.id, namespace: 'shop', pod: 'db-0' })));
    await untilCounted('invalid', 1);
    await sleep(50);
    const after = h.response.service.get(p.id);
    assert.equal(after?.node, null, 'not adopted by a node that names another pod');
    assert.equal(after?.layers.node.state, 'pending');
    assert.equal(auditOf(p.id, 'quarantine.node.reconciled').length, 0);
    assert.ok(
      h.logs.some(
        (l) => l['level'] === 'warn' && l['quarantine'] === p.id && l['reportedPod'] === 'shop/db-0',
      ),
    );
    assert.ok(other.commands.every((x) => x.action.type !== 'release'));
  });

  it('a full report of unknown quarantines: the first 100 adopted one by one, the rest in one record', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) =>
      held({ id: `q-lost-${i}`, namespace: 'shop', pod: `web-${i}` }),
    );
    const started = performance.now();
    const a = await h.agent('node-a', podHolder([]), report(...entries));
    await untilCounted('unknown', 9_900);
    await untilCounted('adopted_unknown', 100);
    const ms = performance.now() - started;
    const records = h.response.audit.list({ limit: 1000 }).records;
    const adopted = records.filter((r) => r.action === 'quarantine.adopted-from-agent');
    assert.equal(adopted.length, 100);
    const unknown = records.filter((r) => r.action === 'quarantine.unknown-on-agent');
    assert.equal(unknown.length, 1);
    const summary = unknown[0];
    assert.equal(summary?.quarantineId, null);
    assert.equal(summary?.detail['more'], 9_900);
    assert.equal((summary?.detail['quarantineIds'] as string[]).length, 1000);
    assert.equal(h.response.service.list({ state: 'active', limit: 1000 }).length, 100);
    assert.equal(h.logs.filter((l) => l['level'] === 'warn' && l['node'] === 'node-a').length, 101);
    assert.equal(a.commands.length, 0);
    assert.equal(h.response.audit.verify().ok, true);
    // A figure, not a limit: connect, Hello of 10,000 entries, and the whole reconciliation.
    console.log(`      (10,000 reported unknown quarantines reconciled in ${ms.toFixed(0)} ms)`);
  });

  it('an applied time no date can hold (a uint64 from the wire) is taken as unknown, not a failure', async () => {
    const c = await h.agent('node-c', ignore);
    const { quarantine: p } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-12', reason: 'r' },
      alice,
    );
    c.close();
    await gone('node-c');
    const absurd = 2 ** 62;
    await h.agent(
      'node-c',
      ignore,
      report(held(p, absurd), held({ id: 'q-lost-12', namespace: 'shop', pod: 'web-13' }, absurd)),
    );
    await untilCounted('adopted', 1);
    await untilCounted('adopted_unknown', 1);
    assert.match(h.response.service.get(p.id)?.layers.node.detail ?? '', /applied at an unknown time/);
    const lost = h.response.service.get('q-lost-12');
    assert.equal(lost?.createdMs, h.clock.now);
    assert.match(lost?.layers.node.detail ?? '', /applied at an unknown time/);
    assert.equal(
      h.logs.filter((l) => l['level'] === 'error').length,
      0,
      JSON.stringify(h.logs.filter((l) => l['level'] === 'error')),
    );
  });

  it('counts bad entries, and reconciles nothing for an agent that reports nothing (an older agent)', async () => {
    const b = await h.agent('node-b', podHolder(['shop/web-6']));
    const { quarantine: q } = await h.response.service.start(
      { namespace: 'shop', pod: 'web-6', reason: 'r' },
      alice,
    );
    await h.response.service.release(q.id, 'done', alice);
    const old = await h.agent('node-old', podHolder(['shop/web-6']));
    await h.agent(
      'node-bad',
      podHolder([]),
      report(
        { quarantineId: '', namespace: 'shop', pod: 'x', podUid: '', appliedMs: 0 },
        { quarantineId: 'q-1', namespace: 'Bad!', pod: 'x', podUid: '', appliedMs: 0 },
      ),
    );
    await untilCounted('invalid', 2);
    await sleep(100);
    assert.equal(old.commands.length, 0);
    assert.deepEqual(Object.keys(await reconciled()), ['invalid']);
    assert.ok(h.logs.some((l) => l['node'] === 'node-bad' && l['invalid'] === 2));
    assert.equal(b.commands.length, 2);
  });
});

describe('quarantine service: an adopted quarantine with the Kubernetes layer (fake API server, real client)', function () {
  this.timeout(20_000);
  const k = withKubeHarness();
  const { pod, label, policyNames } = k;

  it('an agent holding a quarantine expected on another node that has not applied it: left alone', async () => {
    k.kube.addPod(pod('web-11', 'node-b', '5b0c7a52-1111-4c1e-9a3e-000000000011'));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-11', reason: 'r' },
      alice,
    );
    assert.equal(q.node, 'node-b');
    assert.equal(q.layers.node.state, 'pending');
    const a = await k.h.agent('node-a', podHolder(['shop/web-11']), report(held(q)));
    await eventually(
      () =>
        k.h.logs.some((l) => l['quarantine'] === q.id && /expected on node node-b/.test(String(l['why']))),
      'the report to be reconciled',
    );
    await sleep(50);
    assert.equal(a.commands.length, 0);
    assert.deepEqual(k.h.response.service.get(q.id), q);
  });

  it('asking to quarantine the pod of an adopted quarantine adds the Kubernetes layer under its id', async () => {
    k.kube.addPod(pod('web-3', 'node-c', '5b0c7a52-1111-4c1e-9a3e-000000000003'));
    const lost: HeldQuarantine = {
      quarantineId: 'q-lost-3',
      namespace: 'shop',
      pod: 'web-3',
      podUid: '5b0c7a52-1111-4c1e-9a3e-000000000003',
      appliedMs: k.h.clock.now - 1000,
    };
    const c = await k.h.agent('node-c', podHolder(['shop/web-3']), report(lost));
    await eventually(() => k.h.response.service.get('q-lost-3') !== undefined, 'the adoption');
    const again = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-3', reason: 'still bad' },
      alice,
    );
    assert.equal(again.created, false);
    assert.equal(again.quarantine.id, 'q-lost-3');
    assert.equal(
      again.quarantine.layers.kubernetes.state,
      'applied',
      again.quarantine.layers.kubernetes.detail,
    );
    assert.equal(again.quarantine.layers.node.state, 'applied');
    assert.equal(label('web-3'), 'q-lost-3');
    assert.deepEqual(policyNames(), ['vigil-quarantine']);
    assert.equal(c.commands.length, 0, 'the node layer stands: nothing resent');

    const released = await k.h.response.service.release('q-lost-3', 'cleared', alice);
    assert.equal(released.state, 'released');
    assert.equal(label('web-3'), undefined);
    assert.deepEqual(policyNames(), []);
  });

  it('its release undoes the node layer and leaves the policy and labels other quarantines use', async () => {
    k.kube.addPod(pod('web-1', 'node-b', '5b0c7a52-1111-4c1e-9a3e-000000000001'));
    k.kube.addPod(pod('web-2', 'node-c', '5b0c7a52-1111-4c1e-9a3e-000000000002'));
    await k.h.agent('node-b', podHolder(['shop/web-1']));
    const { quarantine: q } = await k.h.response.service.start(
      { namespace: 'shop', pod: 'web-1', reason: 'miner' },
      alice,
    );
    assert.equal(q.layers.kubernetes.state, 'applied');
    assert.deepEqual(policyNames(), ['vigil-quarantine']);

    const lost: HeldQuarantine = {
      quarantineId: 'q-lost-kube',
      namespace: 'shop',
      pod: 'web-2',
      podUid: '5b0c7a52-1111-4c1e-9a3e-000000000002',
      appliedMs: k.h.clock.now - 1000,
    };
    const c = await k.h.agent('node-c', podHolder(['shop/web-2']), report(lost));
    await eventually(() => k.h.response.service.get('q-lost-kube') !== undefined, 'the adoption');
    const adopted = k.h.response.service.get('q-lost-kube');
    assert.equal(adopted?.layers.kubernetes.state, 'skipped');
    assert.equal(adopted?.node, 'node-c');
    assert.equal(label('web-2'), undefined, 'adopting labels nothing');

    const released = await k.h.response.service.release('q-lost-kube', 'cleared', alice);
    assert.equal(released.state, 'released');
    assert.equal(released.layers.node.state, 'released');
    assert.equal(released.layers.kubernetes.state, 'released', released.layers.kubernetes.detail);
    assert.deepEqual(
      c.commands.map((x) => x.action.type),
      ['release'],
    );
    // web-1's quarantine still stands on the Kubernetes layer.
    assert.equal(label('web-1'), q.id);
    assert.deepEqual(policyNames(), ['vigil-quarantine']);
    assert.equal(k.h.response.service.get(q.id)?.state, 'active');
    assert.equal(k.h.response.audit.verify().ok, true);
  });
});
