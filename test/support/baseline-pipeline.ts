/**
 * The agent's real pipeline with a baseline engine in it (real process table, agent context,
 * rules, SQLite spool and baseline store), for the baseline engine's tests: events go in as
 * field records, alerts come out as the spool took them.
 */
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { createLogger } from '../../core/log.js';
import { loadRules } from '../../core/rules/loader.js';
import { BaselineEngine } from '../../agent/baseline/baseline-engine.js';
import { openBaselineStore } from '../../agent/baseline/baseline-store.js';
import { createAgentCounters } from '../../agent/metrics.js';
import { Pipeline } from '../../agent/pipeline.js';
import { startShipper, type Shipper } from '../../agent/ship/shipper.js';
import { openSpool, type Spool } from '../../agent/spool/spool.js';
import { createAgentContext, type PodLookup } from '../../agent/state/agent-context.js';
import { ProcessTable } from '../../agent/state/process-table.js';
import type { Logger } from '../../core/log.js';
import type { TestPki } from './link-pki.js';

/** What {@link startBaselinePipeline} builds. */
export interface BaselinePipelineOptions {
  readonly node: string;
  /** Pod metadata, as the CRI resolver would have it cached. */
  readonly pods: PodLookup;
  /** The engine's SQLite store (reopened by a later rig on the same path: a restart). */
  readonly storePath: string;
  readonly spoolPath: string;
  /** Rules YAML; none by default. */
  readonly rules?: string;
  readonly learningPeriodMs: number;
  readonly gracePeriodMs?: number;
  readonly maxProfiles?: number;
  /** The engine's wall clock. */
  readonly now: () => number;
  /** The pipeline's clock (default `now`). */
  readonly pipelineNow?: () => number;
  /** The log's clock (default `now`). */
  readonly logNow?: () => number;
  /** Log level; lines at or above it are kept in `logs`. Default 'error'. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** A running pipeline with its baseline engine. */
export interface BaselinePipeline {
  readonly pipeline: Pipeline;
  readonly engine: BaselineEngine;
  readonly spool: Spool;
  /** Alerts spooled so far. */
  readonly alerts: Alert[];
  /** Log lines written so far. */
  readonly logs: string[];
  /** One event (its fields), processed at once. */
  send(fields: Record<string, unknown>): void;
  /** Settles the pipeline and closes the engine (it writes what it holds) and the spool. */
  close(): void;
}

/** Starts the pipeline; the engine writes to its store only when closed (no periodic flush). */
export function startBaselinePipeline(o: BaselinePipelineOptions): BaselinePipeline {
  const logs: string[] = [];
  const logger = createLogger({
    write: (line) => logs.push(line),
    now: o.logNow ?? o.now,
    level: o.logLevel ?? 'error',
  });
  const processes = new ProcessTable({ maxEntries: 10_000 });
  const context = createAgentContext({ processes, pods: o.pods });
  const engine = new BaselineEngine({
    node: o.node,
    context,
    logger,
    learningPeriodMs: o.learningPeriodMs,
    ...(o.gracePeriodMs !== undefined ? { gracePeriodMs: o.gracePeriodMs } : {}),
    ...(o.maxProfiles !== undefined ? { maxProfiles: o.maxProfiles } : {}),
    store: openBaselineStore({ path: o.storePath }),
    now: o.now,
    flushIntervalMs: 0,
  });
  const loaded = loadRules([{ name: 'rules.yaml', text: o.rules ?? '[]\n' }], {
    registry: createFieldRegistry(),
  });
  assert.ok(loaded.ruleset !== undefined, 'the test rules load');
  const spool = openSpool({ path: o.spoolPath });
  const pipeline = new Pipeline({
    node: o.node,
    hostname: o.node,
    ruleset: loaded.ruleset,
    processes,
    context,
    spool,
    outputs: [],
    counters: createAgentCounters(),
    logger,
    pods: o.pods,
    baseline: engine,
    now: o.pipelineNow ?? o.now,
  });
  const alerts: Alert[] = [];
  pipeline.onSpooled((batch) => alerts.push(...batch));
  const sink = pipeline.sinkFor('jsonl');
  return {
    pipeline,
    engine,
    spool,
    alerts,
    logs,
    send(fields) {
      sink.event({ fields });
      pipeline.flush();
    },
    close() {
      pipeline.settle();
      engine.close();
      spool.close();
    },
  };
}

/** Nanoseconds of an event time in milliseconds (`evt.rawtime`). */
export const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

/** A successful execve of `path` by a process whose parent runs `parent`, in a container. */
export function execEvent(
  t: number,
  path: string,
  parent: string,
  pid: number,
  containerId: string,
): Record<string, unknown> {
  return {
    'evt.type': 'execve',
    'evt.dir': '<',
    'evt.res': 'SUCCESS',
    'evt.rawtime': ns(t),
    'proc.pid': pid,
    'proc.ppid': 1,
    'proc.exepath': path,
    'proc.exe': path,
    'proc.name': path.slice(path.lastIndexOf('/') + 1),
    'proc.pexepath': parent,
    'user.name': 'app',
    'container.id': containerId,
  };
}

/** python3 (pid 43) opening `path` for writing in a container, creating it with `mode`. */
export function writeEvent(
  t: number,
  path: string,
  mode: string,
  containerId: string,
): Record<string, unknown> {
  return {
    'evt.type': 'openat',
    'evt.dir': '<',
    'evt.res': 'SUCCESS',
    'evt.rawtime': ns(t),
    'proc.pid': 43,
    'proc.exepath': '/usr/bin/python3',
    'fd.name': path,
    'evt.arg.flags': 'O_WRONLY|O_CREAT|O_TRUNC',
    'evt.arg.mode': mode,
    'container.id': containerId,
  };
}

/**
 * A real shipper for node `node` exchanging `engine`'s profiles with the collector's ingest on
 * 127.0.0.1:`port` over mutual TLS (quick reconnects, the `baselines` capability).
 */
export function startBaselineShipper(o: {
  readonly port: number;
  readonly pki: TestPki;
  readonly node: string;
  readonly spool: Spool;
  readonly engine: BaselineEngine;
  readonly logger: Logger;
}): Shipper {
  return startShipper({
    target: `127.0.0.1:${o.port}`,
    tls: o.pki.agent(o.node),
    node: o.node,
    spool: o.spool,
    hostFacts: {
      hostname: o.node,
      os: 'test',
      kernel: '6',
      arch: 'x64',
      cpus: 1,
      memoryBytes: 1,
      source: 'jsonl',
    },
    agentVersion: 'test',
    logger: o.logger,
    registry: new Registry(),
    backoff: { initialMs: 20, maxMs: 200 },
    capabilities: ['baselines'],
    baselines: o.engine,
  });
}
