/**
 * The embedded {@link CollectorStore}: SQLite through better-sqlite3, in the collector's one
 * database file (see `database.ts`).
 *
 * The key. Each alert's rowid `seq` is its place in the list: the event time in microseconds,
 * shifted left by {@link TIE_BITS}, plus a tie-break counting up in arrival order among alerts of
 * the same microsecond. So the table is stored in list order, time bounds are key ranges, and
 * retention deletes a prefix of the table.
 *
 * Order and pages. Lists are newest first by that key: event time (to the microsecond; within
 * one microsecond, arrival order). The cursor carries the last key and the next page starts
 * strictly below it (keyset pagination, never OFFSET), so alerts that arrive while a client
 * pages neither repeat nor shift what it has yet to see. The tie-break is the arrival counter,
 * not the alert id, so that the key is one integer and can be the FTS5 rowid as well.
 *
 * Filters. One FTS5 index holds each alert's output (for search) and its facets — priority,
 * kind, rule, node, namespace, pod, tags — as terms (`facet-terms.ts`), under the same rowid.
 * FTS5 walks a term's postings in rowid order, which is list order, and intersects several terms
 * by skipping through them, so every filter and combination of filters, with or without a
 * search, is one query that stops after a page: a seek per term and about `limit` steps, however
 * deep the page and however rare the combination. Counts walk the postings without touching the
 * table. Only an unfiltered list (or one with only a time range) reads the table's key range.
 *
 * Why not a B-tree index per facet: the ids and pods are spread all over their indexes, so each
 * batch dirtied a page per alert per index and ingest ran at half the rate, while FTS5 writes a
 * batch's postings as one new segment. SQLite here always has FTS5, so search never falls back
 * to LIKE.
 */
import type { Statement } from 'better-sqlite3';
import type { Alert } from '../../core/alert.js';
import { Priority, priorityName, type PriorityName } from '../../core/priority.js';
import { alertFacets } from './alert-filter.js';
import { msToNs } from './alert-time.js';
import { openCollectorDatabase, migrateSchema, type CollectorDatabase } from './database.js';
import { facetTerm, kindTerm, rankTerm, type Facet } from './facet-terms.js';
import {
  AlertQueryError,
  DEFAULT_PAGE_SIZE,
  MAX_COUNT_BUCKETS,
  MAX_PAGE_SIZE,
  type AgentRecord,
  type AlertCounts,
  type AlertFilter,
  type AlertPage,
  type AlertQuery,
  type CollectorStore,
  type InsertResult,
  type RetentionPolicy,
  type StoredAlertRecord,
} from './store.js';
import { ftsExpression, parseTextSearch } from './text-search.js';

/** How to open the SQLite store. */
export type SqliteStoreOptions =
  | {
      /** The database file, opened (and closed with the store) by {@link openSqliteStore}. */
      readonly path: string;
      readonly synchronous?: 'normal' | 'full';
      /** Alerts deleted per retention transaction (default {@link DEFAULT_RETENTION_CHUNK}). */
      readonly retentionChunk?: number;
    }
  | {
      /** A database opened with `openCollectorDatabase`, shared with other parts; the caller closes it. */
      readonly database: CollectorDatabase;
      readonly retentionChunk?: number;
    };

/**
 * Alerts deleted per retention transaction: few enough that an insert waiting behind one waits
 * tens of milliseconds. Deleting costs ~90 µs an alert at 1M (the FTS5 index is the dear part;
 * see the benchmark's `retention`).
 */
export const DEFAULT_RETENTION_CHUNK = 500;

/**
 * Low bits of the key for the tie-break: 2048 alerts per microsecond before the next ones spill
 * into the following microsecond's keys (still unique and in arrival order, a microsecond late).
 * The 52 bits left for microseconds last until the year 2112.
 */
export const TIE_BITS = 11n;
const TIES = 1n << TIE_BITS;
const MAX_MICROS = (1n << (63n - TIE_BITS)) - 1n;

/** The first key of the microsecond that `ns` falls in. */
function keyOfNs(ns: bigint): bigint {
  let micros = ns / 1000n;
  if (micros < 0n) micros = 0n;
  if (micros > MAX_MICROS) micros = MAX_MICROS;
  return micros << TIE_BITS;
}

