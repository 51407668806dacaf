/**
 * Quarantine records in the collector's database (table `quarantines`): one row per quarantine,
 * with the state of each layer (Kubernetes: label + NetworkPolicy; node: the agent's nftables
 * cut). A pod has at most one open (active or releasing) quarantine — a partial unique index
 * says so — and released or failed ones stay as history beside the audit log.
 */
import { randomBytes } from 'node:crypto';
import { migrateSchema, type CollectorDatabase } from '../store/database.js';

/** Where one layer of a quarantine stands. */
export interface LayerState {
  readonly state: 'pending' | 'applied' | 'failed' | 'released' | 'skipped' | 'not-found';
  readonly detail: string;
  readonly updatedMs: number;
}

/** The state of a quarantine as a whole. */
export type QuarantineState = 'active' | 'releasing' | 'released' | 'failed';

/** Every {@link QuarantineState}. */
export const QUARANTINE_STATES: readonly QuarantineState[] = ['active', 'releasing', 'released', 'failed'];

/** A quarantine as the API serves it (CONTRACTS 7). */
export interface Quarantine {
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string | null;
  /** The node the pod runs on, once known (from Kubernetes, or the agent that had the pod). */
  readonly node: string | null;
  readonly state: QuarantineState;
  readonly reason: string;
  /** `token:<name>` or `policy:<name>`. */
  readonly actor: string;
  readonly alertId: string | null;
  readonly createdMs: number;
  readonly releasedMs: number | null;
  readonly releaseReason: string | null;
  readonly cutEstablished: boolean;
  readonly freeze: boolean;
  readonly layers: { readonly kubernetes: LayerState; readonly node: LayerState };
}

/** Which quarantines {@link QuarantineStore.list} returns. */
export interface QuarantineQuery {
  /** `open` = active or releasing; `all` (default) = every state. */
  readonly state?: QuarantineState | 'open' | 'all';
  readonly namespace?: string;
  readonly pod?: string;
  readonly node?: string;
  /** At most this many, newest first (default 100, at most 1000). */
  readonly limit?: number;
}

/** Largest page of {@link QuarantineStore.list}. */
export const MAX_QUARANTINE_PAGE = 1000;

const SCHEMA_STEPS: readonly string[] = [
  `CREATE TABLE quarantines (
     id TEXT PRIMARY KEY,
     namespace TEXT NOT NULL,
     pod TEXT NOT NULL,
     pod_uid TEXT,
     node TEXT,
     state TEXT NOT NULL CHECK (state IN ('active', 'releasing', 'released', 'failed')),
     reason TEXT NOT NULL,
     actor TEXT NOT NULL,
     alert_id TEXT,
     created_ms INTEGER NOT NULL,
     released_ms INTEGER,
     release_reason TEXT,
     cut_established INTEGER NOT NULL,
     freeze INTEGER NOT NULL,
     kube_state TEXT NOT NULL,
     kube_detail TEXT NOT NULL,
     kube_updated_ms INTEGER NOT NULL,
     node_state TEXT NOT NULL,
     node_detail TEXT NOT NULL,
     node_updated_ms INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX quarantines_open ON quarantines (namespace, pod) WHERE state IN ('active', 'releasing');
   CREATE INDEX quarantines_created ON quarantines (created_ms);
   CREATE INDEX quarantines_node ON quarantines (node) WHERE state IN ('active', 'releasing');`,
];

interface QuarantineRow {
  id: string;
  namespace: string;
  pod: string;
  pod_uid: string | null;
  node: string | null;
  state: QuarantineState;
  reason: string;
  actor: string;
  alert_id: string | null;
  created_ms: number;
  released_ms: number | null;
  release_reason: string | null;
  cut_established: number;
  freeze: number;
  kube_state: LayerState['state'];
  kube_detail: string;
  kube_updated_ms: number;
  node_state: LayerState['state'];
  node_detail: string;
  node_updated_ms: number;
}

function toQuarantine(row: QuarantineRow): Quarantine {
  return {
    id: row.id,
    namespace: row.namespace,
    pod: row.pod,
    podUid: row.pod_uid,
    node: row.node,
    state: row.state,
    reason: row.reason,
    actor: row.actor,
    alertId: row.alert_id,
    createdMs: row.created_ms,
    releasedMs: row.released_ms,
    releaseReason: row.release_reason,
    cutEstablished: row.cut_established === 1,
    freeze: row.freeze === 1,
    layers: {
      kubernetes: { state: row.kube_state, detail: row.kube_detail, updatedMs: row.kube_updated_ms },
      node: { state: row.node_state, detail: row.node_detail, updatedMs: row.node_updated_ms },
    },
  };
}

