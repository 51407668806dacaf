/**
 * The collector's merged workload profiles, kept in the collector database (table
 * `baseline_profiles`): one row per profile key (`profileKeyOf(workload, image)`), holding the
 * encoded merged profile as the agents receive it, its summary without items (so that the
 * console's list needs no decoding), when it last changed, and a version counter that goes up by
 * one on every write.
 *
 * The store keeps bytes and columns; it knows nothing of what is inside a profile. The baseline
 * service (`baseline-service.ts`) decodes, merges and summarises.
 */
import { migrateSchema, type CollectorDatabase } from '../store/database.js';

/** A stored profile, as written. */
export interface StoredProfile {
  readonly key: string;
  /** `encodeProfile` of the merged profile. */
  readonly profile: Uint8Array;
  /** When it last changed, ms since the epoch (the collector's clock). */
  readonly updatedMs: number;
  /** 1 on the first write, one more on each write after. */
  readonly version: number;
}

/** A profile as listed: its summary (without items) instead of its bytes. */
export interface ListedProfile {
  readonly key: string;
  /** The summary JSON as written, parsed. */
  readonly summary: unknown;
  readonly updatedMs: number;
  readonly version: number;
}

/** One profile to write (insert or replace). */
export interface ProfileWrite {
  readonly key: string;
  readonly profile: Uint8Array;
  /** For the list's filters. */
  readonly namespace: string;
  readonly status: string;
  /** The summary without items, as JSON text. */
  readonly summaryJson: string;
}

/** Which profiles to list: all conditions combined with AND. */
export interface ProfileListFilter {
  readonly namespace?: string;
  readonly status?: string;
  /** Most rows returned. */
  readonly limit: number;
}

/** Where a catch-up walk (newest first) stopped: the last row it returned. */
export interface RecentCursor {
  readonly updatedMs: number;
  readonly key: string;
}

/** The profile table. */
export interface ProfileStore {
  get(key: string): StoredProfile | undefined;
  has(key: string): boolean;
  /** How many profiles are stored. */
  count(): number;
  /** Writes every profile in one transaction, each stamped `nowMs` and its version bumped. */
  write(writes: readonly ProfileWrite[], nowMs: number): void;
  /** Profiles by key, filtered. */
  list(filter: ProfileListFilter): ListedProfile[];
  /**
   * Profiles newest first (by update time, then key), starting after `after` (from the start
   * when undefined): how an agent that just connected is brought up to date, page by page.
   */
  recent(after: RecentCursor | undefined, limit: number): StoredProfile[];
  /**
   * Profiles last updated before `beforeMs`, oldest first (by update time, then key), starting
   * after `after`: how the idle-profile expiry walks the table, page by page.
   */
  idle(beforeMs: number, after: RecentCursor | undefined, limit: number): RecentCursor[];
  /**
   * Deletes those of `keys` still last updated before `beforeMs` (one transaction); returns
   * the keys deleted.
   */
  remove(keys: readonly string[], beforeMs: number): string[];
  /**
   * Sets `key`'s update time to `nowMs` when it is older, without changing the profile or its
   * version (a delta that changed nothing still shows the workload is alive).
   */
  touch(key: string, nowMs: number): void;
}

const SCHEMA_STEPS: readonly string[] = [
  `CREATE TABLE baseline_profiles (
     key TEXT PRIMARY KEY,
     namespace TEXT NOT NULL,
     status TEXT NOT NULL,
     -- encodeProfile() of the merged profile: what agents are sent.
     profile BLOB NOT NULL,
     -- summarizeProfile() without its items, as JSON.
     summary TEXT NOT NULL,
     updated_ms INTEGER NOT NULL,
     version INTEGER NOT NULL
   );
   CREATE INDEX baseline_profiles_by_update ON baseline_profiles (updated_ms, key);
   CREATE INDEX baseline_profiles_by_namespace ON baseline_profiles (namespace, key);`,
];

interface ProfileRow {
  key: string;
  profile: Buffer;
  updated_ms: number;
  version: number;
}

function toStored(row: ProfileRow): StoredProfile {
  return {
    key: row.key,
    profile: new Uint8Array(row.profile.buffer, row.profile.byteOffset, row.profile.byteLength),
    updatedMs: row.updated_ms,
    version: row.version,
  };
}

/**
 * Opens the profile store on the collector database, creating its table when missing.
 *
 * @example
 * const profiles = openProfileStore({ database: db });
 * profiles.write([{ key, profile: bytes, namespace: 'shop', status: 'learning', summaryJson }], Date.now());
 */
