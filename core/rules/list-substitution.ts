/**
 * Textual substitution of lists into conditions, as Falco's rule loader does it before parsing.
 *
 * Every occurrence of a list's name that stands between delimiters — the start or end of the
 * text, a blank (space, tab, CR, LF) or one of `( ) , =` — is replaced by the list's items joined
 * with `, `. The blanks around the name are swallowed and the substitution is padded with one
 * space on each side. When the list is empty, one adjacent comma goes too, so `(a, empty)` stays
 * a valid list. Occurrences inside quoted strings are replaced as well: Falco does not look at
 * quotes, and rule files depend on its exact behaviour.
 */
import { quoteItem } from './item-quoting.js';
import type { MappedText } from './mapped-text.js';

const BLANKS = ' \t\n\r';
const DELIMITERS = BLANKS + '(),=';

/** The outcome of {@link substituteList}. */
export interface ListSubstitution {
  readonly text: MappedText;
  /** True when the name occurred at least once. */
  readonly used: boolean;
}

/**
 * Replaces every delimited occurrence of list `name` in `condition` by its `items`. Substituted
 * characters map to where the list name was written.
 *
 * @example substituteList(text('proc.name in (shells)'), 'shells', ['bash', 'sh']).text.text
 *   // 'proc.name in ( bash, sh )'
 */
export function substituteList(
  condition: MappedText,
  name: string,
  items: readonly string[],
): ListSubstitution {
  const sub = items.map(quoteItem).join(', ');
  let text = condition;
  let used = false;
  let start = text.text.indexOf(name);
  while (start >= 0) {
    const cnd = text.text;
    let end = start + name.length;
    if (
      (start === 0 || DELIMITERS.includes(cnd[start - 1] as string)) &&
      (end >= cnd.length || DELIMITERS.includes(cnd[end] as string))
    ) {
      while (start > 0 && BLANKS.includes(cnd[start - 1] as string)) start--;
      while (end < cnd.length && BLANKS.includes(cnd[end] as string)) end++;
      if (sub.length === 0) {
        if (start > 0 && cnd[start - 1] === ',') start--;
        else if (end < cnd.length && cnd[end] === ',') end++;
      }
      const replacement = (start > 0 ? ' ' : '') + sub + ' ';
      text = text.replace(start, end, replacement);
      // Continue after the substituted items, exactly where Falco resumes its search.
      start += sub.length + 1;
      used = true;
    }
    start = text.text.indexOf(name, start + 1);
  }
  return { text, used };
}
