import assert from 'node:assert/strict';
import type { Event } from '../../core/event.js';
import { classifyUnparsable, createJsonLinesDecoder } from './json-lines-decoder.js';

function decode(
  chunks: (string | Buffer)[],
  mapper: (r: Record<string, unknown>) => Event | string = (r) => ({ fields: r }),
  maxLineBytes?: number,
): { events: Event[]; bad: [string, string | undefined][] } {
  const events: Event[] = [];
  const bad: [string, string | undefined][] = [];
  const d = createJsonLinesDecoder(
    mapper,
    maxLineBytes === undefined ? {} : { maxLineBytes },
  )({
    event: (e) => events.push(e),
    malformed: (r, detail) => bad.push([r, detail]),
  });
  for (const c of chunks) d.push(typeof c === 'string' ? Buffer.from(c) : c);
  d.end();
  return { events, bad };
}

describe('createJsonLinesDecoder', () => {
  it('decodes objects across chunk boundaries and skips blank lines silently', () => {
    const r = decode(['{"a":', '1}\n\n  \r\n{"a":2}\r\n{"a"', ':3}']);
    assert.deepEqual(
      r.events.map((e) => e.fields['a']),
      [1, 2, 3],
    );
    assert.deepEqual(r.bad, []);
  });

  it('names garbage, truncation, wrong types and oversized lines', () => {
    const r = decode(
      [
        'nope\n',
        '{"a":1\n',
        '[1,\n',
        '[1]\n',
        '7\n',
        'true\n',
        'null\n',
        '"s"\n',
        `{"x":"${'z'.repeat(100)}"}\n`,
        '{"ok":1}\n',
      ],
      undefined,
      64,
    );
    assert.deepEqual(
      r.bad.map(([reason]) => reason),
      [
        'not-json',
        'truncated',
        'truncated',
        'bad-type',
        'bad-type',
        'bad-type',
        'bad-type',
        'bad-type',
        'oversized',
      ],
    );
    assert.deepEqual(r.bad[3], ['bad-type', 'expected an object, got array']);
    assert.deepEqual(r.bad[6], ['bad-type', 'expected an object, got null']);
    assert.equal(r.events.length, 1);
  });

  it('reports a last line cut off at the end of the stream as truncated', () => {
    const r = decode(['{"a":1}\n{"a":']);
    assert.equal(r.events.length, 1);
    assert.deepEqual(
      r.bad.map(([reason]) => reason),
      ['truncated'],
    );
  });

  it('passes mapper rejections through as the reason', () => {
    const r = decode(['{"kind":"x"}\n{"kind":"y"}\n'], (rec) =>
      rec['kind'] === 'x' ? { fields: rec } : 'unknown-kind',
    );
    assert.equal(r.events.length, 1);
    assert.deepEqual(r.bad, [['unknown-kind', undefined]]);
  });

  it('keeps a line with invalid UTF-8 inside a string: hiding behind a bad file name must not work', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"fd.name":"/tmp/'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n'),
    ]);
    const r = decode([bytes]);
    assert.equal(r.events.length, 1);
    assert.equal(r.events[0]?.fields['fd.name'], '/tmp/\ufffd\ufffd');
  });

  it('cuts the detail of a long bad line short', () => {
    const r = decode([`${'g'.repeat(500)}\n`]);
    assert.ok((r.bad[0]?.[1]?.length ?? 0) <= 83);
  });
});

describe('classifyUnparsable', () => {
  it('tells truncated JSON from garbage and ignores blank lines', () => {
    assert.equal(classifyUnparsable('  {"a": "b'), 'truncated');
    assert.equal(classifyUnparsable('[{"a":1},'), 'truncated');
    assert.equal(classifyUnparsable('{"a" "b"}'), 'not-json');
    assert.equal(classifyUnparsable('hello'), 'not-json');
    assert.equal(classifyUnparsable(' \t\r'), undefined);
  });
});
