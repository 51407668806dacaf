/**
 * The store's view of an alert (the facets it filters on) and the live feed's matcher, which
 * applies an {@link AlertFilter} to one alert with the same meaning the store's query has.
 */
import type { Alert } from '../../core/alert.js';
import { parsePriority, Priority } from '../../core/priority.js';
import { alertTimeNs, msToNs } from './alert-time.js';
import type { AlertFilter } from './store.js';
import { parseTextSearch, tokenize, tokensMatch } from './text-search.js';

/** What the store indexes of an alert besides its JSON. */
export interface AlertFacets {
  readonly timeNs: bigint;
  /** The priority as Falco's number, 0 = Emergency ... 7 = Debug. */
  readonly rank: number;
  readonly namespace: string | undefined;
  readonly pod: string | undefined;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' && value !== '<NA>' ? value : undefined;
}

/**
 * The facets of an alert. The namespace and pod come from `workload` when the agent filled it,
 * else from Falco's `k8s.ns.name` / `k8s.pod.name` output fields (alerts ingested from Falco).
 * A priority the store does not know ranks as Debug: the alert is kept and listed, below all.
 */
export function alertFacets(alert: Alert, receivedMs: number): AlertFacets {
  const fields = alert.output_fields ?? {};
  return {
    timeNs: alertTimeNs(alert, receivedMs),
    rank: parsePriority(String(alert.priority)) ?? Priority.Debug,
    namespace: nonEmpty(alert.workload?.namespace) ?? nonEmpty(fields['k8s.ns.name']),
    pod: nonEmpty(alert.workload?.pod) ?? nonEmpty(fields['k8s.pod.name']),
  };
}

/**
 * An alert about to be tested against many filters (the live feed's clients): its facets
 * worked out once, its output tokenized once, on first need.
 */
export interface AlertCandidate {
  readonly alert: Alert;
  readonly facets: AlertFacets;
  readonly tokens: () => readonly string[];
}

/** Prepares an alert for {@link AlertMatcher}s; `receivedMs` stands in for an unreadable time. */
export function alertCandidate(alert: Alert, receivedMs: number): AlertCandidate {
  let tokens: string[] | undefined;
  return {
    alert,
    facets: alertFacets(alert, receivedMs),
    tokens: () => (tokens ??= tokenize(String(alert.output))),
  };
}

/** A filter prepared for testing many alerts (the search parsed once). */
export type AlertMatcher = (candidate: AlertCandidate) => boolean;

/**
 * Compiles a filter for the live feed. Throws `AlertQueryError` for a search the store would
 * refuse too, so a feed subscription fails the same way a list request does.
 *
 * @example compileAlertFilter({ minPriority: 'Warning', namespace: 'prod' })(alertCandidate(alert, Date.now()))
 */
export function compileAlertFilter(filter: AlertFilter): AlertMatcher {
  const search = filter.text === undefined ? undefined : parseTextSearch(filter.text);
  const fromNs = filter.fromMs === undefined ? undefined : msToNs(filter.fromMs);
  const toNs = filter.toMs === undefined ? undefined : msToNs(filter.toMs);
  const maxRank = filter.minPriority === undefined ? undefined : Priority[filter.minPriority];
  return ({ alert, facets, tokens }) => {
    if (filter.rule !== undefined && alert.rule !== filter.rule) return false;
    if (filter.node !== undefined && alert.node !== filter.node) return false;
    // The store files any kind but `anomaly` as a signature; so does the feed.
    if (filter.kind !== undefined && (alert.kind === 'anomaly' ? 'anomaly' : 'signature') !== filter.kind) {
      return false;
    }
    if (filter.tag !== undefined && !(Array.isArray(alert.tags) && alert.tags.includes(filter.tag)))
      return false;
    if (maxRank !== undefined && facets.rank > maxRank) return false;
    if (filter.namespace !== undefined && facets.namespace !== filter.namespace) return false;
    if (filter.pod !== undefined && facets.pod !== filter.pod) return false;
    if (fromNs !== undefined && facets.timeNs < fromNs) return false;
    if (toNs !== undefined && facets.timeNs >= toNs) return false;
    if (search !== undefined && !tokensMatch(search, tokens())) return false;
    return true;
  };
}
