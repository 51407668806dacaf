/**
 * Where the agent keeps its learnt profiles across restarts: a SQLite file of its own
 * (`baselines.db` in the data directory, next to the spool), one row per profile holding its
 * canonical bytes, plus the node-local system-call sequence models.
 *
 * Writes are batched by the engine (write-behind); each {@link BaselineStore.putMany} is one
 * transaction. Bounded: at most `maxRows` profiles; past it, the least recently updated go.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** One stored profile. */
export interface StoredProfile {
  readonly key: string;
  readonly bytes: Uint8Array;
}

/** The agent's profile store. */
export interface BaselineStore {
  /** Every stored profile, most recently updated first, at most `limit`. */
  loadRecent(limit: number): StoredProfile[];
  get(key: string): Uint8Array | undefined;
  /** Writes profiles in one transaction (and trims to the row limit). */
  putMany(rows: readonly StoredProfile[], nowMs: number): void;
  /** Sequence models of one profile, by executable. */
  loadModels(key: string): { exe: string; bytes: Uint8Array }[];
  /** Replaces the sequence models of one profile. */
  putModels(key: string, models: readonly { exe: string; bytes: Uint8Array }[]): void;
  count(): number;
  close(): void;
}

/** Options of {@link openBaselineStore}. */
export interface BaselineStoreOptions {
  readonly path: string;
  /** Most profiles kept. Default 4096. */
  readonly maxRows?: number;
}

/** Opens (creating when needed) the store at `path`. Throws an Error naming the file when it cannot. */
export function openBaselineStore(options: BaselineStoreOptions): BaselineStore {
  const maxRows = options.maxRows ?? 4096;
  let db: Database.Database;
  try {
    mkdirSync(dirname(options.path), { recursive: true });
    db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS profiles (
        key TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        updated_ms INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS profiles_updated ON profiles (updated_ms);
      CREATE TABLE IF NOT EXISTS sequence_models (
        key TEXT NOT NULL,
        exe TEXT NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (key, exe)
      );
    `);
  } catch (err) {
    throw new Error(`cannot open the baseline store ${options.path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const recent = db.prepare<[number], { key: string; bytes: Buffer }>(
    'SELECT key, bytes FROM profiles ORDER BY updated_ms DESC, key LIMIT ?',
  );
  const getOne = db.prepare<[string], { bytes: Buffer }>('SELECT bytes FROM profiles WHERE key = ?');
  const upsert = db.prepare<[string, Buffer, number]>(
    'INSERT INTO profiles (key, bytes, updated_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, updated_ms = excluded.updated_ms',
  );
  const countRows = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM profiles');
  const trim = db.prepare<[number]>(
    'DELETE FROM profiles WHERE key IN (SELECT key FROM profiles ORDER BY updated_ms ASC, key LIMIT ?)',
  );
  const trimModels = db.prepare('DELETE FROM sequence_models WHERE key NOT IN (SELECT key FROM profiles)');
  const models = db.prepare<[string], { exe: string; bytes: Buffer }>(
    'SELECT exe, bytes FROM sequence_models WHERE key = ? ORDER BY exe',
  );
  const deleteModels = db.prepare<[string]>('DELETE FROM sequence_models WHERE key = ?');
  const insertModel = db.prepare<[string, string, Buffer]>(
    'INSERT INTO sequence_models (key, exe, bytes) VALUES (?, ?, ?)',
  );
  const putMany = db.transaction((rows: readonly StoredProfile[], nowMs: number) => {
    for (const r of rows) upsert.run(r.key, Buffer.from(r.bytes), nowMs);
    const over = (countRows.get()?.n ?? 0) - maxRows;
    if (over > 0) {
      trim.run(over);
      trimModels.run();
    }
  });
  const putModels = db.transaction((key: string, list: readonly { exe: string; bytes: Uint8Array }[]) => {
    deleteModels.run(key);
    for (const m of list) insertModel.run(key, m.exe, Buffer.from(m.bytes));
  });
  return {
    loadRecent: (limit) => recent.all(limit).map((r) => ({ key: r.key, bytes: new Uint8Array(r.bytes) })),
    get(key) {
      const row = getOne.get(key);
      return row === undefined ? undefined : new Uint8Array(row.bytes);
    },
    putMany(rows, nowMs) {
      if (rows.length > 0) putMany(rows, nowMs);
    },
    loadModels: (key) => models.all(key).map((m) => ({ exe: m.exe, bytes: new Uint8Array(m.bytes) })),
    putModels(key, list) {
      putModels(key, list);
    },
    count: () => countRows.get()?.n ?? 0,
    close() {
      if (db.open) db.close();
    },
  };
}
