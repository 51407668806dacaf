/**
 * Alerts: Falco's JSON alert, so Falcosidekick and its UI consume ours unchanged, plus Vigil's
 * own fields (a unique id, the kind of detection, the node, and room for anomaly scores and the
 * workload).
 *
 * core/ has no clock: the time comes from the event (`evt.rawtime`, nanoseconds since the epoch)
 * or from the caller, and so does the id.
 */
import type { Event } from './event.js';
import { priorityName, type PriorityName } from './priority.js';
import type { CompiledRule } from './rules/compiled-rule.js';

/** The workload an alert concerns, when the agent knows it. */
export interface AlertWorkload {
  readonly namespace?: string;
  /** The controller owning the pod: `Deployment`, `DaemonSet`, `StatefulSet`, `Job`, ... */
  readonly ownerKind?: string;
  readonly ownerName?: string;
  readonly pod?: string;
  readonly container?: string;
  readonly image?: string;
}

/**
 * One alert. The first eight fields are Falco's JSON output, verbatim in shape; the rest are
 * Vigil's.
 */
export interface Alert {
  /** When the event happened: ISO-8601 UTC with nanoseconds, `2024-05-01T12:00:00.123456789Z`. */
  readonly time: string;
  readonly rule: string;
  readonly priority: PriorityName;
  /** `HH:MM:SS.nnnnnnnnn: Priority <rendered output>`, as Falco prints it. */
  readonly output: string;
  /** Every field the output names (plus `evt.time` and exception fields), raw values, null when missing. */
  readonly output_fields: Readonly<Record<string, unknown>>;
  readonly source: string;
  readonly tags: readonly string[];
  readonly hostname: string;
  /** Unique per alert, assigned on the agent. */
  readonly id: string;
  /** A rule fired (`signature`), or a learned baseline flagged the event (`anomaly`). */
  readonly kind: 'signature' | 'anomaly';
  /** The node the event happened on. */
  readonly node: string;
  /** How unusual the event is, for anomalies (0..1). */
  readonly score?: number;
  /** Why an anomaly was flagged, one line each. */
  readonly reasons?: readonly string[];
  readonly workload?: AlertWorkload;
}

/** What {@link buildAlert} needs besides the rule and the event. */
export interface BuildAlertOptions {
  readonly hostname: string;
  /** The alert's unique id. */
  readonly id: string;
  /** Time in nanoseconds since the epoch, used when the event carries no `evt.rawtime`. */
  readonly timeNs?: bigint | number;
  /** The node name; defaults to `hostname`. */
  readonly node?: string;
}

const NS_PER_SECOND = 1_000_000_000n;

/** Reads a nanosecond timestamp given as bigint, integer number or decimal string. */
function toNanoseconds(value: unknown): bigint | undefined {
  switch (typeof value) {
    case 'bigint':
      return value >= 0n ? value : undefined;
    case 'number':
      // Above 2^53 a number has lost its last digits already; this is the best left to do.
      return Number.isFinite(value) && value >= 0 ? BigInt(Math.round(value)) : undefined;
    case 'string':
      return /^\d+$/.test(value) ? BigInt(value) : undefined;
    default:
      return undefined;
  }
}

function eventTime(evt: Event): bigint | undefined {
  const own = toNanoseconds(evt.fields['evt.rawtime']);
  if (own !== undefined) return own;
  return evt.context === undefined
    ? undefined
    : toNanoseconds(evt.context.resolve('evt.rawtime', undefined, evt));
}

/** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for a time in nanoseconds since the epoch. */
export function isoTimeNs(ns: bigint): string {
  const seconds = ns / NS_PER_SECOND;
  const fraction = (ns % NS_PER_SECOND).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/**
 * `HH:MM:SS.nnnnnnnnn` for a time in nanoseconds: Falco's `%evt.time`. Falco prints local time;
 * core/ knows no time zone, so this is UTC (the usual zone of an agent container).
 */
export function clockTimeNs(ns: bigint): string {
  return isoTimeNs(ns).slice(11, 29);
}

/**
 * Builds the alert for `rule` firing on `evt`: renders the rule's output, collects its fields,
 * and stamps time, priority and identity. Throws when neither the event (`evt.rawtime`) nor
 * `options.timeNs` says when it happened.
 *
 * @example buildAlert(rule, evt, { hostname: 'node-1', id: '01HX...', timeNs: 1714564800000000000n })
 */
export function buildAlert(rule: CompiledRule, evt: Event, options: BuildAlertOptions): Alert {
  const ns = eventTime(evt) ?? (options.timeNs === undefined ? undefined : toNanoseconds(options.timeNs));
  if (ns === undefined) {
    throw new Error(
      `buildAlert: rule '${rule.name}' fired on an event without evt.rawtime, and no timeNs was given`,
    );
  }
  const rendered = rule.output.render(evt);
  const priority = priorityName(rule.priority);
  const fields: Record<string, unknown> = { ...rendered.fields };
  // Falco's prefix `%evt.time` lands in output_fields as the raw time in nanoseconds.
  fields['evt.time'] = Number(ns);
  return {
    time: isoTimeNs(ns),
    rule: rule.name,
    priority,
    output: `${clockTimeNs(ns)}: ${priority} ${rendered.text}`,
    output_fields: fields,
    source: rule.source,
    tags: [...rule.tags],
    hostname: options.hostname,
    id: options.id,
    kind: 'signature',
    node: options.node ?? options.hostname,
  };
}
