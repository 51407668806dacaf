import assert from 'node:assert/strict';
import { SequenceLearner, SequenceModelError, type SequenceModelOptions } from './sequence-model.js';

/** A deterministic pseudo-random generator (LCG), so tests are repeatable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** One step fed to a learner: a call, or -1 for the end of a trace. */
type Step = number;
const END = -1;

/**
 * Random traces: a few "programs" (loops over a small alphabet with noise), some wholly random
 * calls, and the odd empty trace (two ends in a row).
 */
function randomSteps(seed: number, traces: number): Step[] {
  const r = rng(seed);
  const programs = Array.from({ length: 4 }, () =>
    Array.from({ length: 3 + Math.floor(r() * 6) }, () => Math.floor(r() * 40)),
  );
  const steps: Step[] = [];
  for (let t = 0; t < traces; t++) {
    const p = programs[Math.floor(r() * programs.length)]!;
    const length = Math.floor(r() * 120);
    for (let i = 0; i < length; i++) {
      const x = r();
      steps.push(x < 0.85 ? p[i % p.length]! : x < 0.97 ? Math.floor(r() * 60) : Math.floor(r() * 1024));
    }
    steps.push(END);
    if (r() < 0.05) steps.push(END);
  }
  return steps;
}

function feed(learner: SequenceLearner, steps: readonly Step[], from = 0, to = steps.length): void {
  for (let i = from; i < to; i++) {
    const s = steps[i]!;
    if (s === END) learner.endTrace();
    else learner.observe(s);
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Options that make the tables, prototypes and kept calls overflow within a few hundred traces. */
const TIGHT: SequenceModelOptions = {
  maxOrder: 4,
  maxContexts: 300,
  maxTransitions: 900,
  maxPrototypes: 40,
  folds: 3,
  maxHoldoutCalls: 3000,
};

describe('SequenceLearner.toBytes / fromBytes', () => {
  for (const [name, options] of [
    ['default options', undefined],
    ['tight caps (tables full, kept calls closed)', TIGHT],
  ] as const) {
    it(`a learner read back at any point learns on exactly as the original (${name})`, () => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const steps = randomSteps(seed, 150);
        const r = rng(seed * 7919);
        // Split points: the very start, the end, just after an end of trace, and mid-trace.
        const splits = new Set<number>([
          0,
          steps.length,
          ...Array.from({ length: 12 }, () => Math.floor(r() * steps.length)),
        ]);
        const ends = steps.flatMap((s, i) => (s === END ? [i + 1] : []));
        splits.add(ends[Math.floor(ends.length / 2)]!);
        const sorted = [...splits].sort((a, b) => a - b);
        const a = new SequenceLearner(options);
        const snapshots = new Map<number, Uint8Array>();
        let at = 0;
        for (const k of sorted) {
          feed(a, steps, at, k);
          at = k;
          snapshots.set(k, a.toBytes());
        }
        feed(a, steps, at);
        const reference = hex(a.build().toBytes());
        for (const [k, bytes] of snapshots) {
          const b = SequenceLearner.fromBytes(bytes, options);
          assert.equal(
            hex(b.toBytes()),
            hex(bytes),
            `seed ${seed}, split ${k}: bytes read back write back the same`,
          );
          feed(b, steps, k);
          assert.equal(hex(b.build().toBytes()), reference, `seed ${seed}, split ${k} of ${steps.length}`);
          assert.equal(hex(b.toBytes()), hex(a.toBytes()), `seed ${seed}, split ${k}: same state at the end`);
          assert.equal(b.calls, a.calls);
          assert.equal(b.traces, a.traces);
          assert.equal(b.dropped, a.dropped);
          assert.equal(b.heldOutTraces, a.heldOutTraces);
        }
        if (options === TIGHT) assert.ok(a.dropped > 0, `seed ${seed}: the caps were reached`);
      }
    });
  }

  it('is canonical: the same learnt state gives the same bytes, whatever the table sizes grew through', () => {
    const steps = randomSteps(11, 80);
    const one = new SequenceLearner(TIGHT);
    feed(one, steps);
    const two = new SequenceLearner(TIGHT);
    feed(two, steps);
    assert.equal(hex(one.toBytes()), hex(two.toBytes()));
    assert.notEqual(hex(one.toBytes()), hex(new SequenceLearner(TIGHT).toBytes()));
  });

  describe('bad bytes', () => {
    const small = new SequenceLearner({ maxOrder: 2, folds: 2 });
    feed(small, [1, 2, 3, 1, 2, END, 4, 5, END, 1, 2]);
    const good = small.toBytes();
    const u32At = (b: Uint8Array, off: number, v: number): Uint8Array => {
      const copy = b.slice();
      new DataView(copy.buffer).setUint32(off, v, true);
      return copy;
    };
    /** Offsets in the layout (see toBytes): header 8, options 24, counters 24, flags 4, dropped 8. */
    const CONTEXTS_AT = 68;
    const nCtx = new DataView(good.buffer).getUint32(CONTEXTS_AT, true);
    const TRANSITIONS_AT = CONTEXTS_AT + 4 + (nCtx - 1) * 6;

    const refused = (bytes: Uint8Array, pattern: RegExp, options?: SequenceModelOptions): void => {
      assert.throws(
        () => SequenceLearner.fromBytes(bytes, options),
        (err: unknown) => err instanceof SequenceModelError && pattern.test(err.message),
      );
    };

    it('reads the good bytes back', () => {
      assert.equal(hex(SequenceLearner.fromBytes(good).toBytes()), hex(good));
      assert.ok(nCtx > 3, 'the learner holds contexts');
    });

    it('refuses the bytes cut at every offset, and trailing bytes', () => {
      for (let n = 0; n < good.length; n++) {
        assert.throws(
          () => SequenceLearner.fromBytes(good.subarray(0, n)),
          (err: unknown) => err instanceof SequenceModelError && /truncated|shorter|follow/.test(err.message),
          `cut at ${n} of ${good.length}`,
        );
      }
      refused(new Uint8Array([...good, 0]), /1 unexpected bytes after the end/);
    });

    it('refuses a flipped magic number or an unknown version', () => {
      refused(u32At(good, 0, 0x56535131), /not a Vigil sequence learner/);
      refused(u32At(good, 4, 2), /unsupported sequence learner format version 2/);
    });

    it('refuses absurd lengths at once, without allocating for them', () => {
      const started = Date.now();
      refused(u32At(good, CONTEXTS_AT, 0xffffffff), /context count .* outside 1\.\.262144/);
      refused(u32At(good, CONTEXTS_AT, 200_000), /200000 contexts need/);
      refused(u32At(good, CONTEXTS_AT, 0), /context count .* is 0/);
      refused(u32At(good, TRANSITIONS_AT, 0xffffffff), /transition count .* outside/);
      refused(u32At(good, TRANSITIONS_AT, 500_000), /transition count .* only \d+ bytes follow/);
      refused(u32At(good, 8, 99), /option maxOrder must be an integer in 1\.\.12, got 99/);
      refused(u32At(good, 12, 0xffffffff), /option maxContexts/);
      refused(u32At(good, 56, 7), /flags .* is 7/);
      assert.ok(Date.now() - started < 1000);
    });

    it('refuses inconsistent contents', () => {
      // Context 1 naming itself as parent.
      refused(u32At(good, CONTEXTS_AT + 4, 1), /context 1 names parent 1/);
      // A counter that is not a whole number.
      const c = good.slice();
      new DataView(c.buffer).setFloat64(32, 1.5, true);
      refused(c, /calls at byte 32 is 1\.5/);
      // Options other than those asked for.
      refused(good, /has maxOrder 2, but 5 was asked for/, {});
      refused(good, /has maxContexts 262144, but 4096 was asked for/, {
        maxOrder: 2,
        folds: 2,
        maxContexts: 4096,
      });
    });

    it('never throws anything but a SequenceModelError on random corruption, and what it reads builds', () => {
      const r = rng(42);
      let read = 0;
      for (let i = 0; i < 3000; i++) {
        const bad = good.slice();
        const flips = 1 + Math.floor(r() * 3);
        for (let f = 0; f < flips; f++) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
        let learner: SequenceLearner;
        try {
          learner = SequenceLearner.fromBytes(bad);
        } catch (err) {
          assert.ok(err instanceof SequenceModelError, `corruption ${i}: ${String(err)}`);
          continue;
        }
        read++;
        learner.observe(7);
        learner.endTrace();
        learner.build();
      }
      assert.ok(read < 3000, 'most corruptions are caught');
    });
  });
});
