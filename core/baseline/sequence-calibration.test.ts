import assert from 'node:assert/strict';
import { MAX_CALIBRATION, TailCalibration } from './sequence-calibration.js';

describe('TailCalibration', () => {
  const cal = new TailCalibration([5, 1, 3, 2, 4]);

  it('is 0 below every normal value and ln(n + 1) at the largest', () => {
    assert.equal(cal.surprise(0.5), 0);
    assert.ok(Math.abs(cal.surprise(5) - Math.log(6)) < 1e-12);
    // At the smallest: 5 of 5 normal values are at least as high -> p = 5/6.
    assert.ok(Math.abs(cal.surprise(1) - Math.log(6 / 5)) < 1e-12);
    // Half-way between 2 and 3: rank 1.5 -> p = 3.5 / 6.
    assert.ok(Math.abs(cal.surprise(2.5) - Math.log(6 / 3.5)) < 1e-12);
  });

  it('never decreases and keeps growing past the largest value', () => {
    let prev = -1;
    for (let x = 0; x < 12; x += 0.05) {
      const s = cal.surprise(x);
      assert.ok(s >= prev, `at ${x}`);
      prev = s;
    }
    assert.ok(cal.surprise(10) > cal.surprise(6));
  });

  it('thins a large sample to quantiles and passes raw values through when empty', () => {
    const big = new TailCalibration(Array.from({ length: 10_000 }, (_, i) => i));
    assert.equal(big.size, MAX_CALIBRATION);
    assert.equal(big.sorted[0], 0);
    assert.equal(big.sorted[MAX_CALIBRATION - 1], 9999);
    assert.equal(new TailCalibration([]).surprise(2.5), 2.5);
  });
});
