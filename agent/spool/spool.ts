/**
 * The agent's durable alert spool: every alert is written here before the shipper sends it, and
 * deleted only when the collector has acknowledged it. Agent crashes and collector outages lose
 * nothing that {@link Spool.append} acknowledged.
 *
 * Storage is one SQLite file (better-sqlite3), one row per alert: the alert as JSON plus the
 * columns the spool works with — `seq` (arrival order, never reused), `id` (unique: appending an
 * id that is already there is a no-op), `rank` (the priority, 0 = Emergency ... 7 = Debug),
 * `time` and `bytes`.
 *
 * Durability. The file is in WAL mode and by default `synchronous = NORMAL`: a commit appends
 * its pages to the write-ahead log with write(2) before `append()` returns, but does not fsync.
 * Data handed to write(2) lives in the kernel's page cache, which outlives the process, so an
 * acknowledged append survives kill -9, an OOM kill or a crash of the agent — the case a
 * DaemonSet meets. What NORMAL gives up is power loss or a kernel panic: the last commits
 * before it may be lost (never corrupted: the log's checksums cut it at the last whole commit).
 * `synchronous: 'full'` fsyncs the log on every commit and survives that too, at the price of
 * one disk flush per append.
 *
 * Bounds. The spool holds at most `maxAlerts` alerts and `maxBytes` bytes of alert JSON. When
 * an append would exceed either, the least important alerts go first, oldest first within a
 * priority; an incoming alert that is less important than everything that would have to make
 * room for it is refused instead. An alert never displaces a more important one. Every drop is
 * returned to the caller and counted by priority in the file, so the counts outlive restarts.
 *
 * One process at a time: the file is opened with an exclusive lock (which also means SQLite
 * keeps its WAL index in memory, without a `-shm` file). A second agent pointed at the same
 * spool gets an error saying so instead of sharing it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Alert } from '../../core/alert.js';
import {
  parsePriority,
  priorityName,
  priorityNames,
  type Priority,
  type PriorityName,
} from '../../core/priority.js';

/** Default bound on the number of alerts held: {@link SpoolOptions.maxAlerts}. */
export const DEFAULT_SPOOL_MAX_ALERTS = 100_000;

/** Default bound on the bytes of alert JSON held (64 MiB): {@link SpoolOptions.maxBytes}. */
export const DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024;

/** How to open a spool. */
export interface SpoolOptions {
  /** The SQLite file. Its directory is created when missing. */
  readonly path: string;
  /** The most alerts the spool holds (default {@link DEFAULT_SPOOL_MAX_ALERTS}). */
  readonly maxAlerts?: number;
  /**
   * The most bytes of alert JSON the spool holds (default {@link DEFAULT_SPOOL_MAX_BYTES}). This
   * bounds the payload; the file itself is larger by SQLite's page and index overhead, and the
   * write-ahead log adds a few MiB on top until it is checkpointed.
   */
  readonly maxBytes?: number;
  /**
   * `normal` (default): an acknowledged append survives the process being killed; the last
   * appends before a power loss may not. `full`: an fsync per append, so it survives power loss.
   */
  readonly synchronous?: 'normal' | 'full';
}

/** Why an alert left the spool without being acknowledged. */
export type DropReason =
  /** It was in the spool and made room for a more important (or equally important, newer) alert. */
  | 'evicted'
  /** It was arriving, and the spool was full of alerts more important than it. */
  | 'refused'
  /** It was arriving, and its JSON alone is larger than `maxBytes`. */
  | 'oversized';

/** One alert dropped by an append. */
export interface DroppedAlert {
  readonly id: string;
  readonly priority: PriorityName;
  readonly reason: DropReason;
}

/** One alert of a batch that is now in the spool. */
export interface StoredAlert {
  readonly id: string;
  readonly seq: number;
}

