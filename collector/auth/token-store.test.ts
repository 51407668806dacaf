import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { parseRole, roleAtLeast, ROLES } from './role.js';
import { openTokenStore, type TokenStore } from './token-store.js';

describe('roles', () => {
  it('orders viewer < responder < admin, each including the ones below', () => {
    const table = ROLES.map((have) => ROLES.map((need) => roleAtLeast(have, need)));
    assert.deepEqual(table, [
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ]);
    assert.equal(parseRole('responder'), 'responder');
    assert.equal(parseRole('Admin'), undefined);
    assert.equal(parseRole('root'), undefined);
  });
});

describe('token store', () => {
  let dir: string;
  let db: CollectorDatabase;
  let clock: number;
  let tokens: TokenStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-tokens-'));
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    clock = Date.UTC(2024, 4, 1);
    tokens = openTokenStore({ database: db, now: () => clock });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function create(name: string, role: 'viewer' | 'responder' | 'admin', expiresMs?: number): string {
    const result = tokens.create({ name, role, ...(expiresMs !== undefined && { expiresMs }) });
    assert.ok(result.ok, `create ${name}`);
    return result.token;
  }

  it('creates 256-bit tokens with the vgl_ prefix, different every time', () => {
    const a = create('a', 'viewer');
    const b = create('b', 'viewer');
    assert.match(a, /^vgl_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.slice(4), 'base64url').length, 32);
    assert.notEqual(a, b);
  });

  it('stores only a hash: the token is nowhere in the database file', () => {
    const token = create('ops', 'admin');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const file = readFileSync(join(dir, 'collector.db'));
    assert.equal(file.includes(Buffer.from(token)), false);
    assert.equal(file.includes(Buffer.from(token.slice(4))), false);
    assert.equal(file.includes(Buffer.from('ops')), true);
  });

  it('authenticates a bearer header and checks the role', () => {
    const viewer = create('viewer-1', 'viewer');
    const responder = create('responder-1', 'responder');
    const admin = create('admin-1', 'admin');
    assert.deepEqual(tokens.authenticate(`Bearer ${viewer}`, 'viewer'), {
      ok: true,
      principal: { name: 'viewer-1', role: 'viewer', expiresMs: undefined },
    });
    const denied = tokens.authenticate(`Bearer ${viewer}`, 'responder');
    assert.equal(denied.ok, false);
    assert.equal(!denied.ok && denied.status, 403);
    assert.match(!denied.ok ? denied.reason : '', /role viewer; this needs responder/);
    assert.equal(tokens.authenticate(`bearer ${responder}`, 'responder').ok, true);
    assert.equal(tokens.authenticate(`Bearer ${responder}`, 'admin').ok, false);
    assert.equal(tokens.authenticate(`Bearer  ${admin} `, 'admin').ok, true);
  });

  it('answers 401 for missing, malformed, unknown and revoked tokens', () => {
    const token = create('gone', 'admin');
    const cases: [string | undefined, RegExp][] = [
      [undefined, /missing bearer token/],
      ['', /missing bearer token/],
      [`Basic ${Buffer.from('a:b').toString('base64')}`, /Bearer <token>/],
      ['Bearer', /Bearer <token>/],
      ['Bearer vgl_short', /malformed/],
      [`Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, /unknown or revoked/],
      [`Bearer vgl_${'A'.repeat(43)}`, /unknown or revoked/],
    ];
    for (const [header, reason] of cases) {
      const result = tokens.authenticate(header, 'viewer');
      assert.equal(result.ok, false, String(header));
      assert.equal(!result.ok && result.status, 401, String(header));
      assert.match(!result.ok ? result.reason : '', reason, String(header));
    }
    assert.equal(tokens.revoke('gone'), true);
    assert.equal(tokens.revoke('gone'), false);
    const revoked = tokens.authenticate(`Bearer ${token}`, 'viewer');
    assert.equal(!revoked.ok && revoked.status, 401);
  });

  it('refuses an expired token from the moment it expires', () => {
    const token = create('temp', 'responder', clock + 60_000);
    assert.equal(tokens.verify(token, 'viewer').ok, true);
    clock += 59_999;
    assert.equal(tokens.verify(token, 'viewer').ok, true);
    clock += 1;
    const result = tokens.verify(token, 'viewer');
    assert.equal(!result.ok && result.status, 401);
    assert.match(!result.ok ? result.reason : '', /'temp' has expired/);
  });

  it('keeps names unique and refuses bad names and past expiries', () => {
    create('dup', 'viewer');
    assert.deepEqual(tokens.create({ name: 'dup', role: 'admin' }), { ok: false, reason: 'exists' });
    assert.deepEqual(tokens.create({ name: 'has space', role: 'admin' }), {
      ok: false,
      reason: 'invalid-name',
    });
    assert.deepEqual(tokens.create({ name: '', role: 'admin' }), { ok: false, reason: 'invalid-name' });
    assert.deepEqual(tokens.create({ name: 'old', role: 'admin', expiresMs: clock }), {
      ok: false,
      reason: 'invalid-expiry',
    });
    assert.deepEqual(
      tokens.list().map((t) => [t.name, t.role, t.createdMs, t.expiresMs]),
      [['dup', 'viewer', clock, undefined]],
    );
  });
});
