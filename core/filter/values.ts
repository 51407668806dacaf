/**
 * Values of the condition language: how operands written in a condition are read for a field's
 * type (once, at compile time), and how raw event values are brought to the same representation
 * (per event, without allocating in the common cases).
 *
 * Representations, by {@link ValueKind}:
 * - `string`: a JS string. Event strings are Unicode text. Bytes that are not valid UTF-8 are
 *   carried as the code unit of the same value (U+0080..U+00FF, see {@link decodeBytes}); an
 *   operand written with `\xHH` escapes arrives from the parser as such code units and is read
 *   back as UTF-8 when the bytes form valid UTF-8 (`"caf\xc3\xa9"` is `"café"`), else kept, so
 *   `"\xff"` matches an invalid byte 0xFF in an event. One consequence: an event's valid `é`
 *   (U+00E9) also equals the operand `"\xe9"`, which libsinsp, comparing bytes, would not match.
 * - `bytes`: a "byte string": a JS string whose code units are all <= 0xFF, one per byte.
 * - `number`: a JS number. 64-bit values beyond 2^53 (e.g. `evt.rawtime`) lose precision, as
 *   they already do when JSON is parsed; comparisons then work on the rounded values.
 * - `bool`: a boolean.
 * - `ip`: an address parsed into {@link IpAddr}; `net`: a network ({@link IpNet}) operand,
 *   compared against event addresses.
 */
import type { FieldType } from '../fields/types.js';

/** The representation a field type's values are compared in. */
export type ValueKind = 'string' | 'bytes' | 'number' | 'bool' | 'ip' | 'net';

/** An IP address: family and four 32-bit words (IPv4 uses only `w[3]`). */
export interface IpAddr {
  readonly family: 4 | 6;
  readonly words: Uint32Array;
}

/** An IP network: an address and a prefix length. */
export interface IpNet {
  readonly family: 4 | 6;
  readonly words: Uint32Array;
  readonly prefix: number;
}

/** Thrown when an operand cannot be read as the field's type; the compiler adds the position. */
export class ValueConversionError extends Error {
  override readonly name = 'ValueConversionError';
}

/** Which representation values of `type` are compared in. */
export function valueKindOf(type: FieldType): ValueKind {
  switch (type) {
    case 'charbuf':
    case 'fspath':
    case 'fsrelpath':
    case 'dynamic':
      return 'string';
    case 'bytebuf':
      return 'bytes';
    case 'bool':
      return 'bool';
    case 'ipaddr':
      return 'ip';
    case 'ipnet':
      return 'net';
    default:
      return 'number';
  }
}

/** Bit width and signedness of an integer type. */
interface IntegerLayout {
  readonly bits: number;
  readonly signed: boolean;
}

const I8: IntegerLayout = { bits: 8, signed: true };
const I16: IntegerLayout = { bits: 16, signed: true };
const I32: IntegerLayout = { bits: 32, signed: true };
const I64: IntegerLayout = { bits: 64, signed: true };
const U8: IntegerLayout = { bits: 8, signed: false };
const U16: IntegerLayout = { bits: 16, signed: false };
const U32: IntegerLayout = { bits: 32, signed: false };
const U64: IntegerLayout = { bits: 64, signed: false };

