/**
 * Structured logs: one JSON object per line with a fixed set of keys, written through a sink the
 * caller provides (stderr in the daemons, an array in tests).
 *
 * Keys: `time` (ISO-8601), `level`, `msg`, then the logger's bound fields (`component`, `node`,
 * ...) and the call's fields (`source`, `rule`, `err`, ...). An Error in `err` is written as its
 * message (with its cause's message) so that log lines stay one line.
 */

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const rank: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra keys on a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ component: 'spool' }`). */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Receives each finished line, without a trailing newline. */
  readonly write: (line: string) => void;
  /** Lines below this level are not written. Default `info`. */
  readonly level?: LogLevel;
  /** The clock, in milliseconds since the epoch. */
  readonly now: () => number;
  readonly fields?: LogFields;
}

function errText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${errText(err.cause)}` : '';
  return `${err.message}${cause}`;
}

/** Creates a logger writing JSON lines through `options.write`. */
export function createLogger(options: LoggerOptions): Logger {
  const min = rank[options.level ?? 'info'];
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (rank[level] < min) return;
      const line: Record<string, unknown> = {
        time: new Date(options.now()).toISOString(),
        level,
        msg,
        ...bound,
      };
      if (fields !== undefined) {
        for (const [k, v] of Object.entries(fields)) line[k] = k === 'err' ? errText(v) : v;
      }
      options.write(JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (f) => make({ ...bound, ...f }),
    };
  };
  return make(options.fields ?? {});
}

/** Parses a log level name; undefined when unknown. */
export function parseLogLevel(text: string): LogLevel | undefined {
  const t = text.toLowerCase();
  return t in rank ? (t as LogLevel) : undefined;
}
