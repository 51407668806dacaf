/**
 * Comparison operators of the condition language, with libsinsp's semantics, per value kind.
 *
 * Everything here is built once at compile time from an operator and its (already converted)
 * operands, and returns a test on one converted value that runs per event without allocating.
 * Which operators a kind admits is libsinsp's table (`flt_is_comparable`): see
 * {@link operatorAllowed}.
 */
import type { BinaryOperator } from './ast.js';
import { compileGlob, type Glob } from './glob.js';
import { compileRegex } from './regex.js';
import { ipEquals, ipInNet, type IpAddr, type IpNet, type ValueKind } from './values.js';

/** A test on one string (or byte string) value. */
export type TextTest = (value: string) => boolean;
/** A test on one number. */
export type NumberTest = (value: number) => boolean;
/** A test on one boolean. */
export type BoolTest = (value: boolean) => boolean;
/** A test on one address, given as family and words (see values.ts). */
export type IpTest = (family: number, words: Uint32Array) => boolean;

/** The operators each kind of value admits, after libsinsp's `flt_is_comparable`. */
const ALLOWED: Record<ValueKind | 'list', ReadonlySet<BinaryOperator>> = {
  number: new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'in', 'intersects']),
  bool: new Set(['=', '==', '!=', 'in', 'intersects']),
  ip: new Set(['=', '==', '!=', 'in', 'intersects']),
  net: new Set(['=', '==', '!=', 'in', 'intersects']),
  string: new Set([
    '=',
    '==',
    '!=',
    '<',
    '<=',
    '>',
    '>=',
    'contains',
    'icontains',
    'startswith',
    'endswith',
    'glob',
    'iglob',
    'regex',
    'pmatch',
    'in',
    'intersects',
  ]),
  bytes: new Set([
    '=',
    '==',
    '!=',
    'contains',
    'startswith',
    'endswith',
    'bcontains',
    'bstartswith',
    'in',
    'intersects',
  ]),
  list: new Set(['in', 'intersects']),
};

/** Whether `op` applies to values of `kind` (`list` for list-valued fields). */
export function operatorAllowed(kind: ValueKind | 'list', op: BinaryOperator): boolean {
  return ALLOWED[kind].has(op);
}

/** What values of `kind` are called in error messages. */
export function kindLabel(kind: ValueKind | 'list'): string {
  switch (kind) {
    case 'number':
      return 'numeric';
    case 'bool':
      return 'boolean';
    case 'ip':
    case 'net':
      return 'ip address and network';
    case 'string':
      return 'string';
    case 'bytes':
      return 'buffer';
    case 'list':
      return 'list';
  }
}

/** ASCII case folding of one code unit. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Case-insensitive (ASCII) search of `needleLower` (already folded) in `hay`; no allocation. */
function foldedIncludes(hay: string, needleLower: string): boolean {
  const n = needleLower.length;
  if (n === 0) return true;
  const first = needleLower.charCodeAt(0);
  const last = hay.length - n;
  for (let i = 0; i <= last; i++) {
    if (fold(hay.charCodeAt(i)) !== first) continue;
    let k = 1;
    while (k < n && fold(hay.charCodeAt(i + k)) === needleLower.charCodeAt(k)) k++;
    if (k === n) return true;
  }
  return false;
}

