/**
 * The collector's gRPC ingest server: agents dial it and hold one `AgentLink.Connect` stream
 * each, over mutual TLS (client certificates required and verified against the CA).
 *
 * Bounded everywhere: messages (`grpc.max_receive_message_length`, refused with
 * RESOURCE_EXHAUSTED before they are decoded), alerts per batch, connected agents, streams per
 * connection, and commands awaiting answers. Keepalive pings find agents whose connection died
 * without a goodbye; the collector then records them as disconnected.
 *
 * See `agent-session.ts` for what happens on each stream.
 */
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import { agentLinkService } from '../../proto/agent-link-service.js';
import type {
  BaselineDelta,
  BaselineUpdate,
  Command,
  CommandResult,
  Welcome,
} from '../../proto/link-messages.js';
import type { AgentRecord, CollectorStore } from '../store/store.js';
import { AgentSession, type AgentEvent, type ConnectStream, type SessionHost } from './agent-session.js';
import { CommandRouter } from './command-router.js';
import { createIngestMetrics } from './ingest-metrics.js';

/** Limits and timings of the ingest server; every one has a default. */
export interface IngestLimits {
  /** Largest message accepted (and sent), in bytes. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Most alerts in one batch. Default 1000. */
  readonly maxBatchAlerts?: number;
  /** How often agents send heartbeats. Default 10 s. */
  readonly heartbeatIntervalMs?: number;
  /** How long a new stream may take to send its Hello. Default 10 s. */
  readonly helloTimeoutMs?: number;
  /** Most agents connected at once. Default 10,000. */
  readonly maxAgents?: number;
  /** Most commands awaiting answers. Default 1000. */
  readonly maxPendingCommands?: number;
  /** Default deadline of {@link IngestServer.sendCommand}. Default 30 s. */
  readonly commandTimeoutMs?: number;
  /** Interval of the server's keepalive pings. Default 30 s. */
  readonly keepaliveTimeMs?: number;
  /** How long a ping may go unanswered before the connection is dropped. Default 10 s. */
  readonly keepaliveTimeoutMs?: number;
}

/** The defaults of {@link IngestLimits}. */
export const DEFAULT_INGEST_LIMITS: Required<IngestLimits> = Object.freeze({
  maxMessageBytes: 4 * 1024 * 1024,
  maxBatchAlerts: 1000,
  heartbeatIntervalMs: 10_000,
  helloTimeoutMs: 10_000,
  maxAgents: 10_000,
  maxPendingCommands: 1000,
  commandTimeoutMs: 30_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
});

/** PEM material: the CA that signs agent certificates, and the collector's certificate and key. */
export interface IngestTls {
  readonly ca: Buffer | string;
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
}

/** Options of {@link startIngestServer}. */
export interface IngestServerOptions {
  /** `host:port` to listen on (`0.0.0.0:7443`, `[::]:7443`; port 0 picks a free one). */
  readonly listen: string;
  readonly tls: IngestTls;
  readonly store: CollectorStore;
  /**
   * Alerts the store did not have before, after they were stored and acknowledged: for outputs
   * and the live feed. Must not throw (a throw is logged and ignored) and should not block.
   */
  onAlertsStored(alerts: readonly Alert[], node: string): void;
  /** Agents connecting, sending heartbeats and disconnecting (more listeners: {@link IngestServer.onAgentEvent}). */
  onAgentEvent?(event: AgentEvent): void;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly limits?: IngestLimits;
  /** Reported to agents in the Welcome. */
  readonly collectorVersion?: string;
  /** The clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

/** A running ingest server. */
export interface IngestServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  /**
   * Sends `command` to `node`'s agent and resolves with its result. Rejects with a
   * `CommandDeliveryError` when no answer can come (not connected, disconnected, timeout, busy).
   *
   * @example await ingest.sendCommand('node-1', { id: 'q-42', action: { type: 'release', ... } })
   */
  sendCommand(
    node: string,
    command: Command,
    options?: { readonly timeoutMs?: number },
  ): Promise<CommandResult>;
  /** Nodes with a connected agent. */
  connectedNodes(): string[];
  /**
   * Adds a listener for agents connecting, sending heartbeats and disconnecting. Listeners must
   * not throw (a throw is logged and ignored) and should not block.
   */
  onAgentEvent(listener: (event: AgentEvent) => void): void;
  /**
   * Sets the handler of the agents' baseline deltas (one handler; a later call replaces it).
   * Without one, deltas are logged at debug level and dropped.
   */
  onBaselineDelta(handler: (node: string, delta: BaselineDelta) => void): void;
  /** Sends a merged profile to `node`'s agent; false when it is not connected or its stream is full. */
  sendBaseline(node: string, update: BaselineUpdate): boolean;
  /**
   * Ends every stream (UNAVAILABLE: agents reconnect later), fails waiting commands, and stops
   * the server, forcing it after `graceMs` (default 5 s). Idempotent.
   */
  close(options?: { readonly graceMs?: number }): Promise<void>;
}

