/**
 * Profile deltas as the agent's baseline engine sends them (outgoing-deltas.ts): real engines fed
 * events, a collector-side profile merging what arrives, streams that break.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addItem,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  lockProfile,
  mergeProfiles,
  reopenLearning,
  summarizeProfile,
  MAX_ITEMS_PER_KIND,
  type Profile,
} from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { createAgentContext } from '../state/agent-context.js';
import { ProcessTable } from '../state/process-table.js';
import { BaselineEngine } from './baseline-engine.js';
import { openBaselineStore } from './baseline-store.js';
import { IN_FLIGHT_MS } from './outgoing-deltas.js';

const T0 = 1_714_564_800_000;
const MINUTE = 60_000;
const CID = 'a'.repeat(64);
const IMAGES = ['registry.local/api:1.4', 'registry.local/worker:7'];
/** The profile key of a container known only by its image (see BaselineEngine). */
const keyOf = (image: string): string =>
  `-/Container/${image.slice(image.lastIndexOf('/') + 1, image.indexOf(':'))}/-|${image}`;

/** A small deterministic generator (mulberry32), so failures reproduce from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: () => number, n: number): number => Math.floor(r() * n);
const hex = (p: Profile): string => Buffer.from(encodeProfile(p)).toString('hex');

interface Agent {
  readonly node: string;
  readonly engine: BaselineEngine;
  readonly wall: { now: number };
  /** Deltas taken and not yet delivered (on the stream). */
  inTransit: { workloadKey: string; delta: Uint8Array }[];
}

function agent(node: string, learningPeriodMs: number): Agent {
  const wall = { now: T0 };
  const logger = createLogger({ write: () => {}, now: () => wall.now, level: 'error' });
  const engine = new BaselineEngine({
    node,
    context: createAgentContext({ processes: new ProcessTable({ maxEntries: 1000 }) }),
    logger,
    learningPeriodMs,
    sequences: false,
    now: () => wall.now,
    flushIntervalMs: 0,
  });
  return { node, engine, wall, inTransit: [] };
}

let pid = 100;

function exec(
  t: number,
  image: string,
  path: string,
  parent: string,
  user: string,
): { fields: Record<string, unknown> } {
  return {
    fields: {
      'evt.type': 'execve',
      'evt.dir': '<',
      'evt.res': 'SUCCESS',
      'evt.rawtime': BigInt(t) * 1_000_000n,
      'proc.pid': pid++,
      'proc.exepath': path,
      'proc.pexepath': parent,
      'user.name': user,
      'container.id': CID,
      'container.image': image,
    },
  };
}

function connect(
  t: number,
  image: string,
  address: string,
  port: number,
): { fields: Record<string, unknown> } {
  return {
    fields: {
      'evt.type': 'connect',
      'evt.dir': '<',
      'evt.res': 'SUCCESS',
      'evt.rawtime': BigInt(t) * 1_000_000n,
      'proc.pid': 42,
      'proc.exepath': '/usr/bin/python3',
      'fd.sip': address,
      'fd.sport': port,
      'fd.l4proto': 'tcp',
      'container.id': CID,
      'container.image': image,
    },
  };
}

interface RunResult {
  /** Collector-side profiles from the deltas, by key. */
  readonly fromDeltas: Map<string, Profile>;
  /** The same with every taken profile merged whole, nothing lost. */
  readonly fromWhole: Map<string, Profile>;
  readonly partial: number;
  readonly whole: number;
}

/**
 * One random run: two or three agents learn, take deltas at random moments, streams break
 * (what was on them is lost) and reconnect, the collector merges what arrives in random order,
 * sends its profiles back and an operator edits them. `reconnect` is what the link does on a new
 * stream (the real one: `engine.resendAll()`). `flushes`: the engines' write-behind flush runs
 * now and then, with its resends of what the collector never answered.
 */
