/**
 * Configuration of collector outputs: the keys every output shares, the schema pieces output
 * types build their own keys from, and {@link defineOutputType}, which turns an output type's
 * description into a registry entry that validates a configuration entry and builds the output.
 *
 * Validation uses core/config-schema.ts, so a bad value stops start-up with the file, line,
 * key and expectation — and, here, the output's type and name:
 * `collector.yaml:14:10: outputs.1.url: expected an http or https URL for webhook output "soc", found "ftp://x"`.
 */
import { readFileSync } from 'node:fs';
import {
  bool,
  ConfigError,
  duration,
  int,
  mergeLayers,
  obj,
  str,
  type Infer,
  type OriginLookup,
  type Schema,
  type Shape,
} from '../../core/config-schema.js';
import type { Logger } from '../../core/log.js';
import { parsePriority, priorityNames, type Priority } from '../../core/priority.js';
import type { Clock } from './clock.js';
import type { CollectorOutput } from './collector-output.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './retrying-output.js';

/** What every output is configured with besides its own keys. */
export interface OutputSettings {
  /** The instance name (defaults to the type); used in metrics, logs and errors. */
  readonly name: string;
  readonly type: string;
  readonly minPriority: Priority;
  readonly queueSize: number;
  readonly retry: RetryPolicy;
}

/** What building an output may use. */
export interface OutputDeps {
  readonly logger: Logger;
  /** Time for retries (default: the system clock). */
  readonly clock?: Clock;
}

/** A validated configuration entry, ready to build its output. */
export interface OutputPlan {
  readonly settings: OutputSettings;
  /** Builds the output, wrapped in the retry decorator; opens nothing until the first send. */
  create(deps: OutputDeps): CollectorOutput;
}

/** One output type in the registry. */
export interface OutputType {
  readonly type: string;
  /** One line for documentation and errors. */
  readonly description: string;
  /** A working configuration entry, `type` included, for the example config and docs. */
  readonly example: Readonly<Record<string, unknown>>;
  /** Validates one entry of `outputs:` (whose `type` is this one) at `path`. */
  parse(entry: unknown, path: readonly (string | number)[], origin: OriginLookup): OutputPlan;
}

/** What an output type declares about its own keys. */
export interface OutputTypeDefinition<S extends Shape> {
  readonly type: string;
  readonly description: string;
  readonly example: Readonly<Record<string, unknown>>;
  /** The type's own keys; the shared ones ({@link commonShape}) are added. */
  readonly shape: S;
  /** Values of the type's keys that may be left out. A key without a default is required. */
  readonly defaults: Readonly<Partial<Record<keyof S & string, unknown>>>;
  /**
   * Builds the bare output (no retry: the plan adds it). May throw for what only I/O can tell,
   * such as an unreadable certificate file; the message names the key.
   */
  create(settings: OutputSettings, options: Infer<S>, deps: OutputDeps): CollectorOutput;
}

/** A Falco priority name in any case (`warning`, `Critical`, `info`). */
export function priorityKey(): Schema<Priority> {
  const expected = `a priority (${priorityNames()
    .map((p) => p.toLowerCase())
    .join(', ')})`;
  return {
    expected,
    parse(value, path, origin) {
      const p = typeof value === 'string' ? parsePriority(value.trim()) : undefined;
      if (p === undefined) throw new ConfigError(path.join('.'), origin(path), expected, describe(value));
      return p;
    },
  };
}

/** An absolute http:// or https:// URL. */
export function httpUrl(): Schema<URL> {
  const expected = 'an http or https URL';
  return {
    expected,
    parse(value, path, origin) {
      let url: URL | undefined;
      try {
        url = typeof value === 'string' ? new URL(value) : undefined;
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        // The value may hold a token (Slack's URL does): show only its scheme and host.
        throw new ConfigError(path.join('.'), origin(path), expected, redactUrl(value));
      }
      return url;
    },
  };
}

/** A mapping of strings to strings, such as HTTP headers. */
export function stringMap(): Schema<Readonly<Record<string, string>>> {
  const expected = 'a mapping of names to strings';
  return {
    expected,
    parse(value, path, origin) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new ConfigError(path.join('.'), origin(path), expected, describe(value));
      }
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string' && typeof v !== 'number') {
          throw new ConfigError([...path, k].join('.'), origin([...path, k]), 'a string', describe(v));
        }
        out[k] = String(v);
      }
      return Object.freeze(out);
    },
  };
}