function asciiFold(text: string): string {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The test of a single-operand string operator (`=`, `contains`, `glob`, `regex`, ...) against
 * `operand`. `bcontains`/`bstartswith` take byte strings (see values.ts).
 */
export function textTest(op: BinaryOperator, operand: string): TextTest {
  switch (op) {
    case '=':
    case '==':
    case 'in':
    case 'intersects':
      return (v) => v === operand;
    case '!=':
      return (v) => v !== operand;
    case '<':
      return (v) => v < operand;
    case '<=':
      return (v) => v <= operand;
    case '>':
      return (v) => v > operand;
    case '>=':
      return (v) => v >= operand;
    case 'contains':
    case 'bcontains':
      return (v) => v.includes(operand);
    case 'icontains': {
      const lower = asciiFold(operand);
      return (v) => foldedIncludes(v, lower);
    }
    case 'startswith':
    case 'bstartswith':
      return (v) => v.startsWith(operand);
    case 'endswith':
      return (v) => v.endsWith(operand);
    case 'glob':
    case 'iglob': {
      const g: Glob = compileGlob(operand, op === 'iglob');
      return (v) => g.matches(v);
    }
    case 'regex': {
      const re = compileRegex(operand);
      return (v) => re.matches(v);
    }
    case 'pmatch':
      return pmatchTest([operand]);
  }
}

/** Up to this many strings, `in` compares one by one instead of hashing. */
const SMALL_SET = 4;

/** `in` / `intersects` against a set of strings. */
export function textSetTest(values: readonly string[]): TextTest {
  const unique = [...new Set(values)];
  if (unique.length === 1) {
    const only = unique[0]!;
    return (v) => v === only;
  }
  if (unique.length <= SMALL_SET) {
    // Short lists: comparing lengths and characters beats hashing the event's string.
    const items = unique;
    return (v) => {
      for (let i = 0; i < items.length; i++) if (items[i] === v) return true;
      return false;
    };
  }
  const set = new Set(unique);
  return (v) => set.has(v);
}

/**
 * `pmatch`: whether the path lies under one of `prefixes`, comparing whole path components;
 * components of a prefix may hold wildcards (`/opt/*\/subdir`). `/opt/dir` matches
 * `/opt/dir` and `/opt/dir/x`, not `/opt/dir2`.
 */
export function pmatchTest(prefixes: readonly string[]): TextTest {
  const compiled = prefixes.map((p) => compilePrefix(p));
  return (v) => {
    for (const parts of compiled) if (underPrefix(v, parts)) return true;
    return false;
  };
}

/** A prefix's components: literal text, or a wildcard component. */
type PrefixPart = string | Glob;

function compilePrefix(prefix: string): PrefixPart[] {
  // Trailing and doubled separators do not change which paths lie under a prefix.
  const parts = prefix.split('/').filter((p, i) => p.length > 0 || i === 0);
  return parts.map((p) => (/[*?[\\]/.test(p) ? compileGlob(p) : p));
}

function underPrefix(path: string, parts: readonly PrefixPart[]): boolean {
  let pos = 0;
  for (let i = 0; i < parts.length; i++) {
    if (pos > path.length) return false;
    let end = path.indexOf('/', pos);
    if (end < 0) end = path.length;
    // Skip empty components produced by doubled separators, except the leading root one.
    if (i > 0) {
      while (end === pos && pos < path.length) {
        pos++;
        end = path.indexOf('/', pos);
        if (end < 0) end = path.length;
      }
      if (pos >= path.length && end === pos) return false;
    }
    const part = parts[i]!;
    if (typeof part === 'string') {
      if (end - pos !== part.length || !path.startsWith(part, pos)) return false;
    } else if (!part.matches(path.slice(pos, end))) return false;
    pos = end + 1;
  }
  return true;
}

/** The test of a numeric operator against `operand`. */
export function numberTest(op: BinaryOperator, operand: number): NumberTest {
  switch (op) {
    case '!=':
      return (v) => v !== operand;
    case '<':
      return (v) => v < operand;
    case '<=':
      return (v) => v <= operand;
    case '>':
      return (v) => v > operand;
    case '>=':
      return (v) => v >= operand;
    default:
      return (v) => v === operand;
  }
}

/** `in` / `intersects` against a set of numbers. */
export function numberSetTest(values: readonly number[]): NumberTest {
  const set = new Set(values);
  return (v) => set.has(v);
}

/** The test of a boolean operator against `operand`. */
export function boolTest(op: BinaryOperator, operand: boolean): BoolTest {
  return op === '!=' ? (v) => v !== operand : (v) => v === operand;
}

/** `in` / `intersects` against a set of booleans. */
export function boolSetTest(values: readonly boolean[]): BoolTest {
  const hasTrue = values.includes(true);
  const hasFalse = values.includes(false);
  return (v) => (v ? hasTrue : hasFalse);
}

/** The test of an address operator against `operand`; a family mismatch is "not equal". */
export function ipTest(op: BinaryOperator, operand: IpAddr): IpTest {
  return op === '!=' ? (f, w) => !ipEquals(f, w, operand) : (f, w) => ipEquals(f, w, operand);
}

/** `in` / `intersects` against addresses. */
export function ipSetTest(values: readonly IpAddr[]): IpTest {
  return (f, w) => {
    for (const ip of values) if (ipEquals(f, w, ip)) return true;
    return false;
  };
}

/** The test of a network operator: `=` is membership, `!=` its negation. */
export function netTest(op: BinaryOperator, operand: IpNet): IpTest {
  return op === '!=' ? (f, w) => !ipInNet(f, w, operand) : (f, w) => ipInNet(f, w, operand);
}

/** `in` / `intersects` against networks: membership in any. */
export function netSetTest(values: readonly IpNet[]): IpTest {
  return (f, w) => {
    for (const net of values) if (ipInNet(f, w, net)) return true;
    return false;
  };
}
