/**
 * `vigil tokens`: creates, lists and revokes the collector's API tokens, in the collector's
 * database. Safe while the collector runs (the file is in WAL mode; a revocation takes effect on
 * the next request and closes live-feed connections at their next heartbeat).
 */
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../../collector/api/duration.js';
import { parseRole, ROLES } from '../../collector/auth/role.js';
import { openTokenStore, type TokenRecord } from '../../collector/auth/token-store.js';
import { openCollectorDatabase } from '../../collector/store/database.js';
import { UsageError, type CliIO, type Command } from '../command.js';

/** Where the collector keeps its database unless told otherwise. */
export const DEFAULT_COLLECTOR_DB = '/var/lib/vigil/collector/collector.db';

const usage = `Usage: vigil tokens create --name NAME --role ROLE [--expires DURATION] [--db PATH]
       vigil tokens list [--json] [--db PATH]
       vigil tokens revoke NAME [--db PATH]

Manages the bearer tokens of the collector's HTTP API and live feed. A token is printed once,
when it is created, on stdout alone (so TOKEN=$(vigil tokens create ...) works); the collector
keeps only its SHA-256 and cannot show it again. Lost tokens are revoked and replaced.

Roles: ${ROLES.join(' < ')} (each may do what the ones before it may).

Options:
  --name NAME          the token's unique name (letters, digits, . _ @ -; up to 64)
  --role ROLE          ${ROLES.join(' | ')}
  --expires DURATION   stop working after this long: 12h, 30d, 2w (default: never)
  --db PATH            the collector's database (default: $VIGIL_COLLECTOR_DB or
                       ${DEFAULT_COLLECTOR_DB})
  --json               list as JSON

Exit status: 0 on success, 1 when the name exists (create) or is unknown (revoke), 2 on bad usage.`;

function iso(ms: number | undefined): string {
  return ms === undefined ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function table(records: readonly TokenRecord[], nowMs: number): string {
  const rows = [
    ['NAME', 'ROLE', 'CREATED', 'EXPIRES', ''],
    ...records.map((r) => [
      r.name,
      r.role,
      iso(r.createdMs),
      iso(r.expiresMs),
      r.expiresMs !== undefined && r.expiresMs <= nowMs ? 'expired' : '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Creates the command; `now` is the clock (tests pass their own). */
export function createTokensCommand(now: () => number = Date.now): Command {
  return {
    name: 'tokens',
    summary: 'create, list and revoke API tokens (vigil tokens create --name N --role R)',
    usage,
    run(args, io: CliIO): Promise<number> {
      const { values, positionals } = parseArgs({
        args: [...args],
        options: {
          name: { type: 'string' },
          role: { type: 'string' },
          expires: { type: 'string' },
          db: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        allowPositionals: true,
      });
      const [sub, ...rest] = positionals;
      const path = values.db ?? process.env['VIGIL_COLLECTOR_DB'] ?? DEFAULT_COLLECTOR_DB;
      const check = (): void => {
        if (sub === undefined) throw new UsageError('missing subcommand: create, list or revoke');
        if (!['create', 'list', 'revoke'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
        if (sub !== 'revoke' && rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
        if (sub === 'revoke' && rest.length !== 1) throw new UsageError('revoke takes one token name');
        if (sub === 'create') {
          if (values.name === undefined) throw new UsageError('create needs --name');
          if (values.role === undefined || parseRole(values.role) === undefined) {
            throw new UsageError(`create needs --role ${ROLES.join('|')}`);
          }
          if (values.expires !== undefined && parseDurationMs(values.expires) === undefined) {
            throw new UsageError(`--expires '${values.expires}' is not a duration like 12h, 30d, 2w`);
          }
        }
      };
      check();
      const db = openCollectorDatabase({ path });
      try {
        const tokens = openTokenStore({ database: db, now });
        if (sub === 'list') {
          const records = tokens.list();
          io.stdout.write(
            values.json ? JSON.stringify(records, null, 2) + '\n' : table(records, now()) + '\n',
          );
          return Promise.resolve(0);
        }
        if (sub === 'revoke') {
          const name = rest[0] as string;
          if (!tokens.revoke(name)) {
            io.stderr.write(`vigil tokens: no token named '${name}' in ${path}\n`);
            return Promise.resolve(1);
          }
          io.stderr.write(`revoked token '${name}'\n`);
          return Promise.resolve(0);
        }
        const ttl = values.expires === undefined ? undefined : parseDurationMs(values.expires);
        const result = tokens.create({
          name: values.name as string,
          role: parseRole(values.role as string) ?? 'viewer',
          ...(ttl !== undefined && { expiresMs: now() + ttl }),
        });
        if (!result.ok) {
          if (result.reason === 'invalid-name') {
            throw new UsageError(
              `--name '${values.name}': use letters, digits, . _ @ - (up to 64, starting with a letter or digit)`,
            );
          }
          io.stderr.write(
            `vigil tokens: a token named '${values.name}' exists in ${path}; revoke it first\n`,
          );
          return Promise.resolve(1);
        }
        io.stdout.write(result.token + '\n');
        io.stderr.write(
          `created token '${result.record.name}' (role ${result.record.role}, expires ${iso(result.record.expiresMs)}); ` +
            'it is shown only now\n',
        );
        return Promise.resolve(0);
      } finally {
        db.close();
      }
    },
  };
}

/** `vigil tokens`, on the system clock. */
export const tokensCommand: Command = createTokensCommand();
