/**
 * The agent's baseline engine: learns each workload's profile from the events of its containers,
 * locks it after the learning period, then scores every event of the workload against it.
 *
 * Per event (the pipeline calls {@link BaselineEngine.observe} once, before the rules):
 * 1. Which profile: the pod's workload (`namespace/Kind/name/container|image`); a container
 *    without pod metadata is profiled by its image (`-/Container/<repo>/-|<image>`) when the
 *    event names one; host processes are profiled under `-/Host/<node>/-|` only when
 *    `profileHost` is on (default off). Events with no container at all cost one lookup.
 * 2. The learning clock: activity is the time between a workload's events, each gap counted up
 *    to {@link MAX_ACTIVITY_GAP_MS}, so an idle workload does not "learn" by waiting. When the
 *    observed activity (all nodes together) reaches the learning period, this agent locks the
 *    profile before looking at the event.
 * 3. Drift: files written, renamed into place or made executable in a container after it started
 *    are remembered (per container, bounded); executing one is drift. The memory persists: each
 *    change (a path remembered or let go, a container let go) goes to the store with the
 *    write-behind flush, and a restart reloads it, so a file written before the restart and run
 *    after it is drift exactly as without the restart (replayed sources included). On a live node,
 *    an executable whose modification time is after the container's start is drift too.
 * 4. Learning: the event's items are added to the profile (kept as pending observations,
 *    folded into the profile by the write-behind flush). Locked: the event is scored; the verdict
 *    goes back to the pipeline, which puts it on signature alerts and raises an anomaly alert
 *    when it reaches the threshold and the workload's rate limit allows.
 *
 * During the grace period after a container starts, its events are learnt (while learning) but
 * never scored: start-up noise raises nothing.
 *
 * Times are event times (`evt.rawtime`) where events carry them, so that a replay learns and
 * scores as the live run did; the rate limit uses the wall clock.
 *
 * The write-behind flush (every `flushIntervalMs`, and at close) stores the changed profiles,
 * the system-call sequence learners of profiles still learning that learnt something since their
 * last write (at most once every {@link LEARNER_WRITE_INTERVAL_MS}, and at eviction and
 * close), and the drift memory's changes; a restart loads them back (see sequence-tracker.ts
 * for the learners), so nothing learnt before a restart is lost.
 *
 * Bounded: `maxProfiles` profiles in memory (the least recently used is written out and dropped,
 * and read back from the store when its workload shows up again, with its learners), bounded
 * pending observations (by the profile's per-kind cap), bounded drift memory ({@link
 * MAX_CONTAINERS} containers of {@link MAX_WRITTEN_PER_CONTAINER} paths, mirrored in the store)
 * and sequence state.
 */
import {
  decodeProfile,
  emptyProfile,
  encodeProfile,
  historyStartMs,
  itemKey,
  lockProfile,
  mergeProfiles,
  observationDelta,
  MAX_ITEMS_PER_KIND,
  profileStatus,
  UNSET_MS,
  type Profile,
  type ProfileItemKind,
  type ProfileStatus,
} from '../../core/baseline/profile.js';
import { observationItems, scoreObservation, type Observation } from '../../core/baseline/scorer.js';
import type { Event } from '../../core/event.js';
import type { Logger } from '../../core/log.js';
import { profileKeyOf } from '../../core/baseline/profile.js';
import type { Workload } from '../../core/workload.js';
import type { AgentContext } from '../state/agent-context.js';
import type { BaselineStore } from './baseline-store.js';
import { eventTimeMs, factsOf } from './event-observation.js';
import { OutgoingDeltas } from './outgoing-deltas.js';
import { SequenceTracker } from './sequence-tracker.js';

/** Longest gap between two events of a workload counted as activity. */
export const MAX_ACTIVITY_GAP_MS = 60_000;
/** A learnt item's last-seen time is refreshed at most this often. */
const LAST_SEEN_GRANULARITY_MS = 10 * 60_000;
/**
 * This node's learning clock is folded into its profile (and so stored and sent to the
 * collector) when it has moved this much: not at every flush, or every learning profile would
 * go to the collector, and from there to every agent, every few seconds.
 */
const ACTIVITY_SYNC_MS = 60_000;
/** The same anomaly (what its strongest novelty is about) of a workload is raised again at most this often. */
const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_REPEATS_REMEMBERED = 256;
// Drift memory: paths written per container, and containers followed (a node runs at most a few
// hundred); the least recently seen go first.
export const MAX_WRITTEN_PER_CONTAINER = 512;
export const MAX_CONTAINERS = 1024;
/**
 * Changes to the drift memory waiting for the flush (coalesced per path); at this many they are
 * written at once, and if the store cannot take them they are dropped (counted as a store error).
 */
const MAX_DRIFT_JOURNAL = 16_384;
/**
 * Bytes of sequence learners written by one periodic write (a busy learner is up to about 1.3 MB,
 * mostly the calls it keeps for calibration, and is written whole); the others wait for the next
 * one, those changed longest ago first. Evictions and close write everything.
 */
const LEARNER_BYTES_PER_FLUSH = 8 << 20;
/**
 * Periodic writes of sequence learners happen at most this often, not at every flush: busy
 * learners change at every flush, and rewriting 8 MiB every 2 s would be 4 MB/s (~400 GB a day)
 * of disk writes (test/bench/learner-flush.ts); at this interval, at most ~0.16 MB/s while
 * profiles learn. A crash (not a stop) loses at most what learners gathered since their last write.
 */