export function openProfileStore(options: { readonly database: CollectorDatabase }): ProfileStore {
  const db = options.database;
  migrateSchema(db, 'baselines', SCHEMA_STEPS);
  const selectOne = db.prepare(
    'SELECT key, profile, updated_ms, version FROM baseline_profiles WHERE key = ?',
  );
  const exists = db.prepare('SELECT 1 FROM baseline_profiles WHERE key = ?').pluck();
  const countAll = db.prepare('SELECT count(*) FROM baseline_profiles').pluck();
  const upsert = db.prepare(
    `INSERT INTO baseline_profiles (key, namespace, status, profile, summary, updated_ms, version)
     VALUES (@key, @namespace, @status, @profile, @summary, @now, 1)
     ON CONFLICT (key) DO UPDATE SET namespace = excluded.namespace, status = excluded.status,
       profile = excluded.profile, summary = excluded.summary, updated_ms = excluded.updated_ms,
       version = baseline_profiles.version + 1`,
  );
  const recentFirst = db.prepare(
    `SELECT key, profile, updated_ms, version FROM baseline_profiles
     ORDER BY updated_ms DESC, key DESC LIMIT ?`,
  );
  const recentAfter = db.prepare(
    `SELECT key, profile, updated_ms, version FROM baseline_profiles
     WHERE (updated_ms, key) < (?, ?) ORDER BY updated_ms DESC, key DESC LIMIT ?`,
  );
  const idleFirst = db.prepare(
    `SELECT key, updated_ms FROM baseline_profiles WHERE updated_ms < ?
     ORDER BY updated_ms, key LIMIT ?`,
  );
  const idleAfter = db.prepare(
    `SELECT key, updated_ms FROM baseline_profiles WHERE updated_ms < ? AND (updated_ms, key) > (?, ?)
     ORDER BY updated_ms, key LIMIT ?`,
  );
  const removeIdle = db.prepare('DELETE FROM baseline_profiles WHERE key = ? AND updated_ms < ?');
  const touchOne = db.prepare('UPDATE baseline_profiles SET updated_ms = ? WHERE key = ? AND updated_ms < ?');
  const removeAll = db.transaction((keys: readonly string[], beforeMs: number): string[] =>
    keys.filter((key) => removeIdle.run(key, beforeMs).changes > 0),
  );
  const writeAll = db.transaction((writes: readonly ProfileWrite[], nowMs: number) => {
    for (const w of writes) {
      upsert.run({
        key: w.key,
        namespace: w.namespace,
        status: w.status,
        profile: Buffer.from(w.profile.buffer, w.profile.byteOffset, w.profile.byteLength),
        summary: w.summaryJson,
        now: nowMs,
      });
    }
  });

  return {
    get(key) {
      const row = selectOne.get(key) as ProfileRow | undefined;
      return row === undefined ? undefined : toStored(row);
    },
    has: (key) => exists.get(key) !== undefined,
    count: () => countAll.get() as number,
    write(writes, nowMs) {
      if (writes.length > 0) writeAll(writes, nowMs);
    },
    list(filter) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.namespace !== undefined) {
        where.push('namespace = ?');
        args.push(filter.namespace);
      }
      if (filter.status !== undefined) {
        where.push('status = ?');
        args.push(filter.status);
      }
      const sql =
        'SELECT key, summary, updated_ms, version FROM baseline_profiles' +
        (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
        ' ORDER BY key LIMIT ?';
      const rows = db.prepare(sql).all(...args, filter.limit) as {
        key: string;
        summary: string;
        updated_ms: number;
        version: number;
      }[];
      return rows.map((r) => ({
        key: r.key,
        summary: JSON.parse(r.summary) as unknown,
        updatedMs: r.updated_ms,
        version: r.version,
      }));
    },
    recent(after, limit) {
      const rows = (
        after === undefined ? recentFirst.all(limit) : recentAfter.all(after.updatedMs, after.key, limit)
      ) as ProfileRow[];
      return rows.map(toStored);
    },
    idle(beforeMs, after, limit) {
      const rows = (
        after === undefined
          ? idleFirst.all(beforeMs, limit)
          : idleAfter.all(beforeMs, after.updatedMs, after.key, limit)
      ) as { key: string; updated_ms: number }[];
      return rows.map((r) => ({ key: r.key, updatedMs: r.updated_ms }));
    },
    remove(keys, beforeMs) {
      return keys.length === 0 ? [] : removeAll(keys, beforeMs);
    },
    touch(key, nowMs) {
      touchOne.run(nowMs, key, nowMs);
    },
  };
}
