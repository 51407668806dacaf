/**
 * One agent's `AgentLink.Connect` stream on the collector.
 *
 * 1. The client certificate names the node (`node-identity.ts`); without one the stream ends
 *    UNAUTHENTICATED.
 * 2. The first message must be a Hello, within `helloTimeoutMs`, from the node the certificate
 *    names (else PERMISSION_DENIED) and in this collector's protocol version. The collector
 *    answers with a Welcome carrying its limits, and records the agent as connected.
 * 3. Each AlertBatch is stored with `insertAlerts` (idempotent by id, durable when it returns);
 *    only then is the Ack sent, and then the newly stored alerts are passed on. When the store
 *    fails, no Ack goes out and the stream ends UNAVAILABLE: the agent keeps the alerts in its
 *    spool and sends them again after reconnecting.
 * 4. Heartbeats update the agent's record; command results go to the command router.
 *
 * The `connected` event carries the quarantines the agent's Hello says it holds, for the
 * quarantine service to reconcile (collector/response/quarantine-service.ts).
 *
 * Everything here runs synchronously on each message (the store is synchronous), so messages of
 * one stream are handled strictly in order.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Alert } from '../../core/alert.js';
import type { Logger } from '../../core/log.js';
import {
  LINK_PROTOCOL_VERSION,
  type BaselineDelta,
  type BaselineUpdate,
  type CollectorMessage,
  type Command,
  type CommandResult,
  type Heartbeat,
  type Hello,
  type QuarantineReport,
  type ReceivedAgentMessage,
  type ReceivedAlertBatch,
  type Welcome,
} from '../../proto/link-messages.js';
import { nodeIdentityOfCertificate } from '../certs/node-identity.js';
import type { AgentRecord, CollectorStore } from '../store/store.js';
import type { IngestMetrics, RefusalReason } from './ingest-metrics.js';

/** The stream type of `Connect` on the server. */
export type ConnectStream = ServerDuplexStream<ReceivedAgentMessage, CollectorMessage>;

/**
 * Something that happened to an agent: for the console's live view, and for the services that
 * act when an agent connects. `quarantines` is what the agent's Hello reported holding (absent:
 * not reported).
 */
export type AgentEvent =
  | { readonly type: 'connected'; readonly agent: AgentRecord; readonly quarantines?: QuarantineReport }
  | { readonly type: 'heartbeat'; readonly agent: AgentRecord }
  | { readonly type: 'disconnected'; readonly agent: AgentRecord; readonly reason: string };

/** What a session needs from the server around it. */
export interface SessionHost {
  readonly store: CollectorStore;
  readonly logger: Logger;
  readonly metrics: IngestMetrics;
  readonly welcome: Welcome;
  readonly helloTimeoutMs: number;
  now(): number;
  /** Makes `session` the node's stream (ending an older one); false when no room is left. */
  register(session: AgentSession): boolean;
  /** The session ended; forgets it and returns true if it was still the node's stream. */
  unregister(session: AgentSession): boolean;
  /** The last record of `node`, if the collector has seen it. */
  knownAgent(node: string): AgentRecord | undefined;
  saveAgent(record: AgentRecord): void;
  alertsStored(alerts: readonly Alert[], node: string): void;
  agentEvent(event: AgentEvent): void;
  commandResult(node: string, result: CommandResult): void;
  baselineDelta(node: string, delta: BaselineDelta): void;
}

type State = 'awaiting-hello' | 'active' | 'ended';

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One agent's stream, from certificate check to disconnect. */
export class AgentSession {
  private state: State = 'awaiting-hello';
  private certNode: string | undefined;
  private hello: Hello | undefined;
  private record: AgentRecord | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private nodeRewriteWarned = false;
  private readonly log: Logger;

  constructor(
    private readonly call: ConnectStream,
    private readonly host: SessionHost,
  ) {
    this.log = host.logger.child({ peer: call.getPeer() });
  }

  /** The node this stream speaks for, once its Hello was accepted (also after it ended). */
  get node(): string | undefined {
    return this.hello?.node;
  }

  /** Starts handling the stream. */
  start(): void {
    const raw = this.call.getAuthContext().sslPeerCertificate?.raw;
    // grpc-js offers no certificate when the TLS layer did not verify one; with client
    // certificates required that cannot happen, but the check must not depend on it.
    if (raw === undefined) {
      this.refuse(GrpcStatus.UNAUTHENTICATED, 'no-certificate', 'a verified client certificate is required');
      return;
    }
    const identity = nodeIdentityOfCertificate(raw);
    if (!identity.ok) {
      this.refuse(GrpcStatus.UNAUTHENTICATED, 'no-certificate', identity.reason);
      return;
    }
    this.certNode = identity.node;
    this.helloTimer = setTimeout(() => {
      this.refuse(
        GrpcStatus.DEADLINE_EXCEEDED,
        'no-hello',
        `no Hello within ${this.host.helloTimeoutMs} ms of opening the stream`,
      );
    }, this.host.helloTimeoutMs);
    this.helloTimer.unref();

    this.call.on('data', (message: ReceivedAgentMessage) => {
      try {
        this.onMessage(message);
      } catch (err) {
        // A bug must cost this stream, not the collector (a throw here would be uncaught).
        this.log.error('handling an agent message failed', { node: this.hello?.node, err });
        this.refuse(GrpcStatus.INTERNAL, undefined, 'the collector failed to handle a message');
      }
    });
    // The agent half-closed: it is shutting down. Close our side too (status OK).
    this.call.on('end', () => {
      if (this.state !== 'ended') this.call.end();
      this.finish('the agent closed the stream');
    });
    this.call.on('cancelled', () => this.finish('the stream was cancelled (agent gone or connection lost)'));
    this.call.on('error', (err: unknown) => this.finish(`stream error: ${errText(err)}`));
    this.call.on('close', () => this.finish('the stream closed'));
  }