export const LEARNER_WRITE_INTERVAL_MS = 60_000;
const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Options of {@link BaselineEngine}. */
export interface BaselineEngineOptions {
  readonly node: string;
  readonly context: AgentContext;
  readonly logger: Logger;
  /** Observed activity after which a profile locks. Default one hour. */
  readonly learningPeriodMs?: number;
  /** Time after a container's start during which its events are not scored. Default 0. */
  readonly gracePeriodMs?: number;
  /** Score from which an event raises an anomaly alert. Default 0.7. */
  readonly threshold?: number;
  /** Anomaly alerts per workload per minute; more are counted as suppressed. Default 10. */
  readonly maxAlertsPerMinute?: number;
  /** Profiles held in memory. Default 512. */
  readonly maxProfiles?: number;
  /** Profile host processes too (under one profile per node). Default false. */
  readonly profileHost?: boolean;
  /** Learn and score system-call sequences per executable. Default true. */
  readonly sequences?: boolean;
  /** Unit score from which a complete system-call trace is anomalous. Default 0.999. */
  readonly sequenceThreshold?: number;
  /** Where profiles persist; without it they live in memory only. */
  readonly store?: BaselineStore;
  /**
   * The modification time (ms) of executable `path` as process `pid` sees it, when it can be
   * read (live nodes: `/proc/<pid>/root/<path>`); enables the mtime drift check.
   */
  readonly executableMtimeMs?: (pid: number, path: string) => number | undefined;
  /** Wall clock (rate limits, times of events without `evt.rawtime`). */
  readonly now?: () => number;
  /** Write-behind interval. Default 2 s; 0 disables the timer (call {@link BaselineEngine.flush}). */
  readonly flushIntervalMs?: number;
}

/** What the baseline says about one event. */
export interface BaselineVerdict {
  /** The profile's key. */
  readonly key: string;
  readonly workload: Workload | undefined;
  /** The profile was locked and the event was scored. */
  readonly scored: boolean;
  readonly score: number;
  readonly reasons: readonly string[];
  /** The rule name of the strongest novelty ('' when none). */
  readonly rule: string;
  /** The event is to be raised as an anomaly alert (threshold reached, within the rate limit). */
  readonly raise: boolean;
  /** Fields for the anomaly alert's output (empty unless `raise`). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Counters of the engine (read by the metrics). */
export interface BaselineStats {
  readonly profiles: Record<ProfileStatus, number>;
  /** Events scored against a locked profile. */
  readonly eventsScored: number;
  readonly anomaliesRaised: number;
  readonly anomaliesSuppressed: { rate: number; repeat: number };
  readonly driftDetected: number;
  readonly updatesMerged: number;
  readonly updatesRejected: number;
  readonly deltasSent: number;
  /** Bytes of deltas sent: whole profiles (first after a connection, or catching up), and real deltas. */
  readonly deltaBytesSent: { readonly whole: number; readonly delta: number };
  readonly storeErrors: number;
  readonly itemsNotLearned: number;
  readonly profilesEvicted: number;
  readonly sequence: {
    learners: number;
    models: number;
    processes: number;
    learnersRefused: number;
    /** Stored learners that could not be read (those executables started learning afresh). */
    learnersUnreadable: number;
    /**
     * Stored learners deleted to keep the store within its learner limit (the least recently
     * written: mostly those of profiles out of memory, which then learn afresh if they return).
     */
    learnersDropped: number;
  };
}

interface PendingItem {
  kind: ProfileItemKind;
  value: string;
  firstSeenMs: number;
  lastSeenMs: number;
}

interface LocalProfile {
  readonly key: string;
  base: Profile;
  readonly pending: Map<string, PendingItem>;
  /** This node's activity in the base's epoch (cumulative, including what is not folded yet). */
  nodeActivity: number;
  /** This node's items not learnt for lack of room (cumulative). */
  nodeNotLearned: number;
  lastEventMs: number | undefined;
  /** Items per kind in base plus pending (the capacity check). */
  readonly kindCounts: Map<ProfileItemKind, number>;
  /** Needs writing to the store. */
  dirty: boolean;
  rateWindowStart: number;
  rateCount: number;
  /** The verdict on events that show nothing new (immutable, shared). */
  calm: BaselineVerdict | undefined;
  readonly repeats: Map<string, number>;
}

interface ContainerState {
  /**
   * Set when first seen (for a container reloaded from the store: at its first event since, to
   * the start its pod gives, else to its earliest remembered write).
   */
  startMs: number;
  /** False for a container reloaded from the store and not seen since. */
  seen: boolean;
  /** Paths written after the start, oldest write first (the first goes when full). */
  readonly written: Set<string>;
  /** When it was last seen (the eviction order: a long-running container is not the first to go). */
  lastMs: number;
}

interface Subject {
  readonly key: string;
  readonly workload: Workload | undefined;
  readonly containerId: string | undefined;
  readonly startMs: number | undefined;
}

function imageRepoName(image: string): string {
  const at = image.indexOf('@');
  let rest = at >= 0 ? image.slice(0, at) : image;
  const slash = rest.lastIndexOf('/');
  rest = rest.slice(slash + 1);
  const colon = rest.indexOf(':');
  return (colon >= 0 ? rest.slice(0, colon) : rest) || 'unknown';
}

/** See the module comment. */
export class BaselineEngine {
  private readonly node: string;
  private readonly actor: string;
  private readonly context: AgentContext;
  private readonly log: Logger;
  private readonly learningPeriodMs: number;
  private readonly gracePeriodMs: number;
  readonly threshold: number;
  private readonly maxAlertsPerMinute: number;
  private readonly maxProfiles: number;
  private readonly profileHost: boolean;
  private readonly store: BaselineStore | undefined;
  private readonly mtime: ((pid: number, path: string) => number | undefined) | undefined;
  private readonly now: () => number;
  private readonly sequences: SequenceTracker | undefined;
  /** Profiles in memory, least recently used first. */
  private readonly profiles = new Map<string, LocalProfile>();
  /** Keys with changes the collector has not been sent. */
  private readonly unsent = new Set<string>();
  /** What each profile's next delta holds (what changed since it was last sent). */
  private readonly outgoing: OutgoingDeltas;
  private readonly containers = new Map<string, ContainerState>();
  /**
   * Drift-memory changes not yet in the store, per container: `forget` = delete its stored rows
   * first; then per path the time written (put) or undefined (remove). Only with a store.
   */
  private readonly driftJournal = new Map<
    string,
    { forget: boolean; changes: Map<string, number | undefined> }
  >();
  private driftJournalSize = 0;
  private readonly workloadKeys = new WeakMap<Workload, string>();
  private readonly imageKeys = new Map<string, string>();
  private readonly hostKey: string;
  private lastUsed: LocalProfile | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the periodic flush last wrote sequence learners (see LEARNER_WRITE_INTERVAL_MS). */
  private learnersWrittenMs = -Infinity;
  private readonly listeners: ((key: string, p: Profile) => void)[] = [];
  private readonly counts = {
    eventsScored: 0,
    anomaliesRaised: 0,
    suppressedRate: 0,
    suppressedRepeat: 0,
    driftDetected: 0,
    updatesMerged: 0,
    updatesRejected: 0,
    deltasSent: 0,
    deltaBytesWhole: 0,
    deltaBytesPart: 0,
    storeErrors: 0,
    itemsNotLearned: 0,
    profilesEvicted: 0,
    learnersDropped: 0,
  };

