/**
 * `vigil audit verify` and `vigil audit list`: the response audit log (every quarantine and
 * release, and what the response policies decided), read through the collector's API or straight
 * from the collector's database file (`--store`), which also works while the collector is down.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  MAX_AUDIT_PAGE,
  openAuditLog,
  type AuditPage,
  type AuditRecord,
  type AuditVerification,
} from '../../collector/response/audit-log.js';
import { openCollectorDatabase } from '../../collector/store/database.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import {
  callCollector,
  collectorTarget,
  columns,
  COLLECTOR_OPTIONS_HELP,
  isoSeconds,
} from '../collector-api.js';

const usage = `Usage: vigil audit verify [--store PATH | --collector URL --token TOKEN]
       vigil audit list [--limit N] [--before SEQ] [--quarantine ID] [--json] [--store PATH | ...]

The response audit log records every quarantine and release — who (token) or which policy, when,
why, the alert, and each layer's outcome — and every response policy decision (dry runs, rate
limits, never-touch namespaces). It is append-only, and each record carries the hash of the one
before it.

  verify   walks the whole chain and reports the first record that was changed, removed or
           inserted; prints the newest hash (keep it elsewhere to detect a rewritten chain)
  list     prints records, newest first

Options:
  --store PATH         read the collector's database file directly (e.g.
                       /var/lib/vigil/collector/collector.db) instead of calling the API
${COLLECTOR_OPTIONS_HELP}
  --limit N            list at most N records (default 50, at most ${MAX_AUDIT_PAGE})
  --before SEQ         list records older than SEQ
  --quarantine ID      list only the records of this quarantine
  --json               print JSON

Exit status: 0 when the chain is intact (verify) or listed, 1 when it is broken or the collector
refused, 2 on bad usage.`;

function openStore(path: string): { audit: ReturnType<typeof openAuditLog>; close(): void } {
  if (!existsSync(path)) throw new Error(`--store ${path}: no such file`);
  const db = openCollectorDatabase({ path });
  try {
    return { audit: openAuditLog({ database: db, now: Date.now }), close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}

function recordLine(r: AuditRecord): string[] {
  const pod = r.namespace !== null ? `${r.namespace}/${r.pod ?? ''}` : '-';
  const detail = Object.entries(r.detail)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return [
    String(r.seq),
    isoSeconds(r.timeMs),
    r.actor,
    r.action,
    r.quarantineId ?? '-',
    pod,
    (r.reason ?? '') +
      (detail !== '' ? ` [${detail.length > 100 ? detail.slice(0, 97) + '...' : detail}]` : ''),
  ];
}

/** `vigil audit`. */
export const auditCommand: Command = {
  name: 'audit',
  summary: 'verify and list the response audit log (vigil audit verify)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        store: { type: 'string' },
        collector: { type: 'string' },
        token: { type: 'string' },
        limit: { type: 'string' },
        before: { type: 'string' },
        quarantine: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    if (sub !== 'verify' && sub !== 'list')
      throw new UsageError(
        sub === undefined ? 'missing subcommand: verify or list' : `unknown subcommand: ${sub}`,
      );
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
    if (values.store !== undefined && (values.collector !== undefined || values.token !== undefined)) {
      throw new UsageError(
        '--store reads the file; --collector and --token call the API: give one or the other',
      );
    }

    if (sub === 'verify') {
      let v: AuditVerification;
      if (values.store !== undefined) {
        const s = openStore(values.store);
        try {
          v = s.audit.verify();
        } finally {
          s.close();
        }
      } else {
        v = (
          await callCollector<AuditVerification>(
            collectorTarget(values),
            'GET',
            '/api/v1/audit/verify',
            undefined,
            'verify the audit log',
          )
        ).body;
      }
      if (values.json) io.stdout.write(JSON.stringify(v, null, 2) + '\n');
      else if (v.ok)
        io.stdout.write(`audit log intact: ${v.records} records; newest hash ${v.headHash ?? '-'}\n`);
      else
        io.stdout.write(
          `audit log BROKEN at record ${v.firstBad}: ${v.detail} (${v.records} records checked)\n`,
        );
      return v.ok ? 0 : 1;
    }

    const num = (flag: string, text: string | undefined, max: number): number | undefined => {
      if (text === undefined) return undefined;
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < 1 || n > max)
        throw new UsageError(`--${flag} '${text}': expected a number from 1 to ${max}`);
      return n;
    };
    const limit = num('limit', values.limit, MAX_AUDIT_PAGE) ?? 50;
    const before = num('before', values.before, Number.MAX_SAFE_INTEGER);
    let page: AuditPage;
    if (values.store !== undefined) {
      const s = openStore(values.store);
      try {
        page = s.audit.list({
          limit,
          ...(before !== undefined && { before }),
          ...(values.quarantine !== undefined && { quarantineId: values.quarantine }),
        });
      } finally {
        s.close();
      }
    } else {
      const query = new URLSearchParams({ limit: String(limit) });
      if (before !== undefined) query.set('before', String(before));
      if (values.quarantine !== undefined) query.set('quarantine', values.quarantine);
      page = (
        await callCollector<AuditPage>(
          collectorTarget(values),
          'GET',
          `/api/v1/audit?${query.toString()}`,
          undefined,
          'list the audit log',
        )
      ).body;
    }
    if (values.json) {
      io.stdout.write(JSON.stringify(page, null, 2) + '\n');
      return 0;
    }
    if (page.records.length === 0) {
      io.stderr.write('no audit records\n');
      return 0;
    }
    io.stdout.write(
      columns([
        ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'QUARANTINE', 'POD', 'REASON / DETAIL'],
        ...page.records.map(recordLine),
      ]) + '\n',
    );
    if (page.next !== null) io.stderr.write(`older records: --before ${page.next}\n`);
    return 0;
  },
};
