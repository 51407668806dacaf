/**
 * Metrics of the collector's response: quarantines by state, each layer's outcomes, how long
 * quarantine and release calls take, what the response policies decided, and what came of the
 * quarantines agents report holding when they connect.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QuarantineState } from './quarantine-store.js';

/** What a policy decided about one matching alert (the `outcome` label). */
export type PolicyOutcome =
  | 'quarantined'
  | 'notified'
  | 'dry_run'
  | 'rate_limited'
  | 'never_namespace'
  | 'already_quarantined'
  | 'no_pod'
  | 'failed'
  | 'busy';

/**
 * What the collector did about one quarantine an agent reported holding (the `outcome` label):
 * `released` (it was no longer active for that node: the agent released it), `release_failed`
 * (the same, but the agent did not confirm; retried), `adopted` (active or failed, and now
 * recorded as applied by that node), `adopted_unknown` (no record here: one was made, active on
 * that node), `in_step` (nothing to do), `left` (expected on another node that has not applied
 * it, or failed and replaced by a newer quarantine of the pod: left alone), `unknown` (no record
 * here and not adopted — the pod has another open quarantine, or more than a report adopts at
 * once: left alone, audited), `invalid` (an entry without an id, with bad names, or naming
 * another pod than the record).
 */
export type ReconcileOutcome =
  'released' | 'release_failed' | 'adopted' | 'adopted_unknown' | 'in_step' | 'left' | 'unknown' | 'invalid';

/** The response's metrics, registered on the collector's registry. */
export interface ResponseMetrics {
  /** One layer's outcome: `layer` kubernetes|node, `operation` quarantine|release, `state` a LayerState state. */
  layerOutcome(layer: 'kubernetes' | 'node', operation: 'quarantine' | 'release', state: string): void;
  /** How long a quarantine or release call took, start to answer. */
  observeCall(operation: 'quarantine' | 'release', seconds: number): void;
  /** A policy matched an alert. */
  policyMatched(policy: string): void;
  /** What the policy did about it. */
  policyOutcome(policy: string, outcome: PolicyOutcome): void;
  /** What came of a quarantine an agent reported holding. */
  reconciled(outcome: ReconcileOutcome): void;
}

/**
 * Registers the response's metrics on `registry`. `counts` is read at scrape time for the
 * quarantines-by-state gauge.
 */
export function createResponseMetrics(
  registry: Registry,
  counts: () => Record<QuarantineState, number>,
): ResponseMetrics {
  new Gauge({
    name: 'vigil_collector_quarantines',
    help: 'Quarantine records by state (active, releasing, released, failed).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(counts())) this.set({ state }, n);
    },
  });
  const layers = new Counter({
    name: 'vigil_collector_quarantine_layer_outcomes_total',
    help: 'Outcomes of the quarantine layers (kubernetes, node) by operation and resulting state.',
    labelNames: ['layer', 'operation', 'state'],
    registers: [registry],
  });
  const calls = new Histogram({
    name: 'vigil_collector_quarantine_call_duration_seconds',
    help: 'Time from a quarantine or release request to its answer (both layers answered or timed out).',
    labelNames: ['operation'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const matches = new Counter({
    name: 'vigil_collector_response_policy_matches_total',
    help: 'Alerts a response policy matched.',
    labelNames: ['policy'],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'vigil_collector_response_policy_outcomes_total',
    help: 'What response policies did about matching alerts (quarantined, notified, dry_run, rate_limited, never_namespace, already_quarantined, no_pod, failed, busy).',
    labelNames: ['policy', 'outcome'],
    registers: [registry],
  });
  const reconciled = new Counter({
    name: 'vigil_collector_quarantine_reconciled_total',
    help: 'Quarantines agents reported holding when they connected, by what the collector did (released, release_failed, adopted, adopted_unknown, in_step, left, unknown, invalid).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  return {
    layerOutcome: (layer, operation, state) => layers.inc({ layer, operation, state }),
    observeCall: (operation, seconds) => calls.observe({ operation }, seconds),
    policyMatched: (policy) => matches.inc({ policy }),
    policyOutcome: (policy, outcome) => outcomes.inc({ policy, outcome }),
    reconciled: (outcome) => reconciled.inc({ outcome }),
  };
}