  constructor(options: BaselineEngineOptions) {
    this.node = options.node;
    this.actor = `agent:${options.node}`;
    this.outgoing = new OutgoingDeltas(options.node);
    this.context = options.context;
    this.log = options.logger;
    this.learningPeriodMs = options.learningPeriodMs ?? 3_600_000;
    this.gracePeriodMs = options.gracePeriodMs ?? 0;
    this.threshold = options.threshold ?? 0.7;
    this.maxAlertsPerMinute = options.maxAlertsPerMinute ?? 10;
    this.maxProfiles = Math.max(1, options.maxProfiles ?? 512);
    this.profileHost = options.profileHost ?? false;
    this.store = options.store;
    this.mtime = options.executableMtimeMs;
    this.now = options.now ?? Date.now;
    this.sequences =
      options.sequences === false
        ? undefined
        : new SequenceTracker({ traceThreshold: options.sequenceThreshold ?? 0.999 });
    this.hostKey = `-/Host/${options.node}/-|`;
    this.loadFromStore();
    this.loadDriftMemory();
    const interval = options.flushIntervalMs ?? 2000;
    if (interval > 0) {
      this.timer = setInterval(() => this.flush(), interval);
      this.timer.unref();
    }
  }

  private loadFromStore(): void {
    if (this.store === undefined) return;
    let rows;
    try {
      rows = this.store.loadRecent(this.maxProfiles);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.error('cannot read stored profiles; starting with none', { err });
      return;
    }
    // Oldest first, so that the most recent end up most recently used.
    for (const row of rows.reverse()) {
      const p = this.decodeStored(row.key, row.bytes);
      if (p !== undefined) this.install(p);
    }
    if (rows.length > 0) this.log.info('profiles loaded', { profiles: this.profiles.size });
  }

  private decodeStored(key: string, bytes: Uint8Array): Profile | undefined {
    try {
      const p = decodeProfile(bytes);
      if (p.key !== key) throw new Error(`stored under '${key}' but holds '${p.key}'`);
      return p;
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('stored profile unreadable; ignored', { profile: key, err });
      return undefined;
    }
  }

  private install(p: Profile): LocalProfile {
    const local: LocalProfile = {
      key: p.key,
      base: p,
      pending: new Map(),
      nodeActivity: p.activity.get(this.node) ?? 0,
      nodeNotLearned: p.notLearned.get(this.node) ?? 0,
      lastEventMs: undefined,
      kindCounts: new Map(),
      dirty: false,
      rateWindowStart: 0,
      rateCount: 0,
      calm: undefined,
      repeats: new Map(),
    };
    this.recount(local);
    this.profiles.set(p.key, local);
    if (p.lock !== undefined && this.sequences !== undefined && this.store !== undefined) {
      try {
        const bad = this.sequences.restore(p.key, this.store.loadModels(p.key));
        if (bad.length > 0)
          this.log.warn('stored sequence models unreadable; ignored', { profile: p.key, exes: bad });
      } catch (err) {
        this.counts.storeErrors++;
        this.log.warn('cannot read stored sequence models', { profile: p.key, err });
      }
    } else if (p.lock === undefined && this.sequences !== undefined && this.store !== undefined) {
      this.restoreLearners(p.key, this.sequences, this.store);
    }
    return local;
  }

  /** Puts back the sequence learners of a learning profile loaded from the store. */
  private restoreLearners(key: string, seq: SequenceTracker, store: BaselineStore): void {
    try {
      const bad = seq.restoreLearners(key, store.loadLearners(key));
      if (bad.length === 0) return;
      // Logged once: the unreadable rows go, and these executables learn afresh.
      this.log.warn('stored sequence learners unreadable; those executables learn afresh', {
        profile: key,
        exes: bad,
      });
      store.deleteLearners(key, bad);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('cannot read stored sequence learners', { profile: key, err });
    }
  }

  /**
   * Writes the sequence learners that learnt something since their last write (of `key`, or all;
   * up to `maxBytes` of them).
   */
  private writeLearners(key?: string, maxBytes = Infinity): void {
    const seq = this.sequences;
    if (seq === undefined || this.store === undefined) return;
    const rows = seq.changedLearners(key, maxBytes);
    if (rows.length === 0) return;
    try {
      const dropped = this.store.putLearners(rows, this.now());
      seq.learnersStored(rows);
      if (dropped > 0) {
        this.counts.learnersDropped += dropped;
        this.log.warn('the store holds no more sequence learners; the least recently written went', {
          dropped,
        });
      }
    } catch (err) {
      this.counts.storeErrors++;
      this.log.error('cannot write sequence learners to the store; will retry', {
        err,
        learners: rows.length,
      });
    }
  }

