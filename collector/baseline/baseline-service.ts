/**
 * Cluster-wide baselines on the collector. Agents send profile deltas over their link stream;
 * the service merges each into the workload's stored profile (`mergeProfiles`: commutative,
 * associative, idempotent, so arrival order and repeats do not matter), stores it, and sends
 * the merged profile back to every connected agent that takes baselines (Hello capability
 * `baselines`), so that a pod rescheduled to another node is no stranger there. Operators reopen learning, lock, and add or remove items through the
 * API (`profile-routes.ts`); an edit is stored and sent to the agents the same way.
 *
 *   agent ─BaselineDelta─► decode ─► merge ─► pending writes ──(≤ 1 s)──► SQLite
 *                                       └──► keys to send ──(≤ once/s/key)──► every agent
 *   agent connects ──► the newest `maxProfilesOnConnect` profiles, paced
 *
 * Bounds and policies:
 * - A delta over `maxDeltaBytes`, one that does not decode, or one whose profile is for another
 *   key than the message names is refused: counted by reason, logged (at most once per reason
 *   every 10 s), and the stream goes on.
 * - At most `maxProfiles` profiles: a delta for a new key beyond that is refused (reason
 *   `limit`); existing profiles keep merging.
 * - A merged profile larger than `maxProfileBytes` (what a link message can carry) is refused
 *   and the stored one kept (reason `profile-too-large`).
 * - Writes are coalesced: changed profiles are written every `flushIntervalMs` (sooner when
 *   `maxPendingWrites` wait), in slices of about 20 ms per tick, since summarising a large
 *   profile for the list takes real time. Operator edits are written before the API answers;
 *   listing and bringing a new agent up to date write everything pending first.
 * - A changed profile is sent at most once per `pushIntervalMs` per key (later changes in the
 *   interval go out together at its end), and every tick sends at most `maxSendsPerTick`
 *   messages (profiles × agents); the rest waits for the next tick.
 * - An agent that connects is sent the `maxProfilesOnConnect` most recently changed profiles,
 *   newest first, out of the same per-tick budget after the changed ones.
 * - Deltas from the link wait in a queue of at most `maxQueuedDeltas` / `maxQueuedBytes` (more
 *   are refused, reason `queue-full`) and are merged in slices of at most 10 ms, so that a
 *   burst does not hold up alert ingest on the same event loop. Stopping merges what is queued
 *   for up to 2 s and refuses the rest (reason `stopped`).
 * - Decoded profiles are cached (LRU, `cacheSize`); the database is the truth.
 * - Profiles expire: one not updated for `maxIdleMs` (no delta, changed or not, and no edit) is
 *   deleted by a pass that runs at start and every `expireIntervalMs`, in slices of about 20 ms.
 *   A delta that changes nothing still marks its profile alive (a write at most once per
 *   min(`maxIdleMs` / 10, 1 h) per key). A later delta for an expired key starts it afresh.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  MAX_KEY_LENGTH,
  addItem,
  decodeProfile,
  emptyProfile,
  encodeProfile,
  lockProfile,
  mergeProfiles,
  removeItem,
  reopenLearning,
  summarizeProfile,
  type EditContext,
  type Profile,
  type ProfileItem,
  type ProfileSummary,
} from '../../core/baseline/profile.js';
import type { Logger } from '../../core/log.js';
import type { BaselineDelta, BaselineUpdate } from '../../proto/link-messages.js';
import type { AgentEvent } from '../ingest/agent-session.js';
import type { ProfileStore, RecentCursor } from './profile-store.js';

/** The part of the ingest server the service uses (`IngestServer` has it). */
export interface BaselineLink {
  onBaselineDelta(handler: (node: string, delta: BaselineDelta) => void): void;
  onAgentEvent(listener: (event: AgentEvent) => void): void;
  sendBaseline(node: string, update: BaselineUpdate): boolean;
  connectedNodes(): string[];
}

