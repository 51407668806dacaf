import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { auditRecordHash, canonicalJson, GENESIS_HASH, openAuditLog, type AuditLog } from './audit-log.js';

describe('response audit log', () => {
  let dir: string;
  let db: CollectorDatabase;
  let audit: AuditLog;
  const clock = { now: 1_714_564_800_000 };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'));
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    audit = openAuditLog({ database: db, now: () => clock.now });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function fill(n: number): void {
    for (let i = 1; i <= n; i++) {
      clock.now += 1000;
      audit.append({
        actor: i % 2 === 0 ? 'policy:miners' : 'token:alice',
        action: i % 3 === 0 ? 'quarantine.node' : 'quarantine.requested',
        quarantineId: `q-${Math.ceil(i / 3)}`,
        alertId: `alert-${i}`,
        namespace: 'shop',
        pod: `web-${i}`,
        reason: `step ${i}`,
        detail: { state: 'applied', nested: { z: 1, a: [1, 'x', null] }, n: i },
      });
    }
  }

  it('chains records: seq from 1, each prevHash the previous hash, hashes over the canonical form', () => {
    fill(5);
    const { records, next } = audit.list();
    assert.equal(next, null);
    assert.deepEqual(
      records.map((r) => r.seq),
      [5, 4, 3, 2, 1],
    );
    const oldest = records[4];
    assert.equal(oldest?.prevHash, GENESIS_HASH);
    for (let i = 0; i < 4; i++) assert.equal(records[i]?.prevHash, records[i + 1]?.hash);
    for (const r of records) {
      const { hash, ...rest } = r;
      assert.equal(auditRecordHash(rest), hash);
      assert.match(hash, /^[0-9a-f]{64}$/);
    }
    assert.deepEqual(records[0]?.detail, { state: 'applied', nested: { z: 1, a: [1, 'x', null] }, n: 5 });
    assert.equal(records[0]?.timeMs, clock.now);
    const v = audit.verify();
    assert.deepEqual(v, { ok: true, records: 5, headHash: records[0]?.hash });
  });

  it('serialises canonically: keys sorted at every depth, undefined left out', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: undefined } }),
      '{"a":{"d":[2,{"x":2,"y":1}]},"b":1}',
    );
  });

  it('pages newest first with before, and filters by quarantine', () => {
    fill(7);
    const first = audit.list({ limit: 3 });
    assert.deepEqual(
      first.records.map((r) => r.seq),
      [7, 6, 5],
    );
    assert.equal(first.next, 5);
    const second = audit.list({ limit: 3, before: first.next ?? 0 });
    assert.deepEqual(
      second.records.map((r) => r.seq),
      [4, 3, 2],
    );
    const last = audit.list({ limit: 3, before: second.next ?? 0 });
    assert.deepEqual(
      last.records.map((r) => r.seq),
      [1],
    );
    assert.equal(last.next, null);
    assert.deepEqual(
      audit.list({ quarantineId: 'q-2' }).records.map((r) => r.seq),
      [6, 5, 4],
    );
  });

  it('refuses UPDATE and DELETE through its triggers', () => {
    fill(2);
    assert.throws(
      () => db.prepare("UPDATE audit_log SET reason = 'nothing' WHERE seq = 1").run(),
      /append-only/,
    );
    assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run(), /append-only/);
    assert.equal(audit.count(), 2);
    assert.equal(audit.verify().ok, true);
  });

  it('verify reports the first tampered record (changed field, edited detail, deleted row, forged hash)', () => {
    fill(6);
    // Someone with the file drops the trigger and edits record 3.
    db.exec('DROP TRIGGER audit_log_no_update');
    db.prepare("UPDATE audit_log SET reason = 'routine maintenance' WHERE seq = 3").run();
    let v = audit.verify();
    assert.equal(v.ok, false);
    assert.equal(v.firstBad, 3);
    assert.equal(v.records, 3);
    assert.match(v.detail ?? '', /does not hash/);

    // Re-hashing the edited record moves the break to the next one's link.
    const row = audit.list({ before: 4, limit: 1 }).records[0];
    assert.ok(row !== undefined);
    const { hash: _old, ...rest } = row;
    void _old;
    db.prepare('UPDATE audit_log SET hash = ? WHERE seq = 3').run(auditRecordHash(rest));
    v = audit.verify();
    assert.equal(v.firstBad, 4);
    assert.match(v.detail ?? '', /prevHash .* does not match the hash of record 3/);
  });

  it('verify notices an edited detail and a removed record', () => {
    fill(4);
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
    db.prepare(`UPDATE audit_log SET detail = '{"n":2, "state":"applied"}' WHERE seq = 2`).run();
    assert.equal(audit.verify().firstBad, 2);
    db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    const v = audit.verify();
    assert.equal(v.firstBad, 3);
    assert.match(v.detail ?? '', /expected seq 2, found 3/);
  });

  it('keeps the chain across reopening the database', () => {
    fill(3);
    db.close();
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    audit = openAuditLog({ database: db, now: () => clock.now });
    audit.append({ actor: 'token:bob', action: 'release.requested', reason: 'false positive' });
    assert.deepEqual(audit.verify(), {
      ok: true,
      records: 4,
      headHash: audit.list({ limit: 1 }).records[0]?.hash,
    });
  });

  it('still verifies a record whose reason held a lone surrogate (SQLite stores U+FFFD)', () => {
    // '"\ud800"' is valid JSON: any responder can send such a reason.
    const reason = JSON.parse('"bad \\ud800 pod \\udc00"') as string;
    const record = audit.append({ actor: 'token:mallory', action: 'quarantine.requested', reason });
    assert.equal(record.reason, 'bad \ufffd pod \ufffd');
    assert.equal(audit.list().records[0]?.reason, record.reason);
    assert.equal(audit.verify().ok, true);
  });
});