  /** Reloads the drift memory kept by the last run (pruned to the in-memory limits). */
  private loadDriftMemory(): void {
    if (this.store === undefined) return;
    let rows;
    try {
      rows = this.store.loadDriftMemory(MAX_CONTAINERS, MAX_WRITTEN_PER_CONTAINER);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.error('cannot read the stored drift memory; starting with none', { err });
      return;
    }
    // Containers least recently written first, each one's paths oldest first: the eviction orders.
    for (const r of rows) {
      let c = this.containers.get(r.containerId);
      if (c === undefined) {
        c = { startMs: r.writtenMs, seen: false, written: new Set(), lastMs: r.writtenMs };
        this.containers.set(r.containerId, c);
      }
      c.written.add(r.path);
      if (r.writtenMs > c.lastMs) c.lastMs = r.writtenMs;
    }
    if (rows.length > 0)
      this.log.info('drift memory loaded', { containers: this.containers.size, paths: rows.length });
  }

  /** Notes a drift-memory change for the next flush (`writtenMs` undefined: the path was let go). */
  private journalWrite(containerId: string, path: string, writtenMs: number | undefined): void {
    if (this.store === undefined) return;
    let entry = this.driftJournal.get(containerId);
    if (entry === undefined) {
      entry = { forget: false, changes: new Map() };
      this.driftJournal.set(containerId, entry);
    }
    const before = entry.changes.size;
    entry.changes.set(path, writtenMs);
    this.driftJournalSize += entry.changes.size - before;
    if (this.driftJournalSize >= MAX_DRIFT_JOURNAL) this.writeDrift();
  }

  /** Notes that a container was let go: its stored rows go at the next flush. */
  private journalForget(containerId: string): void {
    if (this.store === undefined) return;
    const entry = this.driftJournal.get(containerId);
    if (entry !== undefined) this.driftJournalSize -= entry.changes.size;
    this.driftJournal.set(containerId, { forget: true, changes: new Map() });
    this.driftJournalSize++;
    if (this.driftJournalSize >= MAX_DRIFT_JOURNAL) this.writeDrift();
  }

  /** Writes the drift-memory changes (the write-behind flush). */
  private writeDrift(): void {
    if (this.store === undefined || this.driftJournal.size === 0) return;
    const forget: string[] = [];
    const put: { containerId: string; path: string; writtenMs: number }[] = [];
    const remove: { containerId: string; path: string }[] = [];
    for (const [containerId, entry] of this.driftJournal) {
      if (entry.forget) forget.push(containerId);
      for (const [path, writtenMs] of entry.changes) {
        if (writtenMs === undefined) remove.push({ containerId, path });
        else put.push({ containerId, path, writtenMs });
      }
    }
    try {
      this.store.applyDriftChanges({ forget, put, remove });
    } catch (err) {
      this.counts.storeErrors++;
      if (this.driftJournalSize < MAX_DRIFT_JOURNAL) {
        this.log.error('cannot write the drift memory to the store; will retry', { err });
        return;
      }
      this.log.error('cannot write the drift memory to the store; changes dropped', {
        err,
        changes: this.driftJournalSize,
      });
    }
    this.driftJournal.clear();
    this.driftJournalSize = 0;
  }

  private recount(local: LocalProfile): void {
    local.kindCounts.clear();
    for (const item of local.base.items.values()) {
      local.kindCounts.set(item.kind, (local.kindCounts.get(item.kind) ?? 0) + 1);
    }
    for (const item of local.pending.values()) {
      if (!local.base.items.has(itemKey(item.kind, item.value))) {
        local.kindCounts.set(item.kind, (local.kindCounts.get(item.kind) ?? 0) + 1);
      }
    }
  }

  /** The profile for `key`, from memory or the store, or a new one; most recently used. */
  private profileFor(key: string): LocalProfile {
    // Runs of events from one workload: no reordering needed.
    const last = this.lastUsed;
    if (last !== undefined && last.key === key && this.profiles.get(key) === last) return last;
    let local = this.profiles.get(key);
    if (local !== undefined) {
      this.lastUsed = local;
      this.profiles.delete(key);
      this.profiles.set(key, local);
      return local;
    }
    while (this.profiles.size >= this.maxProfiles) this.evictOldest();
    let stored: Profile | undefined;
    if (this.store !== undefined) {
      try {
        const bytes = this.store.get(key);
        if (bytes !== undefined) stored = this.decodeStored(key, bytes);
      } catch (err) {
        this.counts.storeErrors++;
        this.log.warn('cannot read a stored profile', { profile: key, err });
      }
    }
    local = this.install(stored ?? emptyProfile(key));
    if (stored === undefined) local.dirty = true;
    // Read back after an eviction: what it holds may not have reached the collector.
    else this.unsent.add(key);
    this.lastUsed = local;
    return local;
  }

  private evictOldest(): void {
    const oldest = this.profiles.values().next().value;
    if (oldest === undefined) return;
    this.fold(oldest);
    if (oldest.dirty) this.writeOut([oldest]);
    this.profiles.delete(oldest.key);
    // What it holds that the collector was not sent goes whole from the store at the next
    // takeOutgoing (its workload may never show up here again). At most as many such keys as
    // profiles in memory wait; past that, it is sent when it is read back.
    if (this.store === undefined || this.unsent.size > 2 * this.maxProfiles) this.unsent.delete(oldest.key);
    this.outgoing.forget(oldest.key);
    // Its learners come back with it (see install) while the store keeps them: it holds as many
    // learners as memory does, the least recently written going first (counted).
    this.writeLearners(oldest.key);
    this.sequences?.forget(oldest.key);
    this.counts.profilesEvicted++;
  }

