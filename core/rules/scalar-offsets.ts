/**
 * Where each character of a YAML scalar's value sits in the file, so that an error at offset N
 * of a condition can be reported at the right line and column.
 *
 * YAML transforms scalars on the way in: quotes go, `\t` and `''` escapes collapse to one
 * character, block scalars lose their indentation, and folding turns line breaks into spaces.
 * Rather than re-implement YAML, this aligns the value against the raw source greedily: every
 * value character is matched to the next raw character equal to it, skipping the whitespace
 * YAML drops, with escapes in quoted scalars consumed as a unit. For the scalars rule files use
 * (plain, quoted, `|` and `>` blocks) this is exact for every non-blank character. It is
 * approximate for blanks produced by folding (they point at the line break they replace) and for
 * values the alignment cannot follow (then the character points at the current raw position,
 * so a position is always close and never outside the scalar).
 */

/** The scalar styles of the `yaml` package. */
export type ScalarStyle = 'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'BLOCK_LITERAL' | 'BLOCK_FOLDED';

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

/** The length of the escape sequence starting with the backslash at `p` in a double-quoted scalar. */
function escapeLength(source: string, p: number): number {
  switch (source[p + 1]) {
    case 'x':
      return 4;
    case 'u':
      return 6;
    case 'U':
      return 10;
    default:
      return 2;
  }
}

/**
 * Returns `offsets` with `offsets[i]` the offset in `source` of `value[i]`, and
 * `offsets[value.length]` the offset just past the value's last character.
 *
 * @param value the scalar's value as the YAML parser produced it
 * @param style the scalar's style
 * @param source the whole file
 * @param start offset where the scalar's source starts (its opening quote or block indicator)
 * @param end offset where the scalar's source ends
 */
export function scalarOffsets(
  value: string,
  style: ScalarStyle | undefined,
  source: string,
  start: number,
  end: number,
): number[] {
  const offsets = new Array<number>(value.length + 1);
  const double = style === 'QUOTE_DOUBLE';
  const single = style === 'QUOTE_SINGLE';
  let p = start;
  if (double || single) p = start + 1;
  else if (style === 'BLOCK_LITERAL' || style === 'BLOCK_FOLDED') {
    // The content starts on the line after the block header (`>-`, `|2`, maybe a comment).
    const nl = source.indexOf('\n', start);
    p = nl < 0 || nl >= end ? end : nl + 1;
  }

  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (double && source[p] === '\\' && p < end) {
      const next = source[p + 1];
      if (next === '\n' || next === '\r') {
        // An escaped line break joins lines without producing a character.
        p += 2;
        while (p < end && isBlank(source[p])) p++;
        continue;
      }
      offsets[i++] = p;
      p += escapeLength(source, p);
      continue;
    }
    if (single && source[p] === "'" && source[p + 1] === "'") {
      offsets[i++] = p;
      p += 2;
      continue;
    }
    if (isBlank(c)) {
      // A blank in the value is either copied or a folded line break: both sit on a blank here.
      offsets[i++] = Math.min(p, end);
      if (p < end && isBlank(source[p])) p++;
      continue;
    }
    let q = p;
    while (q < end && source[q] !== c && isBlank(source[q])) q++;
    if (q < end && source[q] === c) {
      offsets[i++] = q;
      p = q + 1;
      continue;
    }
    const found = source.indexOf(c, p);
    if (found >= 0 && found < end) {
      offsets[i++] = found;
      p = found + 1;
    } else {
      offsets[i++] = Math.min(p, end);
    }
  }
  offsets[value.length] = value.length > 0 ? Math.min((offsets[value.length - 1] as number) + 1, end) : p;
  return offsets;
}
