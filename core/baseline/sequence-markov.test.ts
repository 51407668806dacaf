import assert from 'node:assert/strict';
import { MarkovCounts, MarkovCursor } from './sequence-markov.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Traces from a small random automaton over a few calls, so contexts repeat but not always. */
function traces(count: number, seed: number, alphabet: number): number[][] {
  const r = rng(seed);
  const out: number[][] = [];
  for (let t = 0; t < count; t++) {
    const trace: number[] = [];
    let state = 0;
    const len = 1 + Math.floor(r() * 120);
    for (let i = 0; i < len; i++) {
      state = (state * 7 + Math.floor(r() * 3)) % alphabet;
      trace.push(r() < 0.02 ? Math.floor(r() * 1024) : state + 10);
    }
    out.push(trace);
  }
  return out;
}

describe('MarkovCursor', () => {
  for (const order of [1, 3, 5, 8]) {
    it(`prices every call the same on the fast and the slow path (order ${order})`, () => {
      const counts = new MarkovCounts(order, 1 << 16, 1 << 17);
      for (const t of traces(300, order, 23)) {
        for (const c of t) counts.observe(c);
        counts.endTrace();
      }
      const tables = counts.build();
      const fast = new MarkovCursor(tables);
      const slow = new MarkovCursor(tables, false);
      let compared = 0;
      for (const t of [...traces(100, 1000 + order, 23), ...traces(30, 77, 40)]) {
        fast.reset();
        slow.reset();
        for (const c of t) {
          const a = fast.push(c);
          const b = slow.push(c);
          assert.equal(a, b, `call ${c} after ${compared} calls`);
          compared++;
        }
      }
      assert.ok(compared > 3000);
    });
  }

  it('prices a call never seen at the uniform floor plus every escape', () => {
    const counts = new MarkovCounts(2, 1024, 4096);
    for (let i = 0; i < 10; i++) {
      for (const c of [1, 2, 3, 1, 2, 3]) counts.observe(c);
      counts.endTrace();
    }
    const cursor = new MarkovCursor(counts.build());
    const seen = cursor.push(1);
    const unseen = cursor.push(999);
    assert.ok(seen < 1, `first call of a trace is predictable: ${seen}`);
    assert.ok(unseen > 10, `unseen call: ${unseen}`);
  });
});
