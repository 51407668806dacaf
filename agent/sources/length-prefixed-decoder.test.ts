import assert from 'node:assert/strict';
import type { Event } from '../../core/event.js';
import { createLengthPrefixedDecoder, frameRecord } from './length-prefixed-decoder.js';

/** Payloads are UTF-8 text here; `bad` is rejected. */
function run(chunks: Buffer[], maxRecordBytes?: number): { texts: string[]; bad: string[] } {
  const texts: string[] = [];
  const bad: string[] = [];
  const d = createLengthPrefixedDecoder(
    (p): Event | string => (p.toString() === 'bad' ? 'bad-record' : { fields: { text: p.toString() } }),
    maxRecordBytes === undefined ? {} : { maxRecordBytes },
  )({
    event: (e) => texts.push(e.fields['text'] as string),
    malformed: (r) => bad.push(r),
  });
  for (const c of chunks) d.push(c);
  d.end();
  return { texts, bad };
}

const stream = (...payloads: string[]): Buffer =>
  Buffer.concat(payloads.map((p) => frameRecord(Buffer.from(p))));

describe('createLengthPrefixedDecoder', () => {
  it('decodes records whole, and split at every possible byte', () => {
    const all = stream('alpha', '', 'bad', 'gamma-delta');
    assert.deepEqual(run([all]), { texts: ['alpha', '', 'gamma-delta'], bad: ['bad-record'] });
    for (let cut = 0; cut <= all.length; cut++) {
      assert.deepEqual(
        run([all.subarray(0, cut), all.subarray(cut)]).texts,
        ['alpha', '', 'gamma-delta'],
        `cut ${cut}`,
      );
    }
    const bytes = [...all].map((b) => Buffer.from([b]));
    assert.deepEqual(run(bytes).texts, ['alpha', '', 'gamma-delta']);
  });

  it('copies what it keeps: a reused input buffer does not corrupt a partial record', () => {
    const all = stream('first-record', 'second');
    const scratch = Buffer.alloc(5);
    const texts: string[] = [];
    const d = createLengthPrefixedDecoder((p) => ({ fields: { text: p.toString() } }))({
      event: (e) => texts.push(e.fields['text'] as string),
      malformed: () => {},
    });
    for (let at = 0; at < all.length; at += 5) {
      scratch.fill(0);
      const n = all.copy(scratch, 0, at, at + 5);
      d.push(scratch.subarray(0, n));
    }
    d.end();
    assert.deepEqual(texts, ['first-record', 'second']);
  });

  it('skips an oversized record without buffering it and stays in step', () => {
    const big = 'x'.repeat(1000);
    const all = stream('before', big, 'after');
    assert.deepEqual(run([all], 100), { texts: ['before', 'after'], bad: ['oversized'] });
    const pieces: Buffer[] = [];
    for (let at = 0; at < all.length; at += 33) pieces.push(all.subarray(at, at + 33));
    assert.deepEqual(run(pieces, 100), { texts: ['before', 'after'], bad: ['oversized'] });
  });

  it('reports a record cut by the end of the stream, in its prefix or its payload', () => {
    const all = stream('whole', 'cut-short');
    assert.deepEqual(run([all.subarray(0, all.length - 3)]), { texts: ['whole'], bad: ['truncated'] });
    assert.deepEqual(run([all.subarray(0, 9 + 2)]), { texts: ['whole'], bad: ['truncated'] });
    assert.deepEqual(run([stream('x', 'y'.repeat(500)).subarray(0, 20)], 100), {
      texts: ['x'],
      bad: ['truncated'],
    });
  });

  it('rejects a non-positive limit', () => {
    assert.throws(() => createLengthPrefixedDecoder(() => 'x', { maxRecordBytes: 0 }), RangeError);
  });
});