/** Limits and timings; every one has a default ({@link DEFAULT_BASELINE_LIMITS}). */
export interface BaselineLimits {
  /** Most profiles stored. Default 10,000. */
  readonly maxProfiles?: number;
  /** Largest delta accepted, in bytes. Default 1 MiB. */
  readonly maxDeltaBytes?: number;
  /** Largest merged profile kept (and sent), in bytes. Default 4 MiB less 16 KiB. */
  readonly maxProfileBytes?: number;
  /** A key's merged profile is sent at most once per this. Default 1000 ms. */
  readonly pushIntervalMs?: number;
  /** Changed profiles are written at least this often. Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** Changed profiles waiting to be written that start writing before the interval. Default 1000. */
  readonly maxPendingWrites?: number;
  /** Profiles sent to an agent when it connects (the most recently changed). Default 1000. */
  readonly maxProfilesOnConnect?: number;
  /** Messages sent per tick, at most (at least one profile's worth goes out). Default 2000. */
  readonly maxSendsPerTick?: number;
  /** How often the service writes and sends. Default 100 ms. */
  readonly tickMs?: number;
  /** Decoded profiles kept in memory. Default 1000. */
  readonly cacheSize?: number;
  /** Deltas waiting to be merged; more are refused (`queue-full`). Default 10,000. */
  readonly maxQueuedDeltas?: number;
  /** Bytes of deltas waiting to be merged; more are refused (`queue-full`). Default 64 MiB. */
  readonly maxQueuedBytes?: number;
  /** A profile not updated for this long is deleted; 0 keeps profiles for ever. Default 30 days. */
  readonly maxIdleMs?: number;
  /** How often idle profiles are looked for (and once at start). Default 10 minutes. */
  readonly expireIntervalMs?: number;
}

/** The defaults of {@link BaselineLimits}. */
export const DEFAULT_BASELINE_LIMITS: Required<BaselineLimits> = Object.freeze({
  maxProfiles: 10_000,
  maxDeltaBytes: 1024 * 1024,
  maxProfileBytes: 4 * 1024 * 1024 - 16 * 1024,
  pushIntervalMs: 1000,
  flushIntervalMs: 1000,
  maxPendingWrites: 1000,
  maxProfilesOnConnect: 1000,
  maxSendsPerTick: 2000,
  tickMs: 100,
  cacheSize: 1000,
  maxQueuedDeltas: 10_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxIdleMs: 30 * 24 * 3600 * 1000,
  expireIntervalMs: 10 * 60 * 1000,
});

/** The Hello capability of agents that learn baselines and take merged profiles. */
export const BASELINES_CAPABILITY = 'baselines';

/** Longest stretch the merging of queued deltas holds the event loop. */
const DRAIN_SLICE_MS = 10;
/** Longest stretch a tick spends writing pending profiles (at least one batch is written). */
const FLUSH_SLICE_MS = 20;
/** Profiles written per transaction while flushing in slices. */
const FLUSH_BATCH = 4;
/** Longest stretch an expiry pass holds the event loop before yielding. */
const EXPIRE_SLICE_MS = 20;
/** Idle profiles looked at per query while expiring. */
const EXPIRE_BATCH = 64;
/** How long stopping may spend merging what is still queued. */
const STOP_DRAIN_MS = 2000;

/** Why a delta was refused. */
export type DeltaRejection =
  | 'bad-key'
  | 'too-large'
  | 'undecodable'
  | 'key-mismatch'
  | 'limit'
  | 'profile-too-large'
  | 'queue-full'
  | 'stopped';

/** What became of one delta. */
export type DeltaOutcome =
  | { readonly result: 'merged'; readonly created: boolean }
  | { readonly result: 'unchanged' }
  | { readonly result: 'rejected'; readonly reason: DeltaRejection; readonly detail: string };

/** An operator's change to a stored profile. */
export type ProfileEdit =
  | { readonly action: 'reopen' }
  | { readonly action: 'lock' }
  | { readonly action: 'add'; readonly item: ProfileItem }
  | { readonly action: 'remove'; readonly item: ProfileItem };

/** What an edit did. */
export type EditOutcome =
  | { readonly ok: true; readonly summary: ProfileSummary }
  | {
      readonly ok: false;
      readonly reason: 'not-found' | 'profile-too-large' | 'invalid';
      readonly detail: string;
    };

