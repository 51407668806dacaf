import assert from 'node:assert/strict';
import { bytesToText, textToBytes } from './byte-text.js';

const decode = (bytes: number[] | Buffer): string => {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return bytesToText(buf, 0, buf.length);
};

describe('bytesToText / textToBytes', () => {
  it('decodes valid UTF-8 as usual', () => {
    for (const text of ['', '/etc/passwd', 'a b"c\nd', 'café', '日本語/ファイル', '🐧 tux', '\u0000x']) {
      assert.equal(decode(Buffer.from(text, 'utf8')), text);
      assert.deepEqual(textToBytes(text), Buffer.from(text, 'utf8'));
    }
  });

  it('escapes each byte of an invalid sequence as a lone surrogate', () => {
    assert.equal(decode([0x2f, 0x74, 0xff]), '/t\udcff');
    // A lone continuation byte, a cut two-byte sequence, an overlong '/', an encoded surrogate.
    assert.equal(decode([0x80]), '\udc80');
    assert.equal(decode([0xc3]), '\udcc3');
    assert.equal(decode([0xc0, 0xaf]), '\udcc0\udcaf');
    assert.equal(decode([0xed, 0xa0, 0x80]), '\udced\udca0\udc80');
    // Valid text around invalid bytes keeps its characters.
    assert.equal(decode([0x61, 0xfe, 0xc3, 0xa9, 0x62]), 'a\udcfeéb');
  });

  it('keeps a literal U+FFFD in the input', () => {
    assert.equal(decode(Buffer.from('x\ufffdy', 'utf8')), 'x\ufffdy');
  });

  it('round-trips any bytes exactly', () => {
    // A fixed pseudo-random sequence: the same cases on every run.
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    for (let round = 0; round < 2000; round++) {
      const bytes = Buffer.from(Array.from({ length: next() % 40 }, () => next() & 0xff));
      assert.deepEqual(textToBytes(decode(bytes)), bytes, bytes.toString('hex'));
    }
  });

  it('decodes a slice of a larger buffer', () => {
    const buf = Buffer.from('xx/tmp/ayy', 'utf8');
    assert.equal(bytesToText(buf, 2, 8), '/tmp/a');
    assert.equal(bytesToText(buf, 3, 3), '');
  });
});
