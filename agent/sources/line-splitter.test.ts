import assert from 'node:assert/strict';
import { LineSplitter } from './line-splitter.js';

function split(
  chunks: (string | Buffer)[],
  max = 1 << 20,
): { lines: string[]; bad: boolean[]; oversized: number[] } {
  const lines: string[] = [];
  const bad: boolean[] = [];
  const oversized: number[] = [];
  const s = new LineSplitter(
    {
      line(t, invalid) {
        lines.push(t);
        bad.push(invalid);
      },
      oversized(n) {
        oversized.push(n);
      },
    },
    max,
  );
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.end();
  return { lines, bad, oversized };
}

describe('LineSplitter', () => {
  it('splits lines across chunk boundaries', () => {
    assert.deepEqual(split(['a\nb', 'c\n', 'd']).lines, ['a', 'bc', 'd']);
    assert.deepEqual(split(['', 'x\n\ny\n']).lines, ['x', '', 'y']);
  });

  it('keeps a multi-byte character split between chunks intact', () => {
    const bytes = Buffer.from('é\n');
    assert.deepEqual(split([bytes.subarray(0, 1), bytes.subarray(1)]).lines, ['é']);
  });

  it('flags invalid UTF-8 and still delivers the line', () => {
    const r = split([Buffer.from([0x61, 0xff, 0x62, 0x0a, 0x63, 0x0a])]);
    assert.deepEqual(r.lines, ['a\ufffdb', 'c']);
    assert.deepEqual(r.bad, [true, false]);
  });

  it('skips an oversized line without buffering it and resumes after it', () => {
    const big = 'x'.repeat(100);
    const r = split(['ok\n', big.slice(0, 40), big.slice(40), big, '\nnext\n'], 64);
    assert.deepEqual(r.lines, ['ok', 'next']);
    assert.equal(r.oversized.length, 1);
    assert.ok((r.oversized[0] ?? 0) >= 200);
  });

  it('reports an oversized line that ends in the same chunk', () => {
    const r = split(['y'.repeat(70) + '\nz\n'], 64);
    assert.deepEqual(r.lines, ['z']);
    assert.deepEqual(r.oversized, [70]);
  });

  it('rejects a non-positive limit', () => {
    assert.throws(() => new LineSplitter({ line() {}, oversized() {} }, 0), RangeError);
  });
});
