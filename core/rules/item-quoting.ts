/**
 * How list items and exception values are written into condition text.
 *
 * Falco substitutes them textually, quoting an item only when it contains a blank and does not
 * already start with a quote (rule files often carry items pre-quoted in condition syntax, like
 * `'"sh -c uname -a"'`). We quote in exactly those cases, so every item reads back the way Falco
 * reads it; where Falco merely wraps the item in `"` (which breaks on an inner `"` or `\`), we
 * escape it properly with {@link quoteString}.
 */
import { quoteString } from '../filter/escaping.js';

/** The condition text for one list item or exception value. */
export function quoteItem(item: string): string {
  const first = item[0];
  if (first === '"' || first === "'" || !item.includes(' ')) return item;
  return quoteString(item);
}

/** Wraps a value in parentheses unless it already starts with one (exception values of list operators). */
export function parenthesize(value: string): string {
  return value.startsWith('(') ? value : `(${value})`;
}
