/**
 * A small declarative schema for Vigil's configuration files, with errors that name the file,
 * the key, its line and column, and what was expected.
 *
 * Configuration is parsed once — defaults, then the YAML file, then `VIGIL_*` environment
 * variables, then flags — into a frozen typed object. This module does the validation half for
 * any layer: a value plus where it came from in, a typed value or a {@link ConfigError} out.
 */
import { LineCounter, parseDocument } from 'yaml';

/** Where a configuration value came from, for error messages. */
export interface ConfigOrigin {
  /** `config.yaml`, `environment`, `flags`, `defaults`. */
  readonly source: string;
  /** 1-based position in a file, when the value came from one. */
  readonly line?: number;
  readonly column?: number;
}

/** A configuration value that does not fit its schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    readonly origin: ConfigOrigin,
    readonly expected: string,
    readonly found: string,
  ) {
    const where =
      origin.line !== undefined
        ? `${origin.source}:${origin.line}:${origin.column ?? 1}`
        : `${origin.source}`;
    super(`${where}: ${key}: expected ${expected}, found ${found}`);
  }
}

/** Looks up where a key path was written, when the layer knows (YAML files do). */
export type OriginLookup = (path: readonly (string | number)[]) => ConfigOrigin;

/** A schema node: validates `value` at `path`, returning the typed value or throwing ConfigError. */
export interface Schema<T> {
  /** Human description of what is accepted, used in messages: `a positive integer`. */
  readonly expected: string;
  parse(value: unknown, path: readonly (string | number)[], origin: OriginLookup): T;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `${typeof value} ${value}`;
  return typeof value;
}

function fail(
  path: readonly (string | number)[],
  origin: OriginLookup,
  expected: string,
  value: unknown,
): never {
  throw new ConfigError(path.join('.') || '(root)', origin(path), expected, describe(value));
}

/** A string; `nonEmpty` refuses "". */
export function str(options: { nonEmpty?: boolean; oneOf?: readonly string[] } = {}): Schema<string> {
  const expected =
    options.oneOf !== undefined
      ? `one of ${options.oneOf.join(', ')}`
      : options.nonEmpty
        ? 'a non-empty string'
        : 'a string';
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value !== 'string') fail(path, origin, expected, value);
      if (options.nonEmpty === true && value === '') fail(path, origin, expected, value);
      if (options.oneOf !== undefined && !options.oneOf.includes(value)) fail(path, origin, expected, value);
      return value;
    },
  };
}