/** What {@link Spool.append} did with a batch. */
export interface AppendResult {
  /**
   * The batch's alerts that are in the spool when `append` returns, in batch order: these are
   * safe. An alert that a later alert of the same batch evicted is in `dropped`, not here.
   */
  readonly stored: readonly StoredAlert[];
  /** Ids of the batch that were in the spool already (or earlier in the batch): nothing written. */
  readonly duplicates: readonly string[];
  /** Every alert this append dropped: arriving ones refused, and stored ones evicted. */
  readonly dropped: readonly DroppedAlert[];
}

/** An alert read back for shipping, with its place in the spool. */
export interface SpooledAlert {
  readonly seq: number;
  readonly alert: Alert;
}

/** What {@link Spool.peek} returns. */
export interface PeekOptions {
  /** At most this many alerts. */
  readonly limit: number;
  /** Only alerts with a larger sequence number (default 0: from the oldest). */
  readonly afterSeq?: number;
  /**
   * Stop before the alerts' JSON exceeds this many bytes (for a transport's message size limit).
   * The first alert is returned whatever its size, so a reader always makes progress.
   */
  readonly maxBytes?: number;
}

/** A count for each priority. */
export type PriorityCounts = Readonly<Record<PriorityName, number>>;

/** The state of a spool, for metrics and status. */
export interface SpoolStats {
  readonly path: string;
  /** Alerts held. */
  readonly depth: number;
  /** Bytes of alert JSON held. */
  readonly bytes: number;
  readonly maxAlerts: number;
  readonly maxBytes: number;
  readonly depthByPriority: PriorityCounts;
  /** Alerts dropped since the spool file was created (persisted, so a restart does not reset it). */
  readonly droppedByPriority: PriorityCounts;
  /** The sum of `droppedByPriority`. */
  readonly dropped: number;
  /** The `time` of the oldest alert held, or undefined when the spool is empty. */
  readonly oldestTime: string | undefined;
  /** The sequence counter: every alert ever stored had a seq no larger (0 for a new spool). */
  readonly lastSeq: number;
}

/** What kind of failure a {@link SpoolError} is. */
export type SpoolErrorReason =
  /** Another process holds the spool open. */
  | 'in-use'
  /** The file is not a readable SQLite database, or its content is damaged. */
  | 'corrupt'
  /** The file is a SQLite database, but not a spool this agent understands. */
  | 'not-a-spool'
  /** The operating system refused: permissions, a full disk, an I/O error. */
  | 'io'
  /** An option out of range. */
  | 'invalid-option'
  /** An alert without an id or a known priority, or one that cannot be written as JSON. */
  | 'invalid-alert'
  /** The spool was used after {@link Spool.close}. */
  | 'closed';

