/**
 * Free-text search over alert output, with one meaning whether the store answers it (SQLite FTS5,
 * `unicode61` tokenizer) or the live feed does (in JavaScript, on each new alert).
 *
 * Text is split into tokens: runs of letters, digits and private-use characters, compared without
 * case — what FTS5's `unicode61` tokenizer does (configured without diacritic folding, so `é`
 * stays `é` on both sides). A search is whitespace-separated words; every word must occur; a word
 * with several tokens (`/etc/shadow`, `k8s.ns=prod`) must occur as those tokens in a row; a word
 * ending in `*` matches its last token as a prefix.
 */
import { AlertQueryError, MIN_PREFIX_CHARS } from './store.js';

/** One word of a search: its tokens, and whether the last one is a prefix. */
export interface SearchTerm {
  readonly tokens: readonly string[];
  readonly prefix: boolean;
}

/** A parsed search: every term must match. */
export interface TextSearch {
  readonly terms: readonly SearchTerm[];
}

/** The most words a search may have: each is a lookup in the full-text index. */
export const MAX_SEARCH_TERMS = 16;

const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;

/** Splits text into lower-case tokens as the `unicode61` tokenizer does. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}

/**
 * Parses a search. Throws {@link AlertQueryError} (field `text`) when it has no searchable
 * word, too many words, or a prefix shorter than {@link MIN_PREFIX_CHARS}.
 *
 * @example parseTextSearch('bash /etc/shad*') // [{tokens:['bash']}, {tokens:['etc','shad'], prefix:true}]
 */
export function parseTextSearch(text: string): TextSearch {
  const terms: SearchTerm[] = [];
  for (const word of text.split(/\s+/)) {
    const prefix = word.endsWith('*');
    const tokens = tokenize(word);
    if (tokens.length === 0) continue;
    const last = tokens[tokens.length - 1] as string;
    if (prefix && [...last].length < MIN_PREFIX_CHARS) {
      throw new AlertQueryError(
        'text',
        `search word '${word}': a prefix search needs at least ${MIN_PREFIX_CHARS} letters or digits before '*'`,
      );
    }
    terms.push({ tokens, prefix });
  }
  if (terms.length === 0) {
    throw new AlertQueryError('text', `search '${text}' has no letters or digits to search for`);
  }
  if (terms.length > MAX_SEARCH_TERMS) {
    throw new AlertQueryError('text', `search has ${terms.length} words; at most ${MAX_SEARCH_TERMS}`);
  }
  return { terms };
}

/**
 * The FTS5 MATCH expression of a search: each term a quoted phrase (tokens are letters and
 * digits only, so nothing inside needs escaping), `*` after a prefix phrase, all ANDed.
 */
export function ftsExpression(search: TextSearch): string {
  return search.terms.map((t) => `"${t.tokens.join(' ')}"${t.prefix ? ' *' : ''}`).join(' AND ');
}

function occursAt(haystack: readonly string[], at: number, term: SearchTerm): boolean {
  const n = term.tokens.length;
  for (let k = 0; k < n; k++) {
    const have = haystack[at + k];
    const want = term.tokens[k] as string;
    if (have === undefined) return false;
    if (k === n - 1 && term.prefix ? !have.startsWith(want) : have !== want) return false;
  }
  return true;
}

/**
 * True when text, given as its {@link tokenize} tokens, matches every term of the search (the
 * feed's side of the FTS5 query). Tokens rather than text so that many searches over one alert
 * tokenize it once.
 */
export function tokensMatch(search: TextSearch, tokens: readonly string[]): boolean {
  return search.terms.every((term) => {
    for (let i = 0; i + term.tokens.length <= tokens.length; i++) if (occursAt(tokens, i, term)) return true;
    return false;
  });
}
