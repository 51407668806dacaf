/**
 * The `falco` output: each alert POSTed as the JSON document Falco's own `http_output` sends, so
 * that an existing Falcosidekick (or Falco Talon, or anything else listening for Falco) takes
 * Vigil's alerts unchanged.
 *
 * What Falco sends, one alert per request with `Content-Type: application/json`: an object with
 * exactly `hostname`, `output`, `output_fields`, `priority`, `rule`, `source`, `tags` and `time`
 * (nlohmann::json writes keys sorted, and so do we). Vigil's own fields do not appear at the top
 * level. With `vigil_fields` (the default) they ride in `output_fields` under a `vigil.` prefix —
 * `vigil.id`, `vigil.kind`, `vigil.node`, and `vigil.score` / `vigil.reasons` for anomalies — the
 * way Falcosidekick's `customfields` add keys there; receivers pass such fields through.
 *
 * Falcosidekick decodes the body with Go's encoding/json (unknown keys would be ignored) and then
 * rejects, with a 400, an alert without a known priority, a rule, an RFC 3339 time or at least one
 * output field; it also reads `k8s.ns.name` and `k8s.pod.name` as strings. So every alert gets
 * `evt.time` (as Falco always includes it) and those two fields are strings or null.
 */
import type { Alert } from '../../core/alert.js';
import { bool, str } from '../../core/config-schema.js';
import type { CollectorOutput } from './collector-output.js';
import { createHttpJsonOutput, httpEndpoint } from './http-json-output.js';
import {
  defineOutputType,
  httpDefaults,
  httpShape,
  httpTls,
  httpUrl,
  stringMap,
  type OutputSettings,
} from './output-config.js';

/** Falco's JSON alert, keys in the order Falco writes them. */
export interface FalcoJsonAlert {
  readonly hostname: string;
  readonly output: string;
  readonly output_fields: Readonly<Record<string, unknown>>;
  readonly priority: string;
  readonly rule: string;
  readonly source: string;
  readonly tags: readonly string[];
  readonly time: string;
}

/** Fields Falcosidekick reads as Go strings (a number there would fail its type assertion). */
const STRING_FIELDS = ['k8s.ns.name', 'k8s.pod.name'] as const;

/** Nanoseconds since the epoch of an ISO-8601 time with up to nine fraction digits, as a JSON number. */
function evtTime(time: string): number | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1] ?? ''}${m[3] ?? ''}`);
  if (Number.isNaN(ms)) return undefined;
  // Past 2^53 the last digits are lost, as they are in every JSON reader that is not Go's UseNumber.
  return Number(BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')));
}

/**
 * The Falco JSON document for `alert`.
 *
 * @example toFalcoJson(alert).output_fields['vigil.id'] === alert.id
 */
export function toFalcoJson(alert: Alert, options: { readonly vigilFields?: boolean } = {}): FalcoJsonAlert {
  const fields: Record<string, unknown> = { ...alert.output_fields };
  for (const key of STRING_FIELDS) {
    const value = fields[key];
    if (value !== undefined && value !== null && typeof value !== 'string')
      fields[key] = JSON.stringify(value);
  }
  if (fields['evt.time'] === undefined) {
    const ns = evtTime(alert.time);
    if (ns !== undefined) fields['evt.time'] = ns;
  }
  if (options.vigilFields ?? true) {
    fields['vigil.id'] = alert.id;
    fields['vigil.kind'] = alert.kind;
    fields['vigil.node'] = alert.node;
    if (alert.score !== undefined) fields['vigil.score'] = alert.score;
    if (alert.reasons !== undefined && alert.reasons.length > 0)
      fields['vigil.reasons'] = alert.reasons.join('; ');
  }
  return {
    hostname: alert.hostname,
    output: alert.output,
    output_fields: fields,
    priority: alert.priority,
    rule: alert.rule,
    source: alert.source,
    tags: [...alert.tags],
    time: alert.time,
  };
}

/** Where and how to post. */
export interface FalcoOutputOptions {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly vigilFields: boolean;
  readonly timeoutMs: number;
  readonly ca?: string;
  readonly rejectUnauthorized?: boolean;
}

/**
 * Creates a bare Falco-compatible output (no retry; see {@link withRetry}).
 *
 * @example createFalcoOutput({ name: 'sidekick', minPriority: Priority.Debug, queueSize: 10_000 },
 *   { url: new URL('http://falcosidekick:2801/'), headers: {}, vigilFields: true, timeoutMs: 10_000 })
 */
export function createFalcoOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  options: FalcoOutputOptions,
): CollectorOutput {
  return createHttpJsonOutput(settings, {
    type: 'falco',
    // Falco posts one alert per request, and Falcosidekick reads exactly one object per body.
    maxBatch: 1,
    endpoint: httpEndpoint(options.url, 'POST', options.headers, options),
    encode: (batch) => JSON.stringify(toFalcoJson(batch[0] as Alert, { vigilFields: options.vigilFields })),
  });
}

/** Registry entry: `type: falco`. */
export const falcoOutputType = defineOutputType({
  type: 'falco',
  description:
    "alerts as Falco's http_output JSON, one per POST, for Falcosidekick, Falco Talon and other Falco receivers",
  example: { type: 'falco', name: 'sidekick', url: 'http://falcosidekick.falco:2801/' },
  shape: {
    url: httpUrl(),
    headers: stringMap(),
    vigil_fields: bool(),
    user_agent: str(),
    ...httpShape,
  },
  defaults: { headers: {}, vigil_fields: true, user_agent: 'vigil-collector', ...httpDefaults },
  create(settings, o) {
    return createFalcoOutput(settings, {
      url: o.url,
      headers: { 'user-agent': o.user_agent, ...o.headers },
      vigilFields: o.vigil_fields,
      timeoutMs: o.timeout,
      ...httpTls(settings, o),
    });
  },
});
