/**
 * Text that remembers where each character came from.
 *
 * Falco builds a rule's condition by gluing texts together — the condition scalar, `append`ed
 * conditions, exception clauses, list items substituted for list names — and only then parses
 * it. To report a parse error at the right line and column of the right file, every character
 * here carries the global offset (see {@link SourceSet}) of the character it came from, or -1 for
 * text the loader made up.
 */

/** An immutable string with a source offset per character. */
export class MappedText {
  /**
   * @param text the characters
   * @param at `at[i]` is the global offset of `text[i]`, -1 when made up; `at[text.length]` is
   *   the offset just past the end, where "unexpected end of condition" errors point.
   */
  constructor(
    readonly text: string,
    readonly at: readonly number[],
  ) {
    if (at.length !== text.length + 1)
      throw new RangeError('MappedText needs one offset per character plus one');
  }

  /** Text with no source of its own; every character points at `anchor` (default: nowhere). */
  static synthetic(text: string, anchor = -1): MappedText {
    return new MappedText(text, new Array<number>(text.length + 1).fill(anchor));
  }

  /** Text copied verbatim from a file: character `i` sits at global offset `start + i`. */
  static verbatim(text: string, start: number): MappedText {
    const at = new Array<number>(text.length + 1);
    for (let i = 0; i <= text.length; i++) at[i] = start + i;
    return new MappedText(text, at);
  }

  /** The texts one after another. */
  static concat(parts: readonly MappedText[]): MappedText {
    let text = '';
    const at: number[] = [];
    for (const p of parts) {
      text += p.text;
      for (let i = 0; i < p.text.length; i++) at.push(p.at[i] as number);
    }
    const last = parts[parts.length - 1];
    at.push(last === undefined ? -1 : (last.at[last.text.length] as number));
    return new MappedText(text, at);
  }

  /** The characters in [start, end). */
  slice(start: number, end: number = this.text.length): MappedText {
    const at = this.at.slice(start, end);
    at.push(end < this.text.length ? (this.at[end] as number) : (this.at[this.text.length] as number));
    return new MappedText(this.text.slice(start, end), at);
  }

  /**
   * Replaces [start, end) by `replacement`, whose characters all point where `text[start]` came
   * from (or the first known place before it): an error inside substituted text is reported
   * where the substituted name was written.
   */
  replace(start: number, end: number, replacement: string): MappedText {
    const anchor = this.locationOf(start);
    const at = this.at.slice(0, start);
    for (let i = 0; i < replacement.length; i++) at.push(anchor);
    for (let i = end; i <= this.text.length; i++) at.push(this.at[i] as number);
    return new MappedText(this.text.slice(0, start) + replacement + this.text.slice(end), at);
  }

  /**
   * The global offset of the character at `offset`; for made-up characters, the nearest known
   * character before it (else after it); -1 when no character is known.
   */
  locationOf(offset: number): number {
    const o = Math.max(0, Math.min(offset, this.text.length));
    for (let i = o; i >= 0; i--) {
      const g = this.at[i] as number;
      if (g >= 0) return g;
    }
    for (let i = o + 1; i <= this.text.length; i++) {
      const g = this.at[i] as number;
      if (g >= 0) return g;
    }
    return -1;
  }
}