function positive(value: number, key: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`ingest limits: ${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function resolveLimits(limits: IngestLimits | undefined): Required<IngestLimits> {
  const merged = { ...DEFAULT_INGEST_LIMITS, ...limits };
  for (const [key, value] of Object.entries(merged)) positive(value, key);
  return merged;
}

/**
 * Starts the ingest server and resolves once it listens. Rejects (with the cause) when the
 * address cannot be bound or the TLS material is unusable.
 *
 * @example
 * const ingest = await startIngestServer({
 *   listen: '0.0.0.0:7443', tls: readTlsMaterial(collectorTlsPaths('/etc/vigil/pki')),
 *   store, onAlertsStored: (alerts) => outputs.publish(alerts), logger, registry,
 * });
 */
export async function startIngestServer(options: IngestServerOptions): Promise<IngestServer> {
  const limits = resolveLimits(options.limits);
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'ingest' });
  const metrics = createIngestMetrics(options.registry);
  const store = options.store;

  // Agents the store knows, for their first-seen time. A collector that stopped without a
  // goodbye left its agents marked connected; none is until it says Hello again.
  const known = new Map<string, AgentRecord>();
  for (const record of store.listAgents()) {
    const fixed = record.connected ? { ...record, connected: false } : record;
    if (record.connected) store.upsertAgent(fixed);
    known.set(record.node, fixed);
  }

  const sessions = new Map<string, AgentSession>();
  const agentListeners: ((event: AgentEvent) => void)[] = [];
  if (options.onAgentEvent !== undefined) agentListeners.push((e) => options.onAgentEvent?.(e));
  let baselineHandler: ((node: string, delta: BaselineDelta) => void) | undefined;
  const router = new CommandRouter(
    (node, command) => sessions.get(node)?.sendCommand(command) ?? false,
    limits.maxPendingCommands,
    (outcome) => metrics.commands.inc({ outcome }),
  );
  const welcome: Welcome = {
    collectorVersion: options.collectorVersion ?? '',
    maxBatchAlerts: limits.maxBatchAlerts,
    maxMessageBytes: limits.maxMessageBytes,
    heartbeatIntervalMs: limits.heartbeatIntervalMs,
  };

  const host: SessionHost = {
    store,
    logger,
    metrics,
    welcome,
    helloTimeoutMs: limits.helloTimeoutMs,
    now,
    register(session) {
      const node = session.node;
      if (node === undefined) return false;
      const previous = sessions.get(node);
      if (previous === undefined && sessions.size >= limits.maxAgents) return false;
      sessions.set(node, session);
      metrics.connectedAgents.set(sessions.size);
      // A node has one stream: a reconnecting agent's old stream may linger until keepalive
      // notices it is dead, and the new one is the one that works.
      previous?.terminate(grpc.status.ABORTED, 'replaced', 'replaced by a newer stream from the same node');
      return true;
    },
    unregister(session) {
      const node = session.node;
      if (node === undefined || sessions.get(node) !== session) return false;
      sessions.delete(node);
      metrics.connectedAgents.set(sessions.size);
      router.disconnected(node);
      return true;
    },
    knownAgent: (node) => known.get(node),
    saveAgent(record) {
      known.set(record.node, record);
      store.upsertAgent(record);
    },
    alertsStored(alerts, node) {
      try {
        options.onAlertsStored(alerts, node);
      } catch (err) {
        logger.error('onAlertsStored failed', { node, err });
      }
    },
    agentEvent(event) {
      for (const listener of agentListeners) {
        try {
          listener(event);
        } catch (err) {
          logger.error('an agent event listener failed', { node: event.agent.node, err });
        }
      }
    },
    baselineDelta(node, delta) {
      if (baselineHandler === undefined) {
        logger.debug('baseline delta dropped: no baseline handler', { node, workload: delta.workloadKey });
        return;
      }
      try {
        baselineHandler(node, delta);
      } catch (err) {
        logger.error('the baseline delta handler failed', { node, workload: delta.workloadKey, err });
      }
    },
    commandResult(node, result) {
      if (!router.resolve(node, result)) {
        logger.warn('command result nobody waits for (timed out, or unknown id)', {
          node,
          command: result.commandId,
          outcome: result.outcome,
        });
      }
    },
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_send_message_length': limits.maxMessageBytes,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    // An agent needs one stream; a few more leave room for a reconnect racing the old stream.
    'grpc.max_concurrent_streams': 4,
  });
  server.addService(agentLinkService(), {
    Connect: (call: ConnectStream) => new AgentSession(call, host).start(),
  });

  const toBuffer = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);
  let credentials: grpc.ServerCredentials;
  try {
    credentials = grpc.ServerCredentials.createSsl(
      toBuffer(options.tls.ca),
      [{ cert_chain: toBuffer(options.tls.cert), private_key: toBuffer(options.tls.key) }],
      true,
    );
  } catch (err) {
    throw new Error('ingest server: unusable TLS material', { cause: err });
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, credentials, (err, bound) => {
      if (err === null) return resolve(bound);
      server.forceShutdown();
      reject(new Error(`ingest server: cannot listen on ${options.listen}`, { cause: err }));
    });
  });
  logger.info('ingest server listening', { listen: options.listen, port });

  let closing: Promise<void> | undefined;
  return {
    port,
    sendCommand(node, command, sendOptions) {
      return router.send(node, command, sendOptions?.timeoutMs ?? limits.commandTimeoutMs);
    },
    connectedNodes: () => [...sessions.keys()],
    onAgentEvent(listener) {
      agentListeners.push(listener);
    },
    onBaselineDelta(handler) {
      baselineHandler = handler;
    },
    sendBaseline(node, update) {
      return sessions.get(node)?.sendBaseline(update) ?? false;
    },
    close(closeOptions) {
      closing ??= new Promise<void>((resolve) => {
        for (const session of [...sessions.values()]) {
          session.terminate(grpc.status.UNAVAILABLE, undefined, 'the collector is shutting down');
        }
        router.close();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, closeOptions?.graceMs ?? 5000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
