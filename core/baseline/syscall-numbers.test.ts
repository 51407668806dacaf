import assert from 'node:assert/strict';
import { HASHED_BASE, syscallName, syscallNumber } from './syscall-numbers.js';

describe('syscallNumber', () => {
  it('gives x86_64 numbers for known names', () => {
    assert.equal(syscallNumber('read'), 0);
    assert.equal(syscallNumber('write'), 1);
    assert.equal(syscallNumber('execve'), 59);
    assert.equal(syscallNumber('openat'), 257);
    assert.equal(syscallNumber(' connect '), 42);
    assert.equal(syscallName(257), 'openat');
    assert.equal(syscallName(100_000), undefined);
  });

  it('hashes unknown names stably into 512..1023', () => {
    const a = syscallNumber('not_a_real_syscall');
    assert.equal(syscallNumber('not_a_real_syscall'), a);
    for (const name of ['foo', 'bar', 'ReAd', 'socketcall', 'x']) {
      const n = syscallNumber(name);
      assert.ok(n >= HASHED_BASE && n < 1024, `${name} -> ${n}`);
    }
    assert.notEqual(syscallNumber('foo'), syscallNumber('bar'));
  });

  it('refuses an empty name', () => {
    assert.throws(() => syscallNumber('  '), /empty/);
  });
});
