/**
 * The baseline engine in the agent's real pipeline (real process table, agent context, rules,
 * SQLite spool and baseline store), with pod metadata from a hand-written lookup.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeProfile,
  encodeProfile,
  lockProfile,
  mergeProfiles,
  profileHas,
  profileStatus,
  reopenLearning,
  type Profile,
} from '../../core/baseline/profile.js';
import type { Alert } from '../../core/alert.js';
import type { PodLookup } from '../state/agent-context.js';
import type { PodMetadata } from '../state/cri/pod-metadata.js';
import {
  execEvent,
  ns,
  startBaselinePipeline,
  writeEvent,
  type BaselinePipeline,
} from '../../test/support/baseline-pipeline.js';

const CID = 'a'.repeat(64);
const CID2 = 'b'.repeat(64);
/** A container of another workload (shop/web). */
const CID3 = 'd'.repeat(64);
const WEB_KEY = 'shop/Deployment/web/web|registry.local/web:2';
const MINUTE = 60_000;
const T0 = 1_714_564_800_000;
const KEY = 'shop/Deployment/api/api|registry.local/api:1.4';

function pod(containerId: string, podName: string): PodMetadata {
  return {
    containerId,
    containerName: 'api',
    image: 'registry.local/api:1.4',
    podName,
    namespace: 'shop',
    podUid: `uid-${podName}`,
    labels: { 'pod-template-hash': '7d4b9c6f5' },
    sandboxId: 'c'.repeat(64),
    startedAt: BigInt(T0) * 1_000_000n,
  };
}

/** Pod metadata as the CRI resolver would have it cached: two replicas of shop/api. */
const pods: PodLookup = {
  peek: (id) =>
    id === CID
      ? pod(CID, 'api-7d4b9c6f5-x2x9k')
      : id === CID2
        ? pod(CID2, 'api-7d4b9c6f5-q8z1m')
        : id === CID3
          ? { ...pod(CID3, 'web-7d4b9c6f5-k2m4n'), containerName: 'web', image: 'registry.local/web:2' }
          : id.startsWith('e')
            ? pod(id, 'api-7d4b9c6f5-churn') // short-lived replicas of shop/api
            : undefined,
  resolve: (id) => Promise.resolve(pods.peek(id)),
};

const RULES = [
  '- rule: Netcat run',
  '  desc: netcat started',
  '  condition: evt.type = execve and evt.dir = < and proc.name = nc',
  '  output: "netcat %proc.exepath"',
  '  priority: WARNING',
  '',
].join('\n');

interface Rig extends BaselinePipeline {
  wall: { now: number };
}

let pidSeq = 1000;

interface RigOptions {
  learningMs?: number;
  graceMs?: number;
  maxProfiles?: number;
}

function rig(dir: string, node: string, options: RigOptions = {}): Rig {
  const wall = { now: T0 };
  const running = startBaselinePipeline({
    node,
    pods,
    storePath: join(dir, `${node}-baselines.db`),
    spoolPath: join(dir, `${node}-${pidSeq++}-spool.db`),
    rules: RULES,
    learningPeriodMs: options.learningMs ?? 10 * MINUTE,
    gracePeriodMs: options.graceMs ?? 0,
    ...(options.maxProfiles !== undefined ? { maxProfiles: options.maxProfiles } : {}),
    now: () => wall.now,
    logNow: () => T0,
  });
  return { ...running, wall };
}

function exec(
  t: number,
  path: string,
  parent: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { ...execEvent(t, path, parent, pidSeq++, CID), ...extra };
}

function connect(t: number, address: string, port: number, cid = CID): Record<string, unknown> {
  return {
    'evt.type': 'connect',
    'evt.dir': '<',
    'evt.res': 'SUCCESS',
    'evt.rawtime': ns(t),
    'proc.pid': 42,
    'proc.exepath': '/usr/bin/python3',
    'fd.sip': address,
    'fd.sport': port,
    'fd.l4proto': 'tcp',
    'container.id': cid,
  };
}

function write(t: number, path: string, mode = '0644'): Record<string, unknown> {
  return writeEvent(t, path, mode, CID);
}

/** The workload's normal life: a shell starts python, which talks to its database and writes temp files. */
function normalActivity(r: Rig, from: number, minutes: number): void {
  for (let m = 0; m < minutes; m++) {
    const t = from + m * MINUTE;
    r.send(exec(t, '/bin/sh', '/usr/bin/containerd-shim'));
    r.send(exec(t + 500, '/usr/bin/python3', '/bin/sh'));
    r.send(connect(t + 1000, '10.0.0.5', 5432));
    r.send(write(t + 2000, `/tmp/job-${m}${m}${m}${m}.json`));
  }
}