/** The layout of integer types (shared constants: called per event); undefined for others. */
function integerLayout(type: FieldType): IntegerLayout | undefined {
  switch (type) {
    case 'int8':
      return I8;
    case 'int16':
      return I16;
    case 'int32':
      return I32;
    case 'int64':
    case 'fd':
    case 'pid':
    case 'errno':
    case 'double': // libsinsp reads double operands with its integer parser
      return I64;
    case 'uint8':
    case 'l4proto':
    case 'sockfamily':
      return U8;
    case 'uint16':
    case 'port':
      return U16;
    case 'uint32':
    case 'flags':
    case 'mode':
    case 'uid':
    case 'gid':
      return U32;
    case 'uint64':
    case 'reltime':
    case 'abstime':
      return U64;
    default:
      return undefined;
  }
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;
const DECIMAL = /^[ \t\n\r\f\v]*[+-]?[0-9]+$/;

/**
 * Reads a numeric operand the way libsinsp does (`sscanf("%d%c")`): optional leading blanks, an
 * optional sign and decimal digits, nothing after. No hex, no fraction, no exponent — libsinsp
 * rejects `0x10`, `1.0` and `1e3` for number fields, so do we. Out-of-range values saturate to
 * the 64-bit range (as strtol does) and then wrap to the field's width (as the C cast does):
 * `user.uid = -1` is `user.uid = 4294967295`.
 */
export function parseNumberOperand(text: string, type: FieldType): number {
  const layout = integerLayout(type);
  if (layout === undefined) throw new ValueConversionError(`type ${type} is not numeric`);
  if (!DECIMAL.test(text)) throw new ValueConversionError(`expected a decimal integer, found '${text}'`);
  let v = BigInt(text.trim());
  if (layout.signed) {
    if (v > INT64_MAX) v = INT64_MAX;
    if (v < INT64_MIN) v = INT64_MIN;
    return Number(BigInt.asIntN(layout.bits, v));
  }
  // strtoul negates out-of-range magnitudes as unsigned and saturates large ones.
  if (v > UINT64_MAX || v < -UINT64_MAX) v = UINT64_MAX;
  return Number(BigInt.asUintN(layout.bits, v));
}

/** Brings a raw event value to the field's numeric representation; undefined when it has none. */
export function toNumber(raw: unknown, type: FieldType): number | undefined {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'bigint') n = Number(raw);
  else if (typeof raw === 'string') {
    if (raw.length === 0) return undefined;
    n = Number(raw);
    if (Number.isNaN(n)) return undefined;
  } else if (typeof raw === 'boolean') n = raw ? 1 : 0;
  else return undefined;
  if (!Number.isInteger(n) || type === 'double') return n;
  const layout = integerLayout(type);
  return layout === undefined ? n : reinterpret(n, layout.bits, layout.signed);
}

/**
 * Reads an integer given in the other signedness of its width as the field's own: -1 in a
 * uint32 field is 4294967295, 4294967295 in an int32 field is -1 — so sources that disagree on
 * signedness compare alike. Values outside both ranges are kept as they are: they equal no
 * operand of the field's type, as in libsinsp where such a value cannot occur.
 */
function reinterpret(n: number, bits: number, signed: boolean): number {
  const span = 2 ** bits;
  const half = span / 2;
  if (signed) return n >= half && n < span ? n - span : n;
  return n < 0 && n >= -half ? n + span : n;
}

/** Reads a boolean operand: libsinsp accepts exactly `true` and `false`. */
export function parseBoolOperand(text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new ValueConversionError(`expected 'true' or 'false', found '${text}'`);
}

/** Brings a raw event value to a boolean; undefined when it has none. */
export function toBool(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return raw !== 0;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return undefined;
}

/**
 * Decodes bytes as UTF-8, carrying each byte that is not part of a valid sequence as the code
 * unit of the same value. Sources use it for strings that may not be valid UTF-8 (paths,
 * command lines), so that `"\xff"` operands match them.
 */
