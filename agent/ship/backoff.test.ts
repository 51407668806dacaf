import assert from 'node:assert/strict';
import { createBackoff } from './backoff.js';

describe('backoff', () => {
  it('grows the window exponentially up to the cap (random at its top)', () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 1000, multiplier: 2, random: () => 0.999999 });
    const delays = Array.from({ length: 7 }, () => backoff.next());
    assert.deepEqual(delays, [99, 199, 399, 799, 999, 999, 999]);
    assert.equal(backoff.attempts, 7);
  });

  it('draws each delay uniformly from the whole window (full jitter)', () => {
    const draws = [0, 0.5, 0.25, 0.75];
    let i = 0;
    const backoff = createBackoff({ initialMs: 1000, maxMs: 8000, random: () => draws[i++ % draws.length]! });
    // Windows 1000, 2000, 4000, 8000.
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [0, 1000, 1000, 6000]);
  });

  it('starts over after reset', () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 });
    for (let n = 0; n < 5; n++) backoff.next();
    assert.equal(backoff.next(), 1600);
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next(), 50);
  });

  it('stays finite and capped after very many attempts', () => {
    const backoff = createBackoff({ initialMs: 1, maxMs: 30_000, multiplier: 10, random: () => 0.5 });
    let last = 0;
    for (let n = 0; n < 5000; n++) last = backoff.next();
    assert.equal(last, 15_000);
  });

  it('refuses nonsensical settings', () => {
    assert.throws(() => createBackoff({ initialMs: 0 }), /initialMs/);
    assert.throws(() => createBackoff({ initialMs: 500, maxMs: 100 }), /initialMs/);
    assert.throws(() => createBackoff({ multiplier: 0.5 }), /multiplier/);
  });
});