function toRow(q: Quarantine): QuarantineRow {
  return {
    id: q.id,
    namespace: q.namespace,
    pod: q.pod,
    pod_uid: q.podUid,
    node: q.node,
    state: q.state,
    reason: q.reason,
    actor: q.actor,
    alert_id: q.alertId,
    created_ms: q.createdMs,
    released_ms: q.releasedMs,
    release_reason: q.releaseReason,
    cut_established: q.cutEstablished ? 1 : 0,
    freeze: q.freeze ? 1 : 0,
    kube_state: q.layers.kubernetes.state,
    kube_detail: q.layers.kubernetes.detail,
    kube_updated_ms: q.layers.kubernetes.updatedMs,
    node_state: q.layers.node.state,
    node_detail: q.layers.node.detail,
    node_updated_ms: q.layers.node.updatedMs,
  };
}

/**
 * A new quarantine id: `q-`, the time in base 36 and 10 random hex digits. Short, sortable by
 * time, and a valid Kubernetes label value (it becomes `vigil.dev/quarantine=<id>`).
 */
export function newQuarantineId(nowMs: number): string {
  return `q-${nowMs.toString(36)}-${randomBytes(5).toString('hex')}`;
}

/** The quarantine records. */
export interface QuarantineStore {
  /** Inserts a new record; false when the pod already has an open one (the unique index). */
  insert(q: Quarantine): boolean;
  /** Replaces a record (matched by id). */
  update(q: Quarantine): void;
  get(id: string): Quarantine | undefined;
  /** The pod's open (active or releasing) quarantine. */
  open(namespace: string, pod: string): Quarantine | undefined;
  list(query?: QuarantineQuery): Quarantine[];
  /** Open quarantines whose node layer still waits: on `node`, or on no known node yet. */
  waitingForNode(node: string): Quarantine[];
  /** Records by state, for the metrics. */
  countByState(): Record<QuarantineState, number>;
}

/** Opens the quarantine records on the collector database, creating the table when missing. */
export function openQuarantineStore(database: CollectorDatabase): QuarantineStore {
  const db = database;
  migrateSchema(db, 'quarantines', SCHEMA_STEPS);
  const cols: readonly (keyof QuarantineRow)[] = [
    'id',
    'namespace',
    'pod',
    'pod_uid',
    'node',
    'state',
    'reason',
    'actor',
    'alert_id',
    'created_ms',
    'released_ms',
    'release_reason',
    'cut_established',
    'freeze',
    'kube_state',
    'kube_detail',
    'kube_updated_ms',
    'node_state',
    'node_detail',
    'node_updated_ms',
  ];
  const insert = db.prepare(
    `INSERT INTO quarantines (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')}) ON CONFLICT DO NOTHING`,
  );
  const update = db.prepare(
    `UPDATE quarantines SET ${cols
      .filter((c) => c !== 'id')
      .map((c) => `${c} = @${c}`)
      .join(', ')} WHERE id = @id`,
  );
  const byId = db.prepare('SELECT * FROM quarantines WHERE id = ?');
  const open = db.prepare(
    "SELECT * FROM quarantines WHERE namespace = ? AND pod = ? AND state IN ('active', 'releasing')",
  );
  const waiting = db.prepare(
    `SELECT * FROM quarantines WHERE state IN ('active', 'releasing') AND (node = ? OR node IS NULL)
       AND node_state IN ('pending', 'failed') ORDER BY created_ms`,
  );
  const counts = db.prepare('SELECT state, count(*) AS n FROM quarantines GROUP BY state');

  return {
    insert(q) {
      return insert.run(toRow(q)).changes > 0;
    },
    update(q) {
      const info = update.run(toRow(q));
      if (info.changes === 0) throw new Error(`no quarantine with id '${q.id}' to update`);
    },
    get(id) {
      const row = byId.get(id) as QuarantineRow | undefined;
      return row === undefined ? undefined : toQuarantine(row);
    },
    open(namespace, pod) {
      const row = open.get(namespace, pod) as QuarantineRow | undefined;
      return row === undefined ? undefined : toQuarantine(row);
    },
    list(query = {}) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      const state = query.state ?? 'all';
      if (state === 'open') where.push("state IN ('active', 'releasing')");
      else if (state !== 'all') {
        where.push('state = ?');
        params.push(state);
      }
      for (const [col, value] of [
        ['namespace', query.namespace],
        ['pod', query.pod],
        ['node', query.node],
      ] as const) {
        if (value !== undefined) {
          where.push(`${col} = ?`);
          params.push(value);
        }
      }
      const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? 100)), MAX_QUARANTINE_PAGE);
      const rows = db
        .prepare(
          `SELECT * FROM quarantines ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''}
           ORDER BY created_ms DESC, id DESC LIMIT ?`,
        )
        .all(...params, limit) as QuarantineRow[];
      return rows.map(toQuarantine);
    },
    waitingForNode(node) {
      return (waiting.all(node) as QuarantineRow[]).map(toQuarantine);
    },
    countByState() {
      const out: Record<QuarantineState, number> = { active: 0, releasing: 0, released: 0, failed: 0 };
      for (const row of counts.all() as { state: QuarantineState; n: number }[]) out[row.state] = row.n;
      return out;
    },
  };
}
