/**
 * The shape every `vigil` subcommand has, and the streams it talks through (injected so that
 * tests can run commands in-process).
 */
import type { Readable, Writable } from 'node:stream';

/** The process streams a command uses. */
export interface CliIO {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
}

/** One subcommand of `vigil`. */
export interface Command {
  /** The word after `vigil` (`rules`, `filter`, `replay`, ...). */
  readonly name: string;
  /** One line for `vigil --help`. */
  readonly summary: string;
  /** The full help text of the subcommand. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: readonly string[], io: CliIO): Promise<number>;
}

/** A mistake in how a command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
