/**
 * The quarantines this agent has applied and not yet released, in a small SQLite file beside the
 * spool, so that a restarted agent puts them back (see quarantine-handler.ts).
 *
 * One row per quarantine id; a pod has at most one (a newer quarantine of the same pod replaces
 * the older row). Bounded by {@link MAX_ACTIVE_QUARANTINES}: a node never runs that many pods.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Most quarantines held; one more is refused (a node runs far fewer pods). */
export const MAX_ACTIVE_QUARANTINES = 10_000;

/** An active quarantine as the agent remembers it. */
export interface QuarantineRecord {
  readonly quarantineId: string;
  readonly namespace: string;
  readonly pod: string;
  /** The uid of the pod it was applied to (the pod the runtime found). */
  readonly podUid: string;
  readonly cutEstablished: boolean;
  readonly freeze: boolean;
  readonly reason: string;
  readonly appliedMs: number;
}

/** The store of active quarantines. */
export interface QuarantineStore {
  get(quarantineId: string): QuarantineRecord | undefined;
  /** The quarantine of a pod, if any. */
  forPod(namespace: string, pod: string): QuarantineRecord | undefined;
  all(): QuarantineRecord[];
  count(): number;
  /** Records `record`, replacing any record of the same pod; throws when the store is full. */
  put(record: QuarantineRecord): void;
  delete(quarantineId: string): boolean;
  close(): void;
}

interface Row {
  quarantine_id: string;
  namespace: string;
  pod: string;
  pod_uid: string;
  cut_established: number;
  freeze: number;
  reason: string;
  applied_ms: number;
}

const fromRow = (r: Row): QuarantineRecord => ({
  quarantineId: r.quarantine_id,
  namespace: r.namespace,
  pod: r.pod,
  podUid: r.pod_uid,
  cutEstablished: r.cut_established === 1,
  freeze: r.freeze === 1,
  reason: r.reason,
  appliedMs: r.applied_ms,
});

/** Opens (creating when missing) the store at `path`. */
export function openQuarantineStore(path: string): QuarantineStore {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec(`CREATE TABLE IF NOT EXISTS quarantines (
    quarantine_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    pod_uid TEXT NOT NULL,
    cut_established INTEGER NOT NULL,
    freeze INTEGER NOT NULL,
    reason TEXT NOT NULL,
    applied_ms INTEGER NOT NULL,
    UNIQUE (namespace, pod)
  )`);
  const getStmt = db.prepare<[string], Row>('SELECT * FROM quarantines WHERE quarantine_id = ?');
  const podStmt = db.prepare<[string, string], Row>(
    'SELECT * FROM quarantines WHERE namespace = ? AND pod = ?',
  );
  const allStmt = db.prepare<[], Row>('SELECT * FROM quarantines ORDER BY applied_ms');
  const countStmt = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM quarantines');
  const deletePod = db.prepare<[string, string]>('DELETE FROM quarantines WHERE namespace = ? AND pod = ?');
  const deleteId = db.prepare<[string]>('DELETE FROM quarantines WHERE quarantine_id = ?');
  const insert = db.prepare(
    `INSERT OR REPLACE INTO quarantines
       (quarantine_id, namespace, pod, pod_uid, cut_established, freeze, reason, applied_ms)
     VALUES (@quarantine_id, @namespace, @pod, @pod_uid, @cut_established, @freeze, @reason, @applied_ms)`,
  );
  const put = db.transaction((r: QuarantineRecord) => {
    deletePod.run(r.namespace, r.pod);
    if (getStmt.get(r.quarantineId) === undefined && (countStmt.get()?.n ?? 0) >= MAX_ACTIVE_QUARANTINES) {
      throw new Error(`${MAX_ACTIVE_QUARANTINES} quarantines are active on this node already`);
    }
    insert.run({
      quarantine_id: r.quarantineId,
      namespace: r.namespace,
      pod: r.pod,
      pod_uid: r.podUid,
      cut_established: r.cutEstablished ? 1 : 0,
      freeze: r.freeze ? 1 : 0,
      reason: r.reason,
      applied_ms: r.appliedMs,
    });
  });
  return {
    get: (id) => {
      const row = getStmt.get(id);
      return row === undefined ? undefined : fromRow(row);
    },
    forPod: (namespace, pod) => {
      const row = podStmt.get(namespace, pod);
      return row === undefined ? undefined : fromRow(row);
    },
    all: () => allStmt.all().map(fromRow),
    count: () => countStmt.get()?.n ?? 0,
    put: (r) => put(r),
    delete: (id) => deleteId.run(id).changes > 0,
    close: () => db.close(),
  };
}
