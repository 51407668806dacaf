/**
 * Transformers of the condition language, with libsinsp's semantics: which inputs each accepts,
 * what it yields, and the value functions the compiler calls per event.
 *
 * - `tolower(x)`, `toupper(x)`: ASCII case mapping of a string (each item of a list).
 * - `b64(x)`: base64 decoding of a string; no value when the text is not base64.
 * - `basename(x)`: what follows the last `/` (`"/"` and `"/a/"` give `""`).
 * - `len(x)`: the length in bytes of a string or buffer, or the number of items of a list.
 * - `join(sep, (a, b, ...))`: the items' text joined with `sep` (list items are spread).
 * - `concat(a, b, ...)`: the items' text run together (two or more items, none a list).
 * - `getopt(args, optstring)`: POSIX short options of an argument list; the result is the list
 *   of option values (an option without argument yields its own letter, a missing argument an
 *   empty string); `getopt(...)[t]` is the value of the last `-t`.
 */
import type { FieldType } from '../fields/types.js';
import { decodeBytes, valueKindOf } from './values.js';

/** The shape of what a field or transformer yields. */
export interface ValueShape {
  readonly type: FieldType;
  readonly isList: boolean;
}

/** Transformers taking exactly one input. */
export type UnaryTransformerName = 'tolower' | 'toupper' | 'b64' | 'basename' | 'len';

/** Thrown when a transformer cannot take its input; the compiler adds the position. */
export class TransformerError extends Error {
  override readonly name = 'TransformerError';
}

/** Whether values of `type` are text a transformer can work on. */
export function isTextType(type: FieldType): boolean {
  const kind = valueKindOf(type);
  return kind === 'string' || kind === 'bytes';
}

/** What a one-input transformer yields for `input`; throws {@link TransformerError} when it cannot take it. */
export function unaryTransformerOutput(name: UnaryTransformerName, input: ValueShape): ValueShape {
  if (name === 'len') {
    if (!input.isList && !isTextType(input.type)) {
      throw new TransformerError(
        `transformer 'len' expects a string, a buffer or a list, found ${input.type}`,
      );
    }
    return { type: 'uint64', isList: false };
  }
  if (!isTextType(input.type)) {
    throw new TransformerError(`transformer '${name}' expects a string or a buffer, found ${input.type}`);
  }
  return { type: input.type, isList: input.isList };
}

/**
 * Applies a one-input transformer to a converted value: a string (text input), an array of
 * strings (list input) or, for `len` on lists, an array of anything. Undefined when the result
 * has no value.
 */
export function applyUnaryTransformer(
  name: UnaryTransformerName,
  input: ValueShape,
  value: unknown,
): unknown {
  if (name === 'len') {
    if (input.isList) return Array.isArray(value) ? value.length : undefined;
    return typeof value === 'string' ? utf8Length(value) : undefined;
  }
  if (input.isList) {
    if (!Array.isArray(value)) return undefined;
    const out: string[] = [];
    for (const item of value) {
      const r = typeof item === 'string' ? transformText(name, item) : undefined;
      if (r !== undefined) out.push(r);
    }
    return out;
  }
  return typeof value === 'string' ? transformText(name, value) : undefined;
}

function transformText(name: Exclude<UnaryTransformerName, 'len'>, text: string): string | undefined {
  switch (name) {
    case 'tolower':
      return asciiLower(text);
    case 'toupper':
      return asciiUpper(text);
    case 'basename':
      return text.slice(text.lastIndexOf('/') + 1);
    case 'b64':
      return decodeBase64(text);
  }
}

/** ASCII-only lower case (the C locale's `tolower`); other characters are kept. */
export function asciiLower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }
  return text;
}

/** ASCII-only upper case (the C locale's `toupper`); other characters are kept. */
export function asciiUpper(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) return text.replace(/[a-z]+/g, (m) => m.toUpperCase());
  }
  return text;
}

/**
 * Length in bytes of `text` encoded as UTF-8. (A code unit U+0080..U+00FF standing for an invalid
 * byte counts 2, not 1: it cannot be told apart from a real character such as `é`.)
 */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(text: string): string | undefined {
  if (!B64.test(text) || text.length % 4 === 1) return undefined;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decodeBytes(bytes);
}

/** The result of {@link getopt}: option values in order, and the last value of each option. */
export interface GetoptResult {
  readonly values: string[];
  readonly byOption: Map<string, string>;
}

/**
 * Parses short options as POSIX getopt does, without permuting: parsing stops at the first
 * argument that is not an option (`-` alone or not starting with `-`) and after `--`; long
 * options (`--name`) are skipped; unknown option letters are ignored. An option that takes an
 * argument (`t:`) uses the rest of its word or the next argument, or `""` when there is none.
 * A leading `:` in `optstring` only silences errors in C and changes nothing here.
 */
export function getopt(args: readonly string[], optstring: string): GetoptResult {
  const values: string[] = [];
  const byOption = new Map<string, string>();
  const record = (opt: string, value: string): void => {
    values.push(value);
    byOption.set(opt, value);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (arg.length < 2 || arg[0] !== '-') break;
    if (arg[1] === '-') continue;
    for (let k = 1; k < arg.length; k++) {
      const opt = arg[k]!;
      const at = opt === ':' ? -1 : optstring.indexOf(opt);
      if (at < 0) continue;
      if (optstring[at + 1] === ':') {
        if (k + 1 < arg.length) record(opt, arg.slice(k + 1));
        else if (i + 1 < args.length) record(opt, args[++i]!);
        else record(opt, '');
        break;
      }
      record(opt, opt);
    }
  }
  return { values, byOption };
}