function run(seed: number, reconnect: (a: Agent) => void, flushes = false): RunResult {
  const r = rng(seed);
  const big = seed % 5 === 0; // enough distinct values to overflow a kind across the agents
  const agents = Array.from({ length: 2 + int(r, 2) }, (_, i) =>
    agent(`node-${i}`, (5 + int(r, 600)) * MINUTE),
  );
  const fromDeltas = new Map<string, Profile>();
  const fromWhole = new Map<string, Profile>();
  const at = (m: Map<string, Profile>, key: string): Profile => m.get(key) ?? emptyProfile(key);
  let t = T0;
  let partial = 0;
  let whole = 0;
  const deliver = (a: Agent, n: number): void => {
    // The collector merges in any order: deltas from the same stream are shuffled too.
    for (let i = 0; i < n && a.inTransit.length > 0; i++) {
      const [d] = a.inTransit.splice(int(r, a.inTransit.length), 1);
      if (d === undefined) break;
      const before = at(fromDeltas, d.workloadKey);
      const merged = mergeProfiles(before, decodeProfile(d.delta));
      fromDeltas.set(d.workloadKey, merged);
      // A delta that changed the collector's profile is answered with it, mostly (pacing).
      if (hex(merged) !== hex(before) && r() < 0.8)
        a.engine.applyRemote(d.workloadKey, encodeProfile(merged));
    }
  };
  const take = (a: Agent, max: number): void => {
    for (const d of a.engine.takeOutgoing(max)) {
      a.inTransit.push(d);
      const p = decodeProfile(d.delta);
      const full = a.engine.profile(d.workloadKey) as Profile;
      if (hex(p) === hex(full)) whole++;
      else partial++;
      // What whole-profile sending would have delivered at this moment.
      fromWhole.set(d.workloadKey, mergeProfiles(at(fromWhole, d.workloadKey), full));
    }
  };
  const steps = big ? 40 : 80;
  for (let step = 0; step < steps; step++) {
    const a = agents[int(r, agents.length)] as Agent;
    const image = IMAGES[int(r, IMAGES.length)] as string;
    const key = keyOf(image);
    t += int(r, 3 * MINUTE);
    for (const x of agents) x.wall.now = t;
    switch (int(r, 12)) {
      case 0:
      case 1:
      case 2:
      case 11: {
        const events = big ? 50 + int(r, 400) : 1 + int(r, 6);
        for (let i = 0; i < events; i++) {
          const et = t + i;
          if (r() < 0.8) {
            const path = `/usr/bin/tool-${int(r, big ? 1500 : 12)}`;
            a.engine.observe(exec(et, image, path, `/bin/${['sh', 'bash'][int(r, 2)]}`, `u${int(r, 3)}`));
          } else {
            a.engine.observe(connect(et, image, `10.0.0.${int(r, big ? 200 : 5)}`, 443 + int(r, 3)));
          }
        }
        break;
      }
      case 3:
      case 4:
      case 5:
        // The write-behind flush now and then (it also marks sends never answered for a resend).
        if (flushes && r() < 0.3) a.engine.flush();
        take(a, 1 + int(r, 3));
        break;
      case 6:
      case 7:
        deliver(a, 1 + int(r, 4));
        break;
      case 8:
        // The stream breaks: what is still on it never arrives. Then a new one is welcomed.
        deliver(a, int(r, a.inTransit.length + 1));
        a.inTransit = [];
        reconnect(a);
        break;
      case 9: {
        // The collector sends its merged profile back (to some agents: pacing, catch-up).
        const p = fromDeltas.get(key);
        if (p === undefined) break;
        const bytes = encodeProfile(p);
        for (const x of agents) if (r() < 0.7) x.engine.applyRemote(key, bytes);
        break;
      }
      default: {
        // An operator's edit on the collector.
        const p = fromDeltas.get(key);
        if (p === undefined) break;
        const ctx = { actor: 'alice', nowMs: t };
        const choice = int(r, 3);
        let edited: Profile;
        try {
          edited =
            choice === 0
              ? lockProfile(p, ctx)
              : choice === 1
                ? reopenLearning(p, ctx)
                : addItem(p, { kind: 'listen', value: `tcp ${8000 + int(r, 4)}` }, ctx);
        } catch {
          break; // a full kind refuses an add
        }
        fromDeltas.set(key, edited);
        fromWhole.set(key, mergeProfiles(at(fromWhole, key), edited));
        break;
      }
    }
  }
  // The streams stay up to the end: everything on them arrives, and what is left is sent.
  for (const a of agents) {
    deliver(a, a.inTransit.length);
    take(a, 1000);
    deliver(a, a.inTransit.length);
  }
  for (const a of agents) a.engine.close();
  return { fromDeltas, fromWhole, partial, whole };
}

