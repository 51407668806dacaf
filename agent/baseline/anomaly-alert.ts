/**
 * Anomaly alerts: what the pipeline raises when the baseline engine scores an event at or above
 * the threshold. Shaped like every alert (Falco's JSON plus Vigil's fields), with `kind:
 * 'anomaly'`, `source: 'baseline'`, the score and the reasons.
 *
 * Priority follows the score: 0.95 and above `Critical`, 0.85 and above `Error`, below that
 * `Warning`.
 */
import { clockTimeNs, isoTimeNs, type Alert, type AlertWorkload } from '../../core/alert.js';
import { parseProfileKey } from '../../core/baseline/profile.js';
import type { PriorityName } from '../../core/priority.js';
import type { BaselineVerdict } from './baseline-engine.js';

/** What {@link buildAnomalyAlert} needs besides the verdict. */
export interface AnomalyAlertOptions {
  readonly id: string;
  readonly node: string;
  readonly hostname: string;
  /** When the event happened, in nanoseconds since the epoch. */
  readonly timeNs: bigint;
  readonly workload: AlertWorkload | undefined;
}

/** The priority of an anomaly of score `score`. */
export function anomalyPriority(score: number): PriorityName {
  if (score >= 0.95) return 'Critical';
  if (score >= 0.85) return 'Error';
  return 'Warning';
}

/** The alert for a verdict whose `raise` is true. */
export function buildAnomalyAlert(verdict: BaselineVerdict, options: AnomalyAlertOptions): Alert {
  const priority = anomalyPriority(verdict.score);
  const rule = verdict.rule === '' ? 'Anomalous activity' : verdict.rule;
  const text = `${rule} (score ${verdict.score.toFixed(2)}): ${verdict.reasons.join('; ')}`;
  const tags = [
    'anomaly',
    rule
      .toLowerCase()
      .replace(/^anomalous /, '')
      .replace(/ /g, '_'),
  ];
  return {
    time: isoTimeNs(options.timeNs),
    rule,
    priority,
    output: `${clockTimeNs(options.timeNs)}: ${priority} ${text}`,
    output_fields: { ...verdict.fields, 'evt.time': Number(options.timeNs) },
    source: 'baseline',
    tags,
    hostname: options.hostname,
    id: options.id,
    kind: 'anomaly',
    node: options.node,
    score: verdict.score,
    reasons: [...verdict.reasons],
    ...(options.workload !== undefined ? { workload: options.workload } : {}),
  };
}

/**
 * The workload of an alert from a profile key, for profiles whose events carry no pod (a
 * container profiled by its image, or the host).
 */
export function workloadFromProfileKey(key: string): AlertWorkload | undefined {
  const k = parseProfileKey(key);
  if (k.ownerKind === '') return undefined;
  return {
    ...(k.namespace !== '' && k.namespace !== '-' ? { namespace: k.namespace } : {}),
    ownerKind: k.ownerKind,
    ownerName: k.ownerName,
    ...(k.container !== '' && k.container !== '-' ? { container: k.container } : {}),
    ...(k.image !== '' ? { image: k.image } : {}),
  };
}
