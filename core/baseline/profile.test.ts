import assert from 'node:assert/strict';
import {
  addItem,
  boundValue,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  lockProfile,
  MAX_ITEMS_PER_KIND,
  mergeProfiles,
  observationDelta,
  observedMs,
  profileHas,
  profileKeyOf,
  profileStatus,
  removeItem,
  reopenLearning,
  summarizeProfile,
  ProfileDecodeError,
  PROFILE_ITEM_KINDS,
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
});
