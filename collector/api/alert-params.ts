/**
 * The alert filter as HTTP query parameters (and as the live feed's subscribe filter, which uses
 * the same names): parsing, validation, and the 400s that name the parameter at fault.
 *
 * | parameter | meaning                                                        |
 * |-----------|----------------------------------------------------------------|
 * | from, to  | event time range [from, to): ms since the epoch or ISO-8601     |
 * | priority  | at or above this priority (`warning`, `Critical`, `info`, ...)  |
 * | rule, tag, node, namespace, pod | exact match                              |
 * | kind      | `signature` or `anomaly`                                        |
 * | q         | words searched in the output (see `text-search.ts`)             |
 * | limit     | page size, 1 to 1000 (default 100)                              |
 * | cursor    | the previous page's `next`                                      |
 * | bucket    | counts only: bucket width, `1m`, `5m`, `1h`, `1d` (default 1h)  |
 */
import { parseIsoTimeNs } from '../store/alert-time.js';
import { parsePriority, priorityName, priorityNames } from '../../core/priority.js';
import { MAX_PAGE_SIZE, type AlertFilter, type AlertQuery, type AlertQueryError } from '../store/store.js';
import { ApiError, badParameter } from './api-error.js';
import { parseDurationMs } from './duration.js';

/** Where parameters come from: a query string, or a JSON object of strings. */
export interface ParamSource {
  /** Every parameter name given, once per occurrence. */
  names(): readonly string[];
  get(name: string): string | undefined;
}

/** A query string as a {@link ParamSource}. */
export function queryParams(search: URLSearchParams): ParamSource {
  return { names: () => [...search.keys()], get: (name) => search.get(name) ?? undefined };
}

/**
 * A JSON object as a {@link ParamSource} (the feed's filter). Values must be strings, or numbers
 * for the time bounds and the limit.
 */
export function objectParams(value: unknown, what: string): ParamSource {
  if (value === undefined || value === null) return { names: () => [], get: () => undefined };
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ApiError(400, `${what} must be a JSON object`);
  const record = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw badParameter(k, 'must be a string');
    }
  }
  return {
    names: () => Object.keys(record),
    get: (name) => (name in record ? String(record[name]) : undefined),
  };
}

/** Filter parameters, in the order the docs list them. */
export const FILTER_PARAMETERS = [
  'from',
  'to',
  'priority',
  'rule',
  'tag',
  'node',
  'namespace',
  'pod',
  'kind',
  'q',
] as const;

/** The query parameter for each store field (to name it in errors). */
const PARAMETER_OF: Readonly<Record<AlertQueryError['field'], string>> = {
  fromMs: 'from',
  toMs: 'to',
  minPriority: 'priority',
  rule: 'rule',
  tag: 'tag',
  node: 'node',
  namespace: 'namespace',
  pod: 'pod',
  kind: 'kind',
  text: 'q',
  limit: 'limit',
  cursor: 'cursor',
  bucketMs: 'bucket',
};

/** The 400 for a query the store refused, naming the query parameter. */
export function queryRefused(err: AlertQueryError): ApiError {
  return badParameter(PARAMETER_OF[err.field], err.message, { cause: err });
}

const MAX_VALUE_LENGTH = 1024;

function checkNames(params: ParamSource, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of params.names()) {
    if (!allowed.includes(name)) {
      throw badParameter(name, `unknown parameter; expected one of ${allowed.join(', ')}`);
    }
    if (seen.has(name)) throw badParameter(name, 'given more than once');
    seen.add(name);
  }
}

/**
 * Parses a time: milliseconds since the epoch, an ISO-8601 date-time with a zone, or a date
 * (`2024-05-01`, midnight UTC). Sub-millisecond digits are dropped.
 */
