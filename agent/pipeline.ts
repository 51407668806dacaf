/**
 * The agent's event pipeline: what happens to every event a source delivers.
 *
 *   source ─► process table (state) ─► rules (with the agent's field context) ─► alert
 *          ─► spool (durable, first) ─► local outputs
 *
 * Sources emit into {@link Pipeline.sinkFor}; the pipeline never reads a source itself, and the
 * shipper (another issue) reads the spool, not the pipeline. Alerts are batched for a few
 * milliseconds and written to the spool in one transaction; only then do they go to the local
 * outputs, so an alert anyone has seen is an alert the spool has.
 */
import { newAlertId } from './alert-id.js';
import { buildAlert, type Alert, type AlertWorkload } from '../core/alert.js';
import type { Event } from '../core/event.js';
import type { Logger } from '../core/log.js';
import { priorityName } from '../core/priority.js';
import type { CompiledRule } from '../core/rules/compiled-rule.js';
import type { RuleSet } from '../core/rules/ruleset.js';
import { buildAnomalyAlert, workloadFromProfileKey } from './baseline/anomaly-alert.js';
import type { BaselineVerdict } from './baseline/baseline-engine.js';
import type { AgentCounters } from './metrics.js';
import { bump } from './metrics.js';
import type { QueuedAlertOutput } from './outputs/queued-output.js';
import type { SourceSink } from './sources/source.js';
import type { Spool } from './spool/spool.js';
import type { AgentContext, PodLookup } from './state/agent-context.js';
import type { ProcessTable } from './state/process-table.js';

/** What the pipeline is built from. */
export interface PipelineOptions {
  /** This node's name (alerts' `node`) and the host name (alerts' `hostname`). */
  readonly node: string;
  readonly hostname: string;
  readonly ruleset: RuleSet;
  readonly processes: ProcessTable;
  readonly context: AgentContext;
  readonly spool: Spool;
  readonly outputs: readonly QueuedAlertOutput[];
  readonly counters: AgentCounters;
  readonly logger: Logger;
  /** Wall clock in milliseconds (alerts from events without `evt.rawtime` are stamped with it). */
  readonly now?: () => number;
  /** Longest an alert waits for its batch to be spooled. Default 5 ms. */
  readonly flushDelayMs?: number;
  /** A batch is spooled at once when it reaches this many alerts. Default 500. */
  readonly maxBatch?: number;
  /** Alerts held in memory while the spool cannot be written, at most. Default 10,000. */
  readonly maxUnspooled?: number;
  /**
   * Pod metadata lookups. With it, an event from a container whose pod is not known yet waits
   * (at most `metadataWaitMs`) for the container runtime to answer before rules see it, so that
   * `k8s.*` and `container.*` fields are filled rather than `<NA>` on a new pod's first events.
   */
  readonly pods?: PodLookup;
  /** Longest an event waits for its pod's metadata. Default 1,000 ms. */
  readonly metadataWaitMs?: number;
  /** Events waiting for pod metadata, at most; past it, events are evaluated at once. Default 10,000. */
  readonly maxAwaitingMetadata?: number;
  /**
   * Learnt baselines (agent/baseline): sees every event before the rules; its verdict adds score
   * and reasons to signature alerts and raises anomaly alerts.
   */
  readonly baseline?: BaselineHook;
}

/** What the pipeline asks of the baseline engine. */
export interface BaselineHook {
  /** Learns from or scores one event; undefined when the event belongs to no scored profile. */
  observe(evt: Event): BaselineVerdict | undefined;
}

/** Counters of the pipeline itself. */
export interface PipelineStats {
  readonly events: number;
  readonly alerts: number;
  readonly spooled: number;
  /** Alerts the spool refused or evicted to make room (its own counters say which priorities). */
  readonly spoolDropped: number;
  /** Alerts lost because the spool could not be written for long enough to fill memory. */
  readonly lostUnspooled: number;
  readonly spoolErrors: number;
}