/** The attack: each of these is new to the profile. */
function attack(r: Rig, t: number): void {
  r.send(exec(t, '/usr/bin/nc', '/bin/sh'));
  r.send(exec(t + 1000, '/bin/sh', '/usr/bin/python3'));
  r.send(connect(t + 2000, '203.0.113.9', 4444));
  // A known executable replaced in place, then run: drift whatever the profile says.
  r.send(write(t + 3000, '/usr/bin/python3', '0755'));
  r.send(exec(t + 4000, '/usr/bin/python3', '/bin/sh'));
}

const anomalies = (alerts: readonly Alert[]): Alert[] => alerts.filter((a) => a.kind === 'anomaly');

describe('baseline engine in the agent pipeline', () => {
  let dir: string;
  const open: Rig[] = [];
  const make = (node: string, options?: RigOptions): Rig => {
    const r = rig(dir, node, options);
    open.push(r);
    return r;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-baseline-'));
  });
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises nothing while learning, even for the activity it would flag once locked', () => {
    const r = make('node-a');
    normalActivity(r, T0, 3);
    attack(r, T0 + 3 * MINUTE);
    assert.deepEqual(anomalies(r.alerts), []);
    // The signature alert of the rule still fires, without anomaly context (nothing is scored yet).
    const signature = r.alerts.find((a) => a.rule === 'Netcat run');
    assert.ok(signature !== undefined);
    assert.equal(signature.score, undefined);
    const p = r.engine.profile(KEY) as Profile;
    assert.equal(profileStatus(p), 'learning');
    assert.ok(profileHas(p, 'exec', '/usr/bin/nc'), 'learnt what it saw');
    assert.ok(profileHas(p, 'connect', 'tcp 203.0.113.9:4444'));
  });

  it('learns, locks, then flags a new executable, parent → child pair, destination and drifted binary', () => {
    const r = make('node-a');
    normalActivity(r, T0, 12);
    const p = r.engine.profile(KEY) as Profile;
    assert.equal(profileStatus(p), 'locked', 'locked after 10 minutes of activity');
    assert.deepEqual(anomalies(r.alerts), [], 'normal activity raises nothing');
    normalActivity(r, T0 + 12 * MINUTE, 3);
    assert.deepEqual(anomalies(r.alerts), [], 'normal activity after the lock raises nothing');

    attack(r, T0 + 20 * MINUTE);
    const got = anomalies(r.alerts);
    const byRule = (rule: string): Alert => {
      const a = got.find((x) => x.rule === rule);
      assert.ok(a !== undefined, `no '${rule}' among ${got.map((x) => x.rule).join(', ')}`);
      return a;
    };
    const newExec = byRule('Anomalous executable');
    assert.deepEqual(newExec.reasons, [
      '`/usr/bin/nc` never executed by shop/api in 20 minutes of history',
      'parent `sh` never spawned `nc` in shop/api',
    ]);
    const spawn = byRule('Anomalous process spawn');
    assert.deepEqual(spawn.reasons, ['parent `python3` never spawned anything']);
    const dest = byRule('Anomalous outbound connection');
    assert.match(
      dest.reasons?.[0] ?? '',
      /`tcp 203\.0\.113\.9:4444`: shop\/api never connected to port 4444\/tcp/,
    );
    assert.equal(dest.output_fields['fd.sip'], '203.0.113.9');
    const drift = byRule('Anomalous executable drift');
    assert.deepEqual(drift.reasons, [
      '`/usr/bin/python3` did not come from the container image (written after the container started)',
    ]);
    assert.equal(drift.score, 1);
    for (const a of got) {
      assert.equal(a.kind, 'anomaly');
      assert.equal(a.source, 'baseline');
      assert.ok(a.tags.includes('anomaly'));
      assert.ok((a.score ?? 0) >= 0.7 && (a.score ?? 2) <= 1);
      assert.deepEqual(a.workload, {
        namespace: 'shop',
        ownerKind: 'Deployment',
        ownerName: 'api',
        pod: 'api-7d4b9c6f5-x2x9k',
        container: 'api',
        image: 'registry.local/api:1.4',
      });
    }
    // The signature alert on the same event carries the workload's anomaly context.
    const signature = r.alerts.find((a) => a.kind === 'signature' && a.rule === 'Netcat run');
    assert.equal(signature?.score, newExec.score);
    assert.deepEqual(signature?.reasons, newExec.reasons);
    assert.equal(r.engine.stats().driftDetected, 1);
  });

  it('remembers what a long-running container wrote while many short-lived ones come and go', () => {
    const r = make('node-a');
    normalActivity(r, T0, 12);
    const t = T0 + 20 * MINUTE;
    r.send(write(t, '/usr/bin/python3', '0755'));
    for (let i = 0; i < 1100; i++) {
      r.send(connect(t + i, '10.0.0.5', 5432, `e${String(i).padStart(63, '0')}`));
      if (i % 100 === 0) r.send(connect(t + i, '10.0.0.5', 5432));
    }
    // The write itself is new (a system directory); the known destinations are not.
    assert.deepEqual(
      anomalies(r.alerts).map((a) => a.rule),
      ['Anomalous file write'],
    );
    r.send(exec(t + 2000, '/usr/bin/python3', '/bin/sh'));
    assert.deepEqual(
      anomalies(r.alerts).map((a) => a.rule),
      ['Anomalous file write', 'Anomalous executable drift'],
    );
  });

  it('learns from events with impossible times without making the profile unreadable', () => {
    const r = make('node-a');
    r.send(exec(T0, '/bin/sh', '/usr/bin/containerd-shim'));
    r.send({ ...exec(T0, '/usr/bin/early', '/bin/sh'), 'evt.rawtime': -5_000_000_000n });
    r.send({ ...exec(T0, '/usr/bin/late', '/bin/sh'), 'evt.rawtime': 10n ** 30n });
    const back = decodeProfile(encodeProfile(r.engine.profile(KEY) as Profile));
    assert.ok(profileHas(back, 'exec', '/usr/bin/early'));
    assert.ok(profileHas(back, 'exec', '/usr/bin/late'));
  });

  it('keeps the profile across a restart', () => {
    const first = make('node-a');
    normalActivity(first, T0, 12);
    assert.equal(first.engine.stats().profiles.locked, 1);
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = make('node-a');
    assert.equal(second.engine.stats().profiles.locked, 1, 'loaded from baselines.db');
    normalActivity(second, T0 + 30 * MINUTE, 2);
    assert.deepEqual(anomalies(second.alerts), []);
    second.send(exec(T0 + 40 * MINUTE, '/usr/bin/nc', '/bin/sh'));
    assert.deepEqual(
      anomalies(second.alerts).map((a) => a.rule),
      ['Anomalous executable'],
    );
  });

  it('merges two agents’ deltas to the same profile in any order, and shares it back', () => {
    const a = make('node-a');
    const b = make('node-b');
    normalActivity(a, T0, 4);
    // The other replica, on another node, does something else as well.
    for (let m = 0; m < 4; m++) {
      const t = T0 + m * MINUTE;
      b.send({ ...exec(t, '/usr/bin/python3', '/bin/sh'), 'container.id': CID2 });
      b.send(connect(t + 500, '10.0.0.6', 6379, CID2));
    }
    const da = a.engine.takeOutgoing(10);
    const db = b.engine.takeOutgoing(10);
    assert.deepEqual(
      da.map((d) => d.workloadKey),
      [KEY],
    );
    assert.deepEqual(
      db.map((d) => d.workloadKey),
      [KEY],
    );
    const pa = decodeProfile(da[0]?.delta as Uint8Array);
    const pb = decodeProfile(db[0]?.delta as Uint8Array);
    const hex = (p: Profile): string => Buffer.from(encodeProfile(p)).toString('hex');
    const ab = hex(mergeProfiles(pa, pb));
    assert.equal(hex(mergeProfiles(pb, pa)), ab);
    assert.equal(hex(mergeProfiles(mergeProfiles(pa, pb), pa)), ab, 'a duplicate delta changes nothing');
    // The collector sends the merged profile back: both agents end with the same profile.
    const merged = mergeProfiles(pa, pb);
    assert.ok(a.engine.applyRemote(KEY, encodeProfile(merged)));
    assert.ok(b.engine.applyRemote(KEY, encodeProfile(merged)));
    assert.equal(hex(a.engine.profile(KEY) as Profile), ab);
    assert.equal(hex(b.engine.profile(KEY) as Profile), ab);
    assert.ok(profileHas(a.engine.profile(KEY) as Profile, 'connect', 'tcp 10.0.0.6:6379'));
    // Observed activity adds up across nodes: 3 minutes each, so 6 of the 10 minutes.
    assert.equal(decodeProfile(encodeProfile(merged)).activity.size, 2);
  });

  it('keeps updates of workloads not running here in the store, not in memory, and uses them when one comes', () => {
    const a = make('node-a');
    normalActivity(a, T0, 12);
    const locked = encodeProfile(a.engine.profile(KEY) as Profile);
    const b = make('node-b', { maxProfiles: 1 });
    b.send({ ...exec(T0, '/usr/sbin/nginx', '/bin/sh'), 'container.id': CID3 });
    assert.deepEqual(b.engine.keys(), [WEB_KEY]);
    assert.ok(b.engine.applyRemote(KEY, locked));
    assert.ok(b.engine.applyRemote(KEY, locked), 'again: changes nothing');
    assert.deepEqual(b.engine.keys(), [WEB_KEY], 'the workload running here keeps its place');
    assert.equal(b.engine.stats().profilesEvicted, 0);
    assert.deepEqual(
      b.engine.takeOutgoing(10).map((d) => d.workloadKey),
      [WEB_KEY],
      'nothing to send back',
    );
    // A pod of shop/api rescheduled here is no stranger: its locked profile comes from the store.
    b.send({ ...exec(T0 + 40 * MINUTE, '/usr/bin/nc', '/bin/sh'), 'container.id': CID2 });
    assert.deepEqual(
      anomalies(b.alerts).map((x) => x.rule),
      ['Anomalous executable'],
    );
  });

  it('sends a learning profile when it learnt something or its clock moved a minute, not at every flush', () => {
    const a = make('node-a', { learningMs: 60 * MINUTE });
    const b = make('node-b', { learningMs: 60 * MINUTE });
    // A collector: merges what the agents send and sends every change to both.
    let collector: Profile | undefined;
    let sent = 0;
    const sync = (): void => {
      for (const r of [a, b]) {
        r.engine.flush();
        for (const d of r.engine.takeOutgoing(10)) {
          sent++;
          const p = decodeProfile(d.delta);
          const next = collector === undefined ? p : mergeProfiles(collector, p);
          const bytes = encodeProfile(next);
          if (collector !== undefined && Buffer.from(bytes).equals(encodeProfile(collector))) continue;
          collector = next;
          for (const x of [a, b]) x.engine.applyRemote(KEY, bytes);
        }
      }
    };
    // Five minutes of the same activity on both nodes, a flush every two seconds.
    for (let s = 0; s < 300; s += 2) {
      a.send(exec(T0 + s * 1000, '/usr/bin/python3', '/bin/sh'));
      b.send({ ...exec(T0 + s * 1000 + 1, '/usr/bin/python3', '/bin/sh'), 'container.id': CID2 });
      sync();
    }
    assert.ok(sent <= 30, `${sent} profiles sent for 5 minutes of nothing new`);
    // The clocks still add up across the nodes (up to a minute behind on each).
    assert.ok(collector !== undefined);
    const total = [...collector.activity.values()].reduce((x, y) => x + y, 0);
    assert.ok(total >= 8 * MINUTE && total <= 10 * MINUTE, String(total));
  });

  it('takes an operator’s reopening from the collector, and counts unreadable updates', () => {
    const r = make('node-a');
    normalActivity(r, T0, 12);
    const locked = r.engine.profile(KEY) as Profile;
    assert.equal(profileStatus(locked), 'locked');
    const reopened = reopenLearning(locked, { actor: 'alice', nowMs: T0 + 13 * MINUTE });
    assert.ok(r.engine.applyRemote(KEY, encodeProfile(reopened)));
    assert.equal(profileStatus(r.engine.profile(KEY) as Profile), 'learning');
    r.send(exec(T0 + 14 * MINUTE, '/usr/bin/nc', '/bin/sh'));
    assert.deepEqual(anomalies(r.alerts), [], 'learning again');

    assert.equal(r.engine.applyRemote(KEY, new Uint8Array([1, 2, 3])), false);
    assert.equal(r.engine.applyRemote('other|x', encodeProfile(reopened)), false);
    assert.equal(r.engine.stats().updatesRejected, 2);
    assert.equal(profileStatus(r.engine.profile(KEY) as Profile), 'learning');
  });

  it('rate-limits anomaly alerts per workload and counts what it suppressed', () => {
    const r = make('node-a');
    normalActivity(r, T0, 12);
    for (let i = 0; i < 15; i++) r.send(exec(T0 + 20 * MINUTE + i, `/opt/tool${i}`, '/bin/sh'));
    assert.equal(anomalies(r.alerts).length, 10);
    assert.equal(r.engine.stats().anomaliesSuppressed.rate, 5);
    // The same anomaly again soon is a repeat, not a new alert.
    r.wall.now += 2 * MINUTE;
    r.send(exec(T0 + 21 * MINUTE, '/opt/tool0', '/bin/sh'));
    assert.equal(anomalies(r.alerts).length, 10);
    assert.equal(r.engine.stats().anomaliesSuppressed.repeat, 1);
    r.send(exec(T0 + 21 * MINUTE, '/opt/other', '/bin/sh'));
    assert.equal(anomalies(r.alerts).length, 11, 'a new minute, a new allowance');
  });

  it('does not score events in the grace period after a container starts', () => {
    const r = make('node-a', { learningMs: MINUTE, graceMs: 30 * MINUTE });
    normalActivity(r, T0, 3);
    assert.equal(profileStatus(r.engine.profile(KEY) as Profile), 'locked');
    r.send(exec(T0 + 10 * MINUTE, '/usr/bin/nc', '/bin/sh'));
    assert.deepEqual(anomalies(r.alerts), [], 'within 30 minutes of the container start');
    r.send(exec(T0 + 31 * MINUTE, '/usr/bin/nc', '/bin/sh'));
    assert.equal(anomalies(r.alerts).length, 1);
  });

  it('learns system-call sequences per executable and flags a process whose calls are unlike them', () => {
    const r = make('node-a', { learningMs: 24 * 60 * MINUTE });
    let t = T0;
    const call = (pid: number, type: string): void => {
      t += 10;
      r.send({
        'evt.type': type,
        'evt.dir': '>',
        'evt.rawtime': ns(t),
        'proc.pid': pid,
        'proc.exepath': '/usr/bin/python3',
        'container.id': CID,
      });
    };
    const loop = ['epoll_wait', 'read', 'recvfrom', 'write', 'sendto', 'close'];
    for (let p = 0; p < 20; p++) {
      const pid = 5000 + p;
      for (let i = 0; i < 300; i++) call(pid, loop[i % loop.length] as string);
      r.send({ 'evt.type': 'procexit', 'evt.rawtime': ns(t), 'proc.pid': pid, 'container.id': CID });
    }
    const learnt = r.engine.profile(KEY) as Profile;
    assert.equal(profileStatus(learnt), 'learning');
    assert.ok(r.engine.applyRemote(KEY, encodeProfile(lockProfile(learnt, { actor: 'alice', nowMs: t }))));
    assert.equal(r.engine.stats().sequence.models, 1);
    // The same loop raises nothing...
    const exit = (pid: number): void =>
      r.send({ 'evt.type': 'procexit', 'evt.rawtime': ns(t), 'proc.pid': pid, 'container.id': CID });
    for (let i = 0; i < 300; i++) call(6000, loop[i % loop.length] as string);
    exit(6000);
    assert.deepEqual(anomalies(r.alerts), []);
    // ...a process doing something else entirely is flagged once.
    const odd = [
      'ptrace',
      'mprotect',
      'memfd_create',
      'execveat',
      'setuid',
      'unshare',
      'mount',
      'init_module',
    ];
    for (let i = 0; i < 200; i++) call(6001, odd[(i * 5) % odd.length] as string);
    assert.deepEqual(anomalies(r.alerts), [], 'judged when the trace is complete');
    exit(6001);
    const got = anomalies(r.alerts);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.rule, 'Anomalous system call sequence');
    assert.match(
      got[0]?.reasons?.[0] ?? '',
      /system calls of `\/usr\/bin\/python3` unlike those learnt for shop\/api/,
    );

    // Reopened, then locked again before any call was learnt: a restart does not bring back the
    // models of before the reopening.
    const before = r.engine.profile(KEY) as Profile;
    assert.ok(r.engine.applyRemote(KEY, encodeProfile(reopenLearning(before, { actor: 'alice', nowMs: t }))));
    const relocked = lockProfile(r.engine.profile(KEY) as Profile, { actor: 'alice', nowMs: t + 1 });
    assert.ok(r.engine.applyRemote(KEY, encodeProfile(relocked)));
    r.close();
    open.splice(open.indexOf(r), 1);
    const restarted = make('node-a');
    assert.equal(restarted.engine.stats().profiles.locked, 1);
    assert.equal(restarted.engine.stats().sequence.models, 0);
  });
});
