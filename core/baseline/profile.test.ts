import assert from 'node:assert/strict';
import {
  addItem,
  boundValue,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  lockProfile,
  itemKey,
  MAX_ITEMS_PER_KIND,
  MAX_NAME_LENGTH,
  MAX_TRIMMED_HASHES,
  mergeProfiles,
  observationDelta,
  observedMs,
  profileDelta,
  profileHas,
  profileKeyOf,
  profileStatus,
  removeItem,
  reopenLearning,
  summarizeProfile,
  ProfileDecodeError,
  PROFILE_ITEM_KINDS,
  trimmedValueHash,
  type Profile,
  type ProfileItemKind,
} from './profile.js';

const KEY = 'payments/Deployment/api/api|registry.local/api:1.4';

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

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function delta(
  node: string,
  activity: number,
  items: [ProfileItemKind, string, number][],
  base?: Profile,
): Profile {
  return observationDelta(
    base ?? emptyProfile(KEY),
    node,
    activity,
    items.map(([kind, value, t]) => ({ kind, value, firstSeenMs: t, lastSeenMs: t })),
    0,
  );
}

/** A random change: an observation delta, an edit or a life-cycle step, on some state. */
function randomChange(r: () => number, states: Profile[]): Profile {
  const base = pick(r, states);
  const node = pick(r, ['node-a', 'node-b', 'node-c']);
  const t = 1000 + Math.floor(r() * 100);
  const kind = pick(r, PROFILE_ITEM_KINDS);
  const value = pick(r, ['/bin/sh', '/usr/bin/curl', 'tcp 10.0.0.1:443', '/tmp/*', 'root']);
  const ctx = { actor: pick(r, ['alice', 'bob', 'agent:node-a']), nowMs: t };
  switch (Math.floor(r() * 6)) {
    case 0:
      return addItem(base, { kind, value }, ctx);
    case 1:
      return removeItem(base, { kind, value }, ctx);
    case 2:
      return lockProfile(base, ctx);
    case 3:
      return reopenLearning(base, ctx);
    default:
      return delta(node, Math.floor(r() * 5000), [[kind, value, t]], base);
  }
}