  /** Sends a command to the agent; false when the stream cannot take it. */
  sendCommand(command: Command): boolean {
    if (this.state !== 'active') return false;
    return this.write({ type: 'command', command });
  }

  /** Sends a workload's merged profile to the agent; false when the stream cannot take it. */
  sendBaseline(update: BaselineUpdate): boolean {
    if (this.state !== 'active') return false;
    return this.write({ type: 'baseline', baseline: update });
  }

  /** Ends the stream with `code` (a newer stream replaced it, or the server is closing). */
  terminate(code: GrpcStatus, reason: RefusalReason | undefined, details: string): void {
    this.refuse(code, reason, details);
  }

  private onMessage(message: ReceivedAgentMessage): void {
    if (this.state === 'ended') return;
    if (this.state === 'awaiting-hello' && message.type !== 'hello') {
      this.refuse(
        GrpcStatus.FAILED_PRECONDITION,
        'no-hello',
        `the first message must be a Hello, not ${message.type}`,
      );
      return;
    }
    switch (message.type) {
      case 'hello':
        if (this.state === 'active') {
          this.refuse(GrpcStatus.FAILED_PRECONDITION, 'invalid-message', 'a second Hello on the same stream');
          return;
        }
        this.onHello(message.hello);
        return;
      case 'alerts':
        this.onBatch(message.batch);
        return;
      case 'heartbeat':
        this.onHeartbeat(message.heartbeat);
        return;
      case 'command-result':
        this.host.commandResult(this.hello?.node ?? '', message.result);
        return;
      case 'baseline-delta':
        this.host.baselineDelta(this.hello?.node ?? '', message.delta);
        return;
      case 'unreadable':
        this.refuse(GrpcStatus.INVALID_ARGUMENT, 'invalid-message', `unreadable message: ${message.reason}`);
        return;
      case 'unknown':
        this.log.debug('message with an unknown payload ignored (a newer agent?)');
        return;
    }
  }

  private onHello(hello: Hello): void {
    if (hello.protocolVersion !== LINK_PROTOCOL_VERSION) {
      this.refuse(
        GrpcStatus.FAILED_PRECONDITION,
        'protocol',
        `the agent speaks link protocol ${hello.protocolVersion}; this collector speaks ${LINK_PROTOCOL_VERSION}`,
      );
      return;
    }
    if (hello.node !== this.certNode) {
      this.refuse(
        GrpcStatus.PERMISSION_DENIED,
        'node-mismatch',
        `Hello claims node ${JSON.stringify(hello.node)} but the client certificate is for node ` +
          JSON.stringify(this.certNode),
      );
      return;
    }
    clearTimeout(this.helloTimer);
    this.hello = hello;
    this.state = 'active';
    if (!this.host.register(this)) {
      this.refuse(
        GrpcStatus.RESOURCE_EXHAUSTED,
        'too-many-agents',
        'the collector serves its maximum number of agents',
      );
      return;
    }
    const now = this.host.now();
    const known = this.host.knownAgent(hello.node);
    this.record = {
      node: hello.node,
      version: hello.agentVersion,
      host: hello.host,
      capabilities: hello.capabilities,
      connected: true,
      firstSeenMs: known?.firstSeenMs ?? now,
      lastSeenMs: now,
      spoolDepth: known?.spoolDepth ?? 0,
      spoolDropped: known?.spoolDropped ?? 0,
    };
    this.saveRecord();
    this.write({ type: 'welcome', welcome: this.host.welcome });
    this.log.info('agent connected', { node: hello.node, version: hello.agentVersion });
    this.host.agentEvent({
      type: 'connected',
      agent: this.record,
      ...(hello.quarantines !== undefined && { quarantines: hello.quarantines }),
    });
  }

