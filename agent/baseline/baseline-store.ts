/**
 * Where the agent keeps what it learnt across restarts: a SQLite file of its own (`baselines.db`
 * in the data directory, next to the spool) with
 * - `profiles`: one row per profile holding its canonical bytes;
 * - `sequence_models`: the node-local system-call sequence models of locked profiles;
 * - `sequence_learners`: the sequence learners of profiles still learning (per executable, the
 *   bytes of `SequenceLearner.toBytes`), so that a restart does not throw away what they gathered;
 * - `drift_written`: the drift memory, the files each container wrote, renamed into place or made
 *   executable after it started (container id, path, event time of the write).
 *
 * Writes are batched by the engine (write-behind); each write method is one transaction. The
 * tables are created when missing, so a store of an earlier version opens and gains them.
 *
 * Bounded:
 * - at most `maxRows` profiles; past it, the least recently updated go, with their models and
 *   learners;
 * - at most `maxLearnerRows` learners (default {@link DEFAULT_MAX_LEARNERS}, the engine's limit of
 *   learners in memory); past it, the least recently written go. A profile's learners are
 *   deleted when its models are stored (it locked) and by {@link BaselineStore.deleteLearners}
 *   (it was reopened, or a learner was unreadable);
 * - the drift memory mirrors the engine's: the engine writes each change, including the paths
 *   and containers it lets go, so the rows never exceed its in-memory limits. Loading it
 *   ({@link BaselineStore.loadDriftMemory}) first prunes to the limits given, keeping the most
 *   recently written containers and their newest paths, and deletes the rest.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** One stored profile. */
export interface StoredProfile {
  readonly key: string;
  readonly bytes: Uint8Array;
}

/** A sequence learner of a profile still learning. */
export interface StoredLearner {
  readonly key: string;
  readonly exe: string;
  readonly bytes: Uint8Array;
}

/** A file a container wrote after it started (the drift memory). */
export interface StoredWrite {
  readonly containerId: string;
  readonly path: string;
  /** Event time of the (last) write, ms. */
  readonly writtenMs: number;
}

/** Changes to the drift memory, applied in this order: forget, then put, then remove. */
export interface DriftChanges {
  /** Containers whose rows all go (let go by the engine). */
  readonly forget: readonly string[];
  readonly put: readonly StoredWrite[];
  readonly remove: readonly { readonly containerId: string; readonly path: string }[];
}

/** Learners kept by default: the engine's limit of sequence learners in memory. */
export const DEFAULT_MAX_LEARNERS = 64;

/** The agent's profile store. */
export interface BaselineStore {
  /** Every stored profile, most recently updated first, at most `limit`. */
  loadRecent(limit: number): StoredProfile[];
  get(key: string): Uint8Array | undefined;
  /** Writes profiles in one transaction (and trims to the row limit). */
  putMany(rows: readonly StoredProfile[], nowMs: number): void;
  /** Sequence models of one profile, by executable. */
  loadModels(key: string): { exe: string; bytes: Uint8Array }[];
  /** Replaces the sequence models of one profile, and deletes its learners (it locked). */
  putModels(key: string, models: readonly { exe: string; bytes: Uint8Array }[]): void;
  /** The stored learners of one profile, by executable. */
  loadLearners(key: string): { exe: string; bytes: Uint8Array }[];
  /** Writes learners (replacing earlier bytes) in one transaction, and trims to the row limit. */
  /**
   * Writes learners in one transaction and trims to the learner limit. Returns how many stored
   * learners the trim deleted (the least recently written; their executables would learn afresh).
   */
  putLearners(rows: readonly StoredLearner[], nowMs: number): number;
  /** Deletes the learners of one profile: all of them, or those of the executables given. */
  deleteLearners(key: string, exes?: readonly string[]): void;
  /**
   * The drift memory, pruned first to the `maxContainers` most recently written containers and
   * the newest `maxPerContainer` paths of each (the rest is deleted). Per container, oldest write
   * first; containers least recently written first.
   */
  loadDriftMemory(maxContainers: number, maxPerContainer: number): StoredWrite[];
  /** Applies changes to the drift memory in one transaction. */
  applyDriftChanges(changes: DriftChanges): void;
  count(): number;
  close(): void;
}

/** Options of {@link openBaselineStore}. */
export interface BaselineStoreOptions {
  readonly path: string;
  /** Most profiles kept. Default 4096. */
  readonly maxRows?: number;
  /** Most sequence learners kept. Default {@link DEFAULT_MAX_LEARNERS}. */
  readonly maxLearnerRows?: number;
}

