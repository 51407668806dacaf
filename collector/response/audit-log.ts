/**
 * The response audit log: every quarantine and release, manual or automatic, every decision a
 * response policy took, and every operator edit of a learnt profile (`profile.*` actions), one
 * record per step, in the collector's database (table `audit_log`).
 *
 * Append-only and tamper-evident. SQLite triggers refuse UPDATE and DELETE on the table, and each
 * record carries the hash of the one before it: `hash = sha256(canonical(record without hash))`,
 * where the canonical form is JSON with a fixed key order (object keys sorted at every depth) and
 * includes `prevHash`. The first record's `prevHash` is 64 zeros. Changing, removing or inserting
 * a record anywhere breaks the chain from there on, which {@link AuditLog.verify} reports as the
 * first bad sequence number. (Someone who can write the file can also rewrite the whole chain;
 * copy the newest hash elsewhere — `vigil audit list --json` prints it — to pin it.)
 *
 * The log is never pruned: pruning would break the chain. Its records come from quarantines and
 * releases (rare by nature), from operators' profile edits, and from policy decisions, which the
 * policies' rate limits bound.
 */
import { createHash } from 'node:crypto';
import { migrateSchema, type CollectorDatabase } from '../store/database.js';

/** One step in the audit log, as stored and served (`GET /api/v1/audit`). */
export interface AuditRecord {
  /** 1, 2, 3, ... without gaps. */
  readonly seq: number;
  readonly timeMs: number;
  /** `token:<name>` for API callers, `policy:<name>` for response policies, `collector` for the collector's own steps. */
  readonly actor: string;
  /** `quarantine.requested`, `quarantine.kubernetes`, `quarantine.node`, `quarantine.applied`, `release.*`, `policy.*`, `profile.*`. */
  readonly action: string;
  readonly quarantineId: string | null;
  readonly alertId: string | null;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly reason: string | null;
  /** What else there is to say: layer outcomes, the policy, the node... */
  readonly detail: Readonly<Record<string, unknown>>;
  /** The previous record's hash (64 zeros for the first). */
  readonly prevHash: string;
  /** SHA-256 (hex) of this record's canonical form, `prevHash` included. */
  readonly hash: string;
}

/** What a caller appends; the log adds seq, time and the hashes. */
export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly quarantineId?: string | null;
  readonly alertId?: string | null;
  readonly namespace?: string | null;
  readonly pod?: string | null;
  readonly reason?: string | null;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The outcome of {@link AuditLog.verify}. */
export interface AuditVerification {
  readonly ok: boolean;
  /** Records checked (all of them when ok; up to and including the bad one otherwise). */
  readonly records: number;
  /** The first record whose seq, link or hash is wrong. */
  readonly firstBad?: number;
  /** What is wrong with it. */
  readonly detail?: string;
  /** The newest record's hash when ok (pin it elsewhere to detect a rewritten chain). */
  readonly headHash?: string;
}

/** A page of {@link AuditLog.list}. */
export interface AuditPage {
  /** Newest first. */
  readonly records: AuditRecord[];
  /** Pass as `before` for the next (older) page; null on the last. */
  readonly next: number | null;
}

/** What {@link AuditLog.list} filters on. */
export interface AuditQuery {
  /** At most this many records (1..1000; default 100). */
  readonly limit?: number;
  /** Only records with seq below this. */
  readonly before?: number;
  /** Only records about this quarantine. */
  readonly quarantineId?: string;
}

/** The audit log. */
export interface AuditLog {
  /** Appends one record (in its own immediate transaction) and returns it. */
  append(entry: AuditEntry): AuditRecord;
  /** Records, newest first. */
  list(query?: AuditQuery): AuditPage;
  /** Walks the whole chain, oldest first, in constant memory. */
  verify(): AuditVerification;
  /** Records in the log. */
  count(): number;
}

/** The `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Largest page of {@link AuditLog.list}. */
export const MAX_AUDIT_PAGE = 1000;

const SCHEMA_STEPS: readonly string[] = [
  `CREATE TABLE audit_log (
     seq INTEGER PRIMARY KEY,
     time_ms INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     quarantine_id TEXT,
     alert_id TEXT,
     namespace TEXT,
     pod TEXT,
     reason TEXT,
     detail TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX audit_log_quarantine ON audit_log (quarantine_id, seq) WHERE quarantine_id IS NOT NULL;
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be changed'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be deleted'); END;`,
];

interface AuditRow {
  seq: number;
  time_ms: number;
  actor: string;
  action: string;
  quarantine_id: string | null;
  alert_id: string | null;
  namespace: string | null;
  pod: string | null;
  reason: string | null;
  detail: string;
  prev_hash: string;
  hash: string;
}

/** JSON with object keys sorted at every depth, so equal values serialise to equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // undefined (absent) serialises as null, as it would inside an array.
    return JSON.stringify(value ?? null);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash a record must carry: SHA-256 over its canonical form without `hash`. */