export function decodeBytes(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    let cp = len === 2 ? b & 0x1f : len === 3 ? b & 0x0f : b & 0x07;
    for (let k = 1; k < len; k++) cp = (cp << 6) | (bytes[i + k]! & 0x3f);
    out += String.fromCodePoint(cp);
    i += len;
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the bytes there are not one. */
function utf8SequenceLength(bytes: ArrayLike<number>, i: number): number {
  const b0 = bytes[i]!;
  const at = (k: number): number => (i + k < bytes.length ? bytes[i + k]! : -1);
  const cont = (v: number): boolean => v >= 0x80 && v <= 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(at(1)) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const b1 = at(1);
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return b1 >= lo && b1 <= hi && cont(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const b1 = at(1);
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return b1 >= lo && b1 <= hi && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

/**
 * Reads a string operand as the parser delivered it (bytes from `\xHH` escapes as code units
 * U+0080..U+00FF): runs of such code units that form valid UTF-8 are decoded; the rest is kept.
 */
export function operandText(text: string): string {
  let hasHigh = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 && c <= 0xff) {
      hasHigh = true;
      break;
    }
  }
  if (!hasHigh) return text;
  let out = '';
  let i = 0;
  const codes: number[] = [];
  for (let k = 0; k < text.length; k++) codes.push(text.charCodeAt(k));
  while (i < codes.length) {
    const c = codes[i]!;
    if (c >= 0x80 && c <= 0xff) {
      const len = utf8SequenceLength(codes, i);
      if (len > 0) {
        let cp = len === 2 ? c & 0x1f : len === 3 ? c & 0x0f : c & 0x07;
        for (let k = 1; k < len; k++) cp = (cp << 6) | (codes[i + k]! & 0x3f);
        out += String.fromCodePoint(cp);
        i += len;
        continue;
      }
    }
    out += text[i];
    i++;
  }
  return out;
}

/** Brings a raw event value to a string; undefined when it has none. */
export function toText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'bigint') return String(raw);
  if (typeof raw === 'boolean') return raw ? 'true' : 'false';
  if (raw instanceof Uint8Array) return decodeBytes(raw);
  return undefined;
}

/** Encodes a string as a byte string: code units <= 0xFF are bytes, others are UTF-8 encoded. */
export function toByteString(text: string): string {
  let simple = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) {
      simple = false;
      break;
    }
  }
  if (simple) return text;
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp <= 0xff) out += ch;
    else if (cp < 0x800) out += String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out += String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else
      out += String.fromCharCode(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3f),
        0x80 | ((cp >> 6) & 0x3f),
        0x80 | (cp & 0x3f),
      );
  }
  return out;
}

/** Brings a raw event value to a byte string; undefined when it has none. */
export function toBytes(raw: unknown): string | undefined {
  if (typeof raw === 'string') return toByteString(raw);
  if (raw instanceof Uint8Array) {
    let out = '';
    for (let i = 0; i < raw.length; i++) out += String.fromCharCode(raw[i]!);
    return out;
  }
  if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') return String(raw);
  return undefined;
}

/** Reads a hex operand (`bcontains 68656c6c6f`) into a byte string. */
export function parseHexOperand(text: string): string {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(text)) {
    throw new ValueConversionError(`expected an even number of hex digits, found '${text}'`);
  }
  let out = '';
  for (let i = 0; i < text.length; i += 2) out += String.fromCharCode(parseInt(text.slice(i, i + 2), 16));
  return out;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (four words; IPv4 in `out[3]`) without allocating.
 * Returns the family, or 0 when `text` is not an address. IPv4 follows inet_pton: four decimal
 * parts 0..255 without leading zeros.
 */
export function parseIpInto(text: string, out: Uint32Array): 0 | 4 | 6 {
  if (text.indexOf(':') < 0) {
    const v = parseIpv4(text, 0, text.length);
    if (v < 0) return 0;
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    out[3] = v;
    return 4;
  }
  return parseIpv6(text, out) ? 6 : 0;
}