/** Opens (creating when needed) the store at `path`. Throws an Error naming the file when it cannot. */
export function openBaselineStore(options: BaselineStoreOptions): BaselineStore {
  const maxRows = options.maxRows ?? 4096;
  const maxLearnerRows = options.maxLearnerRows ?? DEFAULT_MAX_LEARNERS;
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
      CREATE TABLE IF NOT EXISTS sequence_learners (
        key TEXT NOT NULL,
        exe TEXT NOT NULL,
        bytes BLOB NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (key, exe)
      );
      CREATE INDEX IF NOT EXISTS sequence_learners_updated ON sequence_learners (updated_ms);
      CREATE TABLE IF NOT EXISTS drift_written (
        container_id TEXT NOT NULL,
        path TEXT NOT NULL,
        written_ms INTEGER NOT NULL,
        PRIMARY KEY (container_id, path)
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
  const trimLearnersOfGone = db.prepare(
    'DELETE FROM sequence_learners WHERE key NOT IN (SELECT key FROM profiles)',
  );
  const putMany = db.transaction((rows: readonly StoredProfile[], nowMs: number) => {
    for (const r of rows) upsert.run(r.key, Buffer.from(r.bytes), nowMs);
    const over = (countRows.get()?.n ?? 0) - maxRows;
    if (over > 0) {
      trim.run(over);
      trimModels.run();
      trimLearnersOfGone.run();
    }
  });
  const learners = db.prepare<[string], { exe: string; bytes: Buffer }>(
    'SELECT exe, bytes FROM sequence_learners WHERE key = ? ORDER BY exe',
  );
  const upsertLearner = db.prepare<[string, string, Buffer, number]>(
    'INSERT INTO sequence_learners (key, exe, bytes, updated_ms) VALUES (?, ?, ?, ?) ON CONFLICT (key, exe) DO UPDATE SET bytes = excluded.bytes, updated_ms = excluded.updated_ms',
  );
  const countLearners = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sequence_learners');
  const trimLearners = db.prepare<[number]>(
    'DELETE FROM sequence_learners WHERE rowid IN (SELECT rowid FROM sequence_learners ORDER BY updated_ms ASC, key, exe LIMIT ?)',
  );
  const deleteLearnersOf = db.prepare<[string]>('DELETE FROM sequence_learners WHERE key = ?');
  const deleteLearner = db.prepare<[string, string]>(
    'DELETE FROM sequence_learners WHERE key = ? AND exe = ?',
  );
  const putModels = db.transaction((key: string, list: readonly { exe: string; bytes: Uint8Array }[]) => {
    deleteModels.run(key);
    for (const m of list) insertModel.run(key, m.exe, Buffer.from(m.bytes));
    deleteLearnersOf.run(key);
  });
  const putLearners = db.transaction((rows: readonly StoredLearner[], nowMs: number) => {
    for (const r of rows) upsertLearner.run(r.key, r.exe, Buffer.from(r.bytes), nowMs);
    const over = (countLearners.get()?.n ?? 0) - maxLearnerRows;
    return over > 0 ? trimLearners.run(over).changes : 0;
  });
  const deleteLearners = db.transaction((key: string, exes: readonly string[] | undefined) => {
    if (exes === undefined) deleteLearnersOf.run(key);
    else for (const exe of exes) deleteLearner.run(key, exe);
  });
  // Drift memory: rank containers by their latest write and paths by theirs, newest first.
  const ranked = `
    SELECT container_id, path, written_ms,
      dense_rank() OVER (ORDER BY last DESC, container_id) AS container_rank,
      row_number() OVER (PARTITION BY container_id ORDER BY written_ms DESC, path DESC) AS path_rank,
      last
    FROM (SELECT *, max(written_ms) OVER (PARTITION BY container_id) AS last FROM drift_written)`;
  const pruneDrift = db.prepare<{ containers: number; paths: number }>(
    `DELETE FROM drift_written WHERE (container_id, path) IN (
       SELECT container_id, path FROM (${ranked}) WHERE container_rank > @containers OR path_rank > @paths)`,
  );
  // The engine writes what it lets go, so the rows are normally within the limits already: the
  // ranking (seconds for half a million rows) only runs when a cheap count says they are not.
  const driftShape = db.prepare<[], { containers: number; paths: number | null }>(
    'SELECT count(*) AS containers, max(n) AS paths FROM (SELECT count(*) AS n FROM drift_written GROUP BY container_id)',
  );
  const loadDrift = db.prepare<[], { container_id: string; path: string; written_ms: number }>(
    `SELECT d.container_id, d.path, d.written_ms FROM drift_written d
     JOIN (SELECT container_id, max(written_ms) AS last FROM drift_written GROUP BY container_id) g
       USING (container_id)
     ORDER BY g.last ASC, d.container_id, d.written_ms ASC, d.path`,
  );
  const loadDriftMemory = db.transaction((containers: number, paths: number) => {
    const shape = driftShape.get();
    if (shape !== undefined && (shape.containers > containers || (shape.paths ?? 0) > paths))
      pruneDrift.run({ containers, paths });
    return loadDrift.all();
  });
  const forgetContainer = db.prepare<[string]>('DELETE FROM drift_written WHERE container_id = ?');
  const putWrite = db.prepare<[string, string, number]>(
    'INSERT INTO drift_written (container_id, path, written_ms) VALUES (?, ?, ?) ON CONFLICT (container_id, path) DO UPDATE SET written_ms = excluded.written_ms',
  );
  const removeWrite = db.prepare<[string, string]>(
    'DELETE FROM drift_written WHERE container_id = ? AND path = ?',
  );
  const applyDrift = db.transaction((c: DriftChanges) => {
    for (const id of c.forget) forgetContainer.run(id);
    for (const w of c.put) putWrite.run(w.containerId, w.path, w.writtenMs);
    for (const w of c.remove) removeWrite.run(w.containerId, w.path);
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
    loadLearners: (key) => learners.all(key).map((m) => ({ exe: m.exe, bytes: new Uint8Array(m.bytes) })),
    putLearners: (rows, nowMs) => (rows.length > 0 ? putLearners(rows, nowMs) : 0),
    deleteLearners(key, exes) {
      deleteLearners(key, exes);
    },
    loadDriftMemory: (maxContainers, maxPerContainer) =>
      loadDriftMemory(maxContainers, maxPerContainer).map((r) => ({
        containerId: r.container_id,
        path: r.path,
        writtenMs: r.written_ms,
      })),
    applyDriftChanges(changes) {
      if (changes.forget.length + changes.put.length + changes.remove.length > 0) applyDrift(changes);
    },
    count: () => countRows.get()?.n ?? 0,
    close() {
      if (db.open) db.close();
    },
  };
}
