/**
 * fnmatch-style wildcard matching for the `glob`, `iglob` and `pmatch` operators, as libsinsp
 * does it with `fnmatch(pattern, value, 0)` (or `FNM_CASEFOLD`): `*` matches any run of
 * characters including `/`, `?` one character, `[...]` a set (`[!...]` or `[^...]` negated,
 * ranges, `[:alpha:]`-style classes), and a backslash makes the next character literal. A `[`
 * without its closing `]` is an ordinary character.
 *
 * The pattern is compiled once into tokens; matching walks value and pattern with a single
 * backtracking point (the last `*`), so it takes at most O(pattern × value) steps and can never
 * go exponential, whatever the pattern. Characters are JS code units (see values.ts for how bytes
 * map to them); case folding is ASCII-only, as in the C locale.
 */

/** A compiled wildcard pattern. */
export interface Glob {
  /** Whether `value` matches the whole pattern. Does not allocate. */
  matches(value: string): boolean;
}

const LITERAL = 0;
const ANY_ONE = 1;
const STAR = 2;
const SET = 3;

type Token =
  | { readonly kind: typeof LITERAL; readonly code: number }
  | { readonly kind: typeof ANY_ONE }
  | { readonly kind: typeof STAR }
  | { readonly kind: typeof SET; readonly negated: boolean; readonly test: (c: number) => boolean };

/** Compiles `pattern`; `caseInsensitive` gives `iglob` semantics. */
export function compileGlob(pattern: string, caseInsensitive = false): Glob {
  const tokens = tokenize(pattern, caseInsensitive);
  // A pattern without wildcards is plain equality.
  if (tokens.every((t) => t.kind === LITERAL)) {
    const text = String.fromCharCode(...tokens.map((t) => (t as { code: number }).code));
    return caseInsensitive
      ? { matches: (v) => v.length === text.length && foldedEquals(v, text) }
      : { matches: (v) => v === text };
  }
  return { matches: (v) => matchTokens(tokens, v, caseInsensitive) };
}

function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

function foldedEquals(value: string, lowerText: string): boolean {
  for (let i = 0; i < value.length; i++)
    if (fold(value.charCodeAt(i)) !== lowerText.charCodeAt(i)) return false;
  return true;
}

function tokenize(pattern: string, ci: boolean): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern.charCodeAt(i);
    if (c === 42 /* * */) {
      // Consecutive stars are one star.
      if (tokens.length === 0 || tokens[tokens.length - 1]!.kind !== STAR) tokens.push({ kind: STAR });
      i++;
    } else if (c === 63 /* ? */) {
      tokens.push({ kind: ANY_ONE });
      i++;
    } else if (c === 91 /* [ */) {
      const set = parseSet(pattern, i, ci);
      if (set === undefined) {
        tokens.push({ kind: LITERAL, code: ci ? fold(c) : c });
        i++;
      } else {
        tokens.push(set.token);
        i = set.next;
      }
    } else if (c === 92 /* \ */ && i + 1 < pattern.length) {
      const l = pattern.charCodeAt(i + 1);
      tokens.push({ kind: LITERAL, code: ci ? fold(l) : l });
      i += 2;
    } else {
      tokens.push({ kind: LITERAL, code: ci ? fold(c) : c });
      i++;
    }
  }
  return tokens;
}

const CLASSES: Record<string, (c: number) => boolean> = {
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  digit: (c) => c >= 48 && c <= 57,
  alnum: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57),
  upper: (c) => c >= 65 && c <= 90,
  lower: (c) => c >= 97 && c <= 122,
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  blank: (c) => c === 32 || c === 9,
  punct: (c) =>
    (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126),
  print: (c) => c >= 32 && c <= 126,
  graph: (c) => c >= 33 && c <= 126,
  cntrl: (c) => c < 32 || c === 127,
  xdigit: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
};

/** Parses `[...]` at `start`; undefined when it is not a complete set (then `[` is literal). */
function parseSet(p: string, start: number, ci: boolean): { token: Token; next: number } | undefined {
  let i = start + 1;
  let negated = false;
  if (i < p.length && (p[i] === '!' || p[i] === '^')) {
    negated = true;
    i++;
  }
  const singles: number[] = [];
  const ranges: Array<[number, number]> = [];
  const classes: Array<(c: number) => boolean> = [];
  let first = true;
  while (i < p.length) {
    let c = p.charCodeAt(i);
    if (c === 93 /* ] */ && !first) {
      const test = (x: number): boolean => {
        const probe = ci ? fold(x) : x;
        if (singles.includes(probe)) return true;
        for (const [lo, hi] of ranges) {
          if (probe >= lo && probe <= hi) return true;
          // A folded range like [A-Z] must still accept lower-case input.
          if (ci && x >= lo && x <= hi) return true;
        }
        for (const cls of classes) if (cls(x)) return true;
        return false;
      };
      return { token: { kind: SET, negated, test }, next: i + 1 };
    }
    first = false;
    if (c === 91 /* [ */ && p[i + 1] === ':') {
      const close = p.indexOf(':]', i + 2);
      const cls = close < 0 ? undefined : CLASSES[p.slice(i + 2, close)];
      if (cls !== undefined) {
        classes.push(cls);
        i = close + 2;
        continue;
      }
    }
    if (c === 92 /* \ */ && i + 1 < p.length) {
      i++;
      c = p.charCodeAt(i);
    }
    i++;
    if (p[i] === '-' && i + 1 < p.length && p[i + 1] !== ']') {
      let hi = p.charCodeAt(i + 1);
      i += 2;
      if (hi === 92 && i < p.length) {
        hi = p.charCodeAt(i);
        i++;
      }
      ranges.push(ci ? [fold(c), fold(hi)] : [c, hi]);
    } else {
      singles.push(ci ? fold(c) : c);
    }
  }
  return undefined;
}

function tokenMatches(t: Token, c: number, ci: boolean): boolean {
  switch (t.kind) {
    case LITERAL:
      return (ci ? fold(c) : c) === t.code;
    case ANY_ONE:
      return true;
    case SET:
      return t.test(c) !== t.negated;
    default:
      return false;
  }
}

function matchTokens(tokens: readonly Token[], v: string, ci: boolean): boolean {
  let ti = 0;
  let vi = 0;
  let starTi = -1;
  let starVi = 0;
  while (vi < v.length) {
    const t = tokens[ti];
    if (t !== undefined && t.kind === STAR) {
      starTi = ti++;
      starVi = vi;
      continue;
    }
    if (t !== undefined && tokenMatches(t, v.charCodeAt(vi), ci)) {
      ti++;
      vi++;
      continue;
    }
    if (starTi < 0) return false;
    // Let the last star swallow one more character and retry from there.
    ti = starTi + 1;
    vi = ++starVi;
  }
  while (ti < tokens.length && tokens[ti]!.kind === STAR) ti++;
  return ti === tokens.length;
}
