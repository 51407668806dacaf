/**
 * Dispatches `vigil ARGS...` to a subcommand, and turns errors into messages and exit codes.
 */
import type { CliIO, Command } from './command.js';
import { UsageError } from './command.js';
import { commands } from './commands/index.js';
import { version } from './version.js';

function topUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: vigil COMMAND [ARGS...]',
    '',
    'Runtime security for Kubernetes: Falco-compatible rules and learned baselines over node events,\n' +
      'alerts to a central collector, and pod quarantine.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'vigil COMMAND --help' for a command's options. 'vigil --version' prints the version.",
  ].join('\n');
}

/** Runs the CLI with `args` (without `node` and the script); resolves to the exit code. */
export async function main(args: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    io.stdout.write((topic?.usage ?? topUsage()) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`vigil ${version}\n`);
    return 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr.write(`vigil: unknown command '${name}'\n\n${topUsage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      io.stderr.write(`vigil ${command.name}: ${(err as Error).message}\n\n${command.usage}\n`);
      return 2;
    }
    io.stderr.write(`vigil ${command.name}: ${(err as Error).message}\n`);
    return 1;
  }
}