/** An integer within bounds; strings of digits are accepted (environment variables and flags are text). */
export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  const expected =
    min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from ${min} to ${max}`;
  return {
    expected,
    parse(value, path, origin) {
      const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
        fail(path, origin, expected, value);
      return n;
    },
  };
}

const sizeUnits: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
};

/** A byte size: an integer or a string like `256MiB`, `10MB`, `1GiB`. */
export function bytes(min = 1): Schema<number> {
  const expected = 'a size in bytes (e.g. 1048576, 256MiB, 1GB)';
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
      if (typeof value === 'string') {
        const m = /^\s*(\d+)\s*([kmg]i?)?b?\s*$/i.exec(value);
        const unit = sizeUnits[(m?.[2] ?? '').toLowerCase()];
        if (m !== null && unit !== undefined) {
          const n = Number(m[1]) * unit;
          if (Number.isSafeInteger(n) && n >= min) return n;
        }
      }
      fail(path, origin, expected, value);
    },
  };
}

/** A duration in milliseconds: an integer of ms or a string like `500ms`, `30s`, `5m`, `1h`. */
export function duration(): Schema<number> {
  const expected = 'a duration (e.g. 500ms, 30s, 5m, 1h)';
  const units: Readonly<Record<string, number>> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 };
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
      if (typeof value === 'string') {
        const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
        if (m !== null) return Number(m[1]) * (units[m[2] as string] as number);
      }
      fail(path, origin, expected, value);
    },
  };
}

/** A boolean; the strings true/false/1/0/yes/no are accepted. */
export function bool(): Schema<boolean> {
  const expected = 'true or false';
  return {
    expected,
    parse(value, path, origin) {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        const v = value.trim().toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(v)) return true;
        if (['false', '0', 'no', 'off'].includes(v)) return false;
      }
      fail(path, origin, expected, value);
    },
  };
}

/** A list of items; a single string becomes a one-item list (comma-separated in environment variables). */
export function list<T>(item: Schema<T>): Schema<T[]> {
  const expected = `a list of ${item.expected}`;
  return {
    expected,
    parse(value, path, origin) {
      const items =
        typeof value === 'string'
          ? value
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : value;
      if (!Array.isArray(items)) fail(path, origin, expected, value);
      return items.map((v, i) => item.parse(v, [...path, i], origin));
    },
  };
}

/** The shape of an object schema: one schema per key. */
export type Shape = Readonly<Record<string, Schema<unknown>>>;

/** The typed value an object schema produces. */
export type Infer<S extends Shape> = { readonly [K in keyof S]: S[K] extends Schema<infer T> ? T : never };

/**
 * A mapping with known keys. Unknown keys are errors (a typo must not be silently ignored);
 * missing keys are errors too — fill defaults before validating by merging layers.
 */
export function obj<S extends Shape>(shape: S): Schema<Infer<S>> {
  const expected = `a mapping with keys ${Object.keys(shape).join(', ')}`;
  return {
    expected,
    parse(value, path, origin) {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        fail(path, origin, expected, value);
      const rec = value as Record<string, unknown>;
      for (const k of Object.keys(rec)) {
        if (!(k in shape)) {
          throw new ConfigError(
            [...path, k].join('.'),
            origin([...path, k]),
            `one of the keys ${Object.keys(shape).join(', ')}`,
            `unknown key "${k}"`,
          );
        }
      }
      const out: Record<string, unknown> = {};
      for (const [k, schema] of Object.entries(shape)) out[k] = schema.parse(rec[k], [...path, k], origin);
      return Object.freeze(out) as Infer<S>;
    },
  };
}

/** Deep-merges configuration layers: later layers win; lists and scalars replace, mappings merge. */
export function mergeLayers(...layers: readonly unknown[]): unknown {
  let out: unknown = undefined;
  for (const layer of layers) out = mergeTwo(out, layer);
  return out;
}

function mergeTwo(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(a) || !isMap(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = mergeTwo(a[k], v);
  return out;
}

/** The layers of one component's configuration, lowest precedence first. */
export interface ConfigLayers {
  /** Built-in defaults: every key present. */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** The YAML configuration file, if one was given. */
  readonly file?: { readonly name: string; readonly text: string };
  /** `VIGIL_*` variables that are set, with the key path each one maps to. */
  readonly env?: readonly {
    readonly variable: string;
    readonly path: readonly string[];
    readonly value: string;
  }[];
  /** Command-line flags that were given, with their key paths. */
  readonly flags?: readonly {
    readonly flag: string;
    readonly path: readonly string[];
    readonly value: unknown;
  }[];
}

/**
 * Resolves a component's configuration: merges the layers (defaults < file < environment <
 * flags), validates the result against `schema`, and returns it frozen. Errors name the layer a
 * bad value came from — the file with line and column, the environment variable, or the flag.
 */
export function resolveConfig<T>(schema: Schema<T>, layers: ConfigLayers): T {
  let fileValue: unknown = undefined;
  let fileOrigin: ((path: readonly (string | number)[]) => ConfigOrigin | undefined) | undefined;
  if (layers.file !== undefined) {
    const parsed = parseYaml(layers.file.name, layers.file.text);
    fileValue = parsed.value ?? {};
    fileOrigin = parsed.origin;
  }
  const envLayer: Record<string, unknown> = {};
  for (const e of layers.env ?? []) setPath(envLayer, e.path, e.value);
  const flagLayer: Record<string, unknown> = {};
  for (const f of layers.flags ?? []) setPath(flagLayer, f.path, f.value);
  const merged = mergeLayers(layers.defaults, fileValue, envLayer, flagLayer);

  const origin: OriginLookup = (path) => {
    const key = path.filter((p) => typeof p === 'string').join('.');
    const flag = layers.flags?.find((f) => key.startsWith(f.path.join('.')));
    if (flag !== undefined) return { source: `flag ${flag.flag}` };
    const env = layers.env?.find((e) => key.startsWith(e.path.join('.')));
    if (env !== undefined) return { source: `environment variable ${env.variable}` };
    const fromFile = fileOrigin?.(path);
    if (fromFile !== undefined) return fromFile;
    return { source: layers.file !== undefined ? layers.file.name : 'defaults' };
  };
  return schema.parse(merged, [], origin);
}

/**
 * Parses a YAML configuration file into a value and a lookup of where each key path was
 * written. Syntax errors become a ConfigError naming the file, line and column.
 */
export function parseYaml(
  name: string,
  text: string,
): { value: unknown; origin: (path: readonly (string | number)[]) => ConfigOrigin | undefined } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = lines.linePos(first.pos[0]);
    throw new ConfigError(
      '(file)',
      { source: name, line: at.line, column: at.col },
      'valid YAML',
      first.message.split('\n')[0] ?? 'a syntax error',
    );
  }
  return {
    value: doc.toJS() as unknown,
    origin(path) {
      for (let n = path.length; n > 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        if (node?.range !== undefined) {
          const at = lines.linePos(node.range[0]);
          return { source: name, line: at.line, column: at.col };
        }
      }
      return undefined;
    },
  };
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i] as string;
    const next = node[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}
