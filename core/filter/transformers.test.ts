import assert from 'node:assert/strict';
import { applyUnaryTransformer, getopt, TransformerError, unaryTransformerOutput } from './transformers.js';

const text = { type: 'charbuf', isList: false } as const;
const list = { type: 'charbuf', isList: true } as const;

describe('transformers: one input', () => {
  it('maps case in ASCII only', () => {
    assert.equal(applyUnaryTransformer('toupper', text, 'eXcItED_1'), 'EXCITED_1');
    assert.equal(applyUnaryTransformer('tolower', text, 'NoT eXcItED'), 'not excited');
    assert.equal(applyUnaryTransformer('toupper', text, 'é'), 'é');
    assert.deepEqual(applyUnaryTransformer('tolower', list, ['HELLO', 'wOrLd']), ['hello', 'world']);
  });

  it('decodes base64, with no value for text that is not base64', () => {
    assert.equal(applyUnaryTransformer('b64', text, 'aGVsbG8='), 'hello');
    assert.equal(applyUnaryTransformer('b64', text, 'YWFhLWJiYg'), 'aaa-bbb', 'padding may be omitted');
    assert.equal(applyUnaryTransformer('b64', text, ''), '');
    assert.equal(applyUnaryTransformer('b64', text, 'not base64!'), undefined);
  });

  it('takes the basename after the last slash', () => {
    assert.equal(applyUnaryTransformer('basename', text, '/usr/local/bin/cat'), 'cat');
    assert.equal(applyUnaryTransformer('basename', text, '/'), '');
    assert.equal(applyUnaryTransformer('basename', text, '/hello/'), '');
    assert.equal(applyUnaryTransformer('basename', text, 'hello'), 'hello');
  });

  it('len counts bytes of text and items of lists', () => {
    assert.equal(applyUnaryTransformer('len', text, '/home/ubuntu/hello.txt'), 22);
    assert.equal(applyUnaryTransformer('len', text, 'é'), 2);
    assert.equal(applyUnaryTransformer('len', list, ['ipv4', 'file']), 2);
    assert.equal(applyUnaryTransformer('len', { type: 'uint64', isList: true }, [1, 2, 3]), 3);
  });

  it('checks input types', () => {
    assert.deepEqual(unaryTransformerOutput('len', text), { type: 'uint64', isList: false });
    assert.deepEqual(unaryTransformerOutput('toupper', { type: 'fspath', isList: false }), {
      type: 'fspath',
      isList: false,
    });
    assert.throws(
      () => unaryTransformerOutput('toupper', { type: 'int64', isList: false }),
      TransformerError,
    );
    assert.throws(() => unaryTransformerOutput('len', { type: 'int64', isList: false }), TransformerError);
  });
});

describe('transformers: getopt', () => {
  it('parses flags, attached and separate arguments', () => {
    assert.deepEqual(getopt(['-n', '-t', 'hello'], 'nt:').values, ['n', 'hello']);
    assert.deepEqual(getopt(['-thello'], 't:').values, ['hello']);
    assert.deepEqual(getopt(['-lpe', '/bin/sh'], 'lpe:').values, ['l', 'p', '/bin/sh']);
    assert.equal(getopt(['-t', 'v1', '-t', 'v2'], 't:').byOption.get('t'), 'v2');
  });

  it('stops at the first non-option and after --, skips long options and unknown letters', () => {
    assert.deepEqual(getopt(['-n', '--', '-t'], 'nt:').values, ['n']);
    assert.deepEqual(getopt(['arg1', '-n'], 'n').values, []);
    assert.deepEqual(getopt(['-', '-n'], 'n').values, []);
    assert.deepEqual(getopt(['--exec', '-n'], 'n').values, ['n']);
    assert.deepEqual(getopt(['-x', '-n'], 'n').values, ['n']);
  });

  it('gives an empty value to an option missing its argument', () => {
    const r = getopt(['-t'], 't:');
    assert.deepEqual(r.values, ['']);
    assert.equal(r.byOption.get('t'), '');
    assert.equal(getopt(['-t'], ':t:').byOption.get('t'), '');
    assert.equal(getopt(['-t', 'v1', '-t'], 't:').byOption.get('t'), '');
  });
});
