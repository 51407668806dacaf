import assert from 'node:assert/strict';
import { compileGlob } from './glob.js';

const m = (pattern: string, value: string, ci = false): boolean => compileGlob(pattern, ci).matches(value);

describe('glob', () => {
  it('matches * (across /), ? and literals like fnmatch without flags', () => {
    assert.equal(m('/etc/*', '/etc/passwd'), true);
    assert.equal(m('/etc/*', '/etc/ssh/sshd_config'), true, '* crosses /');
    assert.equal(m('*d?', 'sshd0'), true);
    assert.equal(m('*d?', 'sshd'), false);
    assert.equal(m('abc', 'abc'), true);
    assert.equal(m('abc', 'abcd'), false);
    assert.equal(m('*', ''), true);
    assert.equal(m('?', ''), false);
    assert.equal(m('.bash*', '.bashrc'), true, 'leading dot is ordinary');
  });

  it('supports sets, negation, ranges and classes', () => {
    assert.equal(m('/opt/di[r]/x', '/opt/dir/x'), true);
    assert.equal(m('/opt/di[!r]/x', '/opt/dir/x'), false);
    assert.equal(m('/opt/di[^t]/x', '/opt/dir/x'), true);
    assert.equal(m('file[0-9]', 'file7'), true);
    assert.equal(m('file[0-9]', 'filex'), false);
    assert.equal(m('[]a]', ']'), true, '] first in a set is literal');
    assert.equal(m('x[[:digit:]]', 'x5'), true);
    assert.equal(m('x[[:digit:]]', 'xa'), false);
    assert.equal(m('a[bc', 'a[bc'), true, 'unterminated [ is literal');
  });

  it('treats a backslash as an escape', () => {
    assert.equal(m('a\\*', 'a*'), true);
    assert.equal(m('a\\*', 'ab'), false);
  });

  it('folds ASCII case for iglob only', () => {
    assert.equal(m('MY*', 'myexe'), false);
    assert.equal(m('MY*', 'myexe', true), true);
    assert.equal(m('*EXE', 'myexe', true), true);
    assert.equal(m('[A-Z]yexe', 'myexe', true), true);
    assert.equal(m('MYEXE', 'myexe', true), true);
  });

  it('stays fast on patterns that make naive matchers exponential', () => {
    const pattern = 'a*'.repeat(30) + 'b';
    const value = 'a'.repeat(5000);
    const start = process.hrtime.bigint();
    assert.equal(m(pattern, value), false);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 500, `took ${ms} ms`);
  });
});
