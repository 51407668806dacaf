/**
 * Terms under which the store's full-text index also files each alert's facets (priority, kind,
 * rule, node, namespace, pod, tags), so that any filter — with or without a search — is one
 * FTS5 query: FTS5 walks a term's postings in rowid order, which is list order, and intersects
 * several terms by skipping through them, so a page costs about as many steps as it has rows
 * however rare the combination.
 *
 * A term is one `unicode61` token (letters and digits): a letter naming the facet and, for
 * free-form values, the value's SHA-256 in hex. Two values share a term only if SHA-256
 * collides, so the store takes a term match as a value match without comparing again. (FTS5
 * keeps each term once per index segment, so the term's length costs next to nothing.)
 */
import { createHash } from 'node:crypto';

/** The facets filed as terms, and their one-letter prefixes. */
export const FACET_PREFIX = {
  rule: 'r',
  node: 'n',
  namespace: 's',
  pod: 'p',
  tag: 'g',
} as const;

/** A facet with a free-form value. */
export type Facet = keyof typeof FACET_PREFIX;

/** Hashing is the costly part of filing an alert; values repeat (rules, nodes), so remember them. */
const CACHE_LIMIT = 20_000;
const cache = new Map<string, string>();

/** The term for a facet's value. */
export function facetTerm(facet: Facet, value: string): string {
  const key = `${facet}\u0000${value}`;
  let term = cache.get(key);
  if (term === undefined) {
    term = FACET_PREFIX[facet] + createHash('sha256').update(value).digest('hex');
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, term);
  }
  return term;
}

/** The term for a priority number (0 = Emergency ... 7 = Debug). */
export function rankTerm(rank: number): string {
  return `q${rank}`;
}

/** The term for a detection kind. */
export function kindTerm(kind: 'signature' | 'anomaly'): string {
  return `k${kind}`;
}
