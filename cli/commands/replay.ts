/**
 * `vigil replay`: runs a recorded event stream through Falco-format rules and writes the alerts.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { buildAlert } from '../../core/alert.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { decodeJsonEvent } from '../../core/json-event.js';
import { parsePriority } from '../../core/priority.js';
import { loadRules } from '../../core/rules/loader.js';
import type { CompiledRule } from '../../core/rules/ruleset.js';
import { readLines } from '../../agent/sources/read-lines.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import { OutputBuffer } from '../output-buffer.js';
import { readRuleSources } from '../rule-files.js';
import { formatDiagnostic } from './rules.js';

const usage = `Usage: vigil replay --rules FILE|DIR [--rules ...] [options] [INPUT]

Runs an event stream (JSON lines keyed by Falco field names, as in shared/captures/scap/*.jsonl;
stdin when INPUT is absent or -) through the rules and writes one Falco JSON alert per line on
stdout. At the end a summary goes to stderr: events read, alerts per rule, malformed lines
skipped. While reading a file, a progress bar is drawn on stderr when it is a terminal.

Options:
  --rules FILE|DIR        rule file(s) to load, in order (repeatable; required)
  --rule-matching MODE    first (default: stop at the first matching rule) | all
  --min-priority LEVEL    ignore rules below this priority (default: debug, i.e. all)
  --hostname NAME         hostname to put in alerts (default: this machine's)
  --max-line-bytes N      longest accepted input line (default 1048576); longer ones are skipped

Exit status: 0 on success, 1 when the rules do not load, 2 on bad usage.`;

/** Counters reported at the end of a replay. */
export interface ReplaySummary {
  events: number;
  alerts: number;
  malformed: number;
  oversized: number;
  invalidUtf8: number;
  byRule: Map<string, number>;
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run recorded events (JSON lines) through rules and print alerts',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        rules: { type: 'string', multiple: true },
        'rule-matching': { type: 'string', default: 'first' },
        'min-priority': { type: 'string', default: 'debug' },
        hostname: { type: 'string' },
        'max-line-bytes': { type: 'string', default: String(1 << 20) },
      },
      allowPositionals: true,
    });
    if (values.rules === undefined || values.rules.length === 0) throw new UsageError('--rules is required');
    if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
    const matching = values['rule-matching'];
    if (matching !== 'first' && matching !== 'all') {
      throw new UsageError(`--rule-matching must be first or all, got ${matching}`);
    }
    const minPriority = parsePriority(values['min-priority']);
    if (minPriority === undefined)
      throw new UsageError(`--min-priority: unknown priority ${values['min-priority']}`);
    const maxLineBytes = Number(values['max-line-bytes']);
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes <= 0) {
      throw new UsageError(`--max-line-bytes must be a positive integer, got ${values['max-line-bytes']}`);
    }
    const host = values.hostname ?? hostname();

    const loaded = loadRules(readRuleSources(values.rules), {
      registry: createFieldRegistry(),
      minPriority,
      ruleMatching: matching,
    });
    for (const d of loaded.diagnostics)
      if (d.severity === 'error') io.stderr.write(formatDiagnostic(d) + '\n');
    const ruleset = loaded.ruleset;
    if (ruleset === undefined) {
      io.stderr.write('vigil replay: the rules did not load; nothing was replayed\n');
      return 1;
    }

    const file = positionals[0];
    const input: Readable =
      file === undefined || file === '-' ? io.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const progress =
      file !== undefined && file !== '-' && io.stderr.isTTY === true
        ? new ProgressBar(io, statSync(file).size)
        : undefined;

    const summary: ReplaySummary = {
      events: 0,
      alerts: 0,
      malformed: 0,
      oversized: 0,
      invalidUtf8: 0,
      byRule: new Map(),
    };
    const out = new OutputBuffer(io.stdout);
    const matched: CompiledRule[] = [];
    await readLines(
      input,
      {
        line(text, invalidUtf8) {
          const evt = decodeJsonEvent(text);
          if (typeof evt === 'string') {
            if (evt !== 'empty') summary.malformed++;
            return;
          }
          if (invalidUtf8) summary.invalidUtf8++;
          summary.events++;
          const n = ruleset.match(evt, matched);
          for (let i = 0; i < n; i++) {
            const rule = matched[i] as CompiledRule;
            summary.alerts++;
            const id = randomUUID();
            const alert = buildAlert(rule, evt, {
              hostname: host,
              id,
              node: host,
              timeNs: BigInt(Date.now()) * 1_000_000n,
            });
            out.write(JSON.stringify(alert) + '\n');
            summary.byRule.set(rule.name, (summary.byRule.get(rule.name) ?? 0) + 1);
          }
        },
        oversized() {
          summary.oversized++;
        },
      },
      {
        maxLineBytes,
        afterChunk: (bytes) => {
          progress?.update(bytes);
          return out.drained();
        },
      },
    );
    await out.close();
    progress?.finish();
    io.stderr.write(formatSummary(summary));
    return 0;
  },
};

/** The end-of-run summary, as printed on stderr. */
export function formatSummary(s: ReplaySummary): string {
  const lines = [
    `events: ${s.events}`,
    `alerts: ${s.alerts}`,
    `malformed lines skipped: ${s.malformed + s.oversized}` +
      (s.oversized > 0 ? ` (${s.oversized} over the line-size limit)` : ''),
  ];
  if (s.invalidUtf8 > 0) lines.push(`lines with invalid UTF-8 (decoded with U+FFFD): ${s.invalidUtf8}`);
  const rules = [...s.byRule].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (rules.length > 0) lines.push('alerts by rule:');
  for (const [rule, count] of rules) lines.push(`  ${String(count).padStart(8)}  ${rule}`);
  return lines.join('\n') + '\n';
}

/** A one-line progress bar on a terminal, redrawn at most ten times a second. */
class ProgressBar {
  private last = 0;

  constructor(
    private readonly io: CliIO,
    private readonly total: number,
  ) {}

  update(bytes: number): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const width = Math.max(10, Math.min(50, (this.io.stderr.columns ?? 80) - 30));
    const frac = this.total > 0 ? Math.min(1, bytes / this.total) : 1;
    const filled = Math.round(frac * width);
    this.io.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}%`,
    );
  }

  finish(): void {
    this.io.stderr.write('\r\x1b[K');
  }
}
