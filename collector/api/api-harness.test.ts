/**
 * A real API server for tests: a temporary collector database with the SQLite store and real
 * tokens of every role, listening on 127.0.0.1 at a free port, with a clock the test moves.
 * (Named `.test.ts` so that it stays test code; it declares no tests itself.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/log.js';
import type { Role } from '../auth/role.js';
import { openTokenStore, type TokenStore } from '../auth/token-store.js';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { CollectorStore } from '../store/store.js';
import { createApiServer, type ApiServer, type ApiServerOptions } from './api-server.js';

/** A running test API and what it was built from. */
export interface TestApi {
  readonly api: ApiServer;
  /** `http://127.0.0.1:PORT` */
  readonly base: string;
  readonly port: number;
  readonly store: CollectorStore;
  readonly tokens: TokenStore;
  readonly db: CollectorDatabase;
  readonly registry: Registry;
  /** Log lines the server wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The clock every part reads (ms since the epoch); tests move it. */
  readonly clock: { now: number };
  /** A valid token of each role, and one that expires 60 s after the start. */
  readonly token: Readonly<Record<Role | 'expiring', string>>;
  close(): Promise<void>;
}

/** Starts a test API; `extra` adds routes, feed limits and the like. */
export async function startTestApi(
  extra: Partial<Pick<ApiServerOptions, 'routes' | 'feed' | 'maxBodyBytes'>> = {},
): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-api-'));
  const db = openCollectorDatabase({ path: join(dir, 'collector.db') });
  const clock = { now: Date.UTC(2024, 4, 1, 12, 30) };
  const now = (): number => clock.now;
  const store = openSqliteStore({ database: db });
  const tokens = openTokenStore({ database: db, now });
  const token: Record<string, string> = {};
  for (const role of ['viewer', 'responder', 'admin'] as const) {
    const created = tokens.create({ name: `${role}-token`, role });
    if (!created.ok) throw new Error(`creating the ${role} token: ${created.reason}`);
    token[role] = created.token;
  }
  const expiring = tokens.create({ name: 'expiring-token', role: 'admin', expiresMs: clock.now + 60_000 });
  if (!expiring.ok) throw new Error(`creating the expiring token: ${expiring.reason}`);
  token['expiring'] = expiring.token;
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
    now,
    level: 'debug',
  });
  const registry = new Registry();
  const api = createApiServer({ store, tokens, registry, logger, now, ...extra });
  const address = await api.listen(0, '127.0.0.1');
  return {
    api,
    base: `http://127.0.0.1:${address.port}`,
    port: address.port,
    store,
    tokens,
    db,
    registry,
    logs,
    clock,
    token: token as Record<Role | 'expiring', string>,
    async close() {
      await api.close();
      store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