  private subjectOf(evt: Event): Subject | undefined {
    const ctx = this.context;
    const id = ctx.containerIdOf(evt);
    if (id === undefined) return undefined;
    if (id === 'host' || id === '') {
      return this.profileHost
        ? { key: this.hostKey, workload: undefined, containerId: undefined, startMs: undefined }
        : undefined;
    }
    const workload = ctx.workloadOf(evt);
    if (workload !== undefined) {
      let key = this.workloadKeys.get(workload);
      if (key === undefined) {
        key = profileKeyOf(workload, workload.image);
        this.workloadKeys.set(workload, key);
      }
      const started = ctx.podOf(evt)?.startedAt;
      return {
        key,
        workload,
        containerId: id,
        startMs: started === undefined ? undefined : Number(started / 1_000_000n),
      };
    }
    const image = evt.fields['container.image'];
    if (typeof image !== 'string' || image === '' || image === '<NA>') return undefined;
    let key = this.imageKeys.get(image);
    if (key === undefined) {
      key = `-/Container/${imageRepoName(image)}/-|${image}`;
      if (this.imageKeys.size >= MAX_CONTAINERS) this.imageKeys.clear();
      this.imageKeys.set(image, key);
    }
    return { key, workload: undefined, containerId: id, startMs: undefined };
  }

  private containerState(id: string, startMs: number | undefined, t: number): ContainerState {
    let c = this.containers.get(id);
    if (c === undefined) {
      if (this.containers.size >= MAX_CONTAINERS) {
        // The least recently seen goes (a scan, only when a new container shows up on a full map).
        let oldest: string | undefined;
        let oldestMs = Infinity;
        for (const [cid, state] of this.containers) {
          if (state.lastMs < oldestMs) {
            oldestMs = state.lastMs;
            oldest = cid;
          }
        }
        if (oldest !== undefined) {
          this.containers.delete(oldest);
          this.journalForget(oldest);
        }
      }
      c = { startMs: startMs ?? t, seen: true, written: new Set(), lastMs: t };
      this.containers.set(id, c);
    } else {
      if (!c.seen) {
        // Reloaded from the store: its paths are known, its start is known now; when it is not,
        // it started before its earliest remembered write (the grace period does not start over).
        c.seen = true;
        c.startMs = startMs ?? Math.min(c.startMs, t);
      }
      if (t > c.lastMs) c.lastMs = t;
    }
    return c;
  }

  /**
   * Learns from or scores one event. Returns undefined for events of no profile (and, while the
   * profile learns, for every event); otherwise the verdict.
   */
  observe(evt: Event): BaselineVerdict | undefined {
    const subject = this.subjectOf(evt);
    if (subject === undefined) return undefined;
    const type = evt.fields['evt.type'];
    if (typeof type !== 'string') return undefined;
    const t = eventTimeMs(evt) ?? this.now();
    const local = this.profileFor(subject.key);

    // The learning clock, and the lock when the period is over.
    if (local.base.lock === undefined) {
      if (local.lastEventMs !== undefined && t > local.lastEventMs) {
        // Stored when folded (see ACTIVITY_SYNC_MS), and at close.
        local.nodeActivity += Math.min(t - local.lastEventMs, MAX_ACTIVITY_GAP_MS);
      }
      if (this.observedTotal(local) >= this.learningPeriodMs) this.lock(local, t);
    }
    if (local.lastEventMs === undefined || t > local.lastEventMs) local.lastEventMs = t;

    const facts = factsOf(evt, type);
    const learning = local.base.lock === undefined;
    let drift: Observation['drift'];
    let container: ContainerState | undefined;
    if (subject.containerId !== undefined) {
      container = this.containerState(subject.containerId, subject.startMs, t);
      if (facts.written !== undefined && t >= container.startMs) {
        const w = container.written;
        w.delete(facts.written);
        if (w.size >= MAX_WRITTEN_PER_CONTAINER) {
          const first = w.values().next().value as string;
          w.delete(first);
          this.journalWrite(subject.containerId, first, undefined);
        }
        w.add(facts.written);
        this.journalWrite(subject.containerId, facts.written, t);
      }
      if (facts.execPath !== undefined) drift = this.driftOf(evt, facts.execPath, container);
    }
    const inGrace =
      container !== undefined && this.gracePeriodMs > 0 && t - container.startMs < this.gracePeriodMs;

    let sequence: Observation['sequence'];
    const seq = this.sequences;
    if (seq !== undefined && evt.fields['evt.sampled'] !== true) {
      const pid = evt.fields['proc.pid'];
      if (typeof pid === 'number' && pid > 0) {
        if (type === 'procexit') {
          const ended = seq.endProcess(pid);
          if (ended !== undefined) sequence = { exe: ended.exe, score: seq.weight(ended.score) };
        } else if (SequenceTracker.isSyscall(type) && evt.fields['evt.dir'] !== '<') {
          const exe = facts.execPath ?? this.exeOf(evt);
          if (exe !== undefined) {
            const s = seq.call(subject.key, exe, pid, type, learning);
            if (s !== undefined) sequence = { exe, score: seq.weight(s) };
          }
        }
      }
    }

    if (learning) {
      this.learn(local, facts.observation, t);
      return undefined;
    }
    if (inGrace) return undefined;
    const observation: Observation =
      drift === undefined && sequence === undefined
        ? facts.observation
        : {
            ...facts.observation,
            ...(drift !== undefined ? { drift } : {}),
            ...(sequence !== undefined ? { sequence } : {}),
          };
    const verdict = scoreObservation(local.base, observation, { nowMs: t });
    this.counts.eventsScored++;
    if (verdict.score === 0) {
      // The common case: one shared answer per profile and workload.
      const calm = local.calm;
      if (calm !== undefined && calm.workload === subject.workload) return calm;
      local.calm = {
        key: local.key,
        workload: subject.workload,
        scored: true,
        score: 0,
        reasons: verdict.reasons,
        rule: '',
        raise: false,
        fields: NO_FIELDS,
      };
      return local.calm;
    }
    let raise = false;
    if (verdict.score >= this.threshold) {
      if (drift !== undefined) this.counts.driftDetected++;
      raise = this.allow(local, verdict.subject, t);
    }
    return {
      key: local.key,
      workload: subject.workload,
      scored: true,
      score: verdict.score,
      reasons: verdict.reasons,
      rule: verdict.rule,
      raise,
      fields: raise ? this.outputFields(evt, local, observation) : NO_FIELDS,
    };
  }