/** A failure of the spool; the message names the file. */
export class SpoolError extends Error {
  override readonly name = 'SpoolError';
  constructor(
    message: string,
    /** The spool's file. */
    readonly path: string,
    readonly reason: SpoolErrorReason,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The durable, bounded alert spool. Methods are synchronous; each write is one transaction. */
export interface Spool {
  readonly path: string;
  /**
   * Stores a batch in one transaction. When it returns, every alert in `stored` is durable (see
   * the module comment for what that means); when it throws, nothing of the batch was written.
   * Throws {@link SpoolError} (`invalid-alert`) before writing anything if an alert has no id, no
   * known priority or cannot be serialised.
   */
  append(alerts: readonly Alert[]): AppendResult;
  /** The oldest alerts, in sequence order, without removing them. */
  peek(options: PeekOptions): SpooledAlert[];
  /**
   * Deletes the alerts with these ids (the collector has them); unknown ids are ignored.
   * Returns how many went.
   */
  ack(ids: readonly string[]): number;
  /** Deletes every alert with a sequence number up to and including `seq`. Returns how many went. */
  ackThrough(seq: number): number;
  /** Alerts held. */
  depth(): number;
  stats(): SpoolStats;
  /** Closes the file; idempotent. Any other call afterwards throws a {@link SpoolError} (`closed`). */
  close(): void;
}

/** `application_id` in the file header: marks the file as a Vigil spool ("VGSP"). */
const APPLICATION_ID = 0x56475350;
const SCHEMA_VERSION = 1;
const PRIORITY_LEVELS = 8;

const SCHEMA = `
  CREATE TABLE alerts (
    -- AUTOINCREMENT: a sequence number is never reused, even after the newest alerts are acked,
    -- so ackThrough(seq) can never delete an alert that arrived after the caller peeked.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    rank INTEGER NOT NULL CHECK (rank BETWEEN 0 AND 7),
    -- For status (the oldest alert's time); nothing searches by it, so it has no index.
    time TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    alert TEXT NOT NULL
  );
  -- The eviction order: least important first (highest rank), then oldest.
  CREATE INDEX alerts_eviction ON alerts (rank DESC, seq);
  CREATE TABLE drops (
    rank INTEGER PRIMARY KEY CHECK (rank BETWEEN 0 AND 7),
    count INTEGER NOT NULL
  );
`;

/**
 * Alerts and bytes held, per priority. Only the spool's own connection changes the file (it
 * holds an exclusive lock), so counting beside it stays exact and spares a scan per append.
 */
class Occupancy {
  count = 0;
  bytes = 0;
  constructor(
    readonly countByRank: number[] = new Array<number>(PRIORITY_LEVELS).fill(0),
    readonly bytesByRank: number[] = new Array<number>(PRIORITY_LEVELS).fill(0),
  ) {
    for (let r = 0; r < PRIORITY_LEVELS; r++) {
      this.count += countByRank[r] ?? 0;
      this.bytes += bytesByRank[r] ?? 0;
    }
  }

  clone(): Occupancy {
    return new Occupancy([...this.countByRank], [...this.bytesByRank]);
  }

  add(rank: number, bytes: number): void {
    this.countByRank[rank] = (this.countByRank[rank] ?? 0) + 1;
    this.bytesByRank[rank] = (this.bytesByRank[rank] ?? 0) + bytes;
    this.count += 1;
    this.bytes += bytes;
  }

  remove(rank: number, bytes: number): void {
    this.countByRank[rank] = (this.countByRank[rank] ?? 0) - 1;
    this.bytesByRank[rank] = (this.bytesByRank[rank] ?? 0) - bytes;
    this.count -= 1;
    this.bytes -= bytes;
  }

  /** Alerts and bytes held at priority `rank` or less important: what an alert of that rank may displace. */
  displaceable(rank: number): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (let r = rank; r < PRIORITY_LEVELS; r++) {
      count += this.countByRank[r] ?? 0;
      bytes += this.bytesByRank[r] ?? 0;
    }
    return { count, bytes };
  }
}

/** An alert validated and serialised, ready for the table. */
interface Row {
  readonly id: string;
  readonly rank: Priority;
  readonly time: string;
  readonly json: string;
  readonly bytes: number;
}

type Victim = [seq: number, id: string, rank: number, bytes: number];

/** What an append transaction produced: the result, and the counters to adopt once it committed. */
interface AppendOutcome {
  readonly result: AppendResult;
  readonly after: Occupancy;
  readonly drops: readonly number[];
}

function countsByPriority(byRank: readonly number[]): PriorityCounts {
  const out = {} as Record<PriorityName, number>;
  priorityNames().forEach((name, rank) => {
    out[name] = byRank[rank] ?? 0;
  });
  return out;
}

function positiveInteger(value: number | undefined, fallback: number, key: string, path: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new SpoolError(
      `alert spool at ${path}: ${key} must be a positive integer, got ${String(value)}`,
      path,
      'invalid-option',
    );
  }
  return value;
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Classifies a SQLite or file-system failure and names the file in the message. */
function spoolFailure(path: string, doing: string, err: unknown): SpoolError {
  if (err instanceof SpoolError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const code = sqliteCode(err) ?? '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new SpoolError(
      `the alert spool at ${path} is in use by another process (${detail}); only one agent may use a spool`,
      path,
      'in-use',
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
    return new SpoolError(
      `the alert spool at ${path} is unreadable (${detail}) while trying to ${doing}; ` +
        'move the file aside to start with an empty spool',
      path,
      'corrupt',
      { cause: err },
    );
  }
  return new SpoolError(`cannot ${doing} the alert spool at ${path}: ${detail}`, path, 'io', { cause: err });
}

/**
 * Opens (creating when missing) the spool at `options.path`, checks it, and trims it to the
 * bounds if they shrank since it was written. Throws {@link SpoolError} naming the path when the
 * file is in use, damaged, not a spool, or cannot be opened.
 *
 * @example
 * const spool = openSpool({ path: '/var/lib/vigil/spool.db', maxAlerts: 50_000 });
 * const { stored, dropped } = spool.append(alerts);
 */
export function openSpool(options: SpoolOptions): Spool {
  const path = options.path;
  const maxAlerts = positiveInteger(options.maxAlerts, DEFAULT_SPOOL_MAX_ALERTS, 'maxAlerts', path);
  const maxBytes = positiveInteger(options.maxBytes, DEFAULT_SPOOL_MAX_BYTES, 'maxBytes', path);
  const synchronous = options.synchronous ?? 'normal';
  if (synchronous !== 'normal' && synchronous !== 'full') {
    throw new SpoolError(
      `alert spool at ${path}: synchronous must be 'normal' or 'full', got ${String(synchronous)}`,
      path,
      'invalid-option',
    );
  }

  let db: Database.Database;
  try {
    mkdirSync(dirname(path), { recursive: true });
    // timeout 0: the spool is never shared, so a lock held by someone else is an error to report
    // at once, not something to wait for.
    db = new Database(path, { timeout: 0 });
  } catch (err) {
    throw spoolFailure(path, 'open', err);
  }
  try {
    // Before the first read: with an exclusive lock SQLite keeps the WAL index in process memory.
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`SQLite refused WAL mode (journal_mode is ${String(mode)})`);
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // Checkpoints leave the log file at its largest size unless told otherwise.
    db.pragma('journal_size_limit = 8388608');
    prepareSchema(db, path);
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw new SpoolError(
        `the alert spool at ${path} is damaged (quick_check: ${String(check)}); ` +
          'move the file aside to start with an empty spool',
        path,
        'corrupt',
      );
    }
    return new SqliteSpool(db, path, maxAlerts, maxBytes);
  } catch (err) {
    db.close();
    throw spoolFailure(path, 'open', err);
  }
}

