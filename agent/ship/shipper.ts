/**
 * The shipper: delivers the spool's alerts to the collector over one long-lived gRPC stream
 * with mutual TLS, and takes the collector's commands.
 *
 * Delivery is at-least-once from the agent and exactly-once in the collector's store: an alert
 * leaves the spool only when the collector has acknowledged the batch that carried it (after
 * storing it), and anything unacknowledged when a stream ends goes out again on the next one.
 *
 * Reconnecting wraps the session (`link-session.ts`) the way a retry decorator wraps a
 * transport: each attempt gets a fresh channel, and between attempts the shipper waits an
 * exponential backoff with full jitter (`backoff.ts`), reset once a stream was welcomed. A fresh
 * channel per attempt keeps the delay in one place: gRPC's own reconnect backoff (up to two
 * minutes) would otherwise stack on top of ours.
 *
 * The shipper learns of new alerts from {@link Shipper.notify} (call it after appending to the
 * spool) and, as a fallback, by looking every `pollIntervalMs`. All its timers are unref()ed.
 */
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import {
  LINK_PROTOCOL_VERSION,
  type Hello,
  type LinkHostFacts,
  type QuarantineReport,
} from '../../proto/link-messages.js';
import type { Spool } from '../spool/spool.js';
import { createBackoff, type BackoffOptions } from './backoff.js';
import { LinkSession, type BaselineLink, type CommandHandler } from './link-session.js';
import { ShipLedger } from './ship-ledger.js';
import { createShipMetrics } from './ship-metrics.js';

/** PEM material: the CA that signed the collector's certificate, and this agent's certificate and key. */
export interface ShipperTls {
  readonly ca: Buffer | string;
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
}