  private exeOf(evt: Event): string | undefined {
    const proc = this.context.processOf(evt);
    const path = proc?.exepath ?? evt.fields['proc.exepath'];
    if (typeof path === 'string' && path.startsWith('/')) return path;
    const exe = proc?.exe ?? evt.fields['proc.exe'];
    if (typeof exe === 'string' && exe !== '' && exe !== '<NA>') return exe;
    const name = proc?.name ?? evt.fields['proc.name'];
    return typeof name === 'string' && name !== '' && name !== '<NA>' ? name : undefined;
  }

  private driftOf(evt: Event, path: string, container: ContainerState): Observation['drift'] {
    if (container.written.has(path)) return { path, why: 'written after the container started' };
    const pid = evt.fields['proc.pid'];
    if (this.mtime === undefined || typeof pid !== 'number' || !path.startsWith('/')) return undefined;
    const m = this.mtime(pid, path);
    // A second of slack: image layers are unpacked just before the container starts.
    if (m !== undefined && m > container.startMs + 1000) {
      return { path, why: `modified at ${new Date(m).toISOString()}, after the container started` };
    }
    return undefined;
  }

  private outputFields(evt: Event, local: LocalProfile, obs: Observation): Record<string, unknown> {
    const f = evt.fields;
    const out: Record<string, unknown> = {
      'evt.type': f['evt.type'] ?? null,
      'proc.exepath': obs.exec?.path ?? this.exeOf(evt) ?? null,
      'proc.pexepath': obs.exec?.parent ?? null,
      'proc.pid': f['proc.pid'] ?? null,
      'user.name': obs.user ?? f['user.name'] ?? null,
      'container.id': this.context.resolve('container.id', undefined, evt) ?? null,
      'k8s.ns.name': this.context.resolve('k8s.ns.name', undefined, evt) ?? null,
      'k8s.pod.name': this.context.resolve('k8s.pod.name', undefined, evt) ?? null,
      'vigil.profile': local.key,
    };
    if (obs.fileWrite !== undefined) out['fd.name'] = obs.fileWrite;
    if (obs.connect !== undefined) {
      out['fd.sip'] = obs.connect.address;
      out['fd.sport'] = obs.connect.port;
      out['fd.l4proto'] = obs.connect.proto;
    }
    if (obs.listen !== undefined) {
      out['fd.sport'] = obs.listen.port;
      out['fd.l4proto'] = obs.listen.proto;
    }
    return out;
  }

  /** Whether an anomaly may be raised now (rate limit and repeat suppression); counts what is not. */
  private allow(local: LocalProfile, subject: string, t: number): boolean {
    const wall = this.now();
    const repeatKey = subject;
    const last = local.repeats.get(repeatKey);
    if (last !== undefined && t - last < REPEAT_WINDOW_MS && t >= last) {
      this.counts.suppressedRepeat++;
      return false;
    }
    if (wall - local.rateWindowStart >= 60_000) {
      local.rateWindowStart = wall;
      local.rateCount = 0;
    }
    if (local.rateCount >= this.maxAlertsPerMinute) {
      this.counts.suppressedRate++;
      return false;
    }
    local.rateCount++;
    if (local.repeats.size >= MAX_REPEATS_REMEMBERED)
      local.repeats.delete(local.repeats.keys().next().value as string);
    local.repeats.set(repeatKey, t);
    this.counts.anomaliesRaised++;
    return true;
  }

  private observedTotal(local: LocalProfile): number {
    let sum = local.nodeActivity;
    for (const [node, v] of local.base.activity) if (node !== this.node) sum += v;
    return sum;
  }

  private learn(local: LocalProfile, obs: Observation, t: number): void {
    for (const item of observationItems(obs)) {
      const k = itemKey(item.kind, item.value);
      const pending = local.pending.get(k);
      if (pending !== undefined) {
        if (t > pending.lastSeenMs) pending.lastSeenMs = t;
        if (t < pending.firstSeenMs) pending.firstSeenMs = t;
        continue;
      }
      const known = local.base.items.get(k);
      if (
        known !== undefined &&
        known.firstSeenMs !== UNSET_MS &&
        (known.manual === undefined || known.manual.present || known.lastSeenMs > known.manual.timeMs) &&
        t - known.lastSeenMs < LAST_SEEN_GRANULARITY_MS &&
        t >= known.firstSeenMs
      ) {
        continue;
      }
      if (known === undefined) {
        const n = local.kindCounts.get(item.kind) ?? 0;
        if (n >= MAX_ITEMS_PER_KIND) {
          local.nodeNotLearned++;
          this.counts.itemsNotLearned++;
          local.dirty = true;
          continue;
        }
        local.kindCounts.set(item.kind, n + 1);
      }
      local.pending.set(k, { kind: item.kind, value: item.value, firstSeenMs: t, lastSeenMs: t });
      local.dirty = true;
    }
  }

