/**
 * The agent's Prometheus metrics (`vigil_agent_*`), in a registry of its own.
 *
 * Hot-path counts (events by source and type, rule matches) are plain numbers the pipeline bumps;
 * they are copied into prom-client counters only when Prometheus scrapes, so an event costs no
 * metric-library call.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Numbers the agent's parts keep; read at scrape time. */
export interface AgentCounters {
  /** `source\u0000evt.type` -> events. */
  readonly events: Map<string, number>;
  /** `source\u0000reason` -> malformed inputs. */
  readonly malformed: Map<string, number>;
  /** `rule\u0000priority` -> matches. */
  readonly matches: Map<string, number>;
}

/** Live readings the metrics ask for at scrape time. */
export interface AgentReadings {
  processTableSize(): number;
  spool(): { depth: number; bytes: number; droppedByPriority: Readonly<Record<string, number>> };
  /** Seconds behind, per source (undefined when the source cannot tell). */
  sourceLag(): ReadonlyArray<readonly [string, number | undefined]>;
  /** Events lost before the agent could read them, per source and event type. */
  sourceLost(): ReadonlyArray<readonly [string, string, number]>;
  rules(): { loaded: number; lastReloadOk: boolean; reloads: number; reloadFailures: number };
  outputs(): ReadonlyArray<{ name: string; written: number; dropped: number; failed: number }>;
}

/** Creates the empty hot-path counters. */
export function createAgentCounters(): AgentCounters {
  return { events: new Map(), malformed: new Map(), matches: new Map() };
}

/** Adds one to a counter map entry. */
export function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** The agent's metric registry; call {@link AgentMetrics.close} to stop its timers. */
export interface AgentMetrics {
  readonly registry: Registry;
  close(): void;
}

function fill(counter: Counter<string>, map: Map<string, number>, labels: readonly [string, string]): void {
  counter.reset();
  for (const [key, n] of map) {
    const sep = key.indexOf('\u0000');
    counter.inc({ [labels[0]]: key.slice(0, sep), [labels[1]]: key.slice(sep + 1) }, n);
  }
}

/** Builds the registry over the agent's counters and readings. */
export function createAgentMetrics(counters: AgentCounters, readings: AgentReadings): AgentMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_agent_process_' });
  // prom-client's nodejs_active_{handles,requests,resources}_total are gauges with a counter's
  // suffix, which `promtool check metrics` rejects; the per-type gauges without _total remain.
  for (const kind of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`vigil_agent_process_nodejs_active_${kind}_total`);
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  new Counter({
    name: 'vigil_agent_events_total',
    help: 'Events read, by source and event type.',
    labelNames: ['source', 'type'],
    registers: [registry],
    collect() {
      fill(this, counters.events, ['source', 'type']);
    },
  });
  new Counter({
    name: 'vigil_agent_malformed_events_total',
    help: 'Input units that could not be decoded and were skipped, by source and reason.',
    labelNames: ['source', 'reason'],
    registers: [registry],
    collect() {
      fill(this, counters.malformed, ['source', 'reason']);
    },
  });
  new Counter({
    name: 'vigil_agent_rule_matches_total',
    help: 'Rule matches (alerts raised), by rule and priority.',
    labelNames: ['rule', 'priority'],
    registers: [registry],
    collect() {
      fill(this, counters.matches, ['rule', 'priority']);
    },
  });
  new Gauge({
    name: 'vigil_agent_process_table_entries',
    help: 'Processes in the process table.',
    registers: [registry],
    collect() {
      this.set(readings.processTableSize());
    },
  });
  new Gauge({
    name: 'vigil_agent_spool_depth_alerts',
    help: 'Alerts in the spool waiting to be delivered.',
    registers: [registry],
    collect() {
      this.set(readings.spool().depth);
    },
  });
  new Gauge({
    name: 'vigil_agent_spool_bytes',
    help: 'Bytes of alert JSON in the spool.',
    registers: [registry],
    collect() {
      this.set(readings.spool().bytes);
    },
  });
  new Counter({
    name: 'vigil_agent_spool_dropped_alerts_total',
    help: 'Alerts dropped because the spool was full (lowest priority, oldest first), by priority.',
    labelNames: ['priority'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [p, n] of Object.entries(readings.spool().droppedByPriority)) this.inc({ priority: p }, n);
    },
  });
  new Gauge({
    name: 'vigil_agent_source_lag_seconds',
    help: 'How far behind each source is (age of the newest event when read), where the source can tell.',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [s, lag] of readings.sourceLag()) if (lag !== undefined) this.set({ source: s }, lag);
    },
  });
  new Counter({
    name: 'vigil_agent_source_events_lost_total',
    help: 'Events a source lost before the agent read them (the eBPF ring buffer overflowing), by source and type.',
    labelNames: ['source', 'type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, type, n] of readings.sourceLost()) this.inc({ source, type }, n);
    },
  });
  new Gauge({
    name: 'vigil_agent_event_loop_lag_seconds',
    help: 'Event-loop delay of the agent process (p99 over the last scrape interval).',
    registers: [registry],
    collect() {
      this.set(Number.isFinite(loop.percentile(99)) ? loop.percentile(99) / 1e9 : 0);
      loop.reset();
    },
  });
  new Gauge({
    name: 'vigil_agent_rules_loaded',
    help: 'Enabled rules in the active ruleset.',
    registers: [registry],
    collect() {
      this.set(readings.rules().loaded);
    },
  });
  new Gauge({
    name: 'vigil_agent_rules_last_reload_success',
    help: '1 when the last rules load succeeded; 0 when it failed and the previous ruleset is kept.',
    registers: [registry],
    collect() {
      this.set(readings.rules().lastReloadOk ? 1 : 0);
    },
  });
  new Counter({
    name: 'vigil_agent_rules_reloads_total',
    help: 'Rule reloads attempted, by result.',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const r = readings.rules();
      this.reset();
      this.inc({ result: 'success' }, r.reloads - r.reloadFailures);
      this.inc({ result: 'failure' }, r.reloadFailures);
    },
  });
  new Counter({
    name: 'vigil_agent_output_alerts_total',
    help: 'Alerts handled by each local output, by result.',
    labelNames: ['output', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const o of readings.outputs()) {
        this.inc({ output: o.name, result: 'written' }, o.written);
        this.inc({ output: o.name, result: 'dropped' }, o.dropped);
        this.inc({ output: o.name, result: 'failed' }, o.failed);
      }
    },
  });
  return {
    registry,
    close() {
      loop.disable();
    },
  };
}