/** Parses dotted-quad IPv4 in text[start, end); the address as an unsigned number, or -1. */
function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let part = 0;
    let digits = 0;
    const first = i;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      part = part * 10 + (c - 48);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || part > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1;
    value = value * 256 + part;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function parseIpv6(text: string, out: Uint32Array): boolean {
  // Collect 16-bit groups before and after a "::" gap, then spread them over eight slots.
  const groups = SCRATCH_GROUPS;
  let count = 0;
  let gapAt = -1;
  let i = 0;
  const end = text.length;
  if (end < 2) return false;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gapAt = 0;
    i = 2;
    if (i === end) {
      out.fill(0);
      return true;
    }
  }
  while (i < end) {
    if (count >= 8) return false;
    // An embedded IPv4 address may end the text.
    let j = i;
    let sawDot = false;
    while (j < end && text.charCodeAt(j) !== 58) {
      if (text.charCodeAt(j) === 46) sawDot = true;
      j++;
    }
    if (sawDot) {
      if (j !== end || count > 6) return false;
      const v4 = parseIpv4(text, i, end);
      if (v4 < 0) return false;
      groups[count++] = Math.floor(v4 / 65536);
      groups[count++] = v4 % 65536;
      break;
    }
    const len = j - i;
    if (len === 0 || len > 4) return false;
    let g = 0;
    for (let k = i; k < j; k++) {
      const h = hexValue(text.charCodeAt(k));
      if (h < 0) return false;
      g = g * 16 + h;
    }
    groups[count++] = g;
    i = j;
    if (i < end) {
      // at a ':'
      i++;
      if (i < end && text.charCodeAt(i) === 58) {
        if (gapAt >= 0) return false;
        gapAt = count;
        i++;
      } else if (i === end) return false;
    }
  }
  if (gapAt < 0 && count !== 8) return false;
  if (gapAt >= 0 && count > 7) return false;
  const shift = 8 - count;
  for (let w = 0; w < 4; w++) {
    const hiIdx = 2 * w;
    const loIdx = 2 * w + 1;
    out[w] = groupAt(groups, hiIdx, gapAt, shift) * 65536 + groupAt(groups, loIdx, gapAt, shift);
  }
  return true;
}

const SCRATCH_GROUPS = new Array<number>(8).fill(0);

function groupAt(groups: number[], slot: number, gapAt: number, shift: number): number {
  if (gapAt < 0) return groups[slot]!;
  if (slot < gapAt) return groups[slot]!;
  if (slot < gapAt + shift) return 0;
  return groups[slot - shift]!;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Reads an address operand (`fd.ip = 10.0.0.1`, `fd.sip = ::1`). */
export function parseIpOperand(text: string): IpAddr {
  const words = new Uint32Array(4);
  const family = parseIpInto(text, words);
  if (family === 0) throw new ValueConversionError(`expected an IPv4 or IPv6 address, found '${text}'`);
  return { family, words };
}

/** Reads a network operand (`fd.net = 10.0.0.0/8`, `fd.net = 2001:db8::/32`). */
export function parseNetOperand(text: string): IpNet {
  const slash = text.indexOf('/');
  if (slash < 0) throw new ValueConversionError(`expected an IP network (address/prefix), found '${text}'`);
  const words = new Uint32Array(4);
  const family = parseIpInto(text.slice(0, slash), words);
  if (family === 0)
    throw new ValueConversionError(`expected an IP network (address/prefix), found '${text}'`);
  const prefixText = text.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    throw new ValueConversionError(`invalid netmask '${prefixText}' in '${text}' (expected 0..${max})`);
  }
  return { family, words, prefix: Number(prefixText) };
}

/** Whether the address in `words` (of `family`) equals `ip`. */
export function ipEquals(family: number, words: Uint32Array, ip: IpAddr): boolean {
  if (family !== ip.family) return false;
  if (family === 4) return words[3] === ip.words[3];
  return (
    words[0] === ip.words[0] &&
    words[1] === ip.words[1] &&
    words[2] === ip.words[2] &&
    words[3] === ip.words[3]
  );
}

/** Whether the address in `words` (of `family`) lies in `net`. */
export function ipInNet(family: number, words: Uint32Array, net: IpNet): boolean {
  if (family !== net.family) return false;
  if (family === 4) return maskedEqual(words[3]!, net.words[3]!, net.prefix);
  let bits = net.prefix;
  for (let w = 0; w < 4; w++) {
    const take = bits >= 32 ? 32 : bits <= 0 ? 0 : bits;
    if (!maskedEqual(words[w]!, net.words[w]!, take)) return false;
    bits -= 32;
  }
  return true;
}

function maskedEqual(a: number, b: number, prefix: number): boolean {
  if (prefix <= 0) return true;
  if (prefix >= 32) return a === b;
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

/** Renders an address for messages and outputs. */
export function formatIp(ip: IpAddr): string {
  if (ip.family === 4) {
    const v = ip.words[3]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: string[] = [];
  for (let w = 0; w < 4; w++)
    groups.push((ip.words[w]! >>> 16).toString(16), (ip.words[w]! & 0xffff).toString(16));
  return groups.join(':');
}
