import assert from 'node:assert/strict';
import { isMap, isScalar, parseDocument, type Scalar } from 'yaml';
import { scalarOffsets } from './scalar-offsets.js';

/** Parses `key: <scalar>` and checks that every non-blank value character maps to itself. */
function mapOf(source: string): { value: string; offsets: number[] } {
  const doc = parseDocument(source, { schema: 'failsafe' });
  const map = doc.contents;
  assert.ok(isMap(map));
  const node = map.items[0]?.value;
  assert.ok(isScalar(node));
  const scalar = node as Scalar;
  const value = String(scalar.value);
  const range = scalar.range ?? assert.fail('range');
  return { value, offsets: scalarOffsets(value, scalar.type, source, range[0], range[1]) };
}

function assertNonBlankCharsMatch(source: string): void {
  const { value, offsets } = mapOf(source);
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (/\s/.test(c)) continue;
    assert.equal(
      source[offsets[i] as number],
      c,
      `char ${i} ${JSON.stringify(c)} of ${JSON.stringify(value)}`,
    );
  }
}

describe('scalarOffsets', () => {
  it('maps plain scalars, including multi-line ones', () => {
    assertNonBlankCharsMatch('condition: evt.type = open and proc.name = cat\n');
    assertNonBlankCharsMatch('condition: evt.type = open\n  and proc.name = cat\n  and fd.name = x\n');
    const { offsets } = mapOf('k: abc\n');
    assert.deepEqual(offsets, [3, 4, 5, 6]);
  });

  it('maps folded and literal block scalars', () => {
    assertNonBlankCharsMatch('condition: >\n  evt.type = open\n  and proc.name in (a, b)\n\n  and x\n');
    assertNonBlankCharsMatch('condition: |\n    evt.type = open\n      and proc.name = "x y"\n');
    assertNonBlankCharsMatch('condition: >-   # a comment\n  proc.name = cat\n');
  });

  it('maps quoted scalars with escapes to the escape sequence', () => {
    const src = 'k: "a\\"b\\tc \\x41d"\n';
    const { value, offsets } = mapOf(src);
    assert.equal(value, 'a"b\tc Ad');
    assert.equal(src.slice(offsets[1] as number, (offsets[1] as number) + 2), '\\"');
    assert.equal(src.slice(offsets[6] as number, (offsets[6] as number) + 4), '\\x41');
    assert.equal(src[offsets[7] as number], 'd');
    const single = "k: 'it''s x'\n";
    const m = mapOf(single);
    assert.equal(m.value, "it's x");
    assert.equal(single[m.offsets[5] as number], 'x');
    assertNonBlankCharsMatch('k: "line one\n  line two \\\n  joined"\n');
  });

  it('puts the end position just past the last character', () => {
    const { value, offsets } = mapOf('k: "abc"\n');
    assert.equal(offsets[value.length], 7);
  });
});
