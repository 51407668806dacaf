import assert from 'node:assert/strict';
import { compileRegex, RegexSyntaxError } from './regex.js';

describe('regex', () => {
  it('matches the whole value (anchored at both ends)', () => {
    assert.equal(compileRegex('^[s]{1}ysca[l]{2}$').matches('syscall'), true);
    assert.equal(compileRegex('syscal.*').matches('syscall'), true);
    assert.equal(compileRegex('yscal.*').matches('syscall'), false);
    assert.equal(compileRegex('.*yscal').matches('syscall'), false);
  });

  it('rejects invalid RE2 with a syntax error', () => {
    assert.throws(() => compileRegex('('), RegexSyntaxError);
    assert.throws(() => compileRegex('a(?=b)'), RegexSyntaxError, 'look-ahead is not RE2');
  });

  it('runs in linear time on patterns that make backtracking engines explode', () => {
    const re = compileRegex('(a+)+b');
    const start = process.hrtime.bigint();
    assert.equal(re.matches('a'.repeat(5000)), false);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});
