/**
 * `vigil rules check FILE...`: loads rule files in order, as the agent would, and reports.
 */
import { parseArgs } from 'node:util';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { loadRules, type Diagnostic } from '../../core/rules/loader.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import { readRuleSources } from '../rule-files.js';

const usage = `Usage: vigil rules check [--quiet] FILE|DIR...

Loads Falco-format rule files in the order given (a directory contributes its *.yaml files in
name order), compiles every rule against Vigil's field registry, and prints every error and
warning as FILE:LINE:COLUMN, then the counts of rules, macros and lists.

Options:
  --quiet    print errors only (no warnings)

Exit status: 0 when every file loads, 1 when any error was found, 2 on bad usage.`;

/** Formats one diagnostic like a compiler does: `file:line:col: error: message (rule X)`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.item !== undefined ? ` [${d.item}]` : '';
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}${where}`;
}

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'check Falco-format rule files (vigil rules check FILE...)',
  usage,
  run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { quiet: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
    const [sub, ...paths] = positionals;
    if (sub !== 'check')
      throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand: ${sub}`);
    if (paths.length === 0) throw new UsageError('name at least one rules file');
    const sources = readRuleSources(paths);
    const result = loadRules(sources, { registry: createFieldRegistry() });
    let errors = 0;
    let warnings = 0;
    for (const d of result.diagnostics) {
      if (d.severity === 'error') errors++;
      else warnings++;
      if (d.severity === 'warning' && values.quiet) continue;
      io.stdout.write(formatDiagnostic(d) + '\n');
    }
    const c = result.counts;
    io.stdout.write(
      `${sources.length} file(s): ${c.rules} rules (${c.enabledRules} enabled), ${c.macros} macros, ${c.lists} lists; ` +
        `${errors} error(s), ${warnings} warning(s)\n`,
    );
    return Promise.resolve(errors === 0 && result.ruleset !== undefined ? 0 : 1);
  },
};
