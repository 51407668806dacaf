/**
 * What `vigil agent` and `vigil collector` share when they start: reading `--config`, resolving
 * the layered configuration with a clear error, and a logger writing JSON lines to stderr.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigLayers } from '../core/config-schema.js';
import { createLogger, type Logger, type LogLevel } from '../core/log.js';
import { UsageError, type CliIO } from './command.js';

/** A flag given on the command line, with the configuration key it sets. */
export type FlagLayer = { flag: string; path: string[]; value: unknown };

/**
 * Resolves a daemon's configuration: reads `configPath` (if given) and calls `load` with it, the
 * environment and the flags. A configuration error is printed as `vigil NAME: configuration
 * error: ...` and yields undefined (the caller exits 2); an unreadable file is a usage error.
 */
export function resolveDaemonConfig<T>(
  name: string,
  configPath: string | undefined,
  flags: FlagLayer[],
  io: CliIO,
  load: (file: ConfigLayers['file'], env: NodeJS.ProcessEnv, flags: FlagLayer[]) => T,
): T | undefined {
  let file: { name: string; text: string } | undefined;
  if (configPath !== undefined) {
    try {
      file = { name: configPath, text: readFileSync(configPath, 'utf8') };
    } catch (err) {
      throw new UsageError(`cannot read --config ${configPath}: ${(err as Error).message}`);
    }
  }
  try {
    return load(file, process.env, flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`vigil ${name}: configuration error: ${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

/** A logger writing JSON lines to the command's stderr. */
export function daemonLogger(io: CliIO, level: string): Logger {
  return createLogger({
    write: (line) => io.stderr.write(line + '\n'),
    level: level as LogLevel,
    now: Date.now,
  });
}
