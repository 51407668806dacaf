/**
 * The collector's storage contract. SQLite (better-sqlite3, WAL) implements it as the embedded
 * default; a PostgreSQL store can implement the same interface for several collector replicas.
 * A conformance suite (`store-conformance.ts`) runs against every implementation.
 */
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';

/** Facts an agent reports about its host in its Hello. */
export interface HostFacts {
  readonly hostname: string;
  readonly os: string;
  readonly kernel: string;
  readonly arch: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  /** The event source the agent runs, and why. */
  readonly source: string;
}

/** What the collector knows of one agent. */
export interface AgentRecord {
  readonly node: string;
  readonly version: string;
  readonly host: HostFacts;
  readonly capabilities: readonly string[];
  readonly connected: boolean;
  /** Milliseconds since the epoch. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** From the agent's last heartbeat. */
  readonly spoolDepth: number;
  readonly spoolDropped: number;
}

/** A stored alert with what the collector added. */
export interface StoredAlertRecord {
  readonly alert: Alert;
  /** When the collector stored it (ms since the epoch). */
  readonly receivedMs: number;
}

/**
 * Which alerts: every field optional, all combined with AND, values compared exactly. The live
 * feed applies the same filter to new alerts (`compileAlertFilter` in `alert-filter.ts`), so a
 * list and a feed with one filter show the same alerts.
 */
export interface AlertFilter {
  /** Event time range, ms since the epoch, inclusive start, exclusive end. */
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Priority at or above (Emergency is the highest). */
  readonly minPriority?: PriorityName;
  readonly rule?: string;
  /** One of the alert's tags. */
  readonly tag?: string;
  readonly node?: string;
  /** The workload's namespace (`workload.namespace`, else Falco's `k8s.ns.name` output field). */
  readonly namespace?: string;
  /** The pod (`workload.pod`, else Falco's `k8s.pod.name` output field). */
  readonly pod?: string;
  /** An alert with another `kind` (or none) counts as a signature. */
  readonly kind?: 'signature' | 'anomaly';
  /**
   * Words searched in the alert's output. Every word must occur; a word is matched as whole
   * tokens (letters and digits, case-insensitive), so `shadow` finds `/etc/shadow` and
   * `/etc/shadow` finds the two tokens next to each other. A word ending in `*` matches its last
   * token as a prefix (at least {@link MIN_PREFIX_CHARS} characters before the `*`).
   */
  readonly text?: string;
}

/** Shortest prefix a `word*` search term may have: shorter ones would match most of the index. */
export const MIN_PREFIX_CHARS = 3;

/** The default page size of {@link AlertQuery.limit}. */
export const DEFAULT_PAGE_SIZE = 100;

/** The largest page size of {@link AlertQuery.limit}. */
export const MAX_PAGE_SIZE = 1000;

/** The most buckets one {@link CollectorStore.countAlerts} answer may hold. */
export const MAX_COUNT_BUCKETS = 10_000;

/** A filter with paging: one page of the alert list. */
export interface AlertQuery extends AlertFilter {
  /** Page size (default 100, at most 1000). */
  readonly limit?: number;
  /** The opaque cursor of the previous page's `next`. */
  readonly cursor?: string;
}

/**
 * A query the store cannot answer as asked: a cursor it did not issue, a page size out of range,
 * a search without searchable words, too many count buckets. The caller's mistake, so the API
 * answers 400 and names {@link AlertQueryError.field}.
 */
export class AlertQueryError extends Error {
  override readonly name = 'AlertQueryError';
  constructor(
    /** The {@link AlertQuery} field at fault (`cursor`, `limit`, `text`, `bucketMs`, ...). */
    readonly field: keyof AlertQuery | 'bucketMs',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * One page of alerts, newest first: by event time, then by the order the store received them
 * (a stable tie-break, so pages neither repeat nor skip alerts of the same instant).
 */
export interface AlertPage {
  readonly alerts: readonly StoredAlertRecord[];
  /** The cursor of the next (older) page; undefined on the last page. */
  readonly next: string | undefined;
}

/**
 * Alert counts per time bucket and priority. Buckets are aligned to multiples of `bucketMs` since
 * the epoch and dense: every bucket from the first to the last is listed, empty ones with `{}`.
 */
export interface AlertCounts {
  readonly bucketMs: number;
  readonly buckets: readonly {
    readonly startMs: number;
    readonly counts: Readonly<Partial<Record<PriorityName, number>>>;
  }[];
}

/** The result of storing a batch. */
export interface InsertResult {
  /** Alerts newly stored. */
  readonly stored: number;
  /** Alerts the store already had (same id): not stored again. */
  readonly duplicates: number;
}

/** Retention limits; the store deletes the oldest alerts (by event time) past either. */
export interface RetentionPolicy {
  /** Alerts whose event time is older than this are deleted. */
  readonly maxAgeMs?: number;
  /** The oldest alerts are deleted while the store's {@link CollectorStore.sizeBytes} is above this. */
  readonly maxBytes?: number;
}

/** The collector's store. Methods are synchronous for SQLite; a networked store wraps them. */
export interface CollectorStore {
  /**
   * Stores alerts idempotently by id, durably (committed) when it returns. A batch is one
   * transaction: all of it is stored or none.
   */
  insertAlerts(alerts: readonly Alert[], receivedMs: number): InsertResult;
  getAlert(id: string): StoredAlertRecord | undefined;
  /** One page of matching alerts; throws {@link AlertQueryError} for a query it cannot answer. */
  queryAlerts(query: AlertQuery): AlertPage;
  /**
   * Matching alerts per bucket of `bucketMs` and priority, over `[fromMs, toMs)` (the stored
   * alerts' range where unset). Throws {@link AlertQueryError} past {@link MAX_COUNT_BUCKETS}.
   */
  countAlerts(filter: AlertFilter, bucketMs: number): AlertCounts;
  /** Records an agent's hello, heartbeat or disconnect. */
  upsertAgent(agent: AgentRecord): void;
  listAgents(): readonly AgentRecord[];
  /**
   * Deletes what the policy no longer allows, oldest first, in short transactions so that inserts
   * are not held up for long; returns how many alerts were deleted. With `maxDeletes`, stops
   * after about that many (a scheduler calls again on a later tick to spread the work).
   */
  applyRetention(policy: RetentionPolicy, nowMs: number, maxDeletes?: number): number;
  /** Total alerts stored. */
  alertCount(): number;
  /** Bytes the stored data takes (what {@link RetentionPolicy.maxBytes} limits). */
  sizeBytes(): number;
  close(): void;
}