function shuffle<T>(r: () => number, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Merges `xs` in a random grouping (a random binary tree). */
function mergeTree(r: () => number, xs: Profile[]): Profile {
  if (xs.length === 1) return xs[0] as Profile;
  const cut = 1 + Math.floor(r() * (xs.length - 1));
  return mergeProfiles(mergeTree(r, xs.slice(0, cut)), mergeTree(r, xs.slice(cut)));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('profiles (CRDT)', () => {
  it('merges random changes to the same bytes in any order and grouping (property)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const states: Profile[] = [emptyProfile(KEY)];
      for (let i = 0; i < 12; i++) states.push(randomChange(r, states));
      const changes = states.slice(1);
      const reference = hex(encodeProfile(changes.reduce(mergeProfiles)));
      for (let trial = 0; trial < 4; trial++) {
        const got = hex(encodeProfile(mergeTree(r, shuffle(r, changes))));
        assert.equal(got, reference, `seed ${seed}, trial ${trial}`);
      }
      // Idempotent: merging anything already merged in changes nothing.
      const merged = decodeProfile(Buffer.from(reference, 'hex'));
      assert.equal(hex(encodeProfile(mergeProfiles(merged, pick(r, changes)))), reference, `seed ${seed}`);
      assert.equal(hex(encodeProfile(mergeProfiles(merged, merged))), reference);
    }
  });

  it('keeps an operator edit made after a state over that state, on every merge order', () => {
    const learnt = delta('node-a', 10, [['exec', '/bin/sh', 100]]);
    const removed = removeItem(learnt, { kind: 'exec', value: '/bin/sh' }, { actor: 'alice', nowMs: 50 });
    // The edit's clock was behind the observation, yet it wins: it was made having seen it.
    assert.equal(profileHas(removed, 'exec', '/bin/sh'), false);
    for (const m of [mergeProfiles(learnt, removed), mergeProfiles(removed, learnt)]) {
      assert.equal(profileHas(m, 'exec', '/bin/sh'), false);
    }
    const added = addItem(removed, { kind: 'exec', value: '/bin/sh' }, { actor: 'bob', nowMs: 60 });
    assert.equal(profileHas(mergeProfiles(removed, added), 'exec', '/bin/sh'), true);
  });

  it('locks, reopens with a fresh learning clock, and lets the reopening win over older locks', () => {
    const a = delta('node-a', 3_600_000, [['exec', '/app', 1]]);
    assert.equal(observedMs(mergeProfiles(a, delta('node-b', 600_000, []))), 4_200_000);
    const locked = lockProfile(a, { actor: 'agent:node-a', nowMs: 2000 });
    assert.equal(profileStatus(locked), 'locked');
    const reopened = reopenLearning(locked, { actor: 'alice', nowMs: 3000 });
    assert.equal(profileStatus(reopened), 'learning');
    assert.equal(observedMs(reopened), 0);
    // Another agent locks later, not having seen the reopening: the reopening still wins.
    const lateLock = lockProfile(a, { actor: 'agent:node-b', nowMs: 9000 });
    assert.equal(profileStatus(mergeProfiles(lateLock, reopened)), 'learning');
    assert.equal(profileStatus(mergeProfiles(reopened, lateLock)), 'learning');
    assert.ok(profileHas(reopened, 'exec', '/app'), 'what was learnt stays');
  });

  it('round-trips through bytes and summarises', () => {
    let p = delta('node-a', 5000, [
      ['exec', '/usr/bin/curl', 10],
      ['spawn', '/bin/sh -> /usr/bin/curl', 10],
      ['connect', 'tcp 10.0.0.1:443', 12],
    ]);
    p = addItem(p, { kind: 'listen', value: 'tcp 8080' }, { actor: 'alice', nowMs: 20 });
    p = lockProfile(p, { actor: 'agent:node-a', nowMs: 30 });
    const bytes = encodeProfile(p);
    assert.deepEqual(encodeProfile(decodeProfile(bytes)), bytes);
    const s = summarizeProfile(decodeProfile(bytes));
    assert.equal(s.namespace, 'payments');
    assert.equal(s.ownerKind, 'Deployment');
    assert.equal(s.ownerName, 'api');
    assert.equal(s.container, 'api');
    assert.equal(s.image, 'registry.local/api:1.4');
    assert.equal(s.status, 'locked');
    assert.equal(s.lockedAtMs, 30);
    assert.equal(s.learningSinceMs, 10, 'learning since the first observation, not since the lock');
    assert.equal(summarizeProfile(delta('node-b', 1000, [['exec', '/x', 7]])).learningSinceMs, 7);
    assert.equal(s.observedMs, 5000);
    assert.deepEqual(s.nodes, ['node-a']);
    assert.equal(s.items.length, 4);
    assert.deepEqual(
      s.items.find((i) => i.kind === 'listen'),
      { kind: 'listen', value: 'tcp 8080', firstSeenMs: 20, lastSeenMs: 20, manual: true },
    );
    assert.equal(s.sizeBytes, bytes.length);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('builds keys from workload identity and image', () => {
    const w = {
      namespace: 'shop',
      ownerKind: 'Deployment',
      ownerName: 'web',
      container: 'nginx',
      image: 'nginx:1',
    };
    assert.equal(profileKeyOf(w, 'nginx:1'), 'shop/Deployment/web/nginx|nginx:1');
  });

  it('stays bounded: a full kind keeps the smallest values on merge, and says it is full', () => {
    const many = (from: number): Profile =>
      delta(
        'node-a',
        1,
        Array.from(
          { length: MAX_ITEMS_PER_KIND },
          (_, i) =>
            ['exec', `/bin/p${String(from + i).padStart(5, '0')}`, 1] as [ProfileItemKind, string, number],
        ),
      );
    const m = mergeProfiles(many(0), many(500));
    const s = summarizeProfile(m);
    assert.equal(s.itemCounts.exec, MAX_ITEMS_PER_KIND);
    assert.deepEqual(s.full, ['exec']);
    assert.ok(profileHas(m, 'exec', '/bin/p00000'));
    assert.ok(!profileHas(m, 'exec', '/bin/p01499'));
    assert.equal(hex(encodeProfile(m)), hex(encodeProfile(mergeProfiles(many(500), many(0)))));
    // An operator's add that the full kind would drop at once is refused, not silently lost.
    const ctx = { actor: 'alice', nowMs: 5 };
    assert.throws(() => addItem(m, { kind: 'exec', value: '/bin/zz' }, ctx), /maximum of 1000 exec items/);
    assert.equal(removeItem(m, { kind: 'exec', value: '/bin/zz' }, ctx), m, 'nothing to remove');
    assert.ok(profileHas(addItem(m, { kind: 'exec', value: '/bin/a' }, ctx), 'exec', '/bin/a'));
  });

  it('rejects bad bytes with a ProfileDecodeError naming the problem', () => {
    const good = encodeProfile(delta('node-a', 1, [['exec', '/bin/sh', 1]]));
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array([1, 2, 3]), /bad magic/],
      [Uint8Array.from([...good.subarray(0, 4), 9, ...good.subarray(5)]), /unsupported version 9/],
      [good.subarray(0, good.length - 3), /truncated/],
      [Uint8Array.from([...good, 0]), /bytes after the end/],
      [new Uint8Array(9 * 1024 * 1024), /more than the limit/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(
        () => decodeProfile(bytes),
        (err: unknown) => err instanceof ProfileDecodeError && message.test(err.message),
      );
    }
    // Random corruption never crashes with anything but a ProfileDecodeError (or decodes).
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from(good);
      bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      try {
        decodeProfile(bytes);
      } catch (err) {
        assert.ok(err instanceof ProfileDecodeError, String(err));
      }
    }
  });

  it('rejects merges of different profiles and edits with bad input', () => {
    assert.throws(() => mergeProfiles(emptyProfile('a|x'), emptyProfile('b|x')), /different profiles/);
    assert.throws(() => emptyProfile(''), /profile key/);
    assert.throws(
      () => addItem(emptyProfile(KEY), { kind: 'exec', value: '' }, { actor: 'a', nowMs: 1 }),
      /value must be/,
    );
    assert.throws(
      () =>
        addItem(
          emptyProfile(KEY),
          { kind: 'bogus' as ProfileItemKind, value: 'x' },
          { actor: 'a', nowMs: 1 },
        ),
      /unknown profile item kind 'bogus'/,
    );
    // A lone surrogate would read back from bytes as U+FFFD: a second, equal item, then undecodable.
    assert.throws(
      () => addItem(emptyProfile(KEY), { kind: 'exec', value: '/x\ud800' }, { actor: 'a', nowMs: 1 }),
      /well-formed/,
    );
  });

  it('bounds values so that they read back from bytes as the same string', () => {
    // A cut through a surrogate pair, and a lone surrogate in the input.
    const cutPair = boundValue(`/${'a'.repeat(509)}\u{1F600}tail`);
    assert.equal(cutPair.length, 512);
    for (const value of [cutPair, boundValue('/tmp\udc00x')]) {
      const learnt = observationDelta(
        emptyProfile(KEY),
        'n1',
        0,
        [{ kind: 'exec', value, firstSeenMs: 1, lastSeenMs: 1 }],
        0,
      );
      const back = decodeProfile(encodeProfile(learnt));
      // Merging the in-memory state with what came back over the wire is still one item.
      const merged = mergeProfiles(learnt, back);
      assert.equal(merged.items.size, 1, JSON.stringify([...merged.items.keys()]));
      assert.deepEqual(encodeProfile(decodeProfile(encodeProfile(merged))), encodeProfile(back));
    }
  });

  it('counts what a full kind drops, the same in any order and grouping (property)', function () {
    this.timeout(60_000);
    const value = (i: number): string => `/opt/bin/t${String(i).padStart(5, '0')}`;
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      // Distinct values overall: just over the cap (an exact count) or far over it (an estimate).
      const universe = MAX_ITEMS_PER_KIND + (seed % 3 === 0 ? 1500 : 1 + Math.floor(r() * 240));
      const changes: Profile[] = [];
      const seen = new Set<number>();
      for (let c = 0; c < 5; c++) {
        const items: [ProfileItemKind, string, number][] = [];
        const n = 200 + Math.floor(r() * 600);
        for (let i = 0; i < n; i++) {
          const v = Math.floor(r() * universe);
          seen.add(v);
          items.push(['exec', value(v), 1 + Math.floor(r() * 50)]);
        }
        changes.push(delta(pick(r, ['node-a', 'node-b']), 10, items));
      }
      if (r() < 0.5) {
        // An operator's add of a small value pushes the largest one out: counted too.
        const base = changes.reduce(mergeProfiles);
        changes.push(addItem(base, { kind: 'exec', value: '/a' }, { actor: 'alice', nowMs: 60 }));
        seen.add(-1);
      }
      const reference = hex(encodeProfile(changes.reduce(mergeProfiles)));
      for (let trial = 0; trial < 3; trial++) {
        assert.equal(hex(encodeProfile(mergeTree(r, shuffle(r, changes)))), reference, `seed ${seed}`);
      }
      const merged = decodeProfile(Buffer.from(reference, 'hex'));
      assert.equal(hex(encodeProfile(mergeProfiles(merged, pick(r, changes)))), reference, 'idempotent');
      const s = summarizeProfile(merged);
      const dropped = Math.max(0, seen.size - MAX_ITEMS_PER_KIND);
      assert.equal(s.itemCounts.exec, Math.min(seen.size, MAX_ITEMS_PER_KIND));
      if (dropped < MAX_TRIMMED_HASHES) {
        assert.equal(s.trimmed.exec, dropped, `seed ${seed}: exact below ${MAX_TRIMMED_HASHES}`);
        assert.deepEqual(s.trimmedEstimated, []);
      } else {
        assert.deepEqual(s.trimmedEstimated, ['exec']);
        const error = Math.abs(s.trimmed.exec - dropped) / dropped;
        assert.ok(error < 0.25, `seed ${seed}: estimated ${s.trimmed.exec} of ${dropped}`);
      }
      assert.equal(s.trimmed.connect, 0);
    }
  });

  it('counts what a full kind drops with operator adds and removes on any state, in any order (property)', function () {
    this.timeout(60_000);
    const value = (i: number): string => `/opt/bin/t${String(i).padStart(5, '0')}`;
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const universe = MAX_ITEMS_PER_KIND + 20 + Math.floor(r() * 200);
      const changes: Profile[] = [];
      for (let c = 0; c < 4; c++) {
        const items: [ProfileItemKind, string, number][] = [];
        for (let i = 0, n = 300 + Math.floor(r() * 500); i < n; i++) {
          items.push(['exec', value(Math.floor(r() * universe)), 1 + Math.floor(r() * 50)]);
        }
        changes.push(delta(pick(r, ['node-a', 'node-b']), 10, items));
      }
      // Operators edit states that hold some of the changes only (replicas, the collector before
      // a delta arrived): adds and removes of values learnt, unseen, small and large.
      for (let e = 0; e < 6; e++) {
        const base = mergeTree(r, shuffle(r, changes).slice(0, 1 + Math.floor(r() * changes.length)));
        const v = value(r() < 0.3 ? universe + Math.floor(r() * 50) : Math.floor(r() * universe));
        const ctx = { actor: pick(r, ['alice', 'bob']), nowMs: 100 + e };
        try {
          changes.push(
            r() < 0.5
              ? addItem(base, { kind: 'exec', value: v }, ctx)
              : removeItem(base, { kind: 'exec', value: v }, ctx),
          );
        } catch {
          // A full kind refuses an add that would not be kept.
        }
      }
      const reference = hex(encodeProfile(changes.reduce(mergeProfiles)));
      for (let trial = 0; trial < 4; trial++) {
        assert.equal(hex(encodeProfile(mergeTree(r, shuffle(r, changes)))), reference, `seed ${seed}`);
      }
      const merged = decodeProfile(Buffer.from(reference, 'hex'));
      assert.equal(hex(encodeProfile(mergeProfiles(merged, pick(r, changes)))), reference, 'idempotent');
      // A dropped value never comes back, and every value held anywhere and not kept is counted.
      const kept = new Set([...merged.items.values()].map((i) => i.value));
      const everywhere = new Set(changes.flatMap((c) => [...c.items.values()].map((i) => i.value)));
      const hashes = new Set(merged.trimmed.get('exec') ?? []);
      for (const v of kept)
        assert.ok(!hashes.has(trimmedValueHash(v)), `seed ${seed}: ${v} kept and trimmed`);
      const dropped = [...everywhere].filter((v) => !kept.has(v));
      for (const v of dropped) assert.ok(hashes.has(trimmedValueHash(v)), `seed ${seed}: ${v} not counted`);
      assert.equal(summarizeProfile(merged).trimmed.exec, new Set(dropped.map(trimmedValueHash)).size);
    }
  });

  it('keeps the trimmed hashes a function of the dropped values', () => {
    const many = (from: number, n: number): Profile =>
      delta(
        'node-a',
        1,
        Array.from(
          { length: n },
          (_, i) => ['user', `u${String(from + i).padStart(5, '0')}`, 1] as [ProfileItemKind, string, number],
        ),
      );
    const m = mergeProfiles(many(0, MAX_ITEMS_PER_KIND), many(MAX_ITEMS_PER_KIND - 3, 5));
    const expected = ['u01000', 'u01001'].map(trimmedValueHash).sort((a, b) => a - b);
    assert.deepEqual(m.trimmed.get('user'), expected);
    assert.equal(summarizeProfile(m).trimmed.user, 2);
    assert.equal(trimmedValueHash(''), 0x811c9dc5, 'FNV-1a offset basis');
    assert.equal(trimmedValueHash('a'), 0xe40c292c, 'FNV-1a of "a"');
  });

  it('encodes byte for byte as a plain TextEncoder-per-string encoder does (random profiles)', () => {
    const names = [
      'node-a',
      'ip-10-0-1-2.ec2.internal',
      'nœud-é',
      'узел',
      '节点',
      'n\u{1F600}x',
      'lone\ud800',
    ];
    const values = ['/bin/sh', '/usr/bin/café', '/tmp/日本/*', '/x/\u{1F680}', `/${'a'.repeat(300)}é`];
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const states: Profile[] = [emptyProfile(`ns/Deployment/${pick(r, names)}/c|img:${seed}`)];
      for (let i = 0; i < 10; i++) {
        const base = pick(r, states);
        const node = pick(r, names);
        const ctx = { actor: `agent:${pick(r, names)}`, nowMs: 1000 + Math.floor(r() * 2 ** 40) };
        const kind = pick(r, PROFILE_ITEM_KINDS);
        const v = `${pick(r, values)}${Math.floor(r() * 5)}`;
        const c = Math.floor(r() * 5);
        states.push(
          c === 0
            ? addItem(base, { kind, value: v }, ctx)
            : c === 1
              ? lockProfile(base, ctx)
              : observationDelta(
                  base,
                  node,
                  Math.floor(r() * 2 ** 45),
                  [{ kind, value: v, firstSeenMs: ctx.nowMs, lastSeenMs: ctx.nowMs + 5 }],
                  Math.floor(r() * 3),
                ),
        );
      }
      let p = states.reduce(mergeProfiles);
      if (seed % 10 === 0) {
        p = {
          ...p,
          trimmed: new Map([
            ['exec', [0, 1, 2 ** 32 - 1]],
            ['listen', [7]],
          ]),
        };
      }
      assert.equal(hex(encodeProfile(p)), hex(plainEncode(p, p.trimmed.size > 0 ? 2 : 1)), `seed ${seed}`);
      assert.equal(hex(encodeProfile(decodeProfile(encodeProfile(p)))), hex(encodeProfile(p)));
    }
  });

  it('writes version 1 unless something was trimmed, so that the version before reads it', () => {
    let p = delta('node-a', 5000, [
      ['exec', '/usr/bin/curl', 10],
      ['connect', 'tcp 10.0.0.1:443', 12],
    ]);
    p = lockProfile(addItem(p, { kind: 'listen', value: 'tcp 8080' }, { actor: 'alice', nowMs: 20 }), {
      actor: 'agent:node-a',
      nowMs: 30,
    });
    const v1 = plainEncode(p, 1);
    assert.equal(v1[4], 1);
    assert.equal(hex(encodeProfile(p)), hex(v1), 'nothing trimmed: version 1, as before');
    assert.equal(decodeProfile(v1).trimmed.size, 0);
    // A version 2 form with an empty trimmed section reads as the same profile.
    const v2 = plainEncode(p, 2);
    assert.equal(v2[4], 2);
    assert.equal(hex(encodeProfile(decodeProfile(v2))), hex(v1));
    // Something trimmed: version 2.
    const trimmed: Profile = { ...p, trimmed: new Map([['exec', [42]]]) };
    assert.equal(encodeProfile(trimmed)[4], 2);
    assert.deepEqual(decodeProfile(encodeProfile(trimmed)).trimmed.get('exec'), [42]);
  });

  it('rejects bad trimmed counts with a ProfileDecodeError', () => {
    const p = {
      ...delta('node-a', 1, [['exec', '/bin/sh', 1]]),
      trimmed: new Map([['exec', [5, 9]]]),
    } as Profile;
    const good = encodeProfile(p);
    assert.equal(hex(encodeProfile(decodeProfile(good))), hex(good));
    // The trimmed section follows the two empty-or-one-entry counters; find it by re-encoding.
    const at = hex(good).indexOf(hex(Uint8Array.from([1, 0, 2, 5, 4])));
    assert.ok(at > 0 && at % 2 === 0);
    const i = at / 2;
    const cases: [number, number, RegExp][] = [
      [i + 1, 9, /trimmed: unknown kind 9/],
      [i + 2, 0, /no hashes/],
      [i + 4, 0, /not ascending/],
    ];
    for (const [offset, byte, message] of cases) {
      const bad = Uint8Array.from(good);
      bad[offset] = byte;
      assert.throws(
        () => decodeProfile(bad),
        (err: unknown) => err instanceof ProfileDecodeError && message.test(err.message),
        String(message),
      );
    }
  });

  it('takes actors and node names up to the limit: `agent:` and a 253-character node name', () => {
    const node = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    assert.equal(node.length, 253);
    const actor = `agent:${node}`;
    const learnt = observationDelta(
      emptyProfile(KEY),
      node,
      10,
      [{ kind: 'exec', value: '/bin/sh', firstSeenMs: 1, lastSeenMs: 1 }],
      0,
    );
    const locked = lockProfile(learnt, { actor, nowMs: 5 });
    const back = decodeProfile(encodeProfile(locked));
    assert.equal(back.lock?.actor, actor);
    assert.equal(back.epochStart.actor, actor);
    assert.deepEqual(summarizeProfile(back).nodes, [node]);
    assert.ok(MAX_NAME_LENGTH >= actor.length);
    assert.throws(
      () => lockProfile(learnt, { actor: 'x'.repeat(MAX_NAME_LENGTH + 1), nowMs: 5 }),
      /actor must be at most 320 characters/,
    );
  });

  it('makes deltas that merge like the whole profile into what was sent before', () => {
    const before = delta('node-a', 1000, [
      ['exec', '/bin/sh', 10],
      ['exec', '/usr/bin/python3', 11],
    ]);
    const other = delta('node-b', 500, [['connect', 'tcp 10.0.0.9:53', 12]]);
    let now = mergeProfiles(before, other);
    now = mergeProfiles(now, delta('node-a', 2000, [['exec', '/bin/sh', 900]], now));
    now = lockProfile(now, { actor: 'agent:node-a', nowMs: 950 });
    const d = profileDelta(now, 'node-a', [itemKey('exec', '/bin/sh'), itemKey('exec', '/gone')], false);
    assert.deepEqual([...d.items.keys()], [itemKey('exec', '/bin/sh')]);
    assert.deepEqual([...d.activity], [['node-a', 2000]]);
    // The collector held what was sent before, and the other node's part.
    const collector = mergeProfiles(before, other);
    assert.equal(
      hex(encodeProfile(mergeProfiles(collector, d))),
      hex(encodeProfile(mergeProfiles(collector, now))),
    );
    assert.ok(encodeProfile(d).length < encodeProfile(now).length);
  });
});

