/**
 * Metrics of the agent's enforcement (`vigil_agent_enforce_*`, `vigil_agent_quarantines_active`),
 * registered in the registry the caller passes.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The enforcement metrics. */
export interface EnforceMetrics {
  /** Commands handled, by action (`quarantine`, `release`, `reapply`) and outcome. */
  readonly commands: Counter<'action' | 'outcome'>;
  /** From receiving a quarantine to its rules verified in the pod (and the pod frozen, if asked). */
  readonly applySeconds: Histogram;
}

/** Creates the metrics; `active` is read at scrape time (the store's count). */
export function createEnforceMetrics(registry: Registry, active: () => number): EnforceMetrics {
  const registers = [registry];
  new Gauge({
    name: 'vigil_agent_quarantines_active',
    help: 'Quarantines applied on this node and not released.',
    registers,
    collect() {
      this.set(active());
    },
  });
  return {
    commands: new Counter({
      name: 'vigil_agent_enforce_commands_total',
      help: 'Quarantine and release commands handled (and quarantines re-applied at start), by outcome.',
      labelNames: ['action', 'outcome'] as const,
      registers,
    }),
    applySeconds: new Histogram({
      name: 'vigil_agent_enforce_apply_duration_seconds',
      help: 'Time from receiving a quarantine to its rules verified in the pod.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}
