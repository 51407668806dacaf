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

  it('an unknown quarantine is never released: warned, counted and audited once per id per stream', async () => {
    const lost = { id: 'q-lost-1', namespace: 'shop', pod: 'web-9' };
    const entries = [held(lost), held(lost), held({ id: 'q-lost-2', namespace: 'shop', pod: 'web-8' })];
    const a = await h.agent('node-a', podHolder(['shop/web-9', 'shop/web-8']), report(...entries));
    await untilCounted('unknown', 2);
    assert.equal(auditOf('q-lost-1', 'quarantine.unknown-on-agent').length, 1);
    const [rec] = auditOf('q-lost-2', 'quarantine.unknown-on-agent');
    assert.equal(rec?.actor, 'collector');
    assert.equal(rec?.namespace, 'shop');
    assert.equal(rec?.pod, 'web-8');
    assert.equal(rec?.detail['node'], 'node-a');
    assert.ok(
      h.logs.some(
        (l) =>
          l['level'] === 'warn' &&
          l['quarantine'] === 'q-lost-1' &&
          l['node'] === 'node-a' &&
          l['pod'] === 'web-9',
      ),
    );
    a.close();
    await gone('node-a');
    const again = await h.agent('node-a', podHolder(['shop/web-9']), report(held(lost)));
    await untilCounted('unknown', 3);
    assert.equal(auditOf('q-lost-1', 'quarantine.unknown-on-agent').length, 2);
    await sleep(100);
    assert.equal(a.commands.length + again.commands.length, 0);
    assert.equal(h.response.audit.verify().ok, true);
  });

  it('a full report of unknown quarantines: the first 100 audited one by one, the rest in one record', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) =>
      held({ id: `q-lost-${i}`, namespace: 'shop', pod: `web-${i}` }),
    );
    const started = performance.now();
    const a = await h.agent('node-a', podHolder([]), report(...entries));
    await untilCounted('unknown', 10_000);
    const ms = performance.now() - started;
    const records = h.response.audit.list({ limit: 1000 }).records;
    const unknown = records.filter((r) => r.action === 'quarantine.unknown-on-agent');
    assert.equal(unknown.length, 101);
    const summary = unknown.find((r) => r.quarantineId === null);
    assert.equal(summary?.detail['more'], 9_900);
    assert.equal((summary?.detail['quarantineIds'] as string[]).length, 1000);
    assert.equal(h.logs.filter((l) => l['level'] === 'warn' && l['node'] === 'node-a').length, 101);
    assert.equal(a.commands.length, 0);
    assert.equal(h.response.audit.verify().ok, true);
    // A figure, not a limit: connect, Hello of 10,000 entries, and the whole reconciliation.
    console.log(`      (10,000 reported quarantines reconciled in ${ms.toFixed(0)} ms)`);
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
