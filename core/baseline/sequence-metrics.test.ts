import assert from 'node:assert/strict';
import { detectionRate, rocAuc } from './sequence-metrics.js';

describe('sequence metrics', () => {
  it('computes ROC AUC with ties counted as half (hand-computed)', () => {
    // Pairs (anomalous vs normal): 0.4>0.1 1, 0.4=0.4 0.5, 0.9>0.1 1, 0.9>0.4 1 -> 3.5 / 4.
    assert.equal(rocAuc([0.1, 0.4], [0.4, 0.9]), 0.875);
    // normal 1 2 2 3, anomalous 2 4: pairs for 2 -> 1 + .5 + .5 + 0 = 2; for 4 -> 4; 6 / 8.
    assert.equal(rocAuc([1, 2, 2, 3], [2, 4]), 0.75);
    assert.equal(rocAuc([1, 1], [1, 1, 1]), 0.5);
    assert.equal(rocAuc([1, 2], [3, 4]), 1);
    assert.equal(rocAuc([3, 4], [1, 2]), 0);
  });

  it('agrees with counting every pair', () => {
    let s = 7;
    const next = (): number => (
      (s = (Math.imul(s, 1103515245) + 12345) >>> 0),
      Math.floor((s / 2 ** 32) * 20)
    );
    const neg = Array.from({ length: 60 }, next);
    const pos = Array.from({ length: 40 }, () => next() + 3);
    let pairs = 0;
    for (const p of pos) for (const n of neg) pairs += p > n ? 1 : p === n ? 0.5 : 0;
    assert.ok(Math.abs(rocAuc(neg, pos) - pairs / (neg.length * pos.length)) < 1e-12);
  });

  it('computes the detection rate at a false-alarm budget', () => {
    // 25% of 4 normals may alarm: threshold 3 (only 4 is above it); 3.5 and 5 are detected.
    assert.equal(detectionRate([1, 2, 3, 4], [2.5, 3.5, 5], 0.25), 2 / 3);
    // 0% budget: above the largest normal only.
    assert.equal(detectionRate([1, 2, 3, 4], [4, 5], 0), 0.5);
    // Ties with the threshold do not count as detected.
    assert.equal(detectionRate([1, 1, 1, 1], [1, 2], 0.1), 0.5);
    assert.equal(detectionRate([1, 2], [0], 1), 1);
  });

  it('refuses empty sides and NaN', () => {
    assert.throws(() => rocAuc([], [1]), /at least one/);
    assert.throws(() => rocAuc([Number.NaN], [1]), /NaN/);
    assert.throws(() => detectionRate([1], [1], 2), /\[0, 1\]/);
  });
});
