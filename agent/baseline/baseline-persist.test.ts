/**
 * What the baseline engine learnt survives a restart: the sequence learners of profiles still
 * learning, and the drift memory. Real pipeline, real engine, real SQLite files in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encodeProfile, lockProfile, reopenLearning, type Profile } from '../../core/baseline/profile.js';
import type { PodLookup } from '../state/agent-context.js';
import type { PodMetadata } from '../state/cri/pod-metadata.js';
import { LEARNER_WRITE_INTERVAL_MS } from './baseline-engine.js';
import { openBaselineStore } from './baseline-store.js';
import {
  execEvent,
  ns,
  startBaselinePipeline,
  writeEvent,
  type BaselinePipeline,
} from '../../test/support/baseline-pipeline.js';
import { SequenceTracker } from './sequence-tracker.js';

const CID = 'a'.repeat(64);
const MINUTE = 60_000;
const T0 = 1_714_564_800_000;
const KEY = 'shop/Deployment/api/api|registry.local/api:1.4';

function pod(containerId: string): PodMetadata {
  return {
    containerId,
    containerName: 'api',
    image: 'registry.local/api:1.4',
    podName: 'api-7d4b9c6f5-x2x9k',
    namespace: 'shop',
    podUid: 'uid-api',
    labels: { 'pod-template-hash': '7d4b9c6f5' },
    sandboxId: 'c'.repeat(64),
    startedAt: BigInt(T0) * 1_000_000n,
  };
}

/** A container of another workload (shop/web). */
const WEB = 'f'.repeat(64);

const pods: PodLookup = {
  peek: (id) =>
    id === CID
      ? pod(id)
      : id === WEB
        ? { ...pod(id), containerName: 'web', podName: 'web-7d4b9c6f5-k2m4n', image: 'registry.local/web:2' }
        : undefined,
  resolve: (id) => Promise.resolve(pods.peek(id)),
};

type Rig = BaselinePipeline;

let spools = 0;
/** The engines' wall clock (T0 unless a test moves it; reset before each test). */
const wall = { ms: T0 };

function rig(dbPath: string, learningMs: number, maxProfiles?: number, gracePeriodMs?: number): Rig {
  return startBaselinePipeline({
    node: 'node-a',
    pods,
    storePath: dbPath,
    spoolPath: join(dbPath, `../spool-${spools++}.db`),
    learningPeriodMs: learningMs,
    ...(maxProfiles !== undefined ? { maxProfiles } : {}),
    ...(gracePeriodMs !== undefined ? { gracePeriodMs } : {}),
    now: () => wall.ms,
    pipelineNow: () => T0,
    logNow: () => T0,
    logLevel: 'info',
  });
}

/** A deterministic pseudo-random generator (LCG), so tests are repeatable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const LOOPS: Record<string, string[]> = {
  '/usr/bin/python3': ['epoll_wait', 'read', 'recvfrom', 'write', 'sendto', 'close', 'futex'],
  '/bin/sh': ['rt_sigaction', 'fork', 'wait4', 'read', 'write', 'stat', 'openat', 'close'],
};

/** One event of the learning activity. */
type Step = Record<string, unknown>;

/**
 * Processes of two executables making system calls (loops with noise; some longer than a
 * learning chunk), each ending with its exit, plus the odd file write: `processes` of them.
 */
function learningActivity(seed: number, processes: number, from: number): Step[] {
  const r = rng(seed);
  const steps: Step[] = [];
  let t = from;
  for (let p = 0; p < processes; p++) {
    const exe = p % 3 === 0 ? '/bin/sh' : '/usr/bin/python3';
    const loop = LOOPS[exe]!;
    const pid = 5000 + seed * 1000 + p;
    const length = 100 + Math.floor(r() * 1800);
    let at = Math.floor(r() * loop.length);
    for (let i = 0; i < length; i++) {
      t += 10;
      at = r() < 0.9 ? (at + 1) % loop.length : Math.floor(r() * loop.length);
      steps.push({
        'evt.type': r() < 0.01 ? 'mmap' : loop[at],
        'evt.dir': '>',
        'evt.rawtime': ns(t),
        'proc.pid': pid,
        'proc.exepath': exe,
        'container.id': CID,
      });
    }
    steps.push({ 'evt.type': 'procexit', 'evt.rawtime': ns(t), 'proc.pid': pid, 'container.id': CID });
  }
  return steps;
}

