/**
 * API tokens: bearer tokens with a name, a role and an optional expiry, kept in the collector's
 * database (table `api_tokens`) so that `vigil tokens` can manage them while the collector runs
 * and a revocation takes effect on the next request.
 *
 * A token is `vgl_` and 43 base64url characters: 32 random bytes (256 bits) from the operating
 * system's CSPRNG. Only its SHA-256 is stored. A fast hash is right here, unlike for passwords:
 * slow hashes (bcrypt, scrypt, Argon2) exist to make guessing low-entropy secrets expensive,
 * and no amount of guessing finds one of 2^256 values, while a slow hash would cost every API
 * request tens of milliseconds. Someone who reads the database learns names and hashes, not
 * tokens.
 *
 * Lookup is by hash through the primary key. The time that takes depends on the hash of what
 * was presented, which an attacker cannot steer towards a real token's hash without inverting
 * SHA-256; the stored and presented hashes are then compared in constant time all the same, so
 * no comparison ever exits early on secret-derived bytes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { migrateSchema, type CollectorDatabase } from '../store/database.js';
import { parseRole, roleAtLeast, ROLES, type Role } from './role.js';

/** What every token starts with: tells a Vigil token apart in logs, configs and secret scanners. */
export const TOKEN_PREFIX = 'vgl_';

const TOKEN_SHAPE = /^vgl_[A-Za-z0-9_-]{43}$/;
const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** A token as listed: everything but the secret. */
export interface TokenRecord {
  readonly name: string;
  readonly role: Role;
  readonly createdMs: number;
  /** Undefined: never expires. */
  readonly expiresMs: number | undefined;
}

/** Who made a request: the token's name and role. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly expiresMs: number | undefined;
}

/** The outcome of checking a request's credentials. */
export type AuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | {
      readonly ok: false;
      /** 401: no valid credentials (missing, malformed, unknown, revoked, expired); 403: valid but the role is too weak. */
      readonly status: 401 | 403;
      readonly reason: string;
    };

/** What to create. */
export interface NewToken {
  readonly name: string;
  readonly role: Role;
  /** When it stops working, ms since the epoch; omitted: never. */
  readonly expiresMs?: number;
}

/** The outcome of {@link TokenStore.create}. */
export type CreateTokenResult =
  | {
      readonly ok: true;
      /** The token itself: shown once, never stored. */
      readonly token: string;
      readonly record: TokenRecord;
    }
  | { readonly ok: false; readonly reason: 'exists' | 'invalid-name' | 'invalid-expiry' };

/** The collector's API tokens. */
export interface TokenStore {
  /** Creates a token with a fresh secret. Names are unique. */
  create(token: NewToken): CreateTokenResult;
  /** Every token, by name. */
  list(): TokenRecord[];
  /** Deletes the named token; false when there was none. */
  revoke(name: string): boolean;
  /**
   * Checks an `Authorization` header value (`Bearer vgl_...`) and that its token's role is at
   * least `required`.
   */
  authenticate(authorization: string | undefined, required: Role): AuthResult;
  /** Checks a bare token (the live feed's subscribe message carries one) against `required`. */
  verify(token: string, required: Role): AuthResult;
}

/** How to open the token store. */
export interface TokenStoreOptions {
  /** The collector database (`openCollectorDatabase`); shared, so the caller closes it. */
  readonly database: CollectorDatabase;
  /** The clock, ms since the epoch: expiry is checked against it. */
  readonly now: () => number;
}

const SCHEMA_STEPS: readonly string[] = [
  `CREATE TABLE api_tokens (
     name TEXT PRIMARY KEY,
     -- SHA-256 of the whole token (prefix included).
     hash BLOB NOT NULL UNIQUE,
     role TEXT NOT NULL CHECK (role IN (${ROLES.map((r) => `'${r}'`).join(', ')})),
     created_ms INTEGER NOT NULL,
     expires_ms INTEGER
   )`,
];

interface TokenRow {
  name: string;
  hash: Buffer;
  role: string;
  created_ms: number;
  expires_ms: number | null;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A new token: the prefix and 32 random bytes in base64url. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function toRecord(row: TokenRow): TokenRecord {
  return {
    name: row.name,
    // The CHECK constraint keeps other values out of the table.
    role: parseRole(row.role) ?? 'viewer',
    createdMs: row.created_ms,
    expiresMs: row.expires_ms ?? undefined,
  };
}

/**
 * Opens the token store on the collector database, creating its table when missing.
 *
 * @example
 * const tokens = openTokenStore({ database: db, now: Date.now });
 * const auth = tokens.authenticate(req.headers.authorization, 'viewer');
 */
export function openTokenStore(options: TokenStoreOptions): TokenStore {
  const { database: db, now } = options;
  migrateSchema(db, 'tokens', SCHEMA_STEPS);
  const insert = db.prepare(
    'INSERT INTO api_tokens (name, hash, role, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
  );
  const selectAll = db.prepare('SELECT * FROM api_tokens ORDER BY name');
  const selectByHash = db.prepare('SELECT * FROM api_tokens WHERE hash = ?');
  const remove = db.prepare('DELETE FROM api_tokens WHERE name = ?');

  const verify = (token: string, required: Role): AuthResult => {
    if (!TOKEN_SHAPE.test(token)) return { ok: false, status: 401, reason: 'malformed token' };
    const hash = sha256(token);
    const row = selectByHash.get(hash) as TokenRow | undefined;
    if (row === undefined || !timingSafeEqual(row.hash, hash)) {
      return { ok: false, status: 401, reason: 'unknown or revoked token' };
    }
    const record = toRecord(row);
    if (record.expiresMs !== undefined && now() >= record.expiresMs) {
      return { ok: false, status: 401, reason: `token '${record.name}' has expired` };
    }
    const principal: Principal = { name: record.name, role: record.role, expiresMs: record.expiresMs };
    if (!roleAtLeast(record.role, required)) {
      return {
        ok: false,
        status: 403,
        reason: `token '${record.name}' has role ${record.role}; this needs ${required}`,
      };
    }
    return { ok: true, principal };
  };

  return {
    create({ name, role, expiresMs }) {
      if (!NAME_SHAPE.test(name)) return { ok: false, reason: 'invalid-name' };
      const created = now();
      if (expiresMs !== undefined && (!Number.isSafeInteger(expiresMs) || expiresMs <= created)) {
        return { ok: false, reason: 'invalid-expiry' };
      }
      const token = generateToken();
      const info = insert.run(name, sha256(token), role, created, expiresMs ?? null);
      if (info.changes === 0) return { ok: false, reason: 'exists' };
      return { ok: true, token, record: { name, role, createdMs: created, expiresMs } };
    },

    list() {
      return (selectAll.all() as TokenRow[]).map(toRecord);
    },

    revoke(name) {
      return remove.run(name).changes > 0;
    },

    authenticate(authorization, required) {
      if (authorization === undefined || authorization.trim() === '') {
        return { ok: false, status: 401, reason: 'missing bearer token (Authorization: Bearer vgl_...)' };
      }
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      if (m === null) return { ok: false, status: 401, reason: 'Authorization must be: Bearer <token>' };
      return verify(m[1] as string, required);
    },

    verify,
  };
}