/**
 * The binary form written the plain way (one TextEncoder call per string), as a reference for
 * the optimised encoder; `version` 1 leaves out the trimmed section.
 */
function plainEncode(p: Profile, version: 1 | 2): Uint8Array {
  const out: number[] = [0x56, 0x47, 0x50, 0x46, version];
  const enc = new TextEncoder();
  const uint = (v: number): void => {
    let n = v;
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
  };
  const str = (s: string): void => {
    const b = enc.encode(s);
    uint(b.length);
    for (const x of b) out.push(x);
  };
  const stamp = (s: { timeMs: number; actor: string }): void => {
    uint(s.timeMs);
    str(s.actor);
  };
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  str(p.key);
  uint(p.epoch);
  stamp(p.epochStart);
  if (p.lock === undefined) out.push(0);
  else {
    out.push(1);
    stamp(p.lock);
  }
  for (const counter of [p.activity, p.notLearned]) {
    const entries = [...counter].sort((a, b) => cmp(a[0], b[0]));
    uint(entries.length);
    for (const [k, v] of entries) {
      str(k);
      uint(v);
    }
  }
  if (version === 2) {
    const kinds = PROFILE_ITEM_KINDS.filter((k) => (p.trimmed.get(k)?.length ?? 0) > 0);
    uint(kinds.length);
    for (const k of kinds) {
      const hs = p.trimmed.get(k) ?? [];
      out.push(PROFILE_ITEM_KINDS.indexOf(k));
      uint(hs.length);
      hs.forEach((h, i) => uint(i === 0 ? h : h - (hs[i - 1] as number)));
    }
  }
  const items = [...p.items.values()].sort(
    (a, b) =>
      PROFILE_ITEM_KINDS.indexOf(a.kind) - PROFILE_ITEM_KINDS.indexOf(b.kind) || cmp(a.value, b.value),
  );
  uint(items.length);
  for (const item of items) {
    out.push(PROFILE_ITEM_KINDS.indexOf(item.kind));
    str(item.value);
    uint(item.firstSeenMs);
    uint(item.lastSeenMs);
    uint(item.nodes.length);
    for (const n of item.nodes) str(n);
    if (item.manual === undefined) out.push(0);
    else {
      out.push(item.manual.present ? 1 : 2);
      stamp(item.manual);
    }
  }
  return Uint8Array.from(out);
}