describe('profile deltas from the baseline engine', () => {
  it('merge at the collector to the same bytes as whole profiles, with streams breaking (property)', function () {
    this.timeout(120_000);
    let partial = 0;
    let whole = 0;
    let overflowed = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const got = run(seed, (a) => a.engine.resendAll());
      partial += got.partial;
      whole += got.whole;
      assert.deepEqual([...got.fromDeltas.keys()].sort(), [...got.fromWhole.keys()].sort(), `seed ${seed}`);
      for (const [key, p] of got.fromWhole) {
        assert.equal(hex(got.fromDeltas.get(key) as Profile), hex(p), `seed ${seed}, ${key}`);
        if (summarizeProfile(p).trimmed.exec > 0) overflowed++;
      }
    }
    // The runs did what they are for: many sends were real deltas (streams break often here, and
    // deliveries lag minutes of the simulated clock), and some kinds overflowed.
    assert.ok(partial * 4 > partial + whole, `${partial} deltas, ${whole} whole profiles`);
    assert.ok(overflowed > 0, 'no run overflowed a kind');
  });

  it('merges to the same bytes with the flush resending what was never answered (property)', function () {
    this.timeout(120_000);
    let whole = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const got = run(seed, (a) => a.engine.resendAll(), true);
      whole += got.whole;
      assert.deepEqual([...got.fromDeltas.keys()].sort(), [...got.fromWhole.keys()].sort(), `seed ${seed}`);
      for (const [key, p] of got.fromWhole) {
        assert.equal(hex(got.fromDeltas.get(key) as Profile), hex(p), `seed ${seed}, ${key}`);
      }
    }
    assert.ok(whole > 0);
  });

  it('would lose changes if a new stream did not start with whole profiles (the property can fail)', function () {
    this.timeout(60_000);
    let differ = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const got = run(seed, () => {});
      for (const [key, p] of got.fromWhole) {
        const d = got.fromDeltas.get(key);
        if (d === undefined || hex(d) !== hex(p)) differ++;
      }
    }
    assert.ok(differ > 0, 'dropping deltas without resending never mattered');
  });

  it('sends one item’s moved last-seen in under a tenth of the whole profile', () => {
    const a = agent('node-a', 24 * 60 * MINUTE);
    const image = IMAGES[0] as string;
    const address = (i: number): string => `10.0.${Math.floor(i / 250)}.${i % 250}`;
    for (let i = 0; i < MAX_ITEMS_PER_KIND; i++) a.engine.observe(connect(T0 + i, image, address(i), 5432));
    const [first] = a.engine.takeOutgoing(10);
    assert.ok(first !== undefined);
    const profile = decodeProfile(first.delta);
    assert.equal(profile.items.size, MAX_ITEMS_PER_KIND);
    // Eleven minutes later one destination is used again: its last-seen moves.
    a.wall.now = T0 + 11 * MINUTE;
    a.engine.observe(connect(T0 + 11 * MINUTE, image, address(500), 5432));
    const [second] = a.engine.takeOutgoing(10);
    assert.ok(second !== undefined);
    assert.ok(
      second.delta.length * 10 < first.delta.length,
      `delta ${second.delta.length} bytes, whole ${first.delta.length}`,
    );
    const delta = decodeProfile(second.delta);
    assert.deepEqual(
      [...delta.items.values()].map((i) => [i.value, i.lastSeenMs]),
      [[`tcp ${address(500)}:5432`, T0 + 11 * MINUTE]],
    );
    // Merged into what was sent before, it gives the whole profile of now.
    assert.equal(hex(mergeProfiles(profile, delta)), hex(a.engine.profile(keyOf(image)) as Profile));
    assert.deepEqual(a.engine.stats().deltaBytesSent, {
      whole: first.delta.length,
      delta: second.delta.length,
    });
    assert.deepEqual(a.engine.takeOutgoing(10), [], 'nothing changed since');
    a.engine.close();
  });

  it('sends the whole profile again when the collector shows it lost what was sent a while ago', () => {
    const a = agent('node-a', 24 * 60 * MINUTE);
    const image = IMAGES[0] as string;
    const key = keyOf(image);
    a.engine.observe(exec(T0, image, '/usr/bin/python3', '/bin/sh', 'app'));
    const [sent] = a.engine.takeOutgoing(10);
    assert.ok(sent !== undefined);
    let collector = decodeProfile(sent.delta);
    // A new executable; its delta is refused by the collector (a full queue): the stream stays up.
    a.wall.now = T0 + MINUTE;
    a.engine.observe(exec(T0 + MINUTE, image, '/usr/bin/curl', '/bin/sh', 'app'));
    const [refused] = a.engine.takeOutgoing(10);
    assert.ok(refused !== undefined && refused.delta.length < sent.delta.length + 200);
    // Soon after, the collector sends its profile (changed by an operator): the delta may still
    // be on its way, so nothing is resent.
    a.wall.now = T0 + 2 * MINUTE - 1000;
    collector = addItem(
      collector,
      { kind: 'listen', value: 'tcp 8080' },
      { actor: 'alice', nowMs: a.wall.now },
    );
    a.engine.applyRemote(key, encodeProfile(collector));
    assert.deepEqual(a.engine.takeOutgoing(10), []);
    // Later, it still lacks the executable: the agent sends the whole profile.
    a.wall.now = T0 + MINUTE + IN_FLIGHT_MS + 1;
    collector = lockProfile(collector, { actor: 'alice', nowMs: a.wall.now });
    a.engine.applyRemote(key, encodeProfile(collector));
    const [again] = a.engine.takeOutgoing(10);
    assert.ok(again !== undefined);
    const merged = mergeProfiles(collector, decodeProfile(again.delta));
    assert.equal(hex(merged), hex(a.engine.profile(key) as Profile));
    assert.ok(merged.items.has('exec\u0000/usr/bin/curl'));
    // The collector now holds everything: its next profile changes nothing and asks for nothing.
    a.engine.applyRemote(key, encodeProfile(merged));
    assert.deepEqual(a.engine.takeOutgoing(10), []);
    a.engine.close();
  });

  it('sends the whole profile once more when the collector never answers a delta (refused, then nothing changes)', () => {
    const a = agent('node-a', 2 * MINUTE);
    const image = IMAGES[0] as string;
    const key = keyOf(image);
    a.engine.observe(exec(T0, image, '/usr/bin/python3', '/bin/sh', 'app'));
    const [first] = a.engine.takeOutgoing(10);
    assert.ok(first !== undefined);
    let collector = decodeProfile(first.delta);
    // The collector answers with its merged profile: what was sent arrived. Nothing is resent.
    a.engine.applyRemote(key, encodeProfile(collector));
    a.wall.now = T0 + 2 * IN_FLIGHT_MS + 1;
    a.engine.flush();
    assert.deepEqual(a.engine.takeOutgoing(10), []);
    // Learning goes on to the lock; the delta with a new executable and the lock is refused (a
    // full queue at the collector): no answer comes, and nothing changes the profile any more.
    for (let s = 10; s <= 180; s += 10)
      a.engine.observe(exec(T0 + s * 1000, image, '/usr/bin/python3', '/bin/sh', 'app'));
    a.engine.observe(exec(T0 + 181_000, image, '/usr/bin/curl', '/bin/sh', 'app'));
    assert.equal((a.engine.profile(key) as Profile).lock?.actor, 'agent:node-a');
    a.wall.now = T0 + 3 * MINUTE;
    const [refused] = a.engine.takeOutgoing(10);
    assert.ok(refused !== undefined && refused.delta.length < first.delta.length + 200);
    a.wall.now = T0 + 3 * MINUTE + 2 * IN_FLIGHT_MS - 1;
    a.engine.flush();
    assert.deepEqual(a.engine.takeOutgoing(10), [], 'the answer may still come');
    a.wall.now = T0 + 3 * MINUTE + 2 * IN_FLIGHT_MS;
    a.engine.flush();
    const [again] = a.engine.takeOutgoing(10);
    assert.ok(again !== undefined, 'the collector would lack the lock and /usr/bin/curl for good');
    collector = mergeProfiles(collector, decodeProfile(again.delta));
    assert.equal(hex(collector), hex(a.engine.profile(key) as Profile));
    // That retry awaits no answer (one that changed nothing gets none): no more sends.
    a.wall.now += 10 * MINUTE;
    a.engine.flush();
    assert.deepEqual(a.engine.takeOutgoing(10), []);
    a.engine.close();
  });

  it('accepts a 253-character node name (the DNS maximum) as the agent’s actor', () => {
    const node = `${'n'.repeat(63)}.${'o'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}`;
    assert.equal(node.length, 253);
    const a = agent(node, MINUTE);
    const image = IMAGES[0] as string;
    // Two minutes of activity: the agent locks the profile as `agent:<node>`.
    for (let s = 0; s <= 120; s += 10)
      a.engine.observe(exec(T0 + s * 1000, image, '/usr/bin/python3', '/bin/sh', 'app'));
    const p = a.engine.profile(keyOf(image)) as Profile;
    assert.equal(p.lock?.actor, `agent:${node}`);
    const [d] = a.engine.takeOutgoing(10);
    assert.ok(d !== undefined);
    assert.equal(hex(decodeProfile(d.delta)), hex(p));
    assert.deepEqual(summarizeProfile(p).nodes, [node]);
    a.engine.close();
  });

  it('sends what a profile evicted from memory before its turn had not sent yet (from the store)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-deltas-'));
    try {
      const wall = { now: T0 };
      const engine = new BaselineEngine({
        node: 'node-a',
        context: createAgentContext({ processes: new ProcessTable({ maxEntries: 1000 }) }),
        logger: createLogger({ write: () => {}, now: () => wall.now, level: 'error' }),
        learningPeriodMs: 24 * 60 * MINUTE,
        sequences: false,
        maxProfiles: 1,
        store: openBaselineStore({ path: join(dir, 'baselines.db') }),
        now: () => wall.now,
        flushIntervalMs: 0,
      });
      const [api, worker] = IMAGES as [string, string];
      const collector = new Map<string, Profile>();
      const deliver = (): void => {
        for (const d of engine.takeOutgoing(10)) {
          const got = decodeProfile(d.delta);
          collector.set(d.workloadKey, mergeProfiles(collector.get(d.workloadKey) ?? got, got));
        }
      };
      engine.observe(exec(T0, api, '/usr/bin/python3', '/bin/sh', 'app'));
      deliver();
      // A new executable in api; before the link's next tick, worker's first event pushes api
      // out of memory (maxProfiles 1).
      wall.now = T0 + 1000;
      engine.observe(exec(T0 + 1000, api, '/usr/bin/curl', '/bin/sh', 'app'));
      engine.observe(exec(T0 + 1500, worker, '/usr/bin/node', '/bin/sh', 'app'));
      assert.equal(engine.stats().profilesEvicted, 1);
      deliver();
      const held = collector.get(keyOf(api));
      assert.ok(held?.items.has('exec\u0000/usr/bin/curl'), 'the collector lacks what api learnt');
      // Nothing more to send, and api comes back whole when its workload shows up again.
      assert.deepEqual(engine.takeOutgoing(10), []);
      engine.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
