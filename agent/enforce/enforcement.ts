/**
 * The agent's enforcement, assembled: what this node can do (the capabilities told to the
 * collector in the Hello), the command handler, the re-apply of remembered quarantines at
 * start, and the report of the quarantines held (also in the Hello, see quarantine-report.ts).
 *
 * @example
 * const enforcement = await startEnforcement({ cri, dbPath, logger, registry });
 * startShipper({ ..., onCommand: enforcement.handler.handle, capabilities: enforcement.capabilities,
 *   quarantineReport: enforcement.report });
 * void enforcement.reapply();
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import type { QuarantineReport } from '../../proto/link-messages.js';
import type { CriClient } from '../state/cri/cri-client.js';
import { createEnforceMetrics } from './enforce-metrics.js';
import { createEnforcers } from './enforcer-registry.js';
import { createPodLocator } from './pod-locator.js';
import {
  createQuarantineHandler,
  type QuarantineHandler,
  type ReapplySummary,
} from './quarantine-handler.js';
import { quarantineReport } from './quarantine-report.js';
import { openQuarantineStore } from './quarantine-store.js';

/** Options of {@link startEnforcement}. */
export interface EnforcementOptions {
  readonly cri: CriClient;
  /** The SQLite file of active quarantines. */
  readonly dbPath: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Program paths (defaults: found on PATH) and the deadline of one run. */
  readonly nft?: string;
  readonly nsenter?: string;
  readonly conntrack?: string;
  readonly timeoutMs?: number;
  /** How often to check that active quarantines are still in place (default 30 s; 0: never). */
  readonly reconcileIntervalMs?: number;
}

/** Running enforcement. */
export interface Enforcement {
  /** The names of the enforcers that work on this node (`nftables`, `cgroup-freeze`). */
  readonly capabilities: readonly string[];
  readonly handler: QuarantineHandler;
  /**
   * Re-applies remembered quarantines, then starts the periodic check; runs once, later calls
   * return the same promise.
   */
  reapply(): Promise<ReapplySummary>;
  /** The quarantines held now, for the Hello of a new stream to the collector (a plain function). */
  readonly report: () => QuarantineReport;
  close(): void;
}

/** Probes the node, opens the store and builds the handler. Rejects when the store cannot open. */
export async function startEnforcement(options: EnforcementOptions): Promise<Enforcement> {
  const log = options.logger.child({ component: 'enforce' });
  const settings = {
    ...(options.nft !== undefined ? { nft: options.nft } : {}),
    ...(options.nsenter !== undefined ? { nsenter: options.nsenter } : {}),
    ...(options.conntrack !== undefined ? { conntrack: options.conntrack } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  const enforcers = createEnforcers(settings);
  const capabilities: string[] = [];
  for (const e of enforcers) {
    const problem = await e.unavailableReason();
    if (problem === undefined) capabilities.push(e.name);
    else log.warn(`enforcer ${e.name} is not available on this node`, { err: problem, what: e.description });
  }

  const store = openQuarantineStore(options.dbPath);
  const metrics = createEnforceMetrics(options.registry, () => store.count());
  const handler = createQuarantineHandler({
    locator: createPodLocator(options.cri),
    enforcers,
    store,
    logger: options.logger,
    metrics,
    ...(options.nsenter !== undefined ? { nsenter: options.nsenter } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  log.info('enforcement ready', { capabilities, remembered: store.count() });
  let closed = false;
  let reapplied: Promise<ReapplySummary> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const interval = options.reconcileIntervalMs ?? 30_000;
  const reconcile = (): void => {
    if (closed) return;
    handler.reapplyAll('reconcile').then(
      () => undefined,
      (err: unknown) => log.warn('periodic quarantine check failed', { err }),
    );
  };
  return {
    capabilities,
    handler,
    reapply: () =>
      (reapplied ??= handler.reapplyAll('start').finally(() => {
        if (interval > 0 && !closed) {
          timer = setInterval(reconcile, interval);
          timer.unref();
        }
      })),
    report: () => quarantineReport(store),
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      store.close();
    },
  };
}