export function parseTimeParam(name: string, text: string): number {
  let ms: number | undefined;
  if (/^\d{1,15}$/.test(text)) ms = Number(text);
  else {
    const ns = parseIsoTimeNs(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
    if (ns !== undefined) ms = Number(ns / 1_000_000n);
  }
  if (ms === undefined) {
    throw badParameter(
      name,
      `'${text}' is not a time: give ms since the epoch or ISO-8601 like 2024-05-01T12:00:00Z`,
    );
  }
  return ms;
}

function text(params: ParamSource, name: string): string | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (value === '') throw badParameter(name, 'is empty');
  if (value.length > MAX_VALUE_LENGTH)
    throw badParameter(name, `is longer than ${MAX_VALUE_LENGTH} characters`);
  return value;
}

function readFilter(params: ParamSource): AlertFilter {
  const filter: { -readonly [K in keyof AlertFilter]: AlertFilter[K] } = {};
  const from = text(params, 'from');
  const to = text(params, 'to');
  if (from !== undefined) filter.fromMs = parseTimeParam('from', from);
  if (to !== undefined) filter.toMs = parseTimeParam('to', to);
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.fromMs > filter.toMs) {
    throw badParameter('to', 'is before from');
  }
  const priority = text(params, 'priority');
  if (priority !== undefined) {
    const p = parsePriority(priority);
    if (p === undefined)
      throw badParameter('priority', `unknown priority '${priority}'; one of ${priorityNames().join(', ')}`);
    filter.minPriority = priorityName(p);
  }
  for (const name of ['rule', 'tag', 'node', 'namespace', 'pod'] as const) {
    const value = text(params, name);
    if (value !== undefined) filter[name] = value;
  }
  const kind = text(params, 'kind');
  if (kind !== undefined) {
    if (kind !== 'signature' && kind !== 'anomaly')
      throw badParameter('kind', `'${kind}' is not signature or anomaly`);
    filter.kind = kind;
  }
  const q = text(params, 'q');
  if (q !== undefined) filter.text = q;
  return filter;
}

/** Parses the filter alone (the feed's subscription): the {@link FILTER_PARAMETERS}. */
export function parseAlertFilter(params: ParamSource): AlertFilter {
  checkNames(params, FILTER_PARAMETERS);
  return readFilter(params);
}

/** Parses `GET /api/v1/alerts`: the filter, `limit` and `cursor`. */
export function parseAlertQuery(params: ParamSource): AlertQuery {
  checkNames(params, [...FILTER_PARAMETERS, 'limit', 'cursor']);
  const query: { -readonly [K in keyof AlertQuery]: AlertQuery[K] } = readFilter(params);
  const limit = text(params, 'limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_PAGE_SIZE))
      throw badParameter('limit', `'${limit}' is not a whole number from 1 to ${MAX_PAGE_SIZE}`);
    query.limit = n;
  }
  const cursor = text(params, 'cursor');
  if (cursor !== undefined) query.cursor = cursor;
  return query;
}

/** The range counts cover when the request names none. */
export const DEFAULT_COUNTS_RANGE_MS = 24 * 3_600_000;

/**
 * Parses `GET /api/v1/alerts/counts`: the filter and `bucket` (default `1h`). Without `to` the
 * range ends now; without `from` it starts {@link DEFAULT_COUNTS_RANGE_MS} before its end.
 */
export function parseCountsQuery(
  params: ParamSource,
  nowMs: number,
): { filter: AlertFilter; bucketMs: number } {
  checkNames(params, [...FILTER_PARAMETERS, 'bucket']);
  const filter = readFilter(params);
  const bucketText = text(params, 'bucket') ?? '1h';
  const bucketMs = parseDurationMs(bucketText);
  if (bucketMs === undefined)
    throw badParameter('bucket', `'${bucketText}' is not a duration like 1m, 5m, 1h, 1d`);
  const toMs = filter.toMs ?? nowMs;
  const fromMs = filter.fromMs ?? Math.max(0, toMs - DEFAULT_COUNTS_RANGE_MS);
  return { filter: { ...filter, fromMs, toMs }, bucketMs };
}