/** The keys every output has. */
export const commonShape = {
  type: str({ nonEmpty: true }),
  name: str({ nonEmpty: true }),
  min_priority: priorityKey(),
  queue_size: int(1, 10_000_000),
  retry: obj({
    max_attempts: int(1, 1000),
    initial_backoff: duration(),
    max_backoff: duration(),
    deadline: duration(),
  }),
};

/** Defaults of the shared keys (`name` defaults to the type). */
export const commonDefaults = {
  min_priority: 'debug',
  queue_size: 10_000,
  retry: {
    max_attempts: DEFAULT_RETRY_POLICY.maxAttempts,
    initial_backoff: DEFAULT_RETRY_POLICY.initialBackoffMs,
    max_backoff: DEFAULT_RETRY_POLICY.maxBackoffMs,
    deadline: DEFAULT_RETRY_POLICY.deadlineMs,
  },
} as const;

/**
 * Makes a registry entry from an output type's description: `parse` fills defaults, rejects
 * unknown keys (listing the known ones), checks every value, and returns a plan whose `create`
 * builds the output and wraps it in {@link withRetry}.
 */
export function defineOutputType<S extends Shape>(def: OutputTypeDefinition<S>): OutputType {
  const schema = obj({ ...commonShape, ...def.shape });
  return {
    type: def.type,
    description: def.description,
    example: def.example,
    parse(entry, path, origin) {
      const name =
        entry !== null && typeof entry === 'object' && typeof (entry as { name?: unknown }).name === 'string'
          ? (entry as { name: string }).name
          : def.type;
      const merged = mergeLayers({ ...commonDefaults, name: def.type, ...def.defaults }, entry);
      let parsed: Infer<typeof commonShape> & Infer<S>;
      try {
        parsed = schema.parse(merged, path, origin);
      } catch (err) {
        if (err instanceof ConfigError) {
          const missing = err.found === 'undefined' ? 'nothing (the key is required)' : err.found;
          throw new ConfigError(
            err.key,
            err.origin,
            `${err.expected} for ${def.type} output "${name}"`,
            missing,
          );
        }
        throw err;
      }
      const retry: RetryPolicy = {
        maxAttempts: parsed.retry.max_attempts,
        initialBackoffMs: parsed.retry.initial_backoff,
        maxBackoffMs: Math.max(parsed.retry.max_backoff, parsed.retry.initial_backoff),
        deadlineMs: Math.max(1, parsed.retry.deadline),
        jitter: DEFAULT_RETRY_POLICY.jitter,
      };
      const settings: OutputSettings = Object.freeze({
        name: parsed.name,
        type: def.type,
        minPriority: parsed.min_priority,
        queueSize: parsed.queue_size,
        retry: Object.freeze(retry),
      });
      const options = parsed as unknown as Infer<S>;
      return {
        settings,
        create(deps) {
          const bare = def.create(settings, options, deps);
          return withRetry(bare, settings.retry, deps.clock !== undefined ? { clock: deps.clock } : {});
        },
      };
    },
  };
}

/** A URL fit for an error message: scheme and host only, since paths and queries carry tokens. */
export function redactUrl(value: unknown): string {
  if (typeof value !== 'string') return describe(value);
  try {
    const url = new URL(value);
    return `"${url.protocol}//${url.host}/..."`;
  } catch {
    return value.length > 40 ? JSON.stringify(value.slice(0, 37) + '...') : JSON.stringify(value);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${value}`;
  }
  return typeof value;
}

/**
 * Reads a file named by an output's key (a CA bundle, a client certificate) when the output is
 * built; an empty path means "not set". Errors name the output and the key.
 */
export function readKeyFile(settings: OutputSettings, key: string, path: string): string | undefined {
  if (path === '') return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${settings.type} output "${settings.name}": ${key}: cannot read ${path}`, {
      cause: err,
    });
  }
}

/** The keys of every output that talks HTTP. */
export const httpShape = {
  timeout: duration(),
  ca_file: str(),
  insecure_skip_verify: bool(),
};

/** Defaults of {@link httpShape}. */
export const httpDefaults = {
  timeout: '10s',
  ca_file: '',
  insecure_skip_verify: false,
} as const;

/** The TLS part of an HTTP endpoint, from {@link httpShape}'s keys. */
export function httpTls(
  settings: OutputSettings,
  options: Infer<typeof httpShape>,
): { ca?: string; rejectUnauthorized: boolean } {
  const ca = readKeyFile(settings, 'ca_file', options.ca_file);
  return { ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: !options.insecure_skip_verify };
}