  /** Folds pending observations and this node's counters into the profile. */
  private fold(local: LocalProfile): void {
    const base = local.base;
    const ownActivity = base.activity.get(this.node) ?? 0;
    const ownNotLearned = base.notLearned.get(this.node) ?? 0;
    if (
      local.pending.size === 0 &&
      local.nodeActivity <= ownActivity &&
      local.nodeNotLearned <= ownNotLearned
    )
      return;
    const delta = observationDelta(
      base,
      this.node,
      local.nodeActivity,
      local.pending.values(),
      local.nodeNotLearned,
    );
    const merged = mergeProfiles(base, delta);
    this.outgoing.itemsChanged(local.key, local.pending.keys());
    this.outgoing.headerChanged(local.key, merged.trimmed !== base.trimmed);
    local.base = merged;
    local.pending.clear();
    local.dirty = true;
    this.unsent.add(local.key);
  }

  private lock(local: LocalProfile, t: number): void {
    this.fold(local);
    local.base = lockProfile(local.base, { actor: this.actor, nowMs: t });
    local.dirty = true;
    this.outgoing.headerChanged(local.key);
    this.unsent.add(local.key);
    this.log.info('profile locked', {
      profile: local.key,
      observedMs: this.observedTotal(local),
      items: local.base.items.size,
    });
    this.modelsLocked(local.key);
    this.emit(local);
  }

  private modelsLocked(key: string): void {
    const seq = this.sequences;
    if (seq === undefined) return;
    const models = seq.lock(key);
    if (this.store === undefined) return;
    // Written even when there are none: stored models of an earlier epoch must not come back at
    // the next start (they describe what a reopening set aside).
    try {
      this.store.putModels(key, models);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('cannot store sequence models', { profile: key, err });
    }
  }

  /** A new learning epoch: the profile's learners and models go, in memory and in the store. */
  private forgetSequences(key: string): void {
    if (this.sequences === undefined) return;
    this.sequences.forget(key);
    try {
      this.store?.deleteLearners(key);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('cannot delete stored sequence learners', { profile: key, err });
    }
  }

  private emit(local: LocalProfile): void {
    for (const l of this.listeners) l(local.key, local.base);
  }

