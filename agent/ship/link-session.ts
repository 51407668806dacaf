/**
 * One stream from the agent to the collector (`AgentLink.Connect`), from Hello to its end.
 *
 * Sends Hello and waits for the Welcome (at most `welcomeTimeoutMs`: a collector that accepts
 * TCP but never answers must not hold the agent forever). Then it pumps: batches from the
 * {@link ShipLedger}, within the Welcome's limits and the window of batches in flight; each Ack
 * deletes its batch from the spool and pumps again. Heartbeats go out at the interval the
 * collector asked for. Commands go to `onCommand` and their results back on the stream.
 *
 * The session does not reconnect: it resolves {@link LinkSession.run} with how the stream ended
 * and rewinds the ledger, and the shipper decides when to try again.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/log.js';
import { agentLinkService, type OutgoingAgentMessage } from '../../proto/agent-link-service.js';
import { encodeAgentMessage } from '../../proto/link-codec.js';
import type {
  Ack,
  Command,
  CommandResult,
  Hello,
  ReceivedCollectorMessage,
  ReceivedCommand,
  Welcome,
} from '../../proto/link-messages.js';
import type { Spool } from '../spool/spool.js';
import type { ShipLedger } from './ship-ledger.js';
import type { ShipMetrics } from './ship-metrics.js';

/** Runs a command on this node; the result goes back to the collector. */
export type CommandHandler = (command: Command) => Promise<CommandResult>;

/**
 * The baseline side of the link (agent/baseline): profile deltas out, merged profiles in.
 * Implemented by the baseline engine.
 */
export interface BaselineLink {
  /** Up to `max` profiles with changes the collector has not been sent. */
  takeOutgoing(max: number): { workloadKey: string; delta: Uint8Array }[];
  /** A merged profile from the collector (bad bytes are the engine's to count and log). */
  applyRemote(workloadKey: string, bytes: Uint8Array): boolean;
  /** A new stream was welcomed: every profile is sent again, whole first (the last stream's deltas may be lost). */
  resendAll(): void;
}

/** Profile deltas sent per second at most, and how often they are sent. */
const BASELINE_DELTAS_PER_TICK = 20;
const BASELINE_TICK_MS = 1000;

/** What a session needs. */
export interface LinkSessionOptions {
  /** A fresh channel to the collector; the session does not close it. */
  readonly client: grpc.Client;
  readonly ledger: ShipLedger;
  readonly spool: Spool;
  readonly hello: Hello;
  readonly logger: Logger;
  readonly metrics: ShipMetrics;
  readonly now: () => number;
  /** The agent's own cap on alerts per batch (the Welcome's may be lower). */
  readonly maxBatchAlerts: number;
  readonly welcomeTimeoutMs: number;
  readonly onCommand?: CommandHandler;
  /** Commands running at once; more are answered `failed` at once. */
  readonly maxConcurrentCommands: number;
  /** Events the agent has read, for heartbeats. */
  readonly eventsTotal?: () => number;
  /** Learnt profiles to exchange with the collector. */
  readonly baselines?: BaselineLink;
}

/** How a stream ended. */
export interface SessionEnd {
  /** The collector welcomed the agent: the link worked, so reconnecting may start afresh. */
  readonly welcomed: boolean;
  readonly code: grpc.status;
  readonly details: string;
}

const DEFAULT_HEARTBEAT_MS = 10_000;

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** See the module comment. */
export class LinkSession {
  private call: grpc.ClientDuplexStream<OutgoingAgentMessage, ReceivedCollectorMessage> | undefined;
  private welcome: Welcome | undefined;
  private ended = false;
  /** The stream's buffer is full: wait for 'drain' before writing more batches. */
  private blocked = false;
  private pumpScheduled = false;
  private commandsRunning = 0;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private baselineTimer: NodeJS.Timeout | undefined;
  private resolveEnd: ((end: SessionEnd) => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: LinkSessionOptions) {
    this.log = options.logger;
  }

  /** The collector welcomed the agent and the stream is still open. */
  get welcomed(): boolean {
    return this.welcome !== undefined && !this.ended;
  }