/** Routes events from sources through state and rules into alerts. */
export class Pipeline {
  private ruleset: RuleSet;
  private readonly matched: CompiledRule[] = [];
  private pending: Alert[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly flushDelayMs: number;
  private readonly maxBatch: number;
  private readonly maxUnspooled: number;
  private readonly listeners: ((alerts: readonly Alert[]) => void)[] = [];
  private stats_ = { events: 0, alerts: 0, spooled: 0, spoolDropped: 0, lostUnspooled: 0, spoolErrors: 0 };
  private spoolFailing = false;
  private baselineErrors = 0;
  /** Events waiting for their container's pod metadata, by full container id, in arrival order. */
  private readonly awaiting = new Map<string, Event[]>();
  private awaitingCount = 0;
  /** Containers the runtime did not know: not waited for again until the entry expires. */
  private readonly unknownContainers = new Map<string, number>();

  constructor(private readonly options: PipelineOptions) {
    this.ruleset = options.ruleset;
    this.now = options.now ?? Date.now;
    this.flushDelayMs = options.flushDelayMs ?? 5;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxUnspooled = options.maxUnspooled ?? 10_000;
  }

  /** Replaces the active ruleset (hot reload); events after this call use the new one. */
  setRuleset(ruleset: RuleSet): void {
    this.ruleset = ruleset;
  }

  /** The active ruleset. */
  rules(): RuleSet {
    return this.ruleset;
  }

  /** Calls `listener` with every batch once it is spooled (tests, status). */
  onSpooled(listener: (alerts: readonly Alert[]) => void): void {
    this.listeners.push(listener);
  }

  /** The sink a source named `source` delivers into. */
  sinkFor(source: string): SourceSink {
    const { counters, logger } = this.options;
    const log = logger.child({ source });
    return {
      event: (evt) => this.process(source, evt),
      malformed: (reason, detail) => {
        bump(counters.malformed, `${source}\u0000${reason}`);
        if (detail !== undefined) log.debug('malformed input skipped', { reason, detail });
      },
      notice: (message, fields) => log.info(message, fields),
    };
  }

  /** Handles one event: state first, then rules; matches become pending alerts. */
  process(source: string, raw: Event): void {
    const { processes, context, counters } = this.options;
    this.stats_.events++;
    const type = raw.fields['evt.type'];
    bump(counters.events, `${source}\u0000${typeof type === 'string' ? type : 'unknown'}`);
    processes.observe(raw);
    const evt: Event = { fields: raw.fields, context };
    if (this.options.pods !== undefined && this.shouldAwaitPod(evt)) return;
    this.evaluate(evt);
  }

  /** Whether `evt` was queued to wait for its pod's metadata. */
  private shouldAwaitPod(evt: Event): boolean {
    const { context } = this.options;
    const id = context.containerIdOf(evt);
    if (id === undefined || id.length !== 64) return false;
    const queued = this.awaiting.get(id);
    if (queued !== undefined) {
      queued.push(evt);
      this.awaitingCount++;
      return true;
    }
    if (context.podOf(evt) !== undefined) return false;
    const unknownUntil = this.unknownContainers.get(id);
    if (unknownUntil !== undefined && unknownUntil > this.now()) return false;
    if (this.awaitingCount >= (this.options.maxAwaitingMetadata ?? 10_000)) return false;
    this.awaiting.set(id, [evt]);
    this.awaitingCount++;
    const wait = this.options.metadataWaitMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), wait);
    });
    void Promise.race([this.options.pods?.resolve(id), timeout]).then((meta) => {
      clearTimeout(timer);
      if (meta === undefined) {
        if (this.unknownContainers.size >= 4096) this.unknownContainers.clear();
        this.unknownContainers.set(id, this.now() + 30_000);
      }
      // A fresh Event per evaluation: the context caches lookups per event object.
      const events = this.awaiting.get(id) ?? [];
      this.awaiting.delete(id);
      this.awaitingCount -= events.length;
      for (const e of events) this.evaluate({ fields: e.fields, context: this.options.context });
    });
    return true;
  }

  /** Runs the rules on an event that has its context. */
  private evaluate(evt: Event): void {
    const verdict = this.options.baseline === undefined ? undefined : this.observeBaseline(evt);
    const n = this.ruleset.match(evt, this.matched);
    for (let i = 0; i < n; i++) {
      const rule = this.matched[i] as CompiledRule;
      this.raise(rule, evt, verdict);
    }
    if (verdict?.raise === true) this.raiseAnomaly(evt, verdict);
  }

  /** The baseline's verdict; a failure there costs the verdict, never the event's rules. */
  private observeBaseline(evt: Event): BaselineVerdict | undefined {
    try {
      return this.options.baseline?.observe(evt);
    } catch (err) {
      // Logged the first time and every 10,000th after: a bug must not flood the log.
      if (this.baselineErrors++ % 10_000 === 0) {
        this.options.logger.error('the baseline engine failed on an event', {
          err,
          failures: this.baselineErrors,
        });
      }
      return undefined;
    }
  }

  /** The workload fields of an alert on `evt`, when the agent knows its pod or workload. */
  private alertWorkload(evt: Event): AlertWorkload | undefined {
    const { context } = this.options;
    const workload = context.workloadOf(evt);
    const pod = context.podOf(evt);
    if (workload === undefined && pod === undefined) return undefined;
    return {
      ...(workload !== undefined
        ? { namespace: workload.namespace, ownerKind: workload.ownerKind, ownerName: workload.ownerName }
        : {}),
      ...(pod !== undefined
        ? { namespace: pod.namespace, pod: pod.podName, container: pod.containerName, image: pod.image }
        : {}),
    };
  }

  private raiseAnomaly(evt: Event, verdict: BaselineVerdict): void {
    const { node, hostname } = this.options;
    const raw = evt.fields['evt.rawtime'];
    const timeNs =
      typeof raw === 'bigint'
        ? raw
        : typeof raw === 'number' && Number.isFinite(raw) && raw >= 0
          ? BigInt(Math.round(raw))
          : typeof raw === 'string' && /^\d+$/.test(raw)
            ? BigInt(raw)
            : BigInt(this.now()) * 1_000_000n;
    const alert = buildAnomalyAlert(verdict, {
      id: newAlertId(this.now()),
      node,
      hostname,
      timeNs,
      workload: this.alertWorkload(evt) ?? workloadFromProfileKey(verdict.key),
    });
    bump(this.options.counters.matches, `${alert.rule}\u0000${alert.priority}`);
    this.queue(alert);
  }

  private raise(rule: CompiledRule, evt: Event, verdict: BaselineVerdict | undefined): void {
    const { counters, node, hostname } = this.options;
    let alert: Alert;
    try {
      alert = buildAlert(rule, evt, {
        hostname,
        node,
        id: newAlertId(this.now()),
        timeNs: BigInt(this.now()) * 1_000_000n,
      });
    } catch (err) {
      this.options.logger.error('could not build an alert', { rule: rule.name, err });
      return;
    }
    const workload = this.alertWorkload(evt);
    if (workload !== undefined) alert = { ...alert, workload };
    // The workload's anomaly context, so that analysts see both at once.
    if (verdict?.scored === true) alert = { ...alert, score: verdict.score, reasons: verdict.reasons };
    bump(counters.matches, `${rule.name}\u0000${priorityName(rule.priority)}`);
    this.queue(alert);
  }

  /** Adds an alert to the batch being spooled. */
  private queue(alert: Alert): void {
    this.stats_.alerts++;
    this.pending.push(alert);
    if (this.pending.length >= this.maxBatch) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  /**
   * Evaluates every event still waiting for pod metadata (without it), then spools what is
   * pending: nothing is left behind when the agent stops.
   */
  settle(): void {
    for (const [id, events] of this.awaiting) {
      this.awaiting.delete(id);
      this.awaitingCount -= events.length;
      for (const e of events) this.evaluate({ fields: e.fields, context: this.options.context });
    }
    this.flush();
  }

  /** Spools pending alerts now (one transaction), then hands them to the outputs. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let stored: readonly Alert[];
    try {
      const result = this.options.spool.append(batch);
      const dropped = new Set(result.dropped.map((d) => d.id));
      stored = dropped.size === 0 ? batch : batch.filter((a) => !dropped.has(a.id));
      this.stats_.spoolDropped += result.dropped.length;
      if (this.spoolFailing) this.options.logger.info('the spool accepts alerts again');
      this.spoolFailing = false;
    } catch (err) {
      this.stats_.spoolErrors++;
      if (!this.spoolFailing)
        this.options.logger.error('cannot write to the spool; holding alerts in memory', { err });
      this.spoolFailing = true;
      // Keep the newest alerts, bounded; the count of what is lost is a metric and a log line.
      const keep = [...batch, ...this.pending];
      const over = keep.length - this.maxUnspooled;
      if (over > 0) {
        this.stats_.lostUnspooled += over;
        this.options.logger.error('alerts lost: the spool stayed unwritable', { lost: over });
      }
      this.pending = over > 0 ? keep.slice(over) : keep;
      this.timer = setTimeout(() => this.flush(), 1000);
      this.timer.unref();
      return;
    }
    this.stats_.spooled += stored.length;
    for (const out of this.options.outputs) out.write(stored);
    for (const l of this.listeners) l(stored);
  }

  stats(): PipelineStats {
    return { ...this.stats_ };
  }
}