const SCHEMA_STEPS: readonly string[] = [
  `
  CREATE TABLE alerts (
    -- The list key: event time in microseconds << ${TIE_BITS}, plus the tie-break (see above).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    -- The facets again, for reading and for a future migration; nothing indexes them here.
    -- Falco's priority number, 0 = Emergency ... 7 = Debug.
    rank INTEGER NOT NULL,
    rule TEXT NOT NULL,
    node TEXT NOT NULL,
    namespace TEXT,
    pod TEXT,
    kind TEXT NOT NULL,
    alert TEXT NOT NULL
  );
  -- Alert ids are the agents' (random UUIDs): the one index whose inserts land all over.
  CREATE UNIQUE INDEX alerts_id ON alerts (id);
  -- Contentless: the output is in the alert's JSON already; the index keeps only the terms of
  -- the output and of the facets.
  CREATE VIRTUAL TABLE alerts_fts USING fts5 (
    output, facets, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0'
  );
  -- Retention deletes from the oldest, largest index segments; FTS5 rewrites a segment once this
  -- share of it is deleted. At its default (10%) that rewrite came often and stalled deletes for
  -- up to 0.9 s at 1M alerts; at half, it comes a fifth as often, for at most twice the space
  -- in the (smaller) text index.
  INSERT INTO alerts_fts (alerts_fts, rank) VALUES ('deletemerge', 50);
  -- Whatever deletes an alert (retention, a future manual purge) takes its terms along.
  CREATE TRIGGER alerts_deleted AFTER DELETE ON alerts BEGIN
    DELETE FROM alerts_fts WHERE rowid = old.seq;
  END;
  CREATE TABLE agents (
    node TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    host TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    connected INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    spool_depth INTEGER NOT NULL,
    spool_dropped INTEGER NOT NULL
  );
  `,
];

/** The version tag of cursors this store issues; any other is refused, not misread. */
const CURSOR_VERSION = 2;

/** Prepared statements for dynamic queries, by SQL text; bounded (filters combine in ~2^11 ways). */
const STATEMENT_CACHE_SIZE = 512;

interface AgentRow {
  node: string;
  version: string;
  host: string;
  capabilities: string;
  connected: number;
  first_seen_ms: number;
  last_seen_ms: number;
  spool_depth: number;
  spool_dropped: number;
}

function encodeCursor(key: bigint): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, key.toString()])).toString('base64url');
}

/** The key a page starts below. */
function decodeCursor(cursor: string): bigint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (err) {
    throw new AlertQueryError('cursor', 'cursor is not one this store issued', { cause: err });
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    parsed[0] !== CURSOR_VERSION ||
    typeof parsed[1] !== 'string' ||
    !/^\d{1,19}$/.test(parsed[1])
  ) {
    throw new AlertQueryError('cursor', 'cursor is not one this store issued');
  }
  return BigInt(parsed[1]);
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new AlertQueryError('limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${limit}`);
  }
  return limit;
}

/** A time bound as a key bound (a millisecond is whole microseconds, so this is exact). */
function timeKey(field: 'fromMs' | 'toMs', value: number | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) {
    throw new AlertQueryError(field, `${field} must be a time in ms since the epoch, got ${value}`);
  }
  return keyOfNs(msToNs(value));
}

/** The least severe priority a filter admits (7 = Debug: no priority filter). */
function maxRank(filter: AlertFilter): number {
  const p = filter.minPriority;
  if (p === undefined) return Priority.Debug;
  if (!Object.hasOwn(Priority, p))
    throw new AlertQueryError('minPriority', `unknown priority '${String(p)}'`);
  return Priority[p];
}

/** SQL conditions and their parameters, built in order. */
class Conditions {
  readonly sql: string[] = [];
  readonly params: unknown[] = [];

  add(sql: string, ...params: unknown[]): this {
    this.sql.push(sql);
    this.params.push(...params);
    return this;
  }

  where(): string {
    return this.sql.length === 0 ? '' : `WHERE ${this.sql.join(' AND ')}`;
  }
}

