import assert from 'node:assert/strict';
import { CallSetCollector, CallSetCursor, CallSetIndex } from './sequence-callsets.js';

function collect(sets: number[][]): CallSetCollector {
  const c = new CallSetCollector(16);
  sets.forEach((s) => {
    for (const call of s) c.observe(call);
    c.endTrace();
  });
  return c;
}

describe('call sets', () => {
  it('measures the cosine distance to the nearest prototype (hand-computed)', () => {
    const index = new CallSetIndex(
      collect([
        [1, 2, 3, 4],
        [500, 501],
      ]).build(),
    );
    assert.equal(index.count, 2);
    const cur = new CallSetCursor(index);
    assert.equal(cur.distance(), 0);
    for (const c of [1, 2, 2, 1]) cur.push(c);
    // |{1,2} ∩ {1,2,3,4}| / sqrt(2 * 4)
    assert.ok(Math.abs(cur.distance() - (1 - 2 / Math.sqrt(8))) < 1e-12);
    for (const c of [3, 4]) cur.push(c);
    assert.equal(cur.distance(), 0);
    cur.push(900);
    assert.ok(Math.abs(cur.distance() - (1 - 4 / Math.sqrt(20))) < 1e-12);
    cur.reset();
    cur.push(777);
    assert.equal(cur.distance(), 1);
  });

  it('keeps each distinct set once, in the order first seen, and caps them', () => {
    const c = collect([[1, 2], [2, 1, 1], [3], [4]]);
    assert.equal(c.size, 3);
    const built = c.build();
    assert.equal(built.length / 32, 3);
    assert.deepEqual([built[0], built[32], built[64]], [0b110, 0b1000, 0b10000]);
    c.endTrace(); // an empty trace adds nothing
    assert.equal(c.size, 3);
    const capped = new CallSetCollector(1);
    capped.observe(1);
    capped.endTrace();
    capped.observe(2);
    capped.endTrace();
    assert.equal(capped.size, 1);
    assert.equal(capped.dropped, 1);
  });
});
