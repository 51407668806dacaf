/**
 * Bytes from the kernel as JavaScript strings, without losing any: paths, argv and names are
 * bytes, not text, and may hold invalid UTF-8.
 *
 * Valid UTF-8 decodes as usual. Each byte of an invalid sequence becomes the lone surrogate
 * U+DC80..U+DCFF (byte 0x80..0xFF; the "surrogateescape" scheme): no valid UTF-8 decodes to a
 * lone surrogate, so {@link textToBytes} gets the original bytes back exactly. JSON output
 * shows such a byte as `\udcff`.
 */

const REPLACEMENT = '\ufffd';

/**
 * Decodes `buf[start, end)` losslessly (see the module comment).
 *
 * @example bytesToText(Buffer.from([0x2f, 0x74, 0xff]), 0, 3) // '/t\udcff'
 */
export function bytesToText(buf: Buffer, start: number, end: number): string {
  if (start >= end) return '';
  const text = buf.toString('utf8', start, end);
  // The decoder writes U+FFFD for each invalid sequence: without one, the text is exact. (A
  // real U+FFFD in the input also takes the slow path, which keeps it.)
  if (text.indexOf(REPLACEMENT) < 0) return text;
  return decodeEscaped(buf, start, end);
}

function decodeEscaped(buf: Buffer, start: number, end: number): string {
  const units: number[] = [];
  let i = start;
  while (i < end) {
    const b0 = buf[i] as number;
    if (b0 < 0x80) {
      units.push(b0);
      i++;
      continue;
    }
    const cp = validSequence(buf, i, end);
    if (cp === undefined) {
      units.push(0xdc00 + b0);
      i++;
      continue;
    }
    const [code, size] = cp;
    if (code >= 0x10000) {
      const v = code - 0x10000;
      units.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      units.push(code);
    }
    i += size;
  }
  let out = '';
  for (let k = 0; k < units.length; k += 4096) out += String.fromCharCode(...units.slice(k, k + 4096));
  return out;
}

/** The code point and length of the well-formed UTF-8 sequence at `i`, or undefined. */
function validSequence(buf: Buffer, i: number, end: number): [number, number] | undefined {
  const b0 = buf[i] as number;
  let size: number;
  let min: number;
  let code: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    size = 2;
    min = 0x80;
    code = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    size = 3;
    min = 0x800;
    code = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    size = 4;
    min = 0x10000;
    code = b0 & 0x07;
  } else {
    return undefined;
  }
  if (i + size > end) return undefined;
  for (let k = 1; k < size; k++) {
    const b = buf[i + k] as number;
    if ((b & 0xc0) !== 0x80) return undefined;
    code = (code << 6) | (b & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not well-formed.
  if (code < min || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return undefined;
  return [code, size];
}

/**
 * The bytes a string from {@link bytesToText} was decoded from.
 *
 * @example textToBytes('/t\udcff') // <Buffer 2f 74 ff>
 */
export function textToBytes(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const u = text.charCodeAt(i);
    if (u >= 0xdc80 && u <= 0xdcff) {
      // A lone low surrogate (a high one before it would have been consumed below): an
      // escaped byte.
      out.push(u - 0xdc00);
      continue;
    }
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        const cp = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        out.push(
          0xf0 | (cp >> 18),
          0x80 | ((cp >> 12) & 0x3f),
          0x80 | ((cp >> 6) & 0x3f),
          0x80 | (cp & 0x3f),
        );
        i++;
        continue;
      }
    }
    if (u < 0x80) out.push(u);
    else if (u < 0x800) out.push(0xc0 | (u >> 6), 0x80 | (u & 0x3f));
    else out.push(0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f));
  }
  return Buffer.from(out);
}