/** Creates the tables in a new file, or checks that an existing file is a spool of our version. */
function prepareSchema(db: Database.Database, path: string): void {
  // IMMEDIATE takes the write lock now, so a second process fails here rather than later.
  db.transaction(() => {
    const applicationId = db.pragma('application_id', { simple: true });
    const objects = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
    if (applicationId === 0 && objects === 0) {
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return;
    }
    if (applicationId !== APPLICATION_ID) {
      throw new SpoolError(
        `${path} is a SQLite database but not a Vigil alert spool (application_id ${String(applicationId)})`,
        path,
        'not-a-spool',
      );
    }
    const version = db.pragma('user_version', { simple: true });
    if (version !== SCHEMA_VERSION) {
      throw new SpoolError(
        `the alert spool at ${path} has schema version ${String(version)}; this agent reads version ${SCHEMA_VERSION}`,
        path,
        'not-a-spool',
      );
    }
  }).immediate();
}

class SqliteSpool implements Spool {
  private closed = false;
  private occupancy: Occupancy;
  private readonly droppedByRank: number[];

  private readonly insertStmt: Database.Statement<[string, number, string, number, string]>;
  private readonly existsStmt: Database.Statement<[string], number>;
  private readonly evictStmt: Database.Statement<[number], Victim>;
  private readonly recordDropStmt: Database.Statement<[number, number]>;
  private readonly peekStmt: Database.Statement<[number, number], [number, number, string]>;
  private readonly ackStmt: Database.Statement<[string], [number, number]>;
  private readonly ackThroughStmt: Database.Statement<[number], [number, number]>;
  private readonly oldestStmt: Database.Statement<[], string>;
  private readonly lastSeqStmt: Database.Statement<[], number>;