  /** Opens the stream; resolves when it has ended, whatever the reason. Call once. */
  run(): Promise<SessionEnd> {
    return new Promise<SessionEnd>((resolve) => {
      this.resolveEnd = resolve;
      const method = agentLinkService().Connect;
      const call = this.options.client.makeBidiStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
      );
      this.call = call;
      this.options.metrics.connects.inc();
      call.on('data', (message: ReceivedCollectorMessage) => {
        try {
          this.onMessage(message);
        } catch (err) {
          // A bug or a spool failure must cost this stream, not the agent (a throw here is uncaught).
          this.log.error('handling a collector message failed', { err });
          this.end(grpc.status.INTERNAL, `handling a collector message failed: ${errText(err)}`);
        }
      });
      call.on('drain', () => {
        this.blocked = false;
        this.notify();
      });
      // 'error' carries the status for every non-OK end; 'status' comes for every end.
      call.on('error', (err: grpc.ServiceError) => this.end(err.code, err.details || err.message));
      call.on('status', (status: grpc.StatusObject) => this.end(status.code, status.details));
      this.welcomeTimer = setTimeout(() => {
        this.end(grpc.status.DEADLINE_EXCEEDED, `no Welcome within ${this.options.welcomeTimeoutMs} ms`);
      }, this.options.welcomeTimeoutMs);
      this.welcomeTimer.unref();
      this.write({ type: 'hello', hello: this.options.hello });
    });
  }

  /** New alerts are in the spool: send them when the window allows. Cheap; coalesced. */
  notify(): void {
    if (this.pumpScheduled || this.ended || this.welcome === undefined) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Ends the stream (the shipper is closing). */
  cancel(): void {
    this.end(grpc.status.CANCELLED, 'the agent is shutting down');
  }

  private onMessage(message: ReceivedCollectorMessage): void {
    if (this.ended) return;
    switch (message.type) {
      case 'welcome':
        this.onWelcome(message.welcome);
        return;
      case 'ack':
        this.onAck(message.ack);
        return;
      case 'command':
        this.onCommand(message.command);
        return;
      case 'baseline':
        if (this.options.baselines === undefined)
          this.log.debug('baseline update ignored: baselines are off');
        else this.options.baselines.applyRemote(message.baseline.workloadKey, message.baseline.profile);
        return;
      case 'config':
        // Pushed configuration is for a later issue; the agent keeps its own configuration.
        this.log.debug('collector message ignored', { type: message.type });
        return;
      case 'unreadable':
        this.log.warn('unreadable message from the collector', { reason: message.reason });
        return;
      case 'unknown':
        return;
    }
  }

  private onWelcome(welcome: Welcome): void {
    if (this.welcome !== undefined) return;
    clearTimeout(this.welcomeTimer);
    this.welcome = welcome;
    this.options.metrics.connected.set(1);
    this.log.info('connected to the collector', {
      collector: welcome.collectorVersion,
      maxBatchAlerts: welcome.maxBatchAlerts,
      maxMessageBytes: welcome.maxMessageBytes,
    });
    const interval = welcome.heartbeatIntervalMs > 0 ? welcome.heartbeatIntervalMs : DEFAULT_HEARTBEAT_MS;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), interval);
    this.heartbeatTimer.unref();
    this.heartbeat();
    this.pump();
    if (this.options.baselines !== undefined) {
      this.options.baselines.resendAll();
      this.baselineTimer = setInterval(() => this.sendBaselines(), BASELINE_TICK_MS);
      this.baselineTimer.unref();
      this.sendBaselines();
    }
  }

  /** Sends profile deltas, a bounded number per tick, while the stream has room. */
  private sendBaselines(): void {
    const baselines = this.options.baselines;
    const welcome = this.welcome;
    if (baselines === undefined || welcome === undefined || this.ended || this.blocked) return;
    const maxBytes = (welcome.maxMessageBytes > 0 ? welcome.maxMessageBytes : 4 * 1024 * 1024) - 4096;
    let deltas;
    try {
      deltas = baselines.takeOutgoing(BASELINE_DELTAS_PER_TICK);
    } catch (err) {
      this.log.error('reading profiles to send failed', { err });
      return;
    }
    for (const delta of deltas) {
      if (delta.workloadKey.length + delta.delta.length > maxBytes) {
        this.log.warn('profile too large for a message to the collector; not sent', {
          profile: delta.workloadKey,
          bytes: delta.delta.length,
        });
        continue;
      }
      if (!this.write({ type: 'baseline-delta', delta })) this.blocked = true;
    }
  }

  private heartbeat(): void {
    let stats;
    try {
      stats = this.options.spool.stats();
    } catch (err) {
      this.log.error('reading the spool for a heartbeat failed', { err });
      return;
    }
    this.write({
      type: 'heartbeat',
      heartbeat: {
        sentUnixMs: this.options.now(),
        spoolDepth: stats.depth,
        spoolDropped: stats.dropped,
        eventsTotal: this.options.eventsTotal?.() ?? 0,
      },
    });
  }

  private pump(): void {
    const welcome = this.welcome;
    if (welcome === undefined || this.ended) return;
    const limits = {
      maxAlerts: Math.max(1, Math.min(this.options.maxBatchAlerts, welcome.maxBatchAlerts || Infinity)),
      // Zero means the collector did not say; gRPC's default limit is 4 MiB.
      maxBytes: welcome.maxMessageBytes > 0 ? welcome.maxMessageBytes : 4 * 1024 * 1024,
    };
    const m = this.options.metrics;
    while (!this.blocked && !this.ended) {
      let taken;
      try {
        taken = this.options.ledger.take(limits, (batch) => encodeAgentMessage({ type: 'alerts', batch }));
      } catch (err) {
        // The spool failed (disk, corruption): end this stream; the shipper retries later.
        this.log.error('reading the spool failed', { err });
        this.end(grpc.status.INTERNAL, `reading the spool failed: ${errText(err)}`);
        return;
      }
      if (taken.type === 'idle') break;
      if (taken.type === 'undeliverable') {
        m.alertsUndeliverable.inc();
        this.log.error('alert too large for any message to the collector: dropped from the spool', {
          alert: taken.alert.id,
          rule: taken.alert.rule,
          bytes: taken.bytes,
          limit: limits.maxBytes,
        });
        continue;
      }
      m.alertsSent.inc(taken.batch.alerts.length);
      m.batchesInFlight.set(this.options.ledger.batchesInFlight);
      if (!this.write(taken.encoded)) this.blocked = true;
    }
  }

  private onAck(ack: Ack): void {
    const m = this.options.metrics;
    let settled;
    try {
      settled = this.options.ledger.acknowledge(ack.batchId);
    } catch (err) {
      this.log.error('deleting acknowledged alerts from the spool failed', { err });
      this.end(grpc.status.INTERNAL, `deleting acknowledged alerts failed: ${errText(err)}`);
      return;
    }
    if (settled === undefined) {
      this.log.warn('Ack for a batch not in flight', { batch: ack.batchId });
      return;
    }
    m.alertsAcked.inc(settled.alerts);
    m.batchesInFlight.set(this.options.ledger.batchesInFlight);
    m.ackSeconds.observe(Math.max(0, this.options.now() - settled.sentAtMs) / 1000);
    if (ack.rejected.length > 0) {
      m.alertsRejected.inc(ack.rejected.length);
      const first = ack.rejected[0];
      this.log.warn('the collector rejected alerts', {
        count: ack.rejected.length,
        alert: first?.alertId,
        reason: first?.reason,
      });
    }
    this.pump();
  }

  private onCommand(command: ReceivedCommand): void {
    const reply = (outcome: CommandResult['outcome'], detail: string): void => {
      this.options.metrics.commands.inc({ outcome });
      this.write({ type: 'command-result', result: { commandId: command.id, outcome, detail } });
    };
    const action = command.action;
    const handler = this.options.onCommand;
    if (action.type === 'unsupported') {
      reply('failed', 'this agent does not know the command');
      return;
    }
    if (handler === undefined) {
      reply('failed', 'this agent takes no commands');
      return;
    }
    if (this.commandsRunning >= this.options.maxConcurrentCommands) {
      reply('failed', `busy: ${this.commandsRunning} commands running`);
      return;
    }
    this.commandsRunning++;
    const run = async (): Promise<CommandResult> => handler({ id: command.id, action });
    run()
      .then(
        (result) => {
          // The result answers this id, whatever the handler put in it.
          this.options.metrics.commands.inc({ outcome: result.outcome });
          this.write({ type: 'command-result', result: { ...result, commandId: command.id } });
        },
        (err: unknown) => {
          this.log.error('command failed', { command: command.id, err });
          reply('failed', errText(err));
        },
      )
      .finally(() => {
        this.commandsRunning--;
      });
  }

  /** Writes a message; false when the stream's buffer is full (or the stream is over). */
  private write(message: OutgoingAgentMessage): boolean {
    if (this.ended || this.call === undefined) return false;
    try {
      return this.call.write(message);
    } catch (err) {
      this.end(grpc.status.INTERNAL, `writing to the stream failed: ${errText(err)}`);
      return false;
    }
  }

  private end(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.welcomeTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.baselineTimer);
    this.call?.cancel();
    const unacked = this.options.ledger.rewind();
    const m = this.options.metrics;
    m.connected.set(0);
    m.batchesInFlight.set(0);
    m.disconnects.inc({ code: grpc.status[code] ?? String(code) });
    this.resolveEnd?.({ welcomed: this.welcome !== undefined, code, details });
    if (unacked > 0) this.log.debug('alerts in flight will be sent again', { alerts: unacked });
  }
}