  private onBatch(batch: ReceivedAlertBatch): void {
    const node = this.hello?.node ?? '';
    const m = this.host.metrics;
    const total = batch.alerts.length + batch.rejected.length;
    if (total > this.host.welcome.maxBatchAlerts) {
      this.refuse(
        GrpcStatus.RESOURCE_EXHAUSTED,
        'oversized-batch',
        `a batch of ${total} alerts; the limit is ${this.host.welcome.maxBatchAlerts}`,
      );
      return;
    }
    // The certificate proved which node sent the batch: that is the node the alerts concern.
    const alerts = batch.alerts.map((a) => (a.node === node ? a : this.rewriteNode(a, node)));

    // Which alerts are new matters for what is passed on. Without the agent's `resent` hint a
    // batch is new; with it, ask the store first (it is authoritative for what it holds).
    let had: Set<string> | undefined;
    let stored: number;
    let duplicates: number;
    const started = process.hrtime.bigint();
    try {
      if (batch.resent) {
        had = new Set(alerts.filter((a) => this.host.store.getAlert(a.id) !== undefined).map((a) => a.id));
      }
      ({ stored, duplicates } = this.host.store.insertAlerts(alerts, this.host.now()));
    } catch (err) {
      this.log.error('storing alerts failed; the agent will resend them', { node, err });
      this.refuse(GrpcStatus.UNAVAILABLE, 'store-failed', 'the collector cannot store alerts right now');
      return;
    } finally {
      m.storeSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }

    this.write({
      type: 'ack',
      ack: { batchId: batch.batchId, stored, duplicates, rejected: batch.rejected },
    });

    const counts = new Map<string, number>();
    for (const a of alerts) {
      const key = `${a.priority}\u0000${a.kind}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [priority = '', kind = ''] = key.split('\u0000');
      m.alertsReceived.inc({ node, priority, kind }, n);
    }
    if (duplicates > 0) m.duplicates.inc(duplicates);
    if (batch.rejected.length > 0) {
      m.rejected.inc(batch.rejected.length);
      const first = batch.rejected[0];
      this.log.warn('alerts rejected', {
        node,
        count: batch.rejected.length,
        alert: first?.alertId,
        reason: first?.reason,
      });
    }

    let fresh: readonly Alert[];
    if (had !== undefined) {
      fresh = alerts.filter((a) => !had.has(a.id));
    } else {
      if (duplicates > 0 && stored > 0) {
        // Some were known, and the agent did not say the batch was resent: which ones cannot be
        // told now. Passing all on may repeat a notification; dropping any could lose one.
        this.log.warn('batch not marked resent held duplicates; passing on all of it', { node, duplicates });
      }
      fresh = stored === 0 ? [] : alerts;
    }
    if (fresh.length > 0) this.host.alertsStored(fresh, node);
  }

  private rewriteNode(alert: Alert, node: string): Alert {
    if (!this.nodeRewriteWarned) {
      this.nodeRewriteWarned = true;
      this.log.warn(
        'alerts name another node than the agent’s certificate; recording them under the certificate’s node',
        {
          node,
          claimed: alert.node,
        },
      );
    }
    return { ...alert, node };
  }

  private onHeartbeat(heartbeat: Heartbeat): void {
    if (this.record === undefined) return;
    this.record = {
      ...this.record,
      lastSeenMs: this.host.now(),
      spoolDepth: heartbeat.spoolDepth,
      spoolDropped: heartbeat.spoolDropped,
    };
    this.saveRecord();
    this.host.agentEvent({ type: 'heartbeat', agent: this.record });
  }

  private saveRecord(): void {
    if (this.record === undefined) return;
    try {
      this.host.saveAgent(this.record);
    } catch (err) {
      // The agent list is for display; a failure to update it must not cut the alert stream.
      this.log.error('recording the agent failed', { node: this.record.node, err });
    }
  }

  private write(message: CollectorMessage): boolean {
    try {
      this.call.write(message);
      return true;
    } catch (err) {
      this.finish(`write failed: ${errText(err)}`);
      return false;
    }
  }

  /** Ends the stream with an error status, counting the reason. */
  private refuse(code: GrpcStatus, reason: RefusalReason | undefined, details: string): void {
    if (this.state === 'ended') return;
    if (reason !== undefined) this.host.metrics.refusals.inc({ reason });
    const level = reason === 'replaced' || reason === undefined ? 'info' : 'warn';
    this.log[level]('agent stream ended by the collector', {
      node: this.hello?.node ?? this.certNode,
      code: GrpcStatus[code],
      reason: details,
    });
    this.finish(details);
    // The stream reports this as the call's status: `emit('error')` ends it with that code.
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
  }

  /** Idempotent: the stream is over, for whatever reason. */
  private finish(reason: string): void {
    if (this.state === 'ended') return;
    const wasActive = this.state === 'active';
    this.state = 'ended';
    clearTimeout(this.helloTimer);
    if (!wasActive || this.record === undefined) return;
    // A newer stream of the same node replaced this one: the agent is still connected.
    if (!this.host.unregister(this)) return;
    this.record = { ...this.record, connected: false, lastSeenMs: this.host.now() };
    this.saveRecord();
    this.log.info('agent disconnected', { node: this.record.node, reason });
    this.host.agentEvent({ type: 'disconnected', agent: this.record, reason });
  }
}