  /** Calls `listener` when a profile's life cycle changes (tests, logs). */
  onLifecycle(listener: (key: string, p: Profile) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Merges a profile from the collector (a `BaselineUpdate`). Bad bytes are counted and logged,
   * and change nothing. Returns whether it was applied.
   */
  applyRemote(workloadKey: string, bytes: Uint8Array): boolean {
    let remote: Profile;
    try {
      remote = decodeProfile(bytes);
      if (remote.key !== workloadKey) {
        throw new Error(`the update for '${workloadKey}' holds the profile of '${remote.key}'`);
      }
    } catch (err) {
      this.counts.updatesRejected++;
      this.log.warn('baseline update rejected', { profile: workloadKey, err });
      return false;
    }
    // A profile of a workload not running here, when memory is full, goes to the store: in memory
    // it would push out the profile of a workload that is running here (the collector sends every
    // agent every profile). It is read back when its workload shows up.
    if (
      !this.profiles.has(remote.key) &&
      this.profiles.size >= this.maxProfiles &&
      this.store !== undefined &&
      this.mergeStored(remote)
    ) {
      this.counts.updatesMerged++;
      return true;
    }
    const local = this.profileFor(remote.key);
    // Pending observations stay pending (folded, and sent, by the next flush): folding them here
    // would send the profile back at every update while it learns.
    const before = local.base;
    const merged = mergeProfiles(before, remote);
    local.base = merged;
    this.counts.updatesMerged++;
    if (merged.epoch !== before.epoch) {
      local.nodeActivity = merged.activity.get(this.node) ?? 0;
      local.lastEventMs = undefined;
      this.forgetSequences(local.key);
    } else {
      local.nodeActivity = Math.max(local.nodeActivity, merged.activity.get(this.node) ?? 0);
    }
    local.nodeNotLearned = Math.max(local.nodeNotLearned, merged.notLearned.get(this.node) ?? 0);
    this.recount(local);
    if (merged !== before) local.dirty = true;
    // What the collector lacks goes back to it: what changed here with the next delta, and what
    // it lost (a refused delta, an expired profile) with the whole profile.
    const mergedBytes = encodeProfile(merged);
    if (sameBytes(mergedBytes, bytes)) this.outgoing.confirmed(local.key);
    else if (this.outgoing.checkRemote(merged, remote, this.now())) this.unsent.add(local.key);
    if (profileStatus(before) !== profileStatus(merged) || before.epoch !== merged.epoch) {
      if (merged.lock !== undefined && before.lock === undefined) this.modelsLocked(local.key);
      this.log.info('profile life cycle changed by the collector', {
        profile: local.key,
        status: profileStatus(merged),
        epoch: merged.epoch,
      });
      this.emit(local);
    }
    return true;
  }

  /**
   * Merges `remote` into the stored profile of a workload not in memory. False when that cannot
   * be done or when the stored profile holds what the collector lacks (the caller then loads it,
   * to send it back).
   */
  private mergeStored(remote: Profile): boolean {
    const store = this.store as BaselineStore;
    try {
      const storedBytes = store.get(remote.key);
      const stored = storedBytes === undefined ? undefined : this.decodeStored(remote.key, storedBytes);
      const remoteBytes = encodeProfile(remote);
      const mergedBytes = stored === undefined ? remoteBytes : encodeProfile(mergeProfiles(stored, remote));
      if (!sameBytes(mergedBytes, remoteBytes)) return false;
      if (storedBytes === undefined || !sameBytes(storedBytes, mergedBytes)) {
        store.putMany([{ key: remote.key, bytes: mergedBytes }], this.now());
      }
      if (stored !== undefined && this.sequences !== undefined) {
        // Its stored learners follow the life cycle as if it were in memory: a new epoch drops
        // them, a lock turns them into models.
        if (remote.epoch !== stored.epoch) store.deleteLearners(remote.key);
        else if (remote.lock !== undefined && stored.lock === undefined)
          store.putModels(remote.key, this.sequences.modelsOf(store.loadLearners(remote.key)));
      }
      return true;
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('cannot merge a profile update into the store', { profile: remote.key, err });
      return false;
    }
  }

  /**
   * Up to `max` profiles with changes the collector has not been sent: each as a delta of what
   * changed since it was last sent, or whole when it was not sent on this stream yet (see
   * outgoing-deltas.ts), or, evicted from memory since it changed, as stored.
   */
  takeOutgoing(max: number): { workloadKey: string; delta: Uint8Array }[] {
    const out: { workloadKey: string; delta: Uint8Array }[] = [];
    // Fold first: pending observations make a profile unsent.
    for (const local of this.profiles.values()) if (local.pending.size > 0) this.fold(local);
    const t = this.now();
    for (const key of this.unsent) {
      if (out.length >= max) break;
      this.unsent.delete(key);
      const local = this.profiles.get(key);
      if (local === undefined) {
        // Evicted before its turn (see evictOldest): the stored profile, whole.
        const bytes = this.storedBytes(key);
        if (bytes === undefined) continue;
        this.counts.deltaBytesWhole += bytes.length;
        out.push({ workloadKey: key, delta: bytes });
        continue;
      }
      this.fold(local);
      const taken = this.outgoing.take(local.base, t);
      if (taken === undefined) continue;
      if (taken.whole) this.counts.deltaBytesWhole += taken.bytes.length;
      else this.counts.deltaBytesPart += taken.bytes.length;
      out.push({ workloadKey: key, delta: taken.bytes });
    }
    this.counts.deltasSent += out.length;
    return out;
  }

  /** The stored bytes of `key` (undefined when there are none or the store fails: counted). */
  private storedBytes(key: string): Uint8Array | undefined {
    try {
      return this.store?.get(key);
    } catch (err) {
      this.counts.storeErrors++;
      this.log.warn('cannot read a stored profile to send', { profile: key, err });
      return undefined;
    }
  }

  /**
   * A new link to the collector: every profile in memory is sent again, whole first (what was
   * sent on the last stream may not have arrived).
   */
  resendAll(): void {
    this.outgoing.resendAll();
    for (const key of this.profiles.keys()) this.unsent.add(key);
  }

  /** Writes changed profiles to the store (the write-behind flush; at most `maxBatch` at once). */
  flush(maxBatch = 256): void {
    const batch: LocalProfile[] = [];
    for (const local of this.profiles.values()) {
      if (
        local.pending.size > 0 ||
        local.nodeActivity - (local.base.activity.get(this.node) ?? 0) >= ACTIVITY_SYNC_MS
      )
        this.fold(local);
      if (local.dirty) batch.push(local);
      if (batch.length >= maxBatch) break;
    }
    this.writeOut(batch);
    const t = this.now();
    // Sends the collector never showed it holds go again, whole (see outgoing-deltas.ts).
    for (const key of this.outgoing.overdue(t)) this.unsent.add(key);
    if (t - this.learnersWrittenMs >= LEARNER_WRITE_INTERVAL_MS || t < this.learnersWrittenMs) {
      this.learnersWrittenMs = t;
      this.writeLearners(undefined, LEARNER_BYTES_PER_FLUSH);
    }
    this.writeDrift();
  }

  private writeOut(batch: readonly LocalProfile[]): void {
    if (batch.length === 0) return;
    if (this.store === undefined) {
      for (const l of batch) l.dirty = false;
      return;
    }
    try {
      this.store.putMany(
        batch.map((l) => ({ key: l.key, bytes: encodeProfile(l.base) })),
        this.now(),
      );
      for (const l of batch) l.dirty = false;
    } catch (err) {
      this.counts.storeErrors++;
      this.log.error('cannot write profiles to the store; will retry', { err, profiles: batch.length });
    }
  }

  /** The current profile of `key` (folded), if in memory. */
  profile(key: string): Profile | undefined {
    const local = this.profiles.get(key);
    if (local === undefined) return undefined;
    this.fold(local);
    return local.base;
  }

  /** Keys of the profiles in memory. */
  keys(): string[] {
    return [...this.profiles.keys()];
  }

  /** When the history of a profile in memory starts (for tests and status). */
  historyStart(key: string): number | undefined {
    const p = this.profile(key);
    if (p === undefined) return undefined;
    const s = historyStartMs(p);
    return s === UNSET_MS ? undefined : s;
  }

  stats(): BaselineStats {
    const profiles: Record<ProfileStatus, number> = { learning: 0, locked: 0 };
    for (const l of this.profiles.values()) profiles[profileStatus(l.base)]++;
    const c = this.counts;
    return {
      profiles,
      eventsScored: c.eventsScored,
      anomaliesRaised: c.anomaliesRaised,
      anomaliesSuppressed: { rate: c.suppressedRate, repeat: c.suppressedRepeat },
      driftDetected: c.driftDetected,
      updatesMerged: c.updatesMerged,
      updatesRejected: c.updatesRejected,
      deltasSent: c.deltasSent,
      deltaBytesSent: { whole: c.deltaBytesWhole, delta: c.deltaBytesPart },
      storeErrors: c.storeErrors,
      itemsNotLearned: c.itemsNotLearned,
      profilesEvicted: c.profilesEvicted,
      sequence: {
        ...(this.sequences?.stats() ?? { learners: 0, models: 0, processes: 0 }),
        learnersRefused: this.sequences?.learnersRefused ?? 0,
        learnersUnreadable: this.sequences?.learnersUnreadable ?? 0,
        learnersDropped: c.learnersDropped,
      },
    };
  }

  /** Stops the timer and writes everything out. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    const all = [...this.profiles.values()];
    for (const l of all) this.fold(l);
    this.writeOut(all.filter((l) => l.dirty));
    this.writeLearners();
    this.writeDrift();
    this.store?.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
