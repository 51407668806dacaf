import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import {
  decodeProfile,
  encodeProfile,
  lockProfile,
  profileHas,
  profileStatus,
  summarizeProfile,
} from '../../core/baseline/profile.js';
import { createLogger, type Logger } from '../../core/log.js';
import { createTestPki, type TestPki } from '../../test/support/link-pki.js';
import { startIngestServer, type IngestServer } from '../ingest/ingest-server.js';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { CollectorStore } from '../store/store.js';
import {
  eventually,
  keyFor,
  LinkClient,
  metricValue,
  observed,
  observedBytes,
} from './baseline-harness.test.js';
import { createBaselineService, type BaselineLimits, type BaselineService } from './baseline-service.js';
import { openProfileStore, type ProfileStore } from './profile-store.js';

const KEY = keyFor('web');
const T0 = 1_700_000_000_000;

describe('baseline service (real SQLite, real gRPC link)', function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir: string;
  let db: CollectorDatabase;
  let alerts: CollectorStore;
  let profiles: ProfileStore;
  let registry: Registry;
  let ingest: IngestServer;
  let logger: Logger;
  let logs: Record<string, unknown>[];
  let clock: { now: number };
  let clients: LinkClient[];
  let services: BaselineService[];

  before(() => {
    pki = createTestPki();
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-baselines-'));
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    alerts = openSqliteStore({ database: db });
    profiles = openProfileStore({ database: db });
    registry = new Registry();
    logs = [];
    clock = { now: T0 };
    logger = createLogger({
      write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>),
      now: () => clock.now,
      level: 'debug',
    });
    ingest = await startIngestServer({
      listen: '127.0.0.1:0',
      tls: pki.collector,
      store: alerts,
      onAlertsStored: () => undefined,
      logger,
      registry,
    });
    clients = [];
    services = [];
  });
  afterEach(async () => {
    for (const c of clients) c.close();
    for (const s of services) s.stop();
    await ingest.close({ graceMs: 100 });
    alerts.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(limits: BaselineLimits = {}, store = profiles, reg = registry): BaselineService {
    const s = createBaselineService({
      store,
      link: ingest,
      registry: reg,
      logger,
      now: () => clock.now,
      timers: false,
      limits,
    });
    services.push(s);
    return s;
  }

  async function connect(node: string, capabilities?: readonly string[]): Promise<LinkClient> {
    const c = await LinkClient.connect(ingest.port, pki.agent(node), node, capabilities);
    clients.push(c);
    return c;
  }

  it('merges a delta, writes it after the flush interval, and the same delta twice changes nothing', async () => {
    const service = start({ flushIntervalMs: 1000 });
    const delta = { workloadKey: KEY, delta: observedBytes(KEY, 'node-a', [['exec', '/bin/app']]) };
    assert.deepEqual(service.acceptDelta('node-a', delta), { result: 'merged', created: true });
    assert.equal(profiles.get(KEY), undefined, 'writes are coalesced, not immediate');
    assert.equal(service.count(), 1);
    clock.now += 1000;
    service.tick();
    const first = profiles.get(KEY);
    assert.equal(first?.version, 1);
    assert.equal(first?.updatedMs, clock.now);

    assert.deepEqual(service.acceptDelta('node-a', delta), { result: 'unchanged' });
    clock.now += 5000;
    service.tick();
    assert.equal(profiles.get(KEY)?.version, 1, 'an idempotent delta writes nothing');
    assert.deepEqual(profiles.get(KEY)?.profile, first?.profile);
    assert.equal(
      await metricValue(registry, 'vigil_collector_baseline_deltas_received_total', { result: 'merged' }),
      1,
    );
    assert.equal(
      await metricValue(registry, 'vigil_collector_baseline_deltas_received_total', { result: 'unchanged' }),
      1,
    );
    assert.equal(await metricValue(registry, 'vigil_collector_baseline_profiles'), 1);
  });

  it('stores the same profile whatever order deltas from two agents arrive in, and however often', () => {
    const a = encodeProfile(
      lockProfile(observed(KEY, 'node-a', [['exec', '/bin/a']], T0), {
        actor: 'agent:node-a',
        nowMs: T0 + 10,
      }),
    );
    const b = observedBytes(
      KEY,
      'node-b',
      [
        ['exec', '/bin/b'],
        ['connect', 'tcp 10.0.0.7:5432'],
      ],
      T0 + 5,
    );
    const orders: [string, Uint8Array][][] = [
      [
        ['node-a', a],
        ['node-b', b],
      ],
      [
        ['node-b', b],
        ['node-a', a],
      ],
      [
        ['node-b', b],
        ['node-a', a],
        ['node-b', b],
        ['node-a', a],
      ],
    ];
    const results: Uint8Array[] = [];
    for (const [i, order] of orders.entries()) {
      const database = openCollectorDatabase({ path: join(dir, `order-${i}.db`) });
      try {
        const store = openProfileStore({ database });
        const service = start({}, store, new Registry());
        for (const [node, bytes] of order) service.acceptDelta(node, { workloadKey: KEY, delta: bytes });
        service.stop();
        const row = store.get(KEY);
        assert.ok(row !== undefined);
        results.push(row.profile);
      } finally {
        database.close();
      }
    }
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    const merged = decodeProfile(results[0]!);
    assert.equal(profileStatus(merged), 'locked');
    assert.ok(profileHas(merged, 'exec', '/bin/a') && profileHas(merged, 'exec', '/bin/b'));
    assert.ok(profileHas(merged, 'connect', 'tcp 10.0.0.7:5432'));
    assert.deepEqual(summarizeProfile(merged).nodes, ['node-a', 'node-b']);
  });

  it('refuses bad deltas with a reason, counts and logs them, and keeps merging', async () => {
    const service = start({ maxProfiles: 2, maxDeltaBytes: 4096 });
    const good = observedBytes(KEY, 'node-a', [['exec', '/bin/app']]);
    const cases: [Uint8Array, string, string][] = [
      [Uint8Array.from([1, 2, 3, 4, 5]), KEY, 'undecodable'],
      [good.slice(0, good.length - 2), KEY, 'undecodable'],
      [new Uint8Array(5000), KEY, 'too-large'],
      [good, keyFor('other'), 'key-mismatch'],
      [good, '', 'bad-key'],
    ];
    for (const [bytes, key, reason] of cases) {
      const outcome = service.acceptDelta('node-a', { workloadKey: key, delta: bytes });
      assert.equal(outcome.result, 'rejected', reason);
      assert.equal(outcome.result === 'rejected' && outcome.reason, reason);
    }
    assert.deepEqual(service.acceptDelta('node-a', { workloadKey: KEY, delta: good }), {
      result: 'merged',
      created: true,
    });
    // The bound on profiles: a second key fits, a third is refused, existing ones still merge.
    const second = keyFor('second');
    assert.equal(
      service.acceptDelta('node-a', {
        workloadKey: second,
        delta: observedBytes(second, 'node-a', [['user', 'root']]),
      }).result,
      'merged',
    );
    const third = keyFor('third');
    const refused = service.acceptDelta('node-a', {
      workloadKey: third,
      delta: observedBytes(third, 'node-a', [['user', 'root']]),
    });
    assert.equal(refused.result === 'rejected' && refused.reason, 'limit');
    assert.equal(
      service.acceptDelta('node-b', {
        workloadKey: KEY,
        delta: observedBytes(KEY, 'node-b', [['exec', '/bin/more']]),
      }).result,
      'merged',
    );
    assert.equal(service.count(), 2);

    const rejected = async (reason: string): Promise<number> =>
      metricValue(registry, 'vigil_collector_baseline_deltas_rejected_total', { reason });
    assert.equal(await rejected('undecodable'), 2);
    assert.equal(await rejected('too-large'), 1);
    assert.equal(await rejected('key-mismatch'), 1);
    assert.equal(await rejected('bad-key'), 1);
    assert.equal(await rejected('limit'), 1);
    // One warning per reason within 10 s, naming the node and the reason.
    const warnings = logs.filter((l) => l['msg'] === 'baseline delta refused');
    assert.deepEqual(
      warnings.map((w) => w['reason']),
      ['undecodable', 'too-large', 'key-mismatch', 'bad-key', 'limit'],
    );
    assert.match(String(warnings[0]?.['detail']), /profile: /);
  });

  it('refuses bad deltas that arrive over the link and keeps the stream', async () => {
    start();
    const a = await connect('node-a');
    a.sendDelta(KEY, Uint8Array.from([0xde, 0xad]));
    a.sendDelta(KEY, observedBytes(KEY, 'node-a', [['exec', '/bin/app']]));
    await eventually(() => services[0]!.count() === 1, 'the good delta after the bad one');
    assert.equal(
      await metricValue(registry, 'vigil_collector_baseline_deltas_rejected_total', {
        reason: 'undecodable',
      }),
      1,
    );
    assert.deepEqual(ingest.connectedNodes(), ['node-a']);
  });

  it('refuses deltas over the link when its queue is full, and counts them', async () => {
    const service = start({ maxQueuedBytes: 64 });
    const a = await connect('node-a');
    a.sendDelta(KEY, observedBytes(KEY, 'node-a', [['exec', '/bin/app']]));
    const rejected = async (): Promise<number> =>
      metricValue(registry, 'vigil_collector_baseline_deltas_rejected_total', { reason: 'queue-full' });
    const deadline = Date.now() + 5000;
    while ((await rejected()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await rejected(), 1);
    assert.equal(service.count(), 0);
    assert.equal(await metricValue(registry, 'vigil_collector_baseline_deltas_queued'), 0);
  });

  it('sends the merged profile to every connected agent, at most once per push interval per key', async () => {
    const service = start({ pushIntervalMs: 1000 });
    const a = await connect('node-a');
    const b = await connect('node-b');
    // An agent without baselines (an older one, or baselines off) is sent none.
    const x = await connect('node-x', ['nftables']);
    service.acceptDelta('node-a', {
      workloadKey: KEY,
      delta: observedBytes(KEY, 'node-a', [['exec', '/bin/a']]),
    });
    service.tick();
    for (const c of [a, b]) await c.waitFor(() => c.latest(KEY) !== undefined, 'the first profile');
    const sent = async (): Promise<number> =>
      metricValue(registry, 'vigil_collector_baseline_updates_sent_total', {
        reason: 'change',
        result: 'sent',
      });
    assert.equal(await sent(), 2);

    // Two more changes within the interval: nothing goes out until it has passed, then one update.
    clock.now += 300;
    service.acceptDelta('node-b', {
      workloadKey: KEY,
      delta: observedBytes(KEY, 'node-b', [['exec', '/bin/b']]),
    });
    service.tick();
    clock.now += 300;
    service.acceptDelta('node-b', {
      workloadKey: KEY,
      delta: observedBytes(KEY, 'node-b', [['user', 'nobody']]),
    });
    service.tick();
    assert.equal(await sent(), 2);
    clock.now += 400;
    service.tick();
    assert.equal(await sent(), 4);
    for (const c of [a, b]) {
      await c.waitFor(() => c.baselines().length === 2, 'the second profile');
      const p = c.latest(KEY)!;
      assert.ok(
        profileHas(p, 'exec', '/bin/a') && profileHas(p, 'exec', '/bin/b') && profileHas(p, 'user', 'nobody'),
      );
    }
    // What the agents got is what is stored.
    service.flush();
    assert.deepEqual(Uint8Array.from(a.baselines().at(-1)!.profile), profiles.get(KEY)?.profile);
    clock.now += 5000;
    service.tick();
    assert.equal(await sent(), 4, 'nothing changed, nothing sent');
    assert.deepEqual(x.baselines(), []);
  });

  it('brings a connecting agent up to date with the most recently changed profiles, paced', async () => {
    const service = start({ maxProfilesOnConnect: 2, maxSendsPerTick: 1 });
    const keys = ['one', 'two', 'three'].map((n) => keyFor(n));
    for (const key of keys) {
      service.acceptDelta('node-a', {
        workloadKey: key,
        delta: observedBytes(key, 'node-a', [['exec', '/bin/x']]),
      });
      service.flush();
      clock.now += 1000;
    }
    service.tick(); // sends the changes to nobody: no agent is connected
    const c = await connect('node-c');
    service.tick();
    await c.waitFor(() => c.baselines().length === 1, 'the first catch-up profile');
    service.tick();
    service.tick();
    await c.waitFor(() => c.baselines().length === 2, 'the second catch-up profile');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      c.baselines().map((b) => b.workloadKey),
      [keys[2], keys[1]],
      'the newest two, newest first',
    );
    assert.equal(
      await metricValue(registry, 'vigil_collector_baseline_updates_sent_total', { reason: 'connect' }),
      2,
    );
  });

  it('applies operator edits, writes them at once, sends them, and they win over older agent state', async () => {
    const service = start({ pushIntervalMs: 1000 });
    const a = await connect('node-a');
    const agentState = observed(
      KEY,
      'node-a',
      [
        ['exec', '/bin/app'],
        ['exec', '/bin/debug'],
      ],
      T0,
    );
    service.acceptDelta('node-a', { workloadKey: KEY, delta: encodeProfile(agentState) });
    service.tick();
    await a.waitFor(() => a.baselines().length === 1, 'the learnt profile');

    clock.now += 10_000;
    const locked = service.edit(KEY, { action: 'lock' }, 'alice');
    assert.ok(locked.ok);
    assert.equal(locked.summary.status, 'locked');
    assert.equal(locked.summary.lockedAtMs, clock.now);
    assert.equal(profiles.get(KEY)?.version, 2, 'written before the edit returns');
    const removed = service.edit(
      KEY,
      { action: 'remove', item: { kind: 'exec', value: '/bin/debug' } },
      'alice',
    );
    const added = service.edit(KEY, { action: 'add', item: { kind: 'listen', value: 'tcp 8080' } }, 'bob');
    assert.ok(removed.ok && added.ok);
    assert.deepEqual(
      added.summary.items.map((i) => [i.kind, i.value, i.manual]),
      [
        ['exec', '/bin/app', false],
        ['listen', 'tcp 8080', true],
      ],
    );
    const stored = decodeProfile(profiles.get(KEY)!.profile);
    assert.equal(stored.lock?.actor, 'alice');

    // The agent, which has not heard of the edits yet, sends its old state again: the edits stay.
    service.acceptDelta('node-a', { workloadKey: KEY, delta: encodeProfile(agentState) });
    service.tick();
    await a.waitFor(() => a.baselines().length === 2, 'the edited profile');
    const got = a.latest(KEY)!;
    assert.equal(profileStatus(got), 'locked');
    assert.ok(!profileHas(got, 'exec', '/bin/debug'));
    assert.ok(profileHas(got, 'listen', 'tcp 8080'));

    clock.now += 1000;
    const reopened = service.edit(KEY, { action: 'reopen' }, 'alice');
    assert.ok(reopened.ok);
    assert.equal(reopened.summary.status, 'learning');
    assert.equal(reopened.summary.learningSinceMs, clock.now);
    assert.deepEqual(service.edit(keyFor('nobody'), { action: 'lock' }, 'alice'), {
      ok: false,
      reason: 'not-found',
      detail: `no profile '${keyFor('nobody')}'`,
    });
    // An edit the profile refuses (a lone surrogate cannot be stored) is an outcome, not a throw.
    const refused = service.edit(KEY, { action: 'add', item: { kind: 'exec', value: '/x\ud800' } }, 'bob');
    assert.equal(!refused.ok && refused.reason, 'invalid');
    assert.equal(await metricValue(registry, 'vigil_collector_baseline_edits_total'), 4);
    assert.ok(
      logs.some(
        (l) => l['msg'] === 'profile edited' && l['actor'] === 'bob' && l['item'] === 'listen:tcp 8080',
      ),
    );
  });

  it('keeps profiles across a restart of the service', () => {
    const service = start();
    service.acceptDelta('node-a', {
      workloadKey: KEY,
      delta: observedBytes(KEY, 'node-a', [['exec', '/bin/app']]),
    });
    service.stop();
    const again = start({}, profiles, new Registry());
    assert.equal(again.count(), 1);
    assert.deepEqual(
      again.get(KEY)?.items.map((i) => i.value),
      ['/bin/app'],
    );
    assert.deepEqual(
      again.list({ namespace: 'shop' }).map((p) => [p.key, p.itemCount, p.items.length]),
      [[KEY, 1, 0]],
    );
    assert.deepEqual(again.list({ namespace: 'bank' }), []);
    assert.deepEqual(again.list({ status: 'locked' }), []);
  });

  describe('idle profiles expire (baselines.max_idle)', () => {
    const DAY = 24 * 3600 * 1000;
    const OLD = keyFor('old', 'shop', 'registry.example/app:0.9');
    const EDITED = keyFor('edited');
    const ALIVE = keyFor('alive');
    const BUSY = keyFor('busy');
    const deltaOf = (key: string, value: string): { workloadKey: string; delta: Uint8Array } => ({
      workloadKey: key,
      delta: observedBytes(key, 'node-a', [['exec', value]]),
    });

    it('deletes a profile no delta or edit updated for max_idle, and keeps recently updated ones', async () => {
      const service = start({ maxIdleMs: DAY });
      for (const key of [OLD, EDITED, ALIVE, BUSY]) service.acceptDelta('node-a', deltaOf(key, '/bin/app'));
      service.flush();
      clock.now = T0 + 20 * 3600 * 1000;
      assert.equal(service.edit(EDITED, { action: 'lock' }, 'alice').ok, true);
      // The same delta again changes nothing, yet shows the workload is still there.
      assert.deepEqual(service.acceptDelta('node-a', deltaOf(ALIVE, '/bin/app')), { result: 'unchanged' });
      clock.now = T0 + DAY + 3600 * 1000;
      // A change still waiting to be written counts as an update too.
      service.acceptDelta('node-a', deltaOf(BUSY, '/bin/other'));
      assert.equal(profiles.get(BUSY)?.updatedMs, T0, 'the change is not written yet');

      assert.equal(service.expireIdle(), 1);
      assert.equal(profiles.get(OLD), undefined);
      assert.equal(service.get(OLD), undefined);
      assert.deepEqual(
        service.list({}).map((p) => p.key),
        [ALIVE, BUSY, EDITED].sort(),
      );
      assert.equal(service.count(), 3);
      assert.equal(await metricValue(registry, 'vigil_collector_baseline_profiles_expired_total'), 1);
      assert.equal(await metricValue(registry, 'vigil_collector_baseline_profiles'), 3);
      const line = logs.find((l) => l['msg'] === 'idle profiles expired');
      assert.equal(line?.['expired'], 1);
      assert.equal(line?.['level'], 'info');

      // Once written, the busy one ages like the others: two days on, everything is gone.
      service.flush();
      clock.now += 2 * DAY;
      assert.equal(service.expireIdle(), 3);
      assert.equal(service.count(), 0);
      assert.equal(profiles.count(), 0);
      assert.equal(await metricValue(registry, 'vigil_collector_baseline_profiles_expired_total'), 4);
    });

    it("recreates an expired profile from an agent's later delta, within max_profiles", () => {
      const service = start({ maxIdleMs: DAY, maxProfiles: 2 });
      service.acceptDelta('node-a', deltaOf(OLD, '/bin/old'));
      service.acceptDelta('node-a', deltaOf(EDITED, '/bin/app'));
      service.flush();
      assert.equal(service.edit(OLD, { action: 'lock' }, 'alice').ok, true);
      const full = service.acceptDelta('node-a', deltaOf(ALIVE, '/bin/app'));
      assert.equal(full.result === 'rejected' && full.reason, 'limit');

      clock.now = T0 + 2 * DAY;
      assert.equal(service.expireIdle(), 2);
      // Room again for a new workload, and the expired key starts afresh (learning, new items only).
      assert.deepEqual(service.acceptDelta('node-a', deltaOf(ALIVE, '/bin/app')), {
        result: 'merged',
        created: true,
      });
      assert.deepEqual(service.acceptDelta('node-a', deltaOf(OLD, '/bin/new')), {
        result: 'merged',
        created: true,
      });
      service.flush();
      const again = service.get(OLD);
      assert.equal(again?.status, 'learning');
      assert.deepEqual(
        again?.items.map((i) => i.value),
        ['/bin/new'],
      );
      assert.equal(profiles.get(OLD)?.version, 1);
      assert.equal(profiles.get(OLD)?.updatedMs, T0 + 2 * DAY);
      assert.equal(service.count(), 2);
    });

    it('keeps profiles for ever with max_idle 0', async () => {
      const service = start({ maxIdleMs: 0 });
      service.acceptDelta('node-a', deltaOf(OLD, '/bin/app'));
      service.flush();
      clock.now = T0 + 1000 * DAY;
      assert.deepEqual(service.acceptDelta('node-a', deltaOf(OLD, '/bin/app')), { result: 'unchanged' });
      assert.equal(profiles.get(OLD)?.updatedMs, T0, 'nothing is marked alive when nothing expires');
      assert.equal(service.expireIdle(), 0);
      assert.equal(service.count(), 1);
      assert.notEqual(profiles.get(OLD), undefined);
      assert.equal(await metricValue(registry, 'vigil_collector_baseline_profiles_expired_total'), 0);
    });

    it('refuses a negative max_idle', () => {
      assert.throws(() => start({ maxIdleMs: -1 }), /maxIdleMs must be a non-negative integer, got -1/);
    });

    it('runs a pass at start, in slices, with its timers', async () => {
      const keys = Array.from({ length: 300 }, (_, i) => keyFor(`w${String(i).padStart(3, '0')}`));
      const seed = start({ maxIdleMs: DAY, maxProfiles: 1000 });
      for (const key of keys) seed.acceptDelta('node-a', deltaOf(key, '/bin/app'));
      seed.stop();
      clock.now = T0 + 2 * DAY;
      const reg = new Registry();
      const service = createBaselineService({
        store: profiles,
        link: ingest,
        registry: reg,
        logger,
        now: () => clock.now,
        limits: { maxIdleMs: DAY, maxProfiles: 1000 },
      });
      services.push(service);
      assert.equal(service.count(), 300, 'the pass does not run inside the constructor');
      await eventually(() => profiles.count() === 0, 'the start-up pass');
      assert.equal(service.count(), 0);
      assert.equal(await metricValue(reg, 'vigil_collector_baseline_profiles_expired_total'), 300);
      await eventually(
        () => logs.some((l) => l['msg'] === 'idle profiles expired' && l['expired'] === 300),
        'the pass log line',
      );
    });
  });
});