export function auditRecordHash(record: Omit<AuditRecord, 'hash'>): string {
  const canonical = canonicalJson({
    seq: record.seq,
    timeMs: record.timeMs,
    actor: record.actor,
    action: record.action,
    quarantineId: record.quarantineId,
    alertId: record.alertId,
    namespace: record.namespace,
    pod: record.pod,
    reason: record.reason,
    detail: record.detail,
    prevHash: record.prevHash,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * `text` with every lone UTF-16 surrogate replaced by U+FFFD, as SQLite stores it (UTF-8): the
 * value hashed must be the value read back, or a record with such a reason would fail to verify.
 */
function wellFormed(text: string): string;
function wellFormed(text: string | null): string | null;
function wellFormed(text: string | null): string | null {
  return text === null
    ? null
    : text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    // A tampered row may hold anything; verify() reports it through the hash.
    return { unparsable: text };
  }
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    timeMs: row.time_ms,
    actor: row.actor,
    action: row.action,
    quarantineId: row.quarantine_id,
    alertId: row.alert_id,
    namespace: row.namespace,
    pod: row.pod,
    reason: row.reason,
    detail: parseDetail(row.detail),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Opens the audit log on the collector database, creating its table and triggers when missing.
 *
 * @example
 * const audit = openAuditLog({ database: db, now: Date.now });
 * audit.append({ actor: 'token:alice', action: 'quarantine.requested', namespace: 'shop', pod: 'web-1', reason: 'miner' });
 * audit.verify(); // { ok: true, records: 1, headHash: '...' }
 */
export function openAuditLog(options: {
  readonly database: CollectorDatabase;
  readonly now: () => number;
}): AuditLog {
  const { database: db, now } = options;
  migrateSchema(db, 'audit', SCHEMA_STEPS);
  const last = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare(
    `INSERT INTO audit_log (seq, time_ms, actor, action, quarantine_id, alert_id, namespace, pod, reason, detail, prev_hash, hash)
     VALUES (@seq, @time_ms, @actor, @action, @quarantine_id, @alert_id, @namespace, @pod, @reason, @detail, @prev_hash, @hash)`,
  );
  const all = db.prepare('SELECT * FROM audit_log ORDER BY seq');
  const countStmt = db.prepare('SELECT count(*) AS n FROM audit_log');

  const appendTx = db.transaction((entry: AuditEntry): AuditRecord => {
    const head = last.get() as { seq: number; hash: string } | undefined;
    const unhashed: Omit<AuditRecord, 'hash'> = {
      seq: (head?.seq ?? 0) + 1,
      timeMs: now(),
      actor: wellFormed(entry.actor),
      action: wellFormed(entry.action),
      quarantineId: wellFormed(entry.quarantineId ?? null),
      alertId: wellFormed(entry.alertId ?? null),
      namespace: wellFormed(entry.namespace ?? null),
      pod: wellFormed(entry.pod ?? null),
      reason: wellFormed(entry.reason ?? null),
      // Round-tripped so the stored text and the hashed value are the same JSON value.
      detail: JSON.parse(JSON.stringify(entry.detail ?? {})) as Record<string, unknown>,
      prevHash: head?.hash ?? GENESIS_HASH,
    };
    const record: AuditRecord = { ...unhashed, hash: auditRecordHash(unhashed) };
    insert.run({
      seq: record.seq,
      time_ms: record.timeMs,
      actor: record.actor,
      action: record.action,
      quarantine_id: record.quarantineId,
      alert_id: record.alertId,
      namespace: record.namespace,
      pod: record.pod,
      reason: record.reason,
      detail: canonicalJson(record.detail),
      prev_hash: record.prevHash,
      hash: record.hash,
    });
    return record;
  });

  return {
    append(entry) {
      if (entry.actor === '' || entry.action === '') {
        throw new Error('an audit record needs an actor and an action');
      }
      return appendTx.immediate(entry);
    },

    list(query = {}) {
      const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? 100)), MAX_AUDIT_PAGE);
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (query.before !== undefined) {
        where.push('seq < ?');
        params.push(query.before);
      }
      if (query.quarantineId !== undefined) {
        where.push('quarantine_id = ?');
        params.push(query.quarantineId);
      }
      const rows = db
        .prepare(
          `SELECT * FROM audit_log ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`,
        )
        .all(...params, limit + 1) as AuditRow[];
      const more = rows.length > limit;
      const records = rows.slice(0, limit).map(toRecord);
      return { records, next: more ? (records[records.length - 1]?.seq ?? null) : null };
    },

    verify() {
      let expectedSeq = 1;
      let prevHash = GENESIS_HASH;
      let checked = 0;
      for (const row of all.iterate() as IterableIterator<AuditRow>) {
        checked++;
        const bad = (detail: string): AuditVerification => ({
          ok: false,
          records: checked,
          firstBad: row.seq,
          detail,
        });
        if (row.seq !== expectedSeq) {
          return bad(`expected seq ${expectedSeq}, found ${row.seq} (a record is missing or was inserted)`);
        }
        if (row.prev_hash !== prevHash) {
          return bad(`prevHash ${row.prev_hash} does not match the hash of record ${expectedSeq - 1}`);
        }
        const record = toRecord(row);
        // The stored detail must be exactly the canonical text that was hashed.
        if (canonicalJson(record.detail) !== row.detail) {
          return bad('the detail is not in canonical form (it was edited)');
        }
        const hash = auditRecordHash(record);
        if (hash !== row.hash) return bad(`the record does not hash to its stored hash (it was changed)`);
        prevHash = row.hash;
        expectedSeq++;
      }
      return { ok: true, records: checked, headHash: prevHash };
    },

    count() {
      return (countStmt.get() as { n: number }).n;
    },
  };
}
