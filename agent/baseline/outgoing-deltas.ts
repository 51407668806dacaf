/**
 * What each profile's next delta to the collector holds: only what changed here since it was last
 * sent, as a profile ({@link profileDelta}, a join-decomposition of the whole), so that one item's
 * moved last-seen costs a few hundred bytes instead of the whole profile.
 *
 * Nothing is lost on the way:
 * - The first delta of a profile after every (re)connection is the whole profile: the link calls
 *   {@link OutgoingDeltas.resendAll} when a stream is welcomed (`BaselineLink.resendAll` in
 *   agent/ship/link-session.ts), which forgets every record, and a profile with no record is sent
 *   whole. So are profiles loaded from the store or read back after an eviction (their record
 *   went with them).
 * - A delta sent on a stream that breaks is covered by the whole profile sent on the next one.
 * - A delta the collector refused without the stream breaking (its queue was full, say), or a
 *   profile the collector forgot (expired), shows when the collector sends its merged profile
 *   back: if that lacks something this agent sent more than {@link IN_FLIGHT_MS} ago (so not
 *   merely still on its way), the next delta is the whole profile
 *   ({@link OutgoingDeltas.checkRemote}).
 * - The collector sends a profile back only when a delta changed it, so a refused delta may get
 *   no answer at all (nothing else changes the profile: it locked, say). A profile whose last
 *   send is two {@link IN_FLIGHT_MS} old, with no profile from the collector since that either
 *   held all this agent holds or came after those two windows (and was checked as above), is
 *   sent whole once more ({@link OutgoingDeltas.overdue}). That retry awaits no answer (a delta
 *   that changed nothing at the collector gets none either). A profile sent to steadily is
 *   never overdue: the answers to its sends do the checking.
 *
 * Memory: no second copy of any profile. Per profile in the engine's memory, the keys of the items
 * changed since the last send, and of those sent in the last one to two {@link IN_FLIGHT_MS}
 * windows (two generations of sets, swapped, not per-item times): three sets of references to the
 * profile's own key strings, each at most the profile's items (6 × 1,000), and a few flags and
 * times. Records go with their profile ({@link OutgoingDeltas.forget}) and all at once on a new
 * stream.
 */
import {
  encodeProfile,
  profileDelta,
  type ItemState,
  type Profile,
  type ProfileItemKind,
  type Stamp,
} from '../../core/baseline/profile.js';

/**
 * How long a sent item counts as still on its way to the collector: the collector merges deltas
 * from a bounded queue (seconds at most) and sends changed profiles back at most once a second.
 */
export const IN_FLIGHT_MS = 60_000;

interface DeltaRecord {
  /** The next delta is the whole profile. */
  whole: boolean;
  /** The life cycle or this node's counters changed (they go in every delta anyway). */
  header: boolean;
  /** The trimmed sets changed here: the next delta carries them. */
  trimmed: boolean;
  /** Keys of items changed here since the last send. */
  readonly items: Set<string>;
  /** Keys of items sent in the current window, and in the one before. */
  recent: Set<string>;
  older: Set<string>;
  windowStartMs: number;
  /** When the whole profile, and the life cycle, were last sent (-Infinity: never). */
  wholeSentMs: number;
  headerSentMs: number;
  /** The last send awaits a profile from the collector (see {@link OutgoingDeltas.overdue}). */
  awaiting: boolean;
  /** The next whole profile is the retry of {@link OutgoingDeltas.overdue}: no answer awaited. */
  retry: boolean;
}

/** What {@link OutgoingDeltas.take} sends. */
export interface OutgoingDelta {
  readonly bytes: Uint8Array;
  /** The whole profile, not a delta. */
  readonly whole: boolean;
}

/** See the module comment. One per engine; `node` is this agent's node name. */
export class OutgoingDeltas {
  private readonly records = new Map<string, DeltaRecord>();

  constructor(private readonly node: string) {}

  private recordOf(key: string): DeltaRecord {
    let r = this.records.get(key);
    if (r === undefined) {
      r = {
        whole: true,
        header: false,
        trimmed: false,
        items: new Set(),
        recent: new Set(),
        older: new Set(),
        windowStartMs: -Infinity,
        wholeSentMs: -Infinity,
        headerSentMs: -Infinity,
        awaiting: false,
        retry: false,
      };
      this.records.set(key, r);
    }
    return r;
  }

  /** Items of `key` changed here (observations folded in). */
  itemsChanged(key: string, itemKeys: Iterable<string>): void {
    const r = this.recordOf(key);
    if (r.whole) return;
    for (const k of itemKeys) r.items.add(k);
  }

  /** The life cycle or this node's counters of `key` changed here; `trimmed`: its trimmed sets too. */
  headerChanged(key: string, trimmed = false): void {
    const r = this.recordOf(key);
    r.header = true;
    if (trimmed) r.trimmed = true;
  }

  /** Whether `key` has something to send. */
  pending(key: string): boolean {
    const r = this.records.get(key);
    return r === undefined || r.whole || r.header || r.trimmed || r.items.size > 0;
  }