/** Options of {@link startShipper}. */
export interface ShipperOptions {
  /** The collector, `host:port` (`vigil-collector.vigil.svc:7443`). */
  readonly target: string;
  readonly tls: ShipperTls;
  /** This node's name: must match the node name in the client certificate. */
  readonly node: string;
  readonly spool: Spool;
  readonly hostFacts: LinkHostFacts;
  readonly agentVersion: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Runs commands from the collector (quarantine, release). Without it, commands are answered `failed`. */
  readonly onCommand?: CommandHandler;
  /** What the agent offers (`nftables`, `cgroup-freeze`, ...), reported in the Hello. */
  readonly capabilities?: readonly string[];
  /**
   * The quarantines this node holds active, read for the Hello of every new stream (so that the
   * collector can release those it released while the agent was away). Without it, or when it
   * throws, the Hello does not report quarantines.
   */
  readonly quarantineReport?: () => QuarantineReport;
  /** Events read so far, for heartbeats. */
  readonly eventsTotal?: () => number;
  /** Learnt profiles to exchange with the collector (deltas out, merged profiles in). */
  readonly baselines?: BaselineLink;
  /** Batches sent and awaiting an Ack, at most (default 4). */
  readonly maxInFlightBatches?: number;
  /** Alerts per batch, at most (default 500; the collector's Welcome may lower it). */
  readonly maxBatchAlerts?: number;
  /** Reconnect delays (default: 500 ms growing to 30 s, doubling, full jitter). */
  readonly backoff?: BackoffOptions;
  /** How often to look at the spool without a {@link Shipper.notify} (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** How long to wait for the Welcome after opening a stream (default 15 s). */
  readonly welcomeTimeoutMs?: number;
  /** Keepalive ping interval (default 20 s) and how long a ping may go unanswered (default 10 s). */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** The name to verify in the collector's certificate, when it differs from the target's host. */
  readonly serverName?: string;
  /** The clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

/** What the shipper is doing, for status pages and tests. */
export interface ShipperStatus {
  /** A stream is open and welcomed. */
  readonly connected: boolean;
  /** Streams opened so far. */
  readonly sessions: number;
  readonly batchesInFlight: number;
  /** How the last stream ended, if one did. */
  readonly lastEnd: { readonly code: string; readonly details: string } | undefined;
}

/** A running shipper. */
export interface Shipper {
  /** New alerts are in the spool: ship them soon. Cheap to call after every append. */
  notify(): void;
  status(): ShipperStatus;
  /**
   * Stops: ends the stream and stops reconnecting. Alerts not yet acknowledged stay in the
   * spool for the next start. Idempotent.
   */
  close(): Promise<void>;
}

const toBuffer = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

/**
 * Starts shipping. Returns at once; the connection is made in the background and re-made
 * whenever it is lost. Throws at once for unusable TLS material or an unparsable target.
 *
 * @example
 * const shipper = startShipper({ target: 'vigil-collector.vigil.svc:7443', tls, node, spool,
 *   hostFacts: await collectHostFacts('ebpf'), agentVersion, logger, registry });
 * spool.append(alerts); shipper.notify();
 */
export function startShipper(options: ShipperOptions): Shipper {
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'ship', node: options.node });
  const backoff = createBackoff(options.backoff);
  const ledger = new ShipLedger(options.spool, { maxInFlight: options.maxInFlightBatches ?? 4, now });
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = grpc.credentials.createSsl(
      toBuffer(options.tls.ca),
      toBuffer(options.tls.key),
      toBuffer(options.tls.cert),
    );
  } catch (err) {
    throw new Error('shipper: unusable TLS material (CA, certificate and key must all be PEM)', {
      cause: err,
    });
  }
  const channelOptions: grpc.ChannelOptions = {
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 20_000,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Collector messages are small but for pushed rule bundles.
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    ...(options.serverName !== undefined ? { 'grpc.ssl_target_name_override': options.serverName } : {}),
  };
  try {
    // A channel connects only when used: this checks the address, nothing more.
    new grpc.Client(options.target, credentials, channelOptions).close();
  } catch (err) {
    throw new Error(`shipper: ${JSON.stringify(options.target)} is not a usable collector address`, {
      cause: err,
    });
  }
  // Only now: a start that throws above leaves the registry untouched.
  const metrics = createShipMetrics(options.registry);
  const baseHello: Hello = {
    node: options.node,
    agentVersion: options.agentVersion,
    protocolVersion: LINK_PROTOCOL_VERSION,
    capabilities: options.capabilities ?? [],
    host: options.hostFacts,
  };
  /** The Hello of a new stream: what is held now, not at start (quarantines come and go). */
  const helloNow = (): Hello => {
    if (options.quarantineReport === undefined) return baseHello;
    try {
      return { ...baseHello, quarantines: options.quarantineReport() };
    } catch (err) {
      logger.error('reading the quarantines held failed; the Hello does not report them', { err });
      return baseHello;
    }
  };

  let closed = false;
  let session: LinkSession | undefined;
  let sessions = 0;
  let lastEnd: ShipperStatus['lastEnd'];
  let wakeSleeper: (() => void) | undefined;

  const poll = setInterval(() => session?.notify(), options.pollIntervalMs ?? 500);
  poll.unref();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        wakeSleeper = undefined;
        resolve();
      }
      wakeSleeper = done;
    });

  const loop = async (): Promise<void> => {
    while (!closed) {
      const client = new grpc.Client(options.target, credentials, channelOptions);
      sessions++;
      const current = new LinkSession({
        client,
        ledger,
        spool: options.spool,
        hello: helloNow(),
        logger,
        metrics,
        now,
        maxBatchAlerts: options.maxBatchAlerts ?? 500,
        welcomeTimeoutMs: options.welcomeTimeoutMs ?? 15_000,
        maxConcurrentCommands: 16,
        ...(options.onCommand !== undefined ? { onCommand: options.onCommand } : {}),
        ...(options.eventsTotal !== undefined ? { eventsTotal: options.eventsTotal } : {}),
        ...(options.baselines !== undefined ? { baselines: options.baselines } : {}),
      });
      session = current;
      const end = await current.run();
      session = undefined;
      client.close();
      const code = grpc.status[end.code] ?? String(end.code);
      lastEnd = { code, details: end.details };
      if (closed) break;
      if (end.welcomed) backoff.reset();
      const delay = backoff.next();
      // Refusals need a person (certificates, node name, versions); say so loudly.
      const refused = [
        grpc.status.PERMISSION_DENIED,
        grpc.status.UNAUTHENTICATED,
        grpc.status.FAILED_PRECONDITION,
        grpc.status.INVALID_ARGUMENT,
      ].includes(end.code);
      logger[refused ? 'error' : 'warn']('stream to the collector ended; reconnecting', {
        code,
        reason: end.details,
        retryInMs: delay,
        attempt: backoff.attempts,
      });
      await sleep(delay);
    }
  };
  const running = loop().catch((err: unknown) => {
    logger.error('the shipper stopped on an unexpected error', { err });
  });

  return {
    notify() {
      session?.notify();
    },
    status() {
      return {
        connected: session?.welcomed ?? false,
        sessions,
        batchesInFlight: ledger.batchesInFlight,
        lastEnd,
      };
    },
    async close() {
      if (!closed) {
        closed = true;
        clearInterval(poll);
        session?.cancel();
        wakeSleeper?.();
      }
      await running;
    },
  };
}