/** The key range of a filter's time bounds, narrowed by a cursor. */
function keyRange(filter: AlertFilter, below: bigint | undefined): { lo?: bigint; hi?: bigint } {
  const lo = timeKey('fromMs', filter.fromMs);
  let hi = timeKey('toMs', filter.toMs);
  if (below !== undefined && (hi === undefined || below < hi)) hi = below;
  return { ...(lo !== undefined && { lo }), ...(hi !== undefined && { hi }) };
}

function addRange(c: Conditions, key: string, range: { lo?: bigint; hi?: bigint }): void {
  if (range.lo !== undefined) c.add(`${key} >= ?`, range.lo);
  if (range.hi !== undefined) c.add(`${key} < ?`, range.hi);
}

/**
 * The FTS5 MATCH expression for a filter: its search confined to the output column, and a term
 * per facet confined to the facets column. `rank` narrows to one priority; else the filter's
 * range. Undefined when the filter has neither search nor facets.
 */
function matchExpression(filter: AlertFilter, top: number, rank?: number): string | undefined {
  const parts: string[] = [];
  if (filter.text !== undefined) parts.push(`output : (${ftsExpression(parseTextSearch(filter.text))})`);
  const terms: string[] = [];
  for (const facet of ['rule', 'node', 'namespace', 'pod', 'tag'] as const satisfies readonly Facet[]) {
    const value = filter[facet];
    if (value !== undefined) terms.push(facetTerm(facet, value));
  }
  if (filter.kind !== undefined) terms.push(kindTerm(filter.kind));
  for (const t of terms) parts.push(`facets : ${t}`);
  if (rank !== undefined) parts.push(`facets : ${rankTerm(rank)}`);
  else if (top !== Priority.Debug) {
    const levels = Array.from({ length: top + 1 }, (_, r) => rankTerm(r));
    parts.push(`facets : (${levels.join(' OR ')})`);
  }
  return parts.length === 0 ? undefined : parts.join(' AND ');
}

/** The terms an alert is filed under in the facets column. */
function facetText(
  alert: Alert,
  rank: number,
  namespace: string | undefined,
  pod: string | undefined,
): string {
  const terms = [
    rankTerm(rank),
    kindTerm(alert.kind === 'anomaly' ? 'anomaly' : 'signature'),
    facetTerm('rule', String(alert.rule)),
    facetTerm('node', String(alert.node)),
  ];
  if (namespace !== undefined) terms.push(facetTerm('namespace', namespace));
  if (pod !== undefined) terms.push(facetTerm('pod', pod));
  if (Array.isArray(alert.tags)) {
    for (const tag of alert.tags) if (typeof tag === 'string') terms.push(facetTerm('tag', tag));
  }
  return terms.join(' ');
}

