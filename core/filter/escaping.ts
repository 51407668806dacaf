/**
 * Quoting and unquoting of string values in Falco conditions, with libsinsp's exact escapes.
 *
 * A quoted string is `"..."` or `'...'`. Inside it a backslash introduces one of: `\b \f \n \r \t`,
 * `\\`, `\/`, `\"` (only between double quotes), `\'` (only between single quotes), `\xHH` (exactly
 * two hex digits), and `\ ` (backslash-blank), which libsinsp decodes to a single backslash: a
 * leftover of a fall-through in its escape switch that existing rules rely on. Anything else after a
 * backslash is an error.
 *
 * Conditions are JavaScript strings, while libsinsp works on bytes. A `\xHH` escape therefore decodes
 * to the one UTF-16 code unit with value 0xHH (latin1): `"\xff"` becomes `"\u00ff"`. Bytes below
 * 0x80 are the same in both readings; a consumer that needs raw bytes (bytebuf operands) maps each
 * code unit back to one byte.
 */
import { ConditionSyntaxError, positionIn } from './parser.js';

const BACKSLASH = 0x5c;

/** The value of a hex digit, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * Decodes the body of the quoted string that opens at `open` and closes at `close` in `text` (both
 * indexes point at the delimiters). Errors carry positions within `text`. Used by the parser, which
 * has already found the closing delimiter.
 */
export function decodeQuotedBody(text: string, open: number, close: number): string {
  const delimiter = text.charCodeAt(open);
  // Fast path: most quoted values in rules carry no escapes at all.
  const firstEscape = text.indexOf('\\', open + 1);
  if (firstEscape < 0 || firstEscape >= close) return text.slice(open + 1, close);

  let out = text.slice(open + 1, firstEscape);
  let i = firstEscape;
  while (i < close) {
    const code = text.charCodeAt(i);
    if (code !== BACKSLASH) {
      const next = text.indexOf('\\', i);
      const stop = next < 0 || next > close ? close : next;
      out += text.slice(i, stop);
      i = stop;
      continue;
    }
    if (i + 1 >= close) {
      throw new ConditionSyntaxError(
        'an escaped character after the backslash',
        positionIn(text, i),
        'the closing quote',
      );
    }
    const escaped = text[i + 1];
    switch (escaped) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case ' ': // libsinsp's quirk: backslash-blank is a backslash
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case '"':
      case "'":
        if (escaped.charCodeAt(0) !== delimiter) {
          const kind = delimiter === 0x22 ? '"-quoted' : "'-quoted";
          throw new ConditionSyntaxError(
            `a valid escape sequence (\\${escaped} is not allowed in a ${kind} string)`,
            positionIn(text, i),
            JSON.stringify('\\' + escaped),
          );
        }
        out += escaped;
        break;
      case 'x': {
        const high = i + 2 < close ? hexValue(text.charCodeAt(i + 2)) : -1;
        const low = i + 3 < close ? hexValue(text.charCodeAt(i + 3)) : -1;
        if (high < 0 || low < 0) {
          throw new ConditionSyntaxError(
            'exactly two hex digits after \\x',
            positionIn(text, i),
            JSON.stringify(text.slice(i, Math.min(i + 4, close))),
          );
        }
        out += String.fromCharCode(high * 16 + low);
        i += 4;
        continue;
      }
      default:
        throw new ConditionSyntaxError(
          'a valid escape sequence (\\b \\f \\n \\r \\t \\\\ \\/ \\" \\\' \\xHH)',
          positionIn(text, i),
          JSON.stringify('\\' + (escaped ?? '')),
        );
    }
    i += 2;
  }
  return out;
}

/**
 * Decodes a quoted string, quotes included: `unescapeQuoted('"a\\tb"')` is `"a\tb"`.
 * Throws {@link ConditionSyntaxError} when the input is not one quoted string or holds a bad escape.
 */
export function unescapeQuoted(quoted: string): string {
  const first = quoted.charCodeAt(0);
  if (
    quoted.length < 2 ||
    (first !== 0x22 && first !== 0x27) ||
    quoted.charCodeAt(quoted.length - 1) !== first
  ) {
    throw new ConditionSyntaxError(
      'a string enclosed in matching double or single quotes',
      positionIn(quoted, 0),
      JSON.stringify(quoted.length > 24 ? quoted.slice(0, 24) + '…' : quoted),
    );
  }
  return decodeQuotedBody(quoted, 0, quoted.length - 1);
}

/**
 * Quotes a value so that the parser reads it back unchanged: always double quotes, with `\b \f \n
 * \r \t \\ \"` escaped as libsinsp's `escape_str` does (`some "x"` → `"some \"x\""`).
 *
 * Two additions keep the round trip exact where libsinsp's own output would not parse: a backslash
 * at the very end is written `\ ` (libsinsp's lexer takes a quote right after a backslash as escaped,
 * so `"a\\"` never closes), and a NUL character is written `\x00` (libsinsp stops reading at NUL).
 */
export function quoteString(value: string): string {
  let out = '"';
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const ch = value[i];
    switch (ch) {
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '"':
        out += '\\"';
        break;
      case '\\':
        out += i === last ? '\\ ' : '\\\\';
        break;
      case '\0':
        out += '\\x00';
        break;
      default:
        out += ch;
    }
  }
  return out + '"';
}

/**
 * Whether `value` must be quoted to stand as one string value (a list item or the right side of a
 * string operator): true when it is empty or is not a legal bare string `[^()"'\s=,]+` (NUL and a
 * leading backspace, which the parser skips as a blank, also need quotes).
 */
export function needsQuoting(value: string): boolean {
  if (value.length === 0 || value.charCodeAt(0) === 0x08) return true;
  for (let i = 0; i < value.length; i++) {
    switch (value.charCodeAt(i)) {
      case 0x00:
      case 0x09:
      case 0x0a:
      case 0x0b:
      case 0x0c:
      case 0x0d:
      case 0x20:
      case 0x22: // "
      case 0x27: // '
      case 0x28: // (
      case 0x29: // )
      case 0x2c: // ,
      case 0x3d: // =
        return true;
    }
  }
  return false;
}