function exec(t: number, path: string, parent: string, pid: number): Step {
  return execEvent(t, path, parent, pid, CID);
}

function write(t: number, path: string, mode = '0644', cid = CID): Step {
  return writeEvent(t, path, mode, cid);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('baseline engine: nothing learnt is lost on restart', () => {
  let dir: string;
  const open: Rig[] = [];
  const make = (
    name: string,
    learningMs = 24 * 60 * MINUTE,
    maxProfiles?: number,
    gracePeriodMs?: number,
  ): Rig => {
    const r = rig(join(dir, `${name}.db`), learningMs, maxProfiles, gracePeriodMs);
    open.push(r);
    return r;
  };
  const shut = (r: Rig): void => {
    r.close();
    open.splice(open.indexOf(r), 1);
  };
  /** The stored sequence models of KEY in store `name`, as exe → hex. */
  const models = (name: string): Map<string, string> => {
    const store = openBaselineStore({ path: join(dir, `${name}.db`) });
    try {
      return new Map(store.loadModels(KEY).map((m) => [m.exe, hex(m.bytes)]));
    } finally {
      store.close();
    }
  };
  const learnersStored = (name: string): string[] => {
    const store = openBaselineStore({ path: join(dir, `${name}.db`) });
    try {
      return store.loadLearners(KEY).map((l) => l.exe);
    } finally {
      store.close();
    }
  };
  /** Locks KEY as an operator would (through the collector), so every run locks at the same point. */
  const lockNow = (r: Rig): void => {
    const p = r.engine.profile(KEY) as Profile;
    assert.ok(r.engine.applyRemote(KEY, encodeProfile(lockProfile(p, { actor: 'alice', nowMs: T0 + 1 }))));
  };
  beforeEach(() => {
    wall.ms = T0;
    dir = mkdtempSync(join(tmpdir(), 'vigil-persist-'));
  });
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a restart mid-learning builds the same per-executable models as an uninterrupted run', function () {
    this.timeout(120_000);
    const first = learningActivity(1, 14, T0);
    const rest = learningActivity(2, 14, T0 + 30 * MINUTE);

    const straight = make('straight');
    for (const s of [...first, ...rest]) straight.send(s);
    lockNow(straight);
    shut(straight);
    const reference = models('straight');
    assert.deepEqual([...reference.keys()].sort(), ['/bin/sh', '/usr/bin/python3']);

    // Interrupted: half, close, reopen on the same store, the rest, lock.
    let r = make('restart');
    for (const s of first) r.send(s);
    assert.equal(r.engine.stats().sequence.learners, 2);
    shut(r);
    assert.deepEqual(learnersStored('restart').sort(), ['/bin/sh', '/usr/bin/python3'], 'written at close');
    r = make('restart');
    assert.equal(r.engine.stats().sequence.learners, 2, 'restored when the profile was loaded');
    for (const s of rest) r.send(s);
    lockNow(r);
    shut(r);
    const restarted = models('restart');
    assert.deepEqual([...restarted.keys()].sort(), [...reference.keys()].sort());
    for (const [exe, bytes] of reference) assert.equal(restarted.get(exe), bytes, `${exe}: byte-identical`);
    assert.deepEqual(learnersStored('restart'), [], 'the lock replaced the learners by the models');

    // Control: the same, but the stored learners are lost across the restart.
    r = make('afresh');
    for (const s of first) r.send(s);
    shut(r);
    const store = openBaselineStore({ path: join(dir, 'afresh.db') });
    store.deleteLearners(KEY);
    store.close();
    r = make('afresh');
    assert.equal(r.engine.stats().sequence.learners, 0);
    for (const s of rest) r.send(s);
    lockNow(r);
    shut(r);
    const afresh = models('afresh');
    for (const [exe, bytes] of reference)
      assert.notEqual(afresh.get(exe), bytes, `${exe}: differs without the restore`);
  });

  it('keeps the learners of a profile evicted from memory, and builds its models if it locks there', () => {
    const activity = learningActivity(9, 9, T0);
    const straight = make('evict-straight');
    for (const s of activity) straight.send(s);
    lockNow(straight);
    shut(straight);
    const reference = models('evict-straight');
    assert.equal(reference.size, 2);

    const r = make('evict', 24 * 60 * MINUTE, 1);
    for (const s of activity) r.send(s);
    const locked = encodeProfile(
      lockProfile(r.engine.profile(KEY) as Profile, { actor: 'alice', nowMs: T0 + 1 }),
    );
    // Another workload takes the only place in memory: shop/api goes to the store, learners too.
    r.send({ ...exec(T0, '/usr/sbin/nginx', '/bin/sh', 77), 'container.id': WEB });
    assert.deepEqual(r.engine.keys(), ['shop/Deployment/web/web|registry.local/web:2']);
    assert.equal(r.engine.stats().sequence.learners, 0);
    assert.deepEqual(learnersStored('evict').sort(), ['/bin/sh', '/usr/bin/python3']);
    // It locks while only in the store: its stored learners become its models.
    assert.ok(r.engine.applyRemote(KEY, locked));
    assert.deepEqual(
      r.engine.keys(),
      ['shop/Deployment/web/web|registry.local/web:2'],
      'still not in memory',
    );
    assert.deepEqual(learnersStored('evict'), []);
    shut(r);
    const built = models('evict');
    for (const [exe, bytes] of reference) assert.equal(built.get(exe), bytes, `${exe}: byte-identical`);
  });

  it('writes only the learners that learnt something since their last write, at most once a minute', () => {
    const r = make('flushes');
    for (const s of learningActivity(3, 6, T0)) r.send(s);
    r.engine.flush();
    const store = openBaselineStore({ path: join(dir, 'flushes.db') });
    const before = new Map(store.loadLearners(KEY).map((l) => [l.exe, hex(l.bytes)]));
    assert.equal(before.size, 2);
    // Only python3 learns more; sh's row is not rewritten (its bytes stay those of the first write).
    const more = learningActivity(4, 6, T0 + 10 * MINUTE).filter((s) => s['proc.exepath'] !== '/bin/sh');
    for (const s of more) r.send(s);
    const db = new Database(join(dir, 'flushes.db'));
    db.prepare("UPDATE sequence_learners SET updated_ms = 1 WHERE exe = '/bin/sh'").run();
    const rows = (): [string, number][] =>
      (
        db.prepare('SELECT exe, updated_ms FROM sequence_learners ORDER BY exe').all() as {
          exe: string;
          updated_ms: number;
        }[]
      ).map((x) => [x.exe, x.updated_ms]);
    // The next flushes (every 2 s) leave the learners alone until a minute has passed.
    wall.ms = T0 + 2000;
    r.engine.flush();
    wall.ms = T0 + LEARNER_WRITE_INTERVAL_MS - 1;
    r.engine.flush();
    assert.deepEqual(rows(), [
      ['/bin/sh', 1],
      ['/usr/bin/python3', T0],
    ]);
    wall.ms = T0 + LEARNER_WRITE_INTERVAL_MS;
    r.engine.flush();
    assert.deepEqual(rows(), [
      ['/bin/sh', 1],
      ['/usr/bin/python3', T0 + LEARNER_WRITE_INTERVAL_MS],
    ]);
    db.close();
    const after = new Map(store.loadLearners(KEY).map((l) => [l.exe, hex(l.bytes)]));
    assert.equal(after.get('/bin/sh'), before.get('/bin/sh'));
    assert.notEqual(after.get('/usr/bin/python3'), before.get('/usr/bin/python3'));
    store.close();
  });

  it('hands out changed learners within a byte budget, those changed longest ago first', () => {
    const seq = new SequenceTracker();
    const learn = (exe: string, pid: number): void => {
      for (let i = 0; i < 50; i++) seq.call(KEY, exe, pid, i % 2 === 0 ? 'read' : 'write', true);
      seq.endProcess(pid);
    };
    learn('/a', 1);
    learn('/b', 2);
    learn('/a', 3); // /a keeps its place: its oldest unstored change came first
    const first = seq.changedLearners(undefined, 1);
    assert.deepEqual(
      first.map((l) => l.exe),
      ['/a'],
    );
    seq.learnersStored(first);
    const second = seq.changedLearners();
    assert.deepEqual(
      second.map((l) => l.exe),
      ['/b'],
    );
    seq.learnersStored(second);
    assert.deepEqual(seq.changedLearners(), []);
    learn('/b', 4);
    assert.deepEqual(
      seq.changedLearners('other|key').map((l) => l.exe),
      [],
    );
    assert.deepEqual(
      seq.changedLearners(KEY).map((l) => l.exe),
      ['/b'],
    );
  });

  it('a reopening deletes the stored learners of the old epoch', () => {
    const r = make('reopen', 10 * MINUTE);
    for (const s of learningActivity(5, 6, T0)) r.send(s);
    lockNow(r);
    const locked = r.engine.profile(KEY) as Profile;
    assert.ok(
      r.engine.applyRemote(KEY, encodeProfile(reopenLearning(locked, { actor: 'alice', nowMs: T0 + 2 }))),
    );
    for (const s of learningActivity(6, 3, T0 + 5 * MINUTE)) r.send(s);
    r.engine.flush();
    const stored = learnersStored('reopen');
    assert.ok(stored.length > 0);
    // A second reopening (a new epoch) while learning drops them, in memory and in the store.
    const learning = r.engine.profile(KEY) as Profile;
    const relocked = lockProfile(learning, { actor: 'alice', nowMs: T0 + 3 });
    assert.ok(
      r.engine.applyRemote(KEY, encodeProfile(reopenLearning(relocked, { actor: 'alice', nowMs: T0 + 4 }))),
    );
    r.engine.flush();
    assert.deepEqual(learnersStored('reopen'), []);
    assert.equal(r.engine.stats().sequence.learners, 0);
  });

  it('a stored learner that does not decode is counted and logged once; the others are restored', () => {
    let r = make('corrupt');
    for (const s of learningActivity(7, 9, T0)) r.send(s);
    shut(r);
    const db = new Database(join(dir, 'corrupt.db'));
    const row = db.prepare("SELECT bytes FROM sequence_learners WHERE exe = '/bin/sh'").get() as {
      bytes: Buffer;
    };
    db.prepare("UPDATE sequence_learners SET bytes = ? WHERE exe = '/bin/sh'").run(
      row.bytes.subarray(0, 100),
    );
    db.close();

    r = make('corrupt');
    const s = r.engine.stats().sequence;
    assert.equal(s.learnersUnreadable, 1);
    assert.equal(s.learners, 1, 'python3 restored');
    const warned = r.logs.filter((l) => l.includes('stored sequence learners unreadable'));
    assert.equal(warned.length, 1);
    assert.match(warned[0] ?? '', /"exes":\["\/bin\/sh"\]/);
    assert.deepEqual(learnersStored('corrupt'), ['/usr/bin/python3'], 'the unreadable row is gone');
    // sh learns afresh.
    for (const step of learningActivity(8, 3, T0 + 30 * MINUTE)) r.send(step);
    assert.equal(r.engine.stats().sequence.learners, 2);
    shut(r);
    r = make('corrupt');
    assert.equal(r.engine.stats().sequence.learnersUnreadable, 0, 'not counted again at the next start');
    assert.equal(r.engine.stats().sequence.learners, 2);
  });

  /** Locks the profile by its learning period (normal activity), then writes `path` as an executable. */
  const driftSetup = (r: Rig): void => {
    for (let m = 0; m < 12; m++) {
      const t = T0 + m * MINUTE;
      r.send(exec(t, '/bin/sh', '/usr/bin/containerd-shim', 100 + m));
      r.send(exec(t + 500, '/usr/bin/python3', '/bin/sh', 200 + m));
    }
    r.send(write(T0 + 20 * MINUTE, '/tmp/payload', '0755'));
  };
  const driftRules = (r: Rig, from: number): string[] =>
    r.alerts
      .slice(from)
      .filter((a) => a.kind === 'anomaly')
      .map((a) => `${a.rule}: ${(a.reasons ?? []).join('; ')}`);

  it('remembers across a restart what a container wrote, and flags running it as drift', () => {
    const straight = make('drift-straight', 10 * MINUTE);
    driftSetup(straight);
    const n0 = straight.alerts.length;
    straight.send(exec(T0 + 21 * MINUTE, '/tmp/payload', '/bin/sh', 300));
    const expected = driftRules(straight, n0);
    assert.ok(
      expected.some((a) =>
        a.startsWith(
          'Anomalous executable drift: `/tmp/payload` did not come from the container image (written after the container started)',
        ),
      ),
      expected.join('\n'),
    );

    let r = make('drift', 10 * MINUTE);
    driftSetup(r);
    shut(r);
    r = make('drift', 10 * MINUTE);
    r.send(exec(T0 + 21 * MINUTE, '/tmp/payload', '/bin/sh', 300));
    assert.deepEqual(driftRules(r, 0), expected, 'the same alerts as without the restart');
    assert.equal(r.engine.stats().driftDetected, 1);

    // Control: a file never written is a new executable, not drift.
    const n1 = r.alerts.length;
    r.send(exec(T0 + 22 * MINUTE, '/tmp/other', '/bin/sh', 301));
    const control = driftRules(r, n1);
    assert.ok(control.length > 0);
    assert.ok(
      control.every((a) => !a.startsWith('Anomalous executable drift')),
      control.join('\n'),
    );
    assert.equal(r.engine.stats().driftDetected, 1);
  });

  it('keeps a reloaded container’s grace period over when its start is not known', () => {
    // A container of no known pod (no start time): its start is when the agent first saw it. The
    // engine is fed directly (as a replayed source without pod metadata would).
    const other = 'b'.repeat(64);
    const on = (step: Step): Step => ({
      ...step,
      'container.id': other,
      'container.image': 'registry.local/batch:3',
    });
    const setup = (r: Rig): void => {
      r.engine.observe({ fields: on(exec(T0, '/bin/sh', '/usr/bin/containerd-shim', 100)) });
      r.engine.observe({ fields: on(write(T0 + 30_000, '/tmp/payload', '0755', other)) });
      for (let m = 1; m <= 4; m++) {
        r.engine.observe({ fields: on(exec(T0 + m * MINUTE, '/usr/bin/python3', '/bin/sh', 200 + m)) });
      }
    };
    const payload = (r: Rig): readonly string[] | undefined =>
      r.engine.observe({ fields: on(exec(T0 + 20 * MINUTE, '/tmp/payload', '/bin/sh', 300)) })?.reasons;
    const straight = make('grace-straight', 2 * MINUTE, undefined, 10 * MINUTE);
    setup(straight);
    const expected = payload(straight);
    assert.ok(
      expected?.some((a) => a.includes('written after the container started')),
      JSON.stringify(expected),
    );
    let r = make('grace', 2 * MINUTE, undefined, 10 * MINUTE);
    setup(r);
    shut(r);
    // Restarted: the container's first event since is 20 minutes after it was first seen, so its
    // grace period (10 minutes) is long over, as without the restart.
    r = make('grace', 2 * MINUTE, undefined, 10 * MINUTE);
    assert.deepEqual(payload(r), expected);
  });

  it('keeps the stored drift memory within the in-memory limits', () => {
    const r = make('drift-bounds', 10 * MINUTE);
    for (let i = 0; i < 600; i++) r.send(write(T0 + i, `/tmp/w/${i}`));
    r.engine.flush();
    const store = openBaselineStore({ path: join(dir, 'drift-bounds.db') });
    const rows = store.loadDriftMemory(1024, 10_000);
    assert.equal(rows.length, 512, 'the paths let go in memory are deleted from the store');
    assert.equal(rows[0]?.path, '/tmp/w/88', 'oldest kept first');
    assert.equal(rows[511]?.path, '/tmp/w/599');
    // Loading prunes to the limits asked for.
    assert.equal(store.loadDriftMemory(1024, 100).length, 100);
    assert.equal(store.loadDriftMemory(1024, 10_000).length, 100);
    store.close();
  });
});
