/**
 * The collector's one SQLite file. Alerts, agents, API tokens (and whatever later parts of the
 * collector keep) live in one database so that the collector opens, backs up and moves one file;
 * each part owns its tables and migrates them itself through {@link migrateSchema}.
 *
 * The file is in WAL mode and is NOT opened exclusively: `vigil tokens` edits tokens in it while
 * the collector runs. Readers never block the writer; writers wait for each other up to the
 * busy timeout.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** The handle type of an open collector database (better-sqlite3's). */
export type CollectorDatabase = Database.Database;

/** How to open the collector database. */
export interface CollectorDatabaseOptions {
  /** The SQLite file; its directory is created when missing. `:memory:` for a throw-away one. */
  readonly path: string;
  /**
   * `normal` (default): a committed write survives the collector being killed, and the last
   * commits before a power loss may be lost (never corrupted). `full`: fsync on every commit.
   */
  readonly synchronous?: 'normal' | 'full';
  /** How long a write waits for another process's write to finish (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** SQLite's page cache for this connection, in MiB (default 64). */
  readonly cacheMiB?: number;
}

/** `application_id` in the file header marks a Vigil collector database ("VGCL"). */
const APPLICATION_ID = 0x5647434c;

/**
 * Opens (creating when missing) the collector database and sets it up: WAL, synchronous level,
 * busy timeout, and the `schema_versions` table through which each part migrates its tables.
 * Throws an Error naming the file (with the SQLite error as `cause`) when the file cannot be
 * opened or belongs to something else.
 */
export function openCollectorDatabase(options: CollectorDatabaseOptions): CollectorDatabase {
  const { path } = options;
  let db: CollectorDatabase | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`cache_size = ${-1024 * (options.cacheMiB ?? 64)}`);
    // After a checkpoint the log is cut back to this size, so a burst does not leave a huge -wal file.
    db.pragma('journal_size_limit = 67108864');
    db.pragma('foreign_keys = ON');
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (appId === 0) {
      const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as {
        n: number;
      };
      if (tables.n > 0)
        throw new Error('the file holds tables but is not marked as a Vigil collector database');
      db.pragma(`application_id = ${APPLICATION_ID}`);
    } else if (appId !== APPLICATION_ID) {
      throw new Error(`application_id 0x${appId.toString(16)} is not a Vigil collector database's`);
    }
    db.exec('CREATE TABLE IF NOT EXISTS schema_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    return db;
  } catch (err) {
    db?.close();
    throw new Error(
      `cannot open the collector database ${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Brings one part's tables up to date: runs the steps after the version recorded for `part`, in
 * one immediate transaction (so a collector and a `vigil` command opening the file together do
 * not both migrate). Step N (1-based) takes the part to version N. Throws when the file was
 * written by a newer Vigil (a version past the last step).
 *
 * @example migrateSchema(db, 'tokens', ['CREATE TABLE tokens (...)'])
 */
export function migrateSchema(db: CollectorDatabase, part: string, steps: readonly string[]): void {
  const read = db.prepare('SELECT version FROM schema_versions WHERE part = ?');
  const write = db.prepare(
    'INSERT INTO schema_versions (part, version) VALUES (?, ?) ON CONFLICT (part) DO UPDATE SET version = excluded.version',
  );
  db.transaction(() => {
    const current = (read.get(part) as { version: number } | undefined)?.version ?? 0;
    if (current > steps.length) {
      throw new Error(
        `${db.name}: the ${part} tables are at schema version ${current}, newer than this Vigil knows (${steps.length})`,
      );
    }
    for (let v = current; v < steps.length; v++) db.exec(steps[v] as string);
    if (current !== steps.length) write.run(part, steps.length);
  }).immediate();
}