  /**
   * The bytes to send for `p` now (the whole profile, or what changed since the last send), and
   * the record reset; undefined when nothing changed.
   */
  take(p: Profile, nowMs: number): OutgoingDelta | undefined {
    const r = this.recordOf(p.key);
    this.rotate(r, nowMs);
    let bytes: Uint8Array;
    const whole = r.whole;
    if (whole) {
      bytes = encodeProfile(p);
      r.wholeSentMs = nowMs;
      r.whole = false;
    } else {
      if (r.items.size === 0 && !r.header && !r.trimmed) return undefined;
      bytes = encodeProfile(profileDelta(p, this.node, r.items, r.trimmed));
      for (const k of r.items) r.recent.add(k);
    }
    r.headerSentMs = nowMs;
    r.awaiting = !r.retry;
    r.retry = false;
    r.items.clear();
    r.header = false;
    r.trimmed = false;
    return { bytes, whole };
  }

  /**
   * Looks at a merged profile the collector sent (`remote`) and what merging it here gave
   * (`merged`): where the collector lacks something this agent holds that is neither waiting to
   * be sent nor sent within {@link IN_FLIGHT_MS}, the collector lost it, and the next delta is
   * the whole profile. Trimmed sets the collector lacks go with the next delta. Returns whether
   * `key` now has something to send.
   */
  checkRemote(merged: Profile, remote: Profile, nowMs: number): boolean {
    const r = this.recordOf(merged.key);
    if (r.whole) return true;
    this.rotate(r, nowMs);
    if (!sameTrimmed(merged.trimmed, remote.trimmed)) r.trimmed = true;
    // Nothing sent is on its way any more: what follows judges it all.
    if (nowMs - r.headerSentMs >= 2 * IN_FLIGHT_MS) r.awaiting = false;
    const wholeOnItsWay = nowMs - r.wholeSentMs < IN_FLIGHT_MS;
    if (!wholeOnItsWay) {
      const headerOnItsWay = r.header || nowMs - r.headerSentMs < IN_FLIGHT_MS;
      if (!headerOnItsWay && !sameHeader(merged, remote)) r.whole = true;
      else {
        for (const [k, mine] of merged.items) {
          const theirs = remote.items.get(k);
          if (theirs === mine || (theirs !== undefined && sameItem(mine, theirs))) continue;
          if (r.items.has(k) || r.recent.has(k) || r.older.has(k)) continue;
          r.whole = true;
          break;
        }
      }
    }
    if (r.whole) r.items.clear();
    return this.pending(merged.key);
  }

  /** The collector's profile of `key` holds everything this agent holds: what was sent arrived. */
  confirmed(key: string): void {
    const r = this.records.get(key);
    if (r !== undefined) r.awaiting = false;
  }

  /**
   * Keys whose last send, two {@link IN_FLIGHT_MS} ago or more, no profile from the collector has
   * answered: each is next sent whole, once (see the module comment). One pass over the records
   * (one per profile in memory); call it now and then (the engine's flush).
   */
  overdue(nowMs: number): string[] {
    const out: string[] = [];
    for (const [key, r] of this.records) {
      if (!r.awaiting || nowMs - r.headerSentMs < 2 * IN_FLIGHT_MS) continue;
      r.awaiting = false;
      r.whole = true;
      r.retry = true;
      r.items.clear();
      out.push(key);
    }
    return out;
  }

  /** Forgets `key` (its profile left memory): when it comes back, it is sent whole. */
  forget(key: string): void {
    this.records.delete(key);
  }

  /** A new stream: every profile is next sent whole. */
  resendAll(): void {
    this.records.clear();
  }

  /** Profiles with a record (for tests and the memory bound). */
  get size(): number {
    return this.records.size;
  }

  private rotate(r: DeltaRecord, nowMs: number): void {
    const age = nowMs - r.windowStartMs;
    if (age < IN_FLIGHT_MS) return;
    r.older = age < 2 * IN_FLIGHT_MS ? r.recent : new Set();
    r.recent = new Set();
    r.windowStartMs = nowMs;
  }
}

function sameStamp(a: Stamp | undefined, b: Stamp | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.timeMs === b.timeMs && a.actor === b.actor;
}

function sameCounter(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function sameHeader(a: Profile, b: Profile): boolean {
  return (
    a.epoch === b.epoch &&
    sameStamp(a.epochStart, b.epochStart) &&
    sameStamp(a.lock, b.lock) &&
    sameCounter(a.activity, b.activity) &&
    sameCounter(a.notLearned, b.notLearned)
  );
}

function sameTrimmed(
  a: ReadonlyMap<ProfileItemKind, readonly number[]>,
  b: ReadonlyMap<ProfileItemKind, readonly number[]>,
): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [kind, xs] of a) {
    const ys = b.get(kind);
    if (ys === undefined || ys.length !== xs.length) return false;
    for (let i = 0; i < xs.length; i++) if (xs[i] !== ys[i]) return false;
  }
  return true;
}

function sameItem(a: ItemState, b: ItemState): boolean {
  if (a.firstSeenMs !== b.firstSeenMs || a.lastSeenMs !== b.lastSeenMs) return false;
  if (a.nodes.length !== b.nodes.length) return false;
  for (let i = 0; i < a.nodes.length; i++) if (a.nodes[i] !== b.nodes[i]) return false;
  const x = a.manual;
  const y = b.manual;
  if (x === undefined || y === undefined) return x === y;
  return x.present === y.present && sameStamp(x, y);
}
