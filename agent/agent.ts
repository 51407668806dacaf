/**
 * The node agent, assembled: sources, process and pod state, rules (hot-reloaded), the pipeline,
 * the spool, local outputs, metrics and health. `vigil agent` is a thin wrapper around
 * {@link startAgent}.
 */
import { existsSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { createFieldRegistry } from '../core/fields/registry.js';
import type { Logger } from '../core/log.js';
import { parsePriority } from '../core/priority.js';
import { loadRules, type Diagnostic } from '../core/rules/loader.js';
import type { RuleSet } from '../core/rules/ruleset.js';
import { BaselineEngine } from './baseline/baseline-engine.js';
import { registerBaselineMetrics } from './baseline/baseline-metrics.js';
import { openBaselineStore } from './baseline/baseline-store.js';
import { baselineDbPath, quarantineDbPath, spoolPath, type AgentConfig } from './config.js';
import { startEnforcement, type Enforcement } from './enforce/enforcement.js';
import { startHttpEndpoint } from './http-server.js';
import { createAgentCounters, createAgentMetrics, type AgentMetrics } from './metrics.js';
import { createAlertOutput } from './outputs/registry.js';
import { collectHostFacts } from './ship/host-facts.js';
import { startShipper, type Shipper } from './ship/shipper.js';
import type { QueuedAlertOutput } from './outputs/queued-output.js';
import { Pipeline } from './pipeline.js';
import { createSourceFromFlag } from './sources/registry.js';
import type { EventSource } from './sources/source.js';
import { openSpool, type Spool } from './spool/spool.js';
import { createAgentContext } from './state/agent-context.js';
import { createCriClient, type CriClient } from './state/cri/cri-client.js';
import { createPodMetadataResolver } from './state/cri/pod-metadata-resolver.js';
import { createProcReader } from './state/proc-reader.js';
import { ProcessTable } from './state/process-table.js';

/** Container runtime sockets tried, in order, when `cri.socket` is empty. */
const KNOWN_CRI_SOCKETS = [
  '/run/containerd/containerd.sock',
  '/run/crio/crio.sock',
  '/var/run/cri-dockerd.sock',
];

/** Sources that observe this machine live (their pids are this machine's). */
const LIVE_SOURCES = new Set(['procfs', 'ebpf']);

/** Reads rule files (or directories of them) by path. */
export type RuleFileReader = (paths: readonly string[]) => { name: string; text: string }[];

/** A rules load that failed: its diagnostics say why, with file, line and column. */
export class RulesLoadError extends Error {
  override readonly name = 'RulesLoadError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(
      `rules did not load: ${errors.length} error(s); first: ` +
        errors
          .slice(0, 1)
          .map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`)
          .join(''),
    );
  }
}

/** A running agent. */
export interface Agent {
  readonly pipeline: Pipeline;
  readonly spool: Spool;
  readonly metrics: AgentMetrics;
  /** Learnt workload profiles and anomaly scoring, when enabled (`baseline.enabled`). */
  readonly baseline: BaselineEngine | undefined;
  /** Quarantine enforcement, when enabled and possible on this node. */
  readonly enforcement: Enforcement | undefined;
  /** The HTTP endpoint's address, once listening (undefined when disabled). */
  readonly httpAddress: { host: string; port: number } | undefined;
  /** Loads the rule files again; keeps the active ruleset (and says so) when the new one fails. */
  reloadRules(reason: string): boolean;
  /** Resolves when every source has delivered all it will (finite inputs only). */
  sourcesDone(): Promise<void>;
  /** Stops sources, flushes the pipeline, closes outputs and the spool. Idempotent. */
  stop(): Promise<void>;
}

/** What {@link startAgent} needs besides the configuration. */
export interface AgentDeps {
  readonly logger: Logger;
  readonly readRules: RuleFileReader;
  /** Watch rule files and reload on change (default true). */
  readonly watchRules?: boolean;
  /** This agent's version, told to the collector. */
  readonly version: string;
}

function readTlsFile(what: string, path: string): Buffer {
  if (path === '') throw new Error(`collector.address is set but collector.${what} (a PEM file) is not`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read collector.${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function loadRuleSet(config: AgentConfig, deps: AgentDeps): { ruleset: RuleSet; warnings: number } {
  const minPriority = parsePriority(config.min_priority);
  const result = loadRules(deps.readRules(config.rules), {
    registry: createFieldRegistry(),
    ruleMatching: config.rule_matching === 'all' ? 'all' : 'first',
    ...(minPriority !== undefined ? { minPriority } : {}),
  });
  if (result.ruleset === undefined) throw new RulesLoadError(result.diagnostics);
  return {
    ruleset: result.ruleset,
    warnings: result.diagnostics.filter((d) => d.severity === 'warning').length,
  };
}

/** Starts an agent with `config`. Rejects with a clear Error when it cannot start. */
export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<Agent> {
  const log = deps.logger.child({ component: 'agent', node: config.node });
  if (config.rules.length === 0)
    throw new Error('no rule files configured: give --rules FILE (or rules: in the config)');
  const first = loadRuleSet(config, deps);
  log.info('rules loaded', {
    rules: first.ruleset.enabledCount(),
    warnings: first.warnings,
    files: config.rules,
  });

  const live = config.sources.some((s) => LIVE_SOURCES.has(s.split(':')[0] ?? ''));
  const processes = new ProcessTable({
    maxEntries: config.process_table.max_entries,
    ...(live ? { procReader: createProcReader() } : {}),
  });

  let cri: CriClient | undefined;
  const criSocket =
    config.cri.socket !== '' ? config.cri.socket : KNOWN_CRI_SOCKETS.find((s) => existsSync(s));
  if (criSocket !== undefined) {
    cri = createCriClient(criSocket, { deadlineMs: config.cri.timeout });
    log.info('pod metadata from the container runtime', { socket: criSocket });
  } else {
    log.warn('no container runtime socket found: container and k8s fields will be <NA>', {
      tried: KNOWN_CRI_SOCKETS,
    });
  }
  const pods =
    cri === undefined
      ? undefined
      : createPodMetadataResolver(cri, {
          onRefreshError: (err: unknown) => log.warn('container runtime query failed', { err }),
        });
  const context = createAgentContext({ processes, ...(pods !== undefined ? { pods } : {}) });

  const spool = openSpool({
    path: spoolPath(config),
    maxAlerts: config.spool.max_alerts,
    maxBytes: config.spool.max_bytes,
  });
  const outputs: QueuedAlertOutput[] = config.outputs
    .filter((o) => o !== 'none')
    .map((o) =>
      createAlertOutput(
        o,
        {},
        {
          onWarning: (w) =>
            log.warn(w.message, { output: w.output, dropped: w.dropped, failed: w.failed, err: w.err }),
        },
      ),
    );

  let baseline: BaselineEngine | undefined;
  if (config.baseline.enabled) {
    const b = config.baseline;
    baseline = new BaselineEngine({
      node: config.node,
      context,
      logger: deps.logger.child({ component: 'baseline', node: config.node }),
      learningPeriodMs: b.learning_period,
      gracePeriodMs: b.grace_period,
      threshold: b.threshold,
      maxAlertsPerMinute: b.max_alerts_per_minute,
      maxProfiles: b.max_profiles,
      profileHost: b.profile_host,
      sequences: b.sequences,
      store: openBaselineStore({ path: baselineDbPath(config), maxRows: b.max_profiles * 4 }),
      // On a live node an executable's modification time tells drift too (a replay cannot ask).
      ...(live
        ? {
            executableMtimeMs: (pid: number, path: string) => {
              try {
                return statSync(`/proc/${pid}/root${path}`).mtimeMs;
              } catch {
                return undefined;
              }
            },
          }
        : {}),
    });
  }

  const counters = createAgentCounters();
  const pipeline = new Pipeline({
    node: config.node,
    hostname: config.node,
    ruleset: first.ruleset,
    processes,
    context,
    spool,
    outputs,
    counters,
    logger: deps.logger.child({ component: 'pipeline', node: config.node }),
    ...(pods !== undefined ? { pods } : {}),
    ...(baseline !== undefined ? { baseline } : {}),
  });

  const rulesState = {
    loaded: first.ruleset.enabledCount(),
    lastReloadOk: true,
    reloads: 0,
    reloadFailures: 0,
  };
  const reloadRules = (reason: string): boolean => {
    rulesState.reloads++;
    try {
      const next = loadRuleSet(config, deps);
      pipeline.setRuleset(next.ruleset);
      rulesState.loaded = next.ruleset.enabledCount();
      rulesState.lastReloadOk = true;
      log.info('rules reloaded', { reason, rules: next.ruleset.enabledCount(), warnings: next.warnings });
      return true;
    } catch (err) {
      rulesState.reloadFailures++;
      rulesState.lastReloadOk = false;
      const diagnostics =
        err instanceof RulesLoadError ? err.diagnostics.filter((d) => d.severity === 'error') : [];
      log.error('rules reload failed; keeping the last good ruleset', {
        reason,
        err,
        errors: diagnostics.slice(0, 20).map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`),
      });
      return false;
    }
  };

  const sources: EventSource[] = [];
  const procfsOptions = { intervalMs: config.source_options.procfs_interval };
  for (const spec of config.sources) {
    const name = spec.split(':')[0];
    const options =
      name === 'procfs'
        ? procfsOptions
        : name === 'ebpf'
          ? // The sensor attaches only what the rules need (process life cycle is always traced).
            { eventTypes: first.ruleset.eventTypes() }
          : { follow: config.source_options.follow };
    sources.push(createSourceFromFlag(spec, options));
  }

  const metrics = createAgentMetrics(counters, {
    processTableSize: () => processes.stats().size,
    spool: () => spool.stats(),
    sourceLag: () => sources.map((s) => [s.name, s.stats().lagSeconds] as const),
    sourceLost: () =>
      sources.flatMap((s) =>
        Object.entries(s.stats().lostByType ?? {}).map(([type, n]) => [s.name, type, n] as const),
      ),
    rules: () => rulesState,
    outputs: () => outputs.map((o) => ({ name: o.name, ...o.stats() })),
  });
  if (baseline !== undefined) {
    const engine = baseline;
    registerBaselineMetrics(metrics.registry, () => engine.stats());
  }

  let enforcement: Enforcement | undefined;
  let noEnforcement = 'enforcement is disabled on this agent (enforce.enabled: false)';
  if (config.enforce.enabled && cri === undefined) {
    noEnforcement = 'this agent has no container runtime socket to find pods with';
  } else if (config.enforce.enabled && cri !== undefined) {
    try {
      enforcement = await startEnforcement({
        cri,
        dbPath: quarantineDbPath(config),
        logger: deps.logger.child({ node: config.node }),
        registry: metrics.registry,
        nft: config.enforce.nft,
        nsenter: config.enforce.nsenter,
        conntrack: config.enforce.conntrack,
        timeoutMs: config.enforce.timeout,
        reconcileIntervalMs: config.enforce.reconcile_interval,
      });
    } catch (err) {
      noEnforcement = `enforcement could not start: ${(err as Error).message}`;
      log.error('enforcement could not start; quarantine commands will fail', { err });
    }
  }

  let shipper: Shipper | undefined;
  if (config.collector.address !== '') {
    const tls = {
      ca: readTlsFile('ca', config.collector.ca),
      cert: readTlsFile('cert', config.collector.cert),
      key: readTlsFile('key', config.collector.key),
    };
    shipper = startShipper({
      target: config.collector.address,
      tls,
      node: config.node,
      spool,
      hostFacts: await collectHostFacts(config.sources.join(', ')),
      agentVersion: deps.version,
      logger: deps.logger.child({ component: 'shipper', node: config.node }),
      registry: metrics.registry,
      eventsTotal: () => pipeline.stats().events,
      capabilities: [...(enforcement?.capabilities ?? []), ...(baseline !== undefined ? ['baselines'] : [])],
      ...(enforcement !== undefined ? { quarantineReport: enforcement.report } : {}),
      ...(baseline !== undefined ? { baselines: baseline } : {}),
      onCommand:
        enforcement?.handler.handle ??
        ((command) => Promise.resolve({ commandId: command.id, outcome: 'failed', detail: noEnforcement })),
      ...(config.collector.server_name !== '' ? { serverName: config.collector.server_name } : {}),
    });
    const ship = shipper;
    pipeline.onSpooled(() => ship.notify());
    log.info('shipping alerts to the collector', { collector: config.collector.address });
  } else {
    log.info('no collector configured: alerts stay in the spool and the local outputs');
  }

  let started = false;
  let server: Server | undefined;
  let httpAddress: { host: string; port: number } | undefined;
  const watchers: FSWatcher[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const w of watchers) w.close();
      await Promise.allSettled(sources.map((s) => s.stop()));
      pipeline.settle();
      await shipper?.close();
      baseline?.close();
      enforcement?.close();
      await Promise.allSettled(outputs.map((o) => o.close()));
      spool.close();
      metrics.close();
      cri?.close();
      if (server !== undefined) await new Promise<void>((r) => server?.close(() => r()));
      log.info('agent stopped', { ...pipeline.stats() });
    })();
    return stopping;
  };

  try {
    if (config.http.listen !== '' && config.http.listen !== 'none') {
      server = await startHttpEndpoint(config.http.listen, metrics.registry, {
        notReady: () => (started ? undefined : 'sources are starting'),
      });
      const addr = server.address();
      if (addr !== null && typeof addr === 'object') httpAddress = { host: addr.address, port: addr.port };
    }
    for (let i = 0; i < sources.length; i++) {
      let source = sources[i] as EventSource;
      try {
        await source.start(pipeline.sinkFor(source.name));
      } catch (err) {
        if (source.name !== 'ebpf') throw err;
        // Never silently: say exactly why the live sensor cannot run, then watch /proc instead.
        log.warn('the eBPF sensor cannot run; falling back to the procfs source', { err });
        await source.stop();
        source = createSourceFromFlag('procfs:', procfsOptions);
        sources[i] = source;
        await source.start(pipeline.sinkFor(source.name));
      }
      log.info('source started', { source: source.name, fidelity: source.fidelity });
    }
    started = true;
  } catch (err) {
    await stop();
    throw err;
  }

  // In the background: sources run meanwhile, and commands wait their turn behind it.
  enforcement?.reapply().then(
    (summary) => log.info('remembered quarantines checked', { ...summary }),
    (err: unknown) => log.error('re-applying quarantines failed', { err }),
  );

  if (deps.watchRules !== false) {
    // Watch each file's directory: editors replace files by rename, which a file watch misses.
    let timer: NodeJS.Timeout | undefined;
    const dirs = new Set(config.rules.map((p) => dirname(p)));
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => {
          clearTimeout(timer);
          timer = setTimeout(() => reloadRules('rule file changed'), 200);
          timer.unref();
        });
        w.unref();
        watchers.push(w);
      } catch (err) {
        log.warn('cannot watch rule files; reload with SIGHUP', { dir, err });
      }
    }
  }

  return {
    pipeline,
    spool,
    metrics,
    baseline,
    enforcement,
    httpAddress,
    reloadRules,
    async sourcesDone() {
      await Promise.all(sources.map((s) => s.done()));
      pipeline.settle();
    },
    stop,
  };
}

/** Reads rule files and directories from disk (directories: their *.yaml files in name order). */
export function readRuleFilesFromDisk(
  read: (path: string) => { name: string; text: string }[],
): RuleFileReader {
  return (paths) => paths.flatMap((p) => read(p));
}

/** Reads one file as a rule source. */
export function readRuleFile(path: string): { name: string; text: string } {
  return { name: path, text: readFileSync(path, 'utf8') };
}
