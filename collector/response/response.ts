/**
 * The collector's response, assembled: the audit log and quarantine records in the collector's
 * database, the Kubernetes layer (when configured), the quarantine service on the agent link,
 * the response policies fed with newly stored alerts, the HTTP routes and the metrics.
 *
 *   alerts (newly stored) ─► policies ─┐
 *   POST /api/v1/quarantines ──────────┴─► quarantine service ─┬─► Kubernetes: label + NetworkPolicy
 *                                                              ├─► agent command: nftables cut in the pod's netns
 *                                                              └─► audit log (hash chain)
 */
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import type { Route } from '../api/router.js';
import type { CollectorDatabase } from '../store/database.js';
import type { CollectorStore } from '../store/store.js';
import { openAuditLog, type AuditLog } from './audit-log.js';
import { createKubeClient, createKubeQuarantineLayer, type KubeConnection } from './kube/index.js';
import { createPolicyEngine, type PolicyEngine } from './policy-engine.js';
import {
  createQuarantineService,
  type KubeLayer,
  type NodeLink,
  type QuarantineService,
} from './quarantine-service.js';
import { openQuarantineStore } from './quarantine-store.js';
import type { KubernetesSettings, ResponseConfig } from './response-config.js';
import { createResponseMetrics } from './response-metrics.js';
import { responseRoutes } from './response-routes.js';

/** What {@link startResponse} needs. */
export interface ResponseOptions {
  readonly config: ResponseConfig;
  readonly database: CollectorDatabase;
  /** The alert store (alerts a quarantine names are looked up there). */
  readonly alerts: Pick<CollectorStore, 'getAlert'>;
  /** The agent link (the ingest server). */
  readonly link: NodeLink;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** How long an agent may take to answer a command. */
  readonly commandTimeoutMs: number;
  /** How often unanswered commands to connected agents are sent again (default 30 s). */
  readonly retryIntervalMs?: number;
  /** A Kubernetes layer to use instead of the one `config.kubernetes` describes (tests). */
  readonly kube?: KubeLayer;
}

/** The running response. */
export interface Response {
  readonly service: QuarantineService;
  readonly audit: AuditLog;
  readonly policies: PolicyEngine;
  /** The HTTP routes to mount on the API. */
  readonly routes: readonly Route[];
  /** Newly stored alerts, for the policies. Returns at once; never throws. */
  onAlertsStored(alerts: readonly Alert[]): void;
  /** Waits for quarantines in flight. */
  close(): Promise<void>;
}

function readSetting(what: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`response.kubernetes.${what}: cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The Kubernetes connection the settings describe; undefined when off. */
export function kubeConnectionOf(settings: KubernetesSettings): KubeConnection | undefined {
  switch (settings.mode) {
    case 'off':
      return undefined;
    case 'in-cluster':
      return { mode: 'in-cluster' };
    case 'kubeconfig': {
      const path =
        settings.kubeconfig !== ''
          ? settings.kubeconfig
          : (process.env['KUBECONFIG']?.split(':')[0] ?? `${process.env['HOME'] ?? ''}/.kube/config`);
      return { mode: 'kubeconfig', path, ...(settings.context !== '' && { context: settings.context }) };
    }
    case 'url':
      return {
        mode: 'url',
        server: settings.server,
        ...(settings.tokenFile !== '' && { token: readSetting('token_file', settings.tokenFile).trim() }),
        ...(settings.caFile !== '' && { caPem: readSetting('ca_file', settings.caFile) }),
      };
  }
}

/**
 * Starts the response: migrates its tables, builds the Kubernetes layer, listens for agents
 * connecting (to resend what waits for them). Throws with a clear message when the Kubernetes
 * connection cannot be set up.
 */
export function startResponse(options: ResponseOptions): Response {
  const { config, database, registry, logger, now } = options;
  const audit = openAuditLog({ database, now });
  const quarantines = openQuarantineStore(database);
  const metrics = createResponseMetrics(registry, () => quarantines.countByState());
  let kube = options.kube;
  let kubeClient: ReturnType<typeof createKubeClient> | undefined;
  if (kube === undefined) {
    const conn = kubeConnectionOf(config.kubernetes);
    if (conn !== undefined) {
      kubeClient = createKubeClient(conn);
      kube = createKubeQuarantineLayer(kubeClient);
    }
  }
  const service = createQuarantineService({
    quarantines,
    audit,
    alerts: options.alerts,
    link: options.link,
    ...(kube !== undefined && { kube }),
    neverNamespaces: config.neverNamespaces,
    commandTimeoutMs: options.commandTimeoutMs,
    ...(options.retryIntervalMs !== undefined && { retryIntervalMs: options.retryIntervalMs }),
    metrics,
    logger,
    now,
  });
  const policies = createPolicyEngine({ policies: config.policies, service, audit, metrics, logger, now });
  logger.child({ component: 'response' }).info('response ready', {
    kubernetes: config.kubernetes.mode,
    policies: config.policies.map((p) => `${p.name}${p.dryRun ? ' (dry run)' : ''}`),
    neverNamespaces: config.neverNamespaces,
  });
  return {
    service,
    audit,
    policies,
    routes: responseRoutes({ service, audit }),
    onAlertsStored: (alerts) => policies.onAlerts(alerts),
    async close() {
      await policies.idle();
      await service.close();
      // Its keep-alive sockets (the layer's own client; one passed in is the caller's to close).
      kubeClient?.close();
    },
  };
}
