/**
 * The registry of collector output types, keyed by `type`, and the validation of the collector's
 * `outputs:` list against it.
 *
 * ```yaml
 * outputs:
 *   - type: webhook
 *     name: soc
 *     url: https://soc.example.com/vigil
 *     mode: batch
 *     min_priority: warning
 *   - type: syslog
 *     host: siem.example.com
 *     protocol: tls
 * ```
 *
 * Adding an output type means one new file exporting a {@link defineOutputType} entry and one
 * line in {@link OUTPUT_TYPES}.
 */
import { ConfigError, type OriginLookup, type Schema } from '../../core/config-schema.js';
import type { CollectorOutput } from './collector-output.js';
import { falcoOutputType } from './falco-output.js';
import { fileOutputType } from './file-output.js';
import type { OutputDeps, OutputPlan, OutputType } from './output-config.js';
import { slackOutputType } from './slack-output.js';
import { syslogOutputType } from './syslog-output.js';
import { webhookOutputType } from './webhook-output.js';

/** Every output type, by its `type` key. */
export const OUTPUT_TYPES: ReadonlyMap<string, OutputType> = new Map(
  [webhookOutputType, slackOutputType, syslogOutputType, falcoOutputType, fileOutputType].map(
    (t) => [t.type, t] as const,
  ),
);

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value) ?? typeof value;
}

/**
 * The schema of the `outputs:` list, for core/config-schema.ts: each entry is checked against its
 * type's keys, names must be unique, and the result is a list of plans ready to build.
 *
 * @example obj({ ..., outputs: outputListSchema }) // in the collector's configuration schema
 */
export const outputListSchema: Schema<readonly OutputPlan[]> = {
  expected: 'a list of outputs, each a mapping with a type',
  parse(value, path, origin) {
    if (!Array.isArray(value)) {
      throw new ConfigError(path.join('.') || 'outputs', origin(path), this.expected, describe(value));
    }
    const plans: OutputPlan[] = [];
    const names = new Map<string, number>();
    value.forEach((entry: unknown, i) => {
      const plan = parseOutputEntry(entry, [...path, i], origin);
      const earlier = names.get(plan.settings.name);
      if (earlier !== undefined) {
        throw new ConfigError(
          [...path, i, 'name'].join('.'),
          origin([...path, i, 'name']),
          `a name not used by another output (entry ${earlier} is also "${plan.settings.name}"; set name:)`,
          JSON.stringify(plan.settings.name),
        );
      }
      names.set(plan.settings.name, i);
      plans.push(plan);
    });
    return Object.freeze(plans);
  },
};

/** Validates one entry of the `outputs:` list by the registry entry its `type` names. */
export function parseOutputEntry(
  entry: unknown,
  path: readonly (string | number)[],
  origin: OriginLookup = () => ({ source: 'outputs' }),
): OutputPlan {
  const known = [...OUTPUT_TYPES.keys()].join(', ');
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new ConfigError(path.join('.'), origin(path), `a mapping with a type (${known})`, describe(entry));
  }
  const type = (entry as { type?: unknown }).type;
  const outputType = typeof type === 'string' ? OUTPUT_TYPES.get(type) : undefined;
  if (outputType === undefined) {
    throw new ConfigError(
      [...path, 'type'].join('.'),
      origin([...path, 'type']),
      `one of ${known}`,
      describe(type),
    );
  }
  return outputType.parse(entry, path, origin);
}

/**
 * Builds every planned output (each wrapped in its retry decorator). Opens no connection: each
 * output connects on its first delivery. Throws, naming the output and key, when a file an output
 * needs cannot be read; outputs built before the failure are closed.
 *
 * @example
 * const router = createOutputRouter({ outputs: createOutputs(config.outputs, { logger }), metrics, logger });
 */
export function createOutputs(plans: readonly OutputPlan[], deps: OutputDeps): CollectorOutput[] {
  const built: CollectorOutput[] = [];
  try {
    for (const plan of plans) built.push(plan.create(deps));
    return built;
  } catch (err) {
    for (const output of built) void output.close();
    throw err;
  }
}
