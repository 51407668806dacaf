import assert from 'node:assert/strict';
import { needsQuoting, quoteString, unescapeQuoted } from './escaping.js';
import { ConditionSyntaxError, parseCondition } from './parser.js';

/** The value of `a.b = <quoted>` as the parser reads it. */
function readBack(quoted: string): string {
  const e = parseCondition(`a.b = ${quoted}`);
  assert.ok(e.kind === 'binary' && e.right.kind === 'value');
  return e.right.value;
}

describe('unescapeQuoted', function () {
  it('decodes every escape libsinsp knows', function () {
    assert.equal(unescapeQuoted('"\\b\\f\\n\\r\\t\\\\\\/"'), '\b\f\n\r\t\\/');
    assert.equal(unescapeQuoted('"say \\"hi\\""'), 'say "hi"');
    assert.equal(unescapeQuoted("'it\\'s'"), "it's");
    assert.equal(unescapeQuoted('""'), '');
  });

  it('decodes backslash-blank to a backslash', function () {
    assert.equal(unescapeQuoted('"a\\ b"'), 'a\\b');
  });

  it('decodes \\xHH with exactly two hex digits, high bytes as latin1 code units', function () {
    assert.equal(unescapeQuoted('"\\x41\\x413"'), 'AA3');
    assert.equal(unescapeQuoted('"\\xAb\\xff\\x00"'), '\u00ab\u00ff\u0000');
    for (const bad of ['"\\x"', '"\\xf"', '"\\xgg"', '"\\x g"', '"\\x-1"', '"a\\xf"']) {
      assert.throws(() => unescapeQuoted(bad), ConditionSyntaxError, bad);
    }
  });

  it('rejects the other quote escaped, unknown escapes and a dangling backslash', function () {
    for (const bad of ['"\\\'"', "'\\\"'", '"\\q"', '"\\u0041"', '"ab\\"']) {
      assert.throws(() => unescapeQuoted(bad), ConditionSyntaxError, bad);
    }
  });

  it('rejects input that is not one quoted string', function () {
    for (const bad of ['', '"', 'abc', '"abc\'', '\'abc"']) {
      assert.throws(() => unescapeQuoted(bad), ConditionSyntaxError, JSON.stringify(bad));
    }
  });

  it('reports the position of a bad escape', function () {
    try {
      unescapeQuoted('"ok\\z"');
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConditionSyntaxError);
      assert.equal(err.pos.offset, 3);
      assert.equal(err.pos.column, 4);
    }
  });
});

describe('quoteString', function () {
  it('always double-quotes and escapes as libsinsp', function () {
    assert.equal(quoteString('bash'), '"bash"');
    assert.equal(quoteString('some "quoted string"'), '"some \\"quoted string\\""');
    assert.equal(quoteString("it's"), '"it\'s"');
    assert.equal(quoteString('a\b\f\n\r\tb\\c'), '"a\\b\\f\\n\\r\\tb\\\\c"');
    assert.equal(quoteString(''), '""');
  });

  it('writes a final backslash and NUL so that the parser reads them back', function () {
    assert.equal(quoteString('dir\\'), '"dir\\ "');
    assert.equal(readBack(quoteString('dir\\')), 'dir\\');
    assert.equal(readBack(quoteString('a\0b')), 'a\0b');
  });

  it('round-trips random strings through the parser', function () {
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    const alphabet = [
      'a',
      ' ',
      '"',
      "'",
      '\\',
      '\n',
      '\t',
      '\b',
      '\r',
      '\f',
      '\0',
      '(',
      ',',
      '=',
      'é',
      'x',
      '\\ ',
    ];
    for (let n = 0; n < 2000; n++) {
      let value = '';
      const length = next() % 12;
      for (let k = 0; k < length; k++) value += alphabet[next() % alphabet.length];
      const quoted = quoteString(value);
      assert.equal(unescapeQuoted(quoted), value, JSON.stringify(value));
      assert.equal(readBack(quoted), value, JSON.stringify(value));
    }
  });
});

describe('needsQuoting', function () {
  it('is false for legal bare strings', function () {
    for (const v of ['bash', '/usr/bin/*', '0a!@#456:/\\.;!$%^&*[]{}|', 'a\bb', 'héllo', 'a.b']) {
      assert.equal(needsQuoting(v), false, v);
      assert.equal(readBack(v), v);
    }
  });

  it('is true where the bare form would not read back', function () {
    for (const v of ['', 'a b', 'a\tb', 'a\vb', 'x(', 'x)', 'a,b', 'a=b', '"', "'", '\bx', 'a\0']) {
      assert.equal(needsQuoting(v), true, JSON.stringify(v));
    }
  });
});