/** A profile summary in a list: no items, but how many. */
export type ListedSummary = ProfileSummary & { readonly itemCount: number };

/** Options of {@link createBaselineService}. */
export interface BaselineServiceOptions {
  readonly store: ProfileStore;
  readonly link: BaselineLink;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly limits?: BaselineLimits;
  /** The clock, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** False: no timer runs; the caller calls {@link BaselineService.tick} (tests). Default true. */
  readonly timers?: boolean;
}

/** The running service. */
export interface BaselineService {
  /**
   * Merges one agent's delta now (deltas from the link reach this through the bounded queue).
   * Never throws on bad input: refusals are outcomes.
   */
  acceptDelta(node: string, delta: BaselineDelta): DeltaOutcome;
  /** The summary of `key`'s profile with its items; undefined when there is none. */
  get(key: string): ProfileSummary | undefined;
  /** Summaries without items, by key. */
  list(filter: {
    readonly namespace?: string;
    readonly status?: 'learning' | 'locked';
    readonly limit?: number;
  }): ListedSummary[];
  /** Applies an operator's edit, writes it, and queues it for the agents. */
  edit(key: string, edit: ProfileEdit, actor: string): EditOutcome;
  /** Writes what is pending and sends what is due; the timer calls this every `tickMs`. */
  tick(): void;
  /** Writes every pending change now. */
  flush(): void;
  /** Profiles stored (including those not yet written). */
  count(): number;
  /**
   * Deletes every profile not updated for `maxIdleMs` now, in one go, and returns how many
   * (0 when expiry is off). The timer runs the same pass in slices.
   */
  expireIdle(): number;
  /** Stops the timer and writes what is pending. Idempotent. */
  stop(): void;
}

interface Entry {
  readonly profile: Profile;
  readonly encoded: Uint8Array;
}

interface QueuedDelta {
  readonly node: string;
  readonly delta: BaselineDelta;
}