function storeFailure(path: string, doing: string, err: unknown): Error {
  if (err instanceof AlertQueryError) return err;
  return new Error(
    `alert store ${path}: ${doing} failed: ${err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}

/**
 * Opens the SQLite store, creating or migrating its tables.
 *
 * @example
 * const db = openCollectorDatabase({ path: '/var/lib/vigil/collector.db' });
 * const store = openSqliteStore({ database: db });
 */
export function openSqliteStore(options: SqliteStoreOptions): CollectorStore {
  const owned = 'path' in options;
  const db = owned
    ? openCollectorDatabase({
        path: options.path,
        ...(options.synchronous && { synchronous: options.synchronous }),
      })
    : options.database;
  const path = db.name;
  const chunk = options.retentionChunk ?? DEFAULT_RETENTION_CHUNK;
  if (!Number.isSafeInteger(chunk) || chunk < 1) {
    if (owned) db.close();
    throw new RangeError(`retentionChunk must be a positive integer, got ${chunk}`);
  }
  try {
    // No ANALYZE, ever: every query here is a key range, an id lookup or an FTS5 match, which
    // need no statistics, and statistics taken while the tables were small once sent FTS5's own
    // internal queries down slow plans (ingest fell from 18,000 to 5,000 alerts/s at 400,000).
    migrateSchema(db, 'alerts', SCHEMA_STEPS);
  } catch (err) {
    if (owned) db.close();
    throw storeFailure(path, 'opening', err);
  }

  const lastKeyIn = db
    .prepare('SELECT max(seq) FROM alerts WHERE seq >= ? AND seq < ?')
    .pluck()
    .safeIntegers(true);
  const hasId = db.prepare('SELECT 1 FROM alerts WHERE id = ?').pluck();
  const insertAlert = db.prepare(
    `INSERT INTO alerts (seq, id, received_ms, rank, rule, node, namespace, pod, kind, alert)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertTerms = db.prepare('INSERT INTO alerts_fts (rowid, output, facets) VALUES (?, ?, ?)');
  const selectById = db.prepare('SELECT received_ms, alert FROM alerts WHERE id = ?');
  const selectByKey = db.prepare('SELECT received_ms, alert FROM alerts WHERE seq = ?');
  const countAll = db.prepare('SELECT count(*) FROM alerts').pluck();
  const keySpan = db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM alerts').safeIntegers(true);
  const deleteBelow = db.prepare(
    'DELETE FROM alerts WHERE seq IN (SELECT seq FROM alerts WHERE seq < ? ORDER BY seq LIMIT ?)',
  );
  const deleteOldest = db.prepare(
    'DELETE FROM alerts WHERE seq IN (SELECT seq FROM alerts ORDER BY seq LIMIT ?)',
  );
  const pageCount = db.prepare('PRAGMA page_count').pluck();
  const freeCount = db.prepare('PRAGMA freelist_count').pluck();
  const pageBytes = db.pragma('page_size', { simple: true }) as number;
  const upsertAgentStmt = db.prepare(
    `INSERT INTO agents (node, version, host, capabilities, connected, first_seen_ms, last_seen_ms, spool_depth, spool_dropped)
     VALUES (@node, @version, @host, @capabilities, @connected, @first_seen_ms, @last_seen_ms, @spool_depth, @spool_dropped)
     ON CONFLICT (node) DO UPDATE SET version = excluded.version, host = excluded.host,
       capabilities = excluded.capabilities, connected = excluded.connected,
       first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = excluded.last_seen_ms,
       spool_depth = excluded.spool_depth, spool_dropped = excluded.spool_dropped`,
  );
  const selectAgents = db.prepare('SELECT * FROM agents ORDER BY node');

  const statements = new Map<string, Statement<unknown[]>>();
  const prepared = (sql: string): Statement<unknown[]> => {
    let stmt = statements.get(sql);
    if (stmt === undefined) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
      stmt = db.prepare<unknown[]>(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  const keysOf = (sql: string, params: readonly unknown[]): bigint[] =>
    prepared(sql)
      .pluck(true)
      .safeIntegers(true)
      .all(...params) as bigint[];

  /** The next free key from `base`'s microsecond on (only the writer calls this, in its transaction). */
  const nextKey = (base: bigint): bigint => {
    for (let start = base; ; start += TIES) {
      const last = lastKeyIn.get(start, start + TIES) as bigint | null;
      if (last === null) return start;
      if (last + 1n < start + TIES) return last + 1n;
    }
  };

  const insertBatch = db.transaction((alerts: readonly Alert[], receivedMs: number): InsertResult => {
    let stored = 0;
    for (const alert of alerts) {
      if (typeof alert.id !== 'string' || alert.id === '') {
        throw new TypeError(`alert without an id (rule '${String(alert.rule)}')`);
      }
      // A duplicate must not take a key; the unique index makes this one seek.
      if (hasId.get(alert.id) !== undefined) continue;
      const f = alertFacets(alert, receivedMs);
      const seq = nextKey(keyOfNs(f.timeNs));
      insertAlert.run(
        seq,
        alert.id,
        Math.floor(receivedMs),
        f.rank,
        String(alert.rule),
        String(alert.node),
        f.namespace ?? null,
        f.pod ?? null,
        alert.kind === 'anomaly' ? 'anomaly' : 'signature',
        JSON.stringify(alert),
      );
      stored++;
      insertTerms.run(seq, String(alert.output), facetText(alert, f.rank, f.namespace, f.pod));
    }
    return { stored, duplicates: alerts.length - stored };
  });

  /** Keys of the newest `n` matching alerts below `below`. */
  const matchingKeys = (filter: AlertFilter, below: bigint | undefined, n: number): bigint[] => {
    const expression = matchExpression(filter, maxRank(filter));
    const range = keyRange(filter, below);
    if (expression === undefined) {
      const c = new Conditions();
      addRange(c, 'seq', range);
      return keysOf(`SELECT seq FROM alerts ${c.where()} ORDER BY seq DESC LIMIT ?`, [...c.params, n]);
    }
    const c = new Conditions().add('alerts_fts MATCH ?', expression);
    addRange(c, 'rowid', range);
    return keysOf(`SELECT rowid FROM alerts_fts ${c.where()} ORDER BY rowid DESC LIMIT ?`, [...c.params, n]);
  };

  /** Counts per (bucket, priority): one walk of the postings per priority level, no table reads. */
  const bucketCounts = (filter: AlertFilter, bucketMicros: bigint) => {
    const top = maxRank(filter);
    const rows: { b: number; r: number; n: number }[] = [];
    for (let r = 0; r <= top; r++) {
      const c = new Conditions().add('alerts_fts MATCH ?', matchExpression(filter, top, r));
      addRange(c, 'rowid', keyRange(filter, undefined));
      const sql = `SELECT (rowid >> ${TIE_BITS}) / ? AS b, count(*) AS n FROM alerts_fts ${c.where()} GROUP BY b`;
      const found = prepared(sql)
        .pluck(false)
        .safeIntegers(false)
        .all(bucketMicros, ...c.params) as {
        b: number;
        n: number;
      }[];
      for (const row of found) rows.push({ b: row.b, r, n: row.n });
    }
    return rows;
  };

  const toRecord = (row: { received_ms: number | bigint; alert: string }): StoredAlertRecord => ({
    alert: JSON.parse(row.alert) as Alert,
    receivedMs: Number(row.received_ms),
  });

  const usedBytes = (): number => ((pageCount.get() as number) - (freeCount.get() as number)) * pageBytes;

  /** Deletes up to `budget` alerts, `chunk` per transaction; stops when a chunk comes back short. */
  const deleteInChunks = (budget: number, run: (n: number) => number): number => {
    let deleted = 0;
    while (deleted < budget) {
      const want = Math.min(chunk, budget - deleted);
      const n = db.transaction(() => run(want)).immediate();
      deleted += n;
      if (n < want) break;
    }
    return deleted;
  };

  let open = true;
  const guard = (): void => {
    if (!open) throw new Error(`alert store ${path}: used after close`);
  };

  return {
    insertAlerts(alerts, receivedMs) {
      guard();
      if (alerts.length === 0) return { stored: 0, duplicates: 0 };
      try {
        return insertBatch.immediate(alerts, receivedMs);
      } catch (err) {
        throw storeFailure(path, `storing ${alerts.length} alert(s)`, err);
      }
    },

    getAlert(id) {
      guard();
      const row = selectById.get(id) as { received_ms: number; alert: string } | undefined;
      return row === undefined ? undefined : toRecord(row);
    },

    queryAlerts(query: AlertQuery): AlertPage {
      guard();
      const limit = pageSize(query.limit);
      const below = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      let keys: bigint[];
      try {
        keys = matchingKeys(query, below, limit + 1);
      } catch (err) {
        throw storeFailure(path, 'querying alerts', err);
      }
      const more = keys.length > limit;
      if (more) keys.length = limit;
      const alerts: StoredAlertRecord[] = [];
      for (const key of keys) {
        const row = selectByKey.get(key) as { received_ms: number; alert: string } | undefined;
        // Nothing runs between the scan and here (one thread, synchronous): the row is there.
        if (row !== undefined) alerts.push(toRecord(row));
      }
      const last = keys[keys.length - 1];
      return { alerts, next: more && last !== undefined ? encodeCursor(last) : undefined };
    },

    countAlerts(filter, bucketMs): AlertCounts {
      guard();
      if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) {
        throw new AlertQueryError(
          'bucketMs',
          `bucket must be a whole number of milliseconds, got ${bucketMs}`,
        );
      }
      // Validate the whole filter before the bucket arithmetic (the search is checked in bucketCounts).
      maxRank(filter);
      const bucketMicros = BigInt(bucketMs) * 1000n;
      let lo = timeKey('fromMs', filter.fromMs);
      let hi = filter.toMs === undefined ? undefined : (timeKey('toMs', filter.toMs) as bigint) - 1n;
      if (lo === undefined || hi === undefined) {
        const span = keySpan.get() as { lo: bigint | null; hi: bigint | null };
        if (span.lo === null || span.hi === null) return { bucketMs, buckets: [] };
        lo ??= span.lo;
        hi ??= span.hi;
      }
      if (hi < lo) return { bucketMs, buckets: [] };
      const first = (lo >> TIE_BITS) / bucketMicros;
      const span = (hi >> TIE_BITS) / bucketMicros - first + 1n;
      if (span > BigInt(MAX_COUNT_BUCKETS)) {
        throw new AlertQueryError(
          'bucketMs',
          `${span} buckets of ${bucketMs} ms; at most ${MAX_COUNT_BUCKETS}: narrow the time range or widen the bucket`,
        );
      }
      let rows: { b: number; r: number; n: number }[];
      try {
        rows = bucketCounts(filter, bucketMicros);
      } catch (err) {
        throw storeFailure(path, 'counting alerts', err);
      }
      const firstIndex = Number(first);
      const buckets: { startMs: number; counts: Partial<Record<PriorityName, number>> }[] = Array.from(
        { length: Number(span) },
        (_, i) => ({ startMs: (firstIndex + i) * bucketMs, counts: {} }),
      );
      for (const row of rows) {
        const bucket = buckets[row.b - firstIndex];
        if (bucket !== undefined) bucket.counts[priorityName(row.r as Priority)] = row.n;
      }
      return { bucketMs, buckets };
    },

    upsertAgent(agent) {
      guard();
      upsertAgentStmt.run({
        node: agent.node,
        version: agent.version,
        host: JSON.stringify(agent.host),
        capabilities: JSON.stringify(agent.capabilities),
        connected: agent.connected ? 1 : 0,
        first_seen_ms: agent.firstSeenMs,
        last_seen_ms: agent.lastSeenMs,
        spool_depth: agent.spoolDepth,
        spool_dropped: agent.spoolDropped,
      });
    },

    listAgents(): AgentRecord[] {
      guard();
      return (selectAgents.all() as AgentRow[]).map((r) => ({
        node: r.node,
        version: r.version,
        host: JSON.parse(r.host) as AgentRecord['host'],
        capabilities: JSON.parse(r.capabilities) as string[],
        connected: r.connected === 1,
        firstSeenMs: r.first_seen_ms,
        lastSeenMs: r.last_seen_ms,
        spoolDepth: r.spool_depth,
        spoolDropped: r.spool_dropped,
      }));
    },

    applyRetention(policy: RetentionPolicy, nowMs: number, maxDeletes = Number.POSITIVE_INFINITY): number {
      guard();
      let deleted = 0;
      try {
        if (policy.maxAgeMs !== undefined) {
          const cutoff = keyOfNs(msToNs(Math.max(0, nowMs - policy.maxAgeMs)));
          deleted += deleteInChunks(maxDeletes, (n) => deleteBelow.run(cutoff, n).changes);
        }
        if (policy.maxBytes !== undefined && deleted < maxDeletes) {
          const used = usedBytes();
          if (used > policy.maxBytes) {
            // Free pages are reused before the file grows, so deleting to a little under the limit
            // keeps the file near it. Alerts differ in size and a page is freed only when empty, so
            // aim by the average and let the next run correct, rather than loop here.
            const count = countAll.get() as number;
            const perAlert = count > 0 ? used / count : 1;
            const excess = used - policy.maxBytes * 0.95;
            const target = Math.min(count, Math.ceil(excess / perAlert), maxDeletes - deleted);
            deleted += deleteInChunks(target, (n) => deleteOldest.run(n).changes);
          }
        }
      } catch (err) {
        throw storeFailure(path, 'applying retention', err);
      }
      return deleted;
    },

    alertCount() {
      guard();
      return countAll.get() as number;
    },

    sizeBytes() {
      guard();
      return usedBytes();
    },

    close() {
      if (!open) return;
      open = false;
      statements.clear();
      if (owned) db.close();
    },
  };
}