  private readonly appendTx: Database.Transaction<(rows: readonly Row[]) => AppendOutcome>;
  private readonly ackTx: Database.Transaction<(ids: readonly string[]) => Occupancy>;
  private readonly ackThroughTx: Database.Transaction<(seq: number) => Occupancy>;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly maxAlerts: number,
    private readonly maxBytes: number,
  ) {
    this.insertStmt = db.prepare(
      'INSERT INTO alerts (id, rank, time, bytes, alert) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
    );
    this.existsStmt = db.prepare<[string], number>('SELECT 1 FROM alerts WHERE id = ?').pluck();
    this.evictStmt = db
      .prepare<[number], Victim>(
        `DELETE FROM alerts WHERE seq = (
           SELECT seq FROM alerts WHERE rank >= ? ORDER BY rank DESC, seq LIMIT 1
         ) RETURNING seq, id, rank, bytes`,
      )
      .raw();
    this.recordDropStmt = db.prepare(
      'INSERT INTO drops (rank, count) VALUES (?, ?) ON CONFLICT (rank) DO UPDATE SET count = count + excluded.count',
    );
    this.peekStmt = db
      .prepare<[number, number], [number, number, string]>(
        'SELECT seq, bytes, alert FROM alerts WHERE seq > ? ORDER BY seq LIMIT ?',
      )
      .raw();
    this.ackStmt = db
      .prepare<[string], [number, number]>('DELETE FROM alerts WHERE id = ? RETURNING rank, bytes')
      .raw();
    this.ackThroughStmt = db
      .prepare<[number], [number, number]>('DELETE FROM alerts WHERE seq <= ? RETURNING rank, bytes')
      .raw();
    this.oldestStmt = db.prepare<[], string>('SELECT time FROM alerts ORDER BY seq LIMIT 1').pluck();
    this.lastSeqStmt = db
      .prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'alerts'")
      .pluck();

    this.appendTx = db.transaction((rows: readonly Row[]) => this.appendRows(rows));
    this.ackTx = db.transaction((ids: readonly string[]) => {
      const after = this.occupancy.clone();
      for (const id of ids) {
        const gone = this.ackStmt.get(id);
        if (gone !== undefined) after.remove(gone[0], gone[1]);
      }
      return after;
    });
    this.ackThroughTx = db.transaction((seq: number) => {
      const after = this.occupancy.clone();
      for (const [rank, bytes] of this.ackThroughStmt.iterate(seq)) after.remove(rank, bytes);
      return after;
    });

    const countByRank = new Array<number>(PRIORITY_LEVELS).fill(0);
    const bytesByRank = new Array<number>(PRIORITY_LEVELS).fill(0);
    const held = db
      .prepare<[], [number, number, number]>('SELECT rank, count(*), total(bytes) FROM alerts GROUP BY rank')
      .raw()
      .all();
    for (const [rank, count, bytes] of held) {
      countByRank[rank] = count;
      bytesByRank[rank] = bytes;
    }
    this.occupancy = new Occupancy(countByRank, bytesByRank);
    this.droppedByRank = new Array<number>(PRIORITY_LEVELS).fill(0);
    for (const [rank, count] of db
      .prepare<[], [number, number]>('SELECT rank, count FROM drops')
      .raw()
      .all()) {
      this.droppedByRank[rank] = count;
    }
    this.trimToBounds();
  }

  append(alerts: readonly Alert[]): AppendResult {
    this.assertOpen();
    // Validate and serialise first: a bad alert stops the batch before anything is written.
    const rows = alerts.map((alert, index) => this.toRow(alert, index));
    let outcome: AppendOutcome;
    try {
      outcome = this.appendTx.immediate(rows);
    } catch (err) {
      throw spoolFailure(this.path, 'append to', err);
    }
    // The counters follow the file only once the transaction has committed.
    this.occupancy = outcome.after;
    outcome.drops.forEach((n, rank) => (this.droppedByRank[rank] = (this.droppedByRank[rank] ?? 0) + n));
    return outcome.result;
  }

  peek(options: PeekOptions): SpooledAlert[] {
    this.assertOpen();
    const limit = options.limit;
    const afterSeq = options.afterSeq ?? 0;
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new SpoolError(
        `alert spool at ${this.path}: peek limit must be a non-negative integer, got ${String(limit)}`,
        this.path,
        'invalid-option',
      );
    }
    const out: SpooledAlert[] = [];
    let total = 0;
    try {
      for (const [seq, bytes, json] of this.peekStmt.iterate(afterSeq, limit)) {
        if (out.length > 0 && total + bytes > maxBytes) break;
        out.push({ seq, alert: this.parse(seq, json) });
        total += bytes;
      }
    } catch (err) {
      throw spoolFailure(this.path, 'read', err);
    }
    return out;
  }

  ack(ids: readonly string[]): number {
    this.assertOpen();
    return this.applyDeletion(() => this.ackTx.immediate(ids));
  }

  ackThrough(seq: number): number {
    this.assertOpen();
    return this.applyDeletion(() => this.ackThroughTx.immediate(seq));
  }

  depth(): number {
    this.assertOpen();
    return this.occupancy.count;
  }

  stats(): SpoolStats {
    this.assertOpen();
    let oldestTime: string | undefined;
    let lastSeq: number | undefined;
    try {
      oldestTime = this.oldestStmt.get();
      lastSeq = this.lastSeqStmt.get();
    } catch (err) {
      throw spoolFailure(this.path, 'read', err);
    }
    return {
      path: this.path,
      depth: this.occupancy.count,
      bytes: this.occupancy.bytes,
      maxAlerts: this.maxAlerts,
      maxBytes: this.maxBytes,
      depthByPriority: countsByPriority(this.occupancy.countByRank),
      droppedByPriority: countsByPriority(this.droppedByRank),
      dropped: this.droppedByRank.reduce((a, b) => a + b, 0),
      oldestTime,
      lastSeq: lastSeq ?? 0,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.close();
    } catch (err) {
      throw spoolFailure(this.path, 'close', err);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SpoolError(`the alert spool at ${this.path} is closed`, this.path, 'closed');
  }

  private toRow(alert: Alert, index: number): Row {
    const id: unknown = alert.id;
    if (typeof id !== 'string' || id === '') {
      throw new SpoolError(
        `alert spool at ${this.path}: alert #${index} of the batch has no id`,
        this.path,
        'invalid-alert',
      );
    }
    const rank = typeof alert.priority === 'string' ? parsePriority(alert.priority) : undefined;
    if (rank === undefined) {
      throw new SpoolError(
        `alert spool at ${this.path}: alert ${id} has no known priority (${JSON.stringify(alert.priority)})`,
        this.path,
        'invalid-alert',
      );
    }
    let json: string;
    try {
      json = JSON.stringify(alert);
    } catch (err) {
      throw new SpoolError(
        `alert spool at ${this.path}: alert ${id} cannot be written as JSON`,
        this.path,
        'invalid-alert',
        { cause: err },
      );
    }
    return {
      id,
      rank,
      time: typeof alert.time === 'string' ? alert.time : '',
      json,
      bytes: Buffer.byteLength(json),
    };
  }

  private parse(seq: number, json: string): Alert {
    try {
      return JSON.parse(json) as Alert;
    } catch (err) {
      throw new SpoolError(
        `the alert spool at ${this.path} holds an unreadable alert at seq ${seq}; ` +
          'move the file aside to start with an empty spool',
        this.path,
        'corrupt',
        { cause: err },
      );
    }
  }

  /** The body of the append transaction. Works on a copy of the counters, returned for after the commit. */
  private appendRows(rows: readonly Row[]): AppendOutcome {
    const after = this.occupancy.clone();
    const drops = new Array<number>(PRIORITY_LEVELS).fill(0);
    // id -> seq of this batch's alerts still held; Map keeps batch order.
    const stored = new Map<string, number>();
    const duplicates: string[] = [];
    const dropped: DroppedAlert[] = [];

    const refuse = (row: Row, reason: DropReason): void => {
      // Dropping an id the spool already holds would report a loss that is not one. With the
      // same content that cannot happen (a held copy is room for itself), but a resent alert
      // may differ from the held one in priority or size.
      if (this.existsStmt.get(row.id) !== undefined) {
        duplicates.push(row.id);
        return;
      }
      drops[row.rank] = (drops[row.rank] ?? 0) + 1;
      dropped.push({ id: row.id, priority: priorityName(row.rank), reason });
    };

    for (const row of rows) {
      if (row.bytes > this.maxBytes) {
        refuse(row, 'oversized');
        continue;
      }
      // Room can only come from alerts at this priority or below: if even all of them would not
      // make enough, the arriving alert is the one to go, and nothing is evicted for it.
      const room = after.displaceable(row.rank);
      if (
        after.count + 1 - room.count > this.maxAlerts ||
        after.bytes + row.bytes - room.bytes > this.maxBytes
      ) {
        refuse(row, 'refused');
        continue;
      }
      const inserted = this.insertStmt.run(row.id, row.rank, row.time, row.bytes, row.json);
      if (inserted.changes === 0) {
        duplicates.push(row.id);
        continue;
      }
      after.add(row.rank, row.bytes);
      stored.set(row.id, Number(inserted.lastInsertRowid));
      while (after.count > this.maxAlerts || after.bytes > this.maxBytes) {
        // The check above guarantees a victim of this rank or below, older than this row.
        const victim = this.evictStmt.get(row.rank);
        if (victim === undefined)
          throw new Error(`spool invariant broken: nothing to evict at rank ${row.rank}`);
        const [, id, rank, bytes] = victim;
        after.remove(rank, bytes);
        drops[rank] = (drops[rank] ?? 0) + 1;
        dropped.push({ id, priority: priorityName(rank as Priority), reason: 'evicted' });
        stored.delete(id);
      }
    }
    drops.forEach((n, rank) => {
      if (n > 0) this.recordDropStmt.run(rank, n);
    });
    return {
      result: { stored: [...stored].map(([id, seq]) => ({ id, seq })), duplicates, dropped },
      after,
      drops,
    };
  }

  private applyDeletion(tx: () => Occupancy): number {
    let after: Occupancy;
    try {
      after = tx();
    } catch (err) {
      throw spoolFailure(this.path, 'acknowledge alerts in', err);
    }
    const removed = this.occupancy.count - after.count;
    this.occupancy = after;
    return removed;
  }

  /** Evicts down to the bounds, for a spool written under larger ones. */
  private trimToBounds(): void {
    if (this.occupancy.count <= this.maxAlerts && this.occupancy.bytes <= this.maxBytes) return;
    const trim = this.db.transaction(() => {
      const after = this.occupancy.clone();
      const drops = new Array<number>(PRIORITY_LEVELS).fill(0);
      while (after.count > this.maxAlerts || after.bytes > this.maxBytes) {
        const victim = this.evictStmt.get(0);
        if (victim === undefined) break;
        const [, , rank, bytes] = victim;
        after.remove(rank, bytes);
        drops[rank] = (drops[rank] ?? 0) + 1;
      }
      drops.forEach((n, rank) => {
        if (n > 0) this.recordDropStmt.run(rank, n);
      });
      return { after, drops };
    });
    const { after, drops } = trim.immediate();
    this.occupancy = after;
    drops.forEach((n, rank) => (this.droppedByRank[rank] = (this.droppedByRank[rank] ?? 0) + n));
  }
}