interface CatchUp {
  after: RecentCursor | undefined;
  remaining: number;
  /** Broadcasts before the agent connected: those after it reached it, and are not sent again. */
  readonly sinceSeq: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The first `n` values of `values`. */
function* take<T>(values: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let i = 0;
  for (const v of values) {
    yield v;
    if (++i >= n) return;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function resolveLimits(limits: BaselineLimits | undefined): Required<BaselineLimits> {
  const merged = { ...DEFAULT_BASELINE_LIMITS, ...limits };
  for (const [key, value] of Object.entries(merged)) {
    const zeroAllowed = key === 'maxIdleMs'; // 0: profiles never expire
    if (!Number.isSafeInteger(value) || value < 0 || (value === 0 && !zeroAllowed)) {
      const what = zeroAllowed ? 'a non-negative' : 'a positive';
      throw new Error(`baseline limits: ${key} must be ${what} integer, got ${String(value)}`);
    }
  }
  return merged;
}

/** The stored summary: everything but the items, which are counted. */
function listedSummary(summary: ProfileSummary): ListedSummary {
  return { ...summary, items: [], itemCount: summary.items.length };
}

/**
 * Starts the baseline service and makes it the ingest's baseline handler.
 *
 * @example
 * const baselines = createBaselineService({
 *   store: openProfileStore({ database: db }), link: ingest, registry, logger,
 *   limits: { maxProfiles: config.baselines.max_profiles },
 * });
 */
export function createBaselineService(options: BaselineServiceOptions): BaselineService {
  const limits = resolveLimits(options.limits);
  const { store, link } = options;
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'baselines' });

  /** Changed profiles not yet written. Never evicted: the flush empties it. */
  const pending = new Map<string, Entry>();
  /** Decoded profiles, least recently used first. */
  const cache = new Map<string, Entry>();
  /** Keys whose merged profile awaits sending, oldest change first. */
  const toSend = new Set<string>();
  /**
   * When each key was last sent to the agents (and the broadcast's number), oldest first;
   * entries older than the push interval are dropped.
   */
  const lastSent = new Map<string, { readonly atMs: number; readonly seq: number }>();
  /** Numbers broadcasts, so that a catch-up knows which happened after its agent connected. */
  let broadcasts = 0;
  /** Agents being brought up to date after connecting. */
  const catchUps = new Map<string, CatchUp>();
  /** Connected agents that said they take baselines (the others are sent none). */
  const takers = new Set<string>();
  let stored = store.count();
  let lastFlushMs = now();
  /** Pending profiles are being written, a slice per tick, until none is left. */
  let flushDue = false;
  let stopped = false;

  new Gauge({
    name: 'vigil_collector_baseline_profiles',
    help: 'Workload profiles the collector stores.',
    registers: [options.registry],
    collect() {
      this.set(stored);
    },
  });
  const deltasReceived = new Counter({
    name: 'vigil_collector_baseline_deltas_received_total',
    help: 'Profile deltas received from agents, by result (merged, unchanged, rejected).',
    labelNames: ['result'],
    registers: [options.registry],
  });
  const deltasRejected = new Counter({
    name: 'vigil_collector_baseline_deltas_rejected_total',
    help: 'Profile deltas refused, by reason (bad-key, too-large, undecodable, key-mismatch, limit, profile-too-large, queue-full, stopped).',
    labelNames: ['reason'],
    registers: [options.registry],
  });
  const updatesSent = new Counter({
    name: 'vigil_collector_baseline_updates_sent_total',
    help: 'Merged profiles sent to agents, by reason (change, connect) and result (sent, failed).',
    labelNames: ['reason', 'result'],
    registers: [options.registry],
  });
  const edits = new Counter({
    name: 'vigil_collector_baseline_edits_total',
    help: 'Operator edits of profiles, by action.',
    labelNames: ['action'],
    registers: [options.registry],
  });
  const expiredTotal = new Counter({
    name: 'vigil_collector_baseline_profiles_expired_total',
    help: 'Profiles deleted because no delta or edit updated them for baselines.max_idle.',
    registers: [options.registry],
  });
  new Gauge({
    name: 'vigil_collector_baseline_deltas_queued',
    help: 'Profile deltas received and waiting to be merged.',
    registers: [options.registry],
    collect() {
      this.set(queue.length - queueHead);
    },
  });
  new Gauge({
    name: 'vigil_collector_baseline_updates_waiting',
    help: 'Changed profiles waiting to be sent to the agents.',
    registers: [options.registry],
    collect() {
      this.set(toSend.size);
    },
  });

  // At most one warning per reason every 10 s; the rest are counted and reported with the next.
  const warned = new Map<DeltaRejection, { atMs: number; suppressed: number }>();
  const reject = (node: string, key: string, reason: DeltaRejection, detail: string): DeltaOutcome => {
    deltasReceived.inc({ result: 'rejected' });
    deltasRejected.inc({ reason });
    const t = now();
    const w = warned.get(reason);
    if (w !== undefined && t - w.atMs < 10_000) {
      w.suppressed++;
    } else {
      log.warn('baseline delta refused', {
        node,
        workload: key.length > 200 ? `${key.slice(0, 200)}…` : key,
        reason,
        detail,
        ...(w !== undefined && w.suppressed > 0 && { suppressedSinceLast: w.suppressed }),
      });
      warned.set(reason, { atMs: t, suppressed: 0 });
    }
    return { result: 'rejected', reason, detail };
  };

  const remember = (key: string, entry: Entry): void => {
    cache.delete(key);
    cache.set(key, entry);
    if (cache.size > limits.cacheSize) cache.delete(cache.keys().next().value as string);
  };

  /** The current profile of `key`, or undefined. Throws when the stored bytes do not decode. */
  const load = (key: string): Entry | undefined => {
    const waiting = pending.get(key);
    if (waiting !== undefined) return waiting;
    const cached = cache.get(key);
    if (cached !== undefined) {
      remember(key, cached);
      return cached;
    }
    const row = store.get(key);
    if (row === undefined) return undefined;
    const entry = { profile: decodeProfile(row.profile), encoded: row.profile };
    remember(key, entry);
    return entry;
  };

  /** Writes the pending profiles of `keys` in one transaction. */
  const write = (keys: readonly string[]): void => {
    const t = now();
    const writes = keys.flatMap((key) => {
      const entry = pending.get(key);
      if (entry === undefined) return [];
      const summary = summarizeProfile(entry.profile);
      return [
        {
          key,
          profile: entry.encoded,
          namespace: summary.namespace,
          status: summary.status,
          summaryJson: JSON.stringify(listedSummary(summary)),
        },
      ];
    });
    store.write(writes, t);
    for (const { key } of writes) {
      remember(key, pending.get(key) as Entry);
      pending.delete(key);
    }
  };

  /** Writes every pending profile. */
  const flush = (): void => {
    write([...pending.keys()]);
    flushDue = false;
    lastFlushMs = now();
  };

  /**
   * Writes pending profiles, oldest change first, for about `budgetMs` (summarising a large
   * profile costs real time, and the event loop also carries alert ingest).
   */
  const flushSome = (budgetMs: number): void => {
    const until = performance.now() + budgetMs;
    while (pending.size > 0 && performance.now() < until) {
      write([...take(pending.keys(), FLUSH_BATCH)]);
    }
    if (pending.size === 0) {
      flushDue = false;
      lastFlushMs = now();
    }
  };

  /** Records `key`'s new profile: pending write, and queued for the agents. */
  const change = (key: string, entry: Entry): void => {
    pending.set(key, entry);
    cache.delete(key);
    toSend.add(key); // a key already waiting keeps its place
    if (pending.size >= limits.maxPendingWrites) flushDue = true;
  };

  /**
   * When an unchanged delta last marked each key alive, oldest first. Bounded: cleared when it
   * outgrows `maxProfiles` (the next marks are then written again, once).
   */
  const markedAt = new Map<string, number>();
  const markIntervalMs = Math.max(1, Math.min(Math.floor(limits.maxIdleMs / 10), 3_600_000));
  /** A delta that changed nothing still shows the workload alive: moves its update time on. */
  const markAlive = (key: string): void => {
    if (limits.maxIdleMs === 0 || pending.has(key)) return; // a pending write stamps it anyway
    const t = now();
    const at = markedAt.get(key);
    if (at !== undefined && t - at < markIntervalMs) return;
    store.touch(key, t);
    markedAt.delete(key);
    markedAt.set(key, t);
    if (markedAt.size > limits.maxProfiles) markedAt.clear();
  };

  const mergeDelta = (node: string, delta: BaselineDelta): DeltaOutcome => {
    const key = delta.workloadKey;
    if (key === '' || key.length > MAX_KEY_LENGTH) {
      return reject(node, key, 'bad-key', `the workload key is empty or longer than ${MAX_KEY_LENGTH}`);
    }
    if (delta.delta.byteLength > limits.maxDeltaBytes) {
      return reject(
        node,
        key,
        'too-large',
        `a delta of ${delta.delta.byteLength} bytes; the limit is ${limits.maxDeltaBytes}`,
      );
    }
    let incoming: Profile;
    try {
      incoming = decodeProfile(delta.delta);
    } catch (err) {
      return reject(node, key, 'undecodable', errText(err));
    }
    const incomingKey = incoming.key;
    if (incomingKey !== key) {
      return reject(
        node,
        key,
        'key-mismatch',
        `the message names ${JSON.stringify(key)} but the profile is ${JSON.stringify(incomingKey)}`,
      );
    }
    let current: Entry | undefined;
    try {
      current = load(key);
    } catch (err) {
      // The stored bytes no longer decode (written by another Vigil version?): start afresh.
      log.error('a stored profile does not decode; replacing it', { workload: key, err });
      current = { profile: emptyProfile(key), encoded: new Uint8Array(0) };
    }
    if (current === undefined && stored >= limits.maxProfiles) {
      return reject(node, key, 'limit', `the collector holds its maximum of ${limits.maxProfiles} profiles`);
    }
    const merged = mergeProfiles(current?.profile ?? emptyProfile(key), incoming);
    const encoded = encodeProfile(merged);
    if (current !== undefined && sameBytes(encoded, current.encoded)) {
      markAlive(key);
      deltasReceived.inc({ result: 'unchanged' });
      return { result: 'unchanged' };
    }
    if (encoded.byteLength > limits.maxProfileBytes) {
      return reject(
        node,
        key,
        'profile-too-large',
        `the merged profile would be ${encoded.byteLength} bytes; the limit is ${limits.maxProfileBytes}`,
      );
    }
    if (current === undefined) stored++;
    change(key, { profile: merged, encoded });
    deltasReceived.inc({ result: 'merged' });
    return { result: 'merged', created: current === undefined };
  };

  const send = (node: string, key: string, profile: Uint8Array, reason: 'change' | 'connect'): boolean => {
    const ok = link.sendBaseline(node, { workloadKey: key, profile });
    updatesSent.inc({ reason, result: ok ? 'sent' : 'failed' });
    return ok;
  };

  /** Sends due changed profiles to every connected agent; returns the budget left. */
  const sendChanges = (budget: number, t: number): number => {
    for (const [key, sent] of lastSent) {
      if (sent.atMs + limits.pushIntervalMs > t) break;
      lastSent.delete(key);
    }
    if (toSend.size === 0) return budget;
    const nodes = link.connectedNodes().filter((n) => takers.has(n));
    if (nodes.length === 0) {
      // Nobody to tell: an agent that connects later is brought up to date from the store.
      toSend.clear();
      return budget;
    }
    let sentAny = false;
    for (const key of toSend) {
      if (lastSent.has(key)) continue; // sent less than an interval ago: its turn comes
      if (sentAny && budget < nodes.length) break;
      toSend.delete(key);
      lastSent.set(key, { atMs: t, seq: ++broadcasts });
      const entry = pending.get(key) ?? cache.get(key);
      const bytes = entry?.encoded ?? store.get(key)?.profile;
      if (bytes === undefined) continue;
      for (const node of nodes) send(node, key, bytes, 'change');
      budget -= nodes.length;
      sentAny = true;
    }
    return budget;
  };

  /** Sends agents that connected recently the stored profiles, newest first, within `budget`. */
  const sendCatchUps = (budget: number): void => {
    for (const [node, state] of catchUps) {
      if (budget <= 0) return;
      const rows = store.recent(state.after, Math.min(budget, state.remaining));
      let gone = false;
      for (const row of rows) {
        state.remaining--;
        // Going (or gone) to every agent anyway.
        if (toSend.has(row.key) || (lastSent.get(row.key)?.seq ?? -1) > state.sinceSeq) continue;
        budget--;
        if (!send(node, row.key, row.profile, 'connect')) {
          gone = true;
          break;
        }
      }
      const last = rows.at(-1);
      if (last !== undefined) state.after = { updatedMs: last.updatedMs, key: last.key };
      if (gone || state.remaining <= 0 || rows.length === 0) catchUps.delete(node);
    }
  };

  const tick = (): void => {
    if (stopped) return;
    const t = now();
    try {
      if (pending.size > 0 && t - lastFlushMs >= limits.flushIntervalMs) flushDue = true;
      if (flushDue) flushSome(FLUSH_SLICE_MS);
    } catch (err) {
      log.error('writing profiles failed; will retry', { err, pending: pending.size });
    }
    try {
      const left = sendChanges(limits.maxSendsPerTick, t);
      if (catchUps.size > 0 && left > 0) {
        // Catch-ups read the database: it must hold what the change path sent.
        if (pending.size > 0) flush();
        sendCatchUps(left);
      }
    } catch (err) {
      log.error('sending profiles failed', { err });
    }
  };

  // Deltas from the link wait in a bounded queue, merged in slices of at most DRAIN_SLICE_MS:
  // a burst of large profiles must not hold up the event loop (and alert ingest) for long.
  const queue: (QueuedDelta | undefined)[] = [];
  let queueHead = 0;
  let queuedBytes = 0;
  let draining = false;
  const takeQueued = (): QueuedDelta | undefined => {
    const next = queue[queueHead];
    if (next === undefined) return undefined;
    queue[queueHead++] = undefined;
    queuedBytes -= next.delta.delta.byteLength;
    if (queueHead === queue.length) {
      queue.length = 0;
      queueHead = 0;
    } else if (queueHead >= 1024 && queueHead * 2 >= queue.length) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
    return next;
  };
  const acceptSafely = (node: string, delta: BaselineDelta): void => {
    try {
      mergeDelta(node, delta);
    } catch (err) {
      log.error('merging a baseline delta failed', { node, workload: delta.workloadKey, err });
    }
  };
  const drain = (untilMs: number): void => {
    while (performance.now() < untilMs) {
      const next = takeQueued();
      if (next === undefined) break;
      acceptSafely(next.node, next.delta);
    }
  };
  const drainSlice = (): void => {
    drain(performance.now() + DRAIN_SLICE_MS);
    if (queue.length - queueHead > 0 && !stopped) setImmediate(drainSlice);
    else draining = false;
  };
  link.onBaselineDelta((node, delta) => {
    if (stopped) {
      reject(node, delta.workloadKey, 'stopped', 'the collector is shutting down');
      return;
    }
    const size = delta.delta.byteLength;
    if (queue.length - queueHead >= limits.maxQueuedDeltas || queuedBytes + size > limits.maxQueuedBytes) {
      reject(
        node,
        delta.workloadKey,
        'queue-full',
        `${queue.length - queueHead} deltas (${queuedBytes} bytes) wait to be merged`,
      );
      return;
    }
    queue.push({ node, delta });
    queuedBytes += size;
    if (!draining) {
      draining = true;
      setImmediate(drainSlice);
    }
  });
  link.onAgentEvent((event) => {
    const node = event.agent.node;
    if (event.type === 'connected') {
      catchUps.delete(node);
      if (!event.agent.capabilities.includes(BASELINES_CAPABILITY)) {
        takers.delete(node);
        return;
      }
      takers.add(node);
      // A reconnecting agent starts over: it may have lost what it was sent before.
      catchUps.set(node, { after: undefined, remaining: limits.maxProfilesOnConnect, sinceSeq: broadcasts });
    } else if (event.type === 'disconnected') {
      catchUps.delete(node);
      takers.delete(node);
    }
  });

  // Idle profiles expire: a pass walks the table oldest first, in slices, skipping profiles
  // with a write pending (they were just updated).
  let expiry: { cutoffMs: number; after: RecentCursor | undefined; expired: number } | undefined;
  let expirySlice: NodeJS.Immediate | undefined;
  const finishExpiry = (): number => {
    const expired = expiry?.expired ?? 0;
    expiry = undefined;
    const fields = { expired, profiles: stored, maxIdleMs: limits.maxIdleMs };
    if (expired > 0) log.info('idle profiles expired', fields);
    else log.debug('idle profiles expired', fields);
    return expired;
  };
  /** Expires idle profiles for about `budgetMs`; true when the pass is over. */
  const expireSome = (budgetMs: number): boolean => {
    const pass = expiry;
    if (pass === undefined) return true;
    const until = performance.now() + budgetMs;
    do {
      const rows = store.idle(pass.cutoffMs, pass.after, EXPIRE_BATCH);
      const last = rows.at(-1);
      if (last === undefined) return true;
      pass.after = last;
      const gone = store.remove(
        rows.filter((r) => !pending.has(r.key)).map((r) => r.key),
        pass.cutoffMs,
      );
      for (const key of gone) {
        cache.delete(key);
        toSend.delete(key);
        lastSent.delete(key);
        markedAt.delete(key);
      }
      stored -= gone.length;
      pass.expired += gone.length;
      expiredTotal.inc(gone.length);
    } while (performance.now() < until);
    return false;
  };
  const startExpiry = (): void => {
    if (stopped || expiry !== undefined || limits.maxIdleMs === 0) return;
    expiry = { cutoffMs: now() - limits.maxIdleMs, after: undefined, expired: 0 };
    const slice = (): void => {
      expirySlice = undefined;
      if (stopped) {
        expiry = undefined;
        return;
      }
      try {
        if (expireSome(EXPIRE_SLICE_MS)) finishExpiry();
        else expirySlice = setImmediate(slice).unref();
      } catch (err) {
        expiry = undefined;
        log.error('expiring idle profiles failed; will retry at the next pass', { err });
      }
    };
    slice();
  };

  const timer = options.timers === false ? undefined : setInterval(tick, limits.tickMs);
  timer?.unref();
  const runExpiry = options.timers !== false && limits.maxIdleMs > 0;
  const expiryTimer = runExpiry ? setInterval(startExpiry, limits.expireIntervalMs).unref() : undefined;
  const expiryAtStart = runExpiry ? setTimeout(startExpiry, 0).unref() : undefined;
  log.info('baselines ready', {
    profiles: stored,
    maxProfiles: limits.maxProfiles,
    maxIdleMs: limits.maxIdleMs,
  });

  const apply = (p: Profile, e: ProfileEdit, ctx: EditContext): Profile => {
    switch (e.action) {
      case 'reopen':
        return reopenLearning(p, ctx);
      case 'lock':
        return lockProfile(p, ctx);
      case 'add':
        return addItem(p, e.item, ctx);
      case 'remove':
        return removeItem(p, e.item, ctx);
    }
  };

  return {
    acceptDelta(node, delta) {
      if (stopped) return reject(node, delta.workloadKey, 'stopped', 'the collector is shutting down');
      return mergeDelta(node, delta);
    },
    get(key) {
      const entry = load(key);
      return entry === undefined ? undefined : summarizeProfile(entry.profile);
    },
    list(filter) {
      flush();
      const rows = store.list({
        ...(filter.namespace !== undefined && { namespace: filter.namespace }),
        ...(filter.status !== undefined && { status: filter.status }),
        limit: filter.limit ?? limits.maxProfiles,
      });
      return rows.map((r) => r.summary as ListedSummary);
    },
    edit(key, e, actor) {
      const current = load(key);
      if (current === undefined) return { ok: false, reason: 'not-found', detail: `no profile '${key}'` };
      let next: Profile;
      try {
        next = apply(current.profile, e, { actor, nowMs: now() });
      } catch (err) {
        // The profile module refuses bad edits with a RangeError naming why (a full kind, a bad value).
        if (!(err instanceof RangeError)) throw err;
        return { ok: false, reason: 'invalid', detail: err.message };
      }
      const encoded = encodeProfile(next);
      if (encoded.byteLength > limits.maxProfileBytes) {
        return {
          ok: false,
          reason: 'profile-too-large',
          detail: `the edited profile would be ${encoded.byteLength} bytes; the limit is ${limits.maxProfileBytes}`,
        };
      }
      change(key, { profile: next, encoded });
      write([key]);
      edits.inc({ action: e.action });
      log.info('profile edited', {
        workload: key,
        action: e.action,
        actor,
        ...('item' in e && { item: `${e.item.kind}:${e.item.value}` }),
      });
      return { ok: true, summary: summarizeProfile(next) };
    },
    tick,
    flush,
    count: () => stored,
    expireIdle() {
      if (limits.maxIdleMs === 0) return 0;
      if (expirySlice !== undefined) clearImmediate(expirySlice);
      expirySlice = undefined;
      // A pass under way starts over with the current cutoff.
      expiry = { cutoffMs: now() - limits.maxIdleMs, after: undefined, expired: 0 };
      while (!expireSome(EXPIRE_SLICE_MS)) {
        // on until done
      }
      return finishExpiry();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      if (expiryTimer !== undefined) clearInterval(expiryTimer);
      if (expiryAtStart !== undefined) clearTimeout(expiryAtStart);
      if (expirySlice !== undefined) clearImmediate(expirySlice);
      expiry = undefined;
      // What is queued is merged, for a bounded time; what is left then is refused.
      drain(performance.now() + STOP_DRAIN_MS);
      for (let next = takeQueued(); next !== undefined; next = takeQueued()) {
        reject(next.node, next.delta.workloadKey, 'stopped', 'the collector stopped before merging it');
      }
      try {
        flush();
      } catch (err) {
        log.error('writing profiles at stop failed', { err, pending: pending.size });
      }
    },
  };
}
