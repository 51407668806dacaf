/**
 * Per-workload behaviour profiles: what a workload's containers normally do (executables run,
 * parent → child pairs, users, files written, outbound destinations, listening ports), learnt
 * while the profile is learning and compared against once it is locked.
 *
 * A profile is keyed by {@link profileKeyOf} (workload identity and image), so every replica on
 * every node shares one. Agents learn locally and exchange profiles through the collector, so a
 * profile is a state-based CRDT: {@link mergeProfiles} is commutative, associative and
 * idempotent, and every change (an observation, an automatic lock, an operator's edit) is a
 * value that merges the same way whatever the order or grouping it arrives in.
 *
 * The parts and how each merges:
 * - items, by `kind` and `value`: first seen (min), last seen (max), the nodes that saw it (a
 *   set, at most {@link MAX_ITEM_NODES}, the smallest names kept), and an operator's add or
 *   remove as a last-writer-wins register ordered by (time, actor, add over remove). An item is
 *   in the profile when an operator added it, or when it was learnt and not removed since (an
 *   observation after a removal brings it back: it can only happen while learning again);
 * - the life cycle: an epoch counter that every reopening increments (the higher epoch wins
 *   whole), the epoch's start (earliest), and, within an epoch, the lock (the earliest lock wins;
 *   an epoch never goes from locked back to learning — reopening starts a new epoch);
 * - the learning clock: activity observed per node in the current epoch, a G-counter (max per
 *   node); the profile's observed activity is its sum;
 * - items not learnt because a kind was full, per node, a G-counter too;
 * - items a merge dropped because their kind was full ("trimmed"), per kind: the
 *   {@link MAX_TRIMMED_HASHES} smallest 32-bit hashes of the dropped values, a bottom-k set
 *   (the union's smallest k: a join). The set of dropped values is the same whatever the order
 *   of merges (the values ever seen less the kept ones), so the count is exact while there are
 *   fewer than k, and an estimate from the k-th smallest hash above ({@link summarizeProfile}).
 *
 * Bounded: at most {@link MAX_ITEMS_PER_KIND} items of each kind (a merge keeps the smallest
 * values when the union is larger: a pure function of the keys, so merging stays associative;
 * a value dropped once never comes back, as the smaller ones that pushed it out stay);
 * values at most {@link MAX_VALUE_LENGTH} characters ({@link boundValue}); at most
 * {@link MAX_PROFILE_NODES} nodes in the counters. The binary form ({@link encodeProfile}) is
 * canonical: equal profiles encode to equal bytes.
 *
 * Pure: no clock; times come from the caller.
 */
import { workloadKey, type Workload } from '../workload.js';

/** What a profile item describes. */
export type ProfileItemKind = 'exec' | 'spawn' | 'user' | 'file_write' | 'connect' | 'listen';

/** Every item kind, in encoding order. */
export const PROFILE_ITEM_KINDS: readonly ProfileItemKind[] = [
  'exec',
  'spawn',
  'user',
  'file_write',
  'connect',
  'listen',
];

/**
 * One thing a workload does. Values by kind:
 * - `exec`: an executable's path, `/usr/bin/curl`
 * - `spawn`: parent and child executables, `/bin/sh -> /usr/bin/curl` (see {@link spawnValue})
 * - `user`: a user name (or uid when the name is unknown), `www-data`
 * - `file_write`: a path or a generalised path, `/var/log/app.log`, `/tmp/*` (see paths.ts)
 * - `connect`: `proto address:port`, `tcp 10.0.0.7:5432`, `udp [fd00::a]:53`, or a network,
 *   `tcp 10.0.0.0/24:443`
 * - `listen`: `proto port`, `tcp 8080`
 */
export interface ProfileItem {
  readonly kind: ProfileItemKind;
  readonly value: string;
}

/** Longest item value kept; longer ones are cut by {@link boundValue}. */
export const MAX_VALUE_LENGTH = 512;
/** Most items of one kind a profile holds. */
export const MAX_ITEMS_PER_KIND = 1000;
/** Most nodes an item remembers having seen it. */
export const MAX_ITEM_NODES = 16;
/** Most nodes the learning clock and the counters hold. */
export const MAX_PROFILE_NODES = 1024;
/** Longest profile key. */
export const MAX_KEY_LENGTH = 1024;
/**
 * Longest node or actor name: a DNS subdomain name (253 characters, the longest Kubernetes node
 * name) behind a prefix of up to 67 characters, such as the agent's `agent:<node>`.
 */
export const MAX_NAME_LENGTH = 320;
/** Most hashes of trimmed values kept per kind (the count is exact below this). */
export const MAX_TRIMMED_HASHES = 256;
/** Largest encoded profile {@link decodeProfile} accepts. */
export const MAX_PROFILE_BYTES = 8 * 1024 * 1024;

/** A time not known yet: larger than any real time, so `min` ignores it. */
export const UNSET_MS = Number.MAX_SAFE_INTEGER;

/** Who did something, and when (milliseconds since the epoch). */
export interface Stamp {
  readonly timeMs: number;
  readonly actor: string;
}

/** An operator's last add or remove of an item. */
export interface ManualEdit extends Stamp {
  readonly present: boolean;
}

/** What the profile knows of one item. */
export interface ItemState {
  readonly kind: ProfileItemKind;
  readonly value: string;
  /** When it was first observed while learning; {@link UNSET_MS} when never (added by hand). */
  readonly firstSeenMs: number;
  /** When it was last observed while learning; 0 when never. */
  readonly lastSeenMs: number;
  /** Nodes that observed it, sorted, at most {@link MAX_ITEM_NODES}. */
  readonly nodes: readonly string[];
  readonly manual: ManualEdit | undefined;
}

/**
 * A profile: an immutable value. Read it through the functions of this module; the fields are
 * visible for them and for tests, and are never changed after construction.
 */
export interface Profile {
  readonly key: string;
  /** Incremented by every reopening of learning. */
  readonly epoch: number;
  /** When the current epoch started learning ({@link UNSET_MS} until the first observation). */
  readonly epochStart: Stamp;
  /** When (and by whom) the current epoch was locked; undefined while learning. */
  readonly lock: Stamp | undefined;
  /** Activity observed while learning in the current epoch, per node, in milliseconds. */
  readonly activity: ReadonlyMap<string, number>;
  /** Items not learnt because their kind was full, per node. */
  readonly notLearned: ReadonlyMap<string, number>;
  /**
   * Per kind, the smallest hashes of the values a merge dropped because the kind was full:
   * ascending, 1..{@link MAX_TRIMMED_HASHES} of them; kinds with none are absent.
   */
  readonly trimmed: ReadonlyMap<ProfileItemKind, readonly number[]>;
  /** Items by {@link itemKey}. */
  readonly items: ReadonlyMap<string, ItemState>;
}

/** A profile's life-cycle status. */
export type ProfileStatus = 'learning' | 'locked';

/** Who edits, and when: an operator's token name on the collector, `agent:<node>` on an agent. */
export interface EditContext {
  readonly actor: string;
  readonly nowMs: number;
}

/** A profile in the shape the API and the console show. JSON-able. */
export interface ProfileSummary {
  key: string;
  namespace: string;
  ownerKind: string;
  ownerName: string;
  container: string;
  image: string;
  status: ProfileStatus;
  learningSinceMs: number;
  lockedAtMs: number | null;
  /** Activity observed while learning in the current epoch (all nodes together). */
  observedMs: number;
  /** Nodes that contributed. */
  nodes: string[];
  items: {
    kind: ProfileItemKind;
    value: string;
    firstSeenMs: number;
    lastSeenMs: number;
    manual: boolean;
  }[];
  sizeBytes: number;
  /** Items of each kind, present ones only. */
  itemCounts: Record<ProfileItemKind, number>;
  /** Kinds that reached {@link MAX_ITEMS_PER_KIND}: new items of them are not learnt. */
  full: ProfileItemKind[];
  /** Items not learnt because their kind was full (all nodes together). */
  notLearned: number;
  /**
   * Items a merge dropped because their kind was full, per kind (distinct values). Exact below
   * {@link MAX_TRIMMED_HASHES}; an estimate for the kinds in `trimmedEstimated`.
   */
  trimmed: Record<ProfileItemKind, number>;
  /** Kinds whose `trimmed` figure is an estimate (about 6% off, typically). */
  trimmedEstimated: ProfileItemKind[];
}

/** A profile's bytes could not be read. */
export class ProfileDecodeError extends Error {
  constructor(message: string) {
    super(`profile: ${message}`);
    this.name = 'ProfileDecodeError';
  }
}

/**
 * The key of a workload's profile: `namespace/Kind/name/container|image`.
 *
 * @example profileKeyOf(w, 'nginx:1.27') // 'shop/Deployment/web/nginx|nginx:1.27'
 */
export function profileKeyOf(workload: Workload, image: string): string {
  return `${workloadKey(workload)}|${image}`;
}

/** The parts of a profile key; blank parts where the key does not have the usual shape. */
export function parseProfileKey(key: string): {
  namespace: string;
  ownerKind: string;
  ownerName: string;
  container: string;
  image: string;
} {
  const bar = key.indexOf('|');
  const identity = bar < 0 ? key : key.slice(0, bar);
  const image = bar < 0 ? '' : key.slice(bar + 1);
  const parts = identity.split('/');
  if (parts.length !== 4) return { namespace: '', ownerKind: '', ownerName: identity, container: '', image };
  const [namespace, ownerKind, ownerName, container] = parts as [string, string, string, string];
  return { namespace, ownerKind, ownerName, container, image };
}

/** The map key of an item. */
export function itemKey(kind: ProfileItemKind, value: string): string {
  return `${kind}\u0000${value}`;
}

/** The value of a `spawn` item. */
export function spawnValue(parent: string, child: string): string {
  return `${parent} -> ${child}`;
}

/** Whether `s` is well-formed UTF-16 (no lone surrogate): only then does it survive UTF-8 unchanged. */
function wellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * `value` cut to {@link MAX_VALUE_LENGTH} characters (the last one an ellipsis), so that long
 * paths stay bounded and still compare equal to themselves. Lone surrogates (from a cut through
 * a pair, or in the input) become U+FFFD, as the binary form would make them: a value must read
 * back from bytes as the same string, or one item would turn into two equal ones.
 */
export function boundValue(value: string): string {
  const cut = value.length <= MAX_VALUE_LENGTH ? value : `${value.slice(0, MAX_VALUE_LENGTH - 1)}\u2026`;
  return wellFormed(cut) ? cut : (cut as unknown as { toWellFormed(): string }).toWellFormed();
}

function checkKey(key: string): void {
  if (key === '' || key.length > MAX_KEY_LENGTH) {
    throw new RangeError(`profile key must be 1..${MAX_KEY_LENGTH} characters, got ${key.length}`);
  }
}

/** No trimmed values (shared: profiles are never changed in place). */
const NO_TRIMMED: ReadonlyMap<ProfileItemKind, readonly number[]> = new Map();

/** A profile with nothing learnt, learning. */
export function emptyProfile(key: string): Profile {
  checkKey(key);
  return {
    key,
    epoch: 0,
    epochStart: { timeMs: UNSET_MS, actor: '' },
    lock: undefined,
    activity: new Map(),
    notLearned: new Map(),
    trimmed: NO_TRIMMED,
    items: new Map(),
  };
}

// ---- Orders and merges of the parts ---------------------------------------------------------

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The earlier of two stamps (then the smaller actor): min is a semilattice join here. */
function earlierStamp(a: Stamp, b: Stamp): Stamp {
  if (a.timeMs !== b.timeMs) return a.timeMs < b.timeMs ? a : b;
  return compareStrings(a.actor, b.actor) <= 0 ? a : b;
}

/** The later of two edits by (time, actor, add over remove). */
function laterEdit(a: ManualEdit | undefined, b: ManualEdit | undefined): ManualEdit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a.timeMs !== b.timeMs) return a.timeMs > b.timeMs ? a : b;
  const byActor = compareStrings(a.actor, b.actor);
  if (byActor !== 0) return byActor > 0 ? a : b;
  return a.present ? a : b;
}

/** The union of two sorted name lists, sorted, at most `max` (the smallest kept). */
function unionNames(a: readonly string[], b: readonly string[], max: number): readonly string[] {
  if (a === b || b.length === 0) return a;
  if (a.length === 0) return b;
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (out.length < max && (i < a.length || j < b.length)) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x < y)) {
      out.push(x as string);
      i++;
    } else if (x === undefined || y < x) {
      out.push(y);
      j++;
    } else {
      out.push(x);
      i++;
      j++;
    }
  }
  return out;
}

/** Per-key max of two counters, at most `max` keys (the smallest names kept). */
function mergeCounters(
  a: ReadonlyMap<string, number>,
  b: ReadonlyMap<string, number>,
  max: number,
): ReadonlyMap<string, number> {
  if (a === b || b.size === 0) return a;
  if (a.size === 0) return b;
  const all = new Map(a);
  for (const [k, v] of b) all.set(k, Math.max(v, all.get(k) ?? 0));
  if (all.size <= max) return all;
  const keep = [...all.keys()].sort(compareStrings).slice(0, max);
  return new Map(keep.map((k) => [k, all.get(k) as number]));
}

function mergeItem(a: ItemState, b: ItemState): ItemState {
  if (a === b) return a;
  return {
    kind: a.kind,
    value: a.value,
    firstSeenMs: Math.min(a.firstSeenMs, b.firstSeenMs),
    lastSeenMs: Math.max(a.lastSeenMs, b.lastSeenMs),
    nodes: unionNames(a.nodes, b.nodes, MAX_ITEM_NODES),
    manual: laterEdit(a.manual, b.manual),
  };
}

interface Trimmed {
  readonly items: ReadonlyMap<string, ItemState>;
  /** The items left out. */
  readonly dropped: readonly ItemState[];
}

const NOTHING_DROPPED: readonly ItemState[] = [];

/** `items` with at most {@link MAX_ITEMS_PER_KIND} of each kind, the smallest values kept. */
function trimItems(items: Map<string, ItemState>): Trimmed {
  const counts = new Map<ProfileItemKind, number>();
  for (const item of items.values()) counts.set(item.kind, (counts.get(item.kind) ?? 0) + 1);
  let over = false;
  for (const n of counts.values()) if (n > MAX_ITEMS_PER_KIND) over = true;
  if (!over) return { items, dropped: NOTHING_DROPPED };
  const out = new Map<string, ItemState>();
  const dropped: ItemState[] = [];
  const kept = new Map<ProfileItemKind, number>();
  for (const key of [...items.keys()].sort(compareStrings)) {
    const item = items.get(key) as ItemState;
    const n = kept.get(item.kind) ?? 0;
    if (n >= MAX_ITEMS_PER_KIND) {
      dropped.push(item);
      continue;
    }
    kept.set(item.kind, n + 1);
    out.set(key, item);
  }
  return { items: out, dropped };
}

function mergeItems(a: ReadonlyMap<string, ItemState>, b: ReadonlyMap<string, ItemState>): Trimmed {
  if (a === b || b.size === 0) return { items: a, dropped: NOTHING_DROPPED };
  if (a.size === 0) return { items: b, dropped: NOTHING_DROPPED };
  const out = new Map(a);
  for (const [k, item] of b) {
    const mine = out.get(k);
    out.set(k, mine === undefined ? item : mergeItem(mine, item));
  }
  return trimItems(out);
}

/**
 * The 32-bit FNV-1a hash of a value's UTF-16 code units: how a trimmed value is remembered.
 * Stable across versions and platforms (it is part of the binary form).
 */
export function trimmedValueHash(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The smallest {@link MAX_TRIMMED_HASHES} distinct hashes of `hashes`, ascending. */
function lowestHashes(hashes: number[]): readonly number[] {
  hashes.sort((x, y) => x - y);
  const out: number[] = [];
  for (const h of hashes) {
    if (out.length >= MAX_TRIMMED_HASHES) break;
    if (out[out.length - 1] !== h) out.push(h);
  }
  return out;
}

/** The union of two trimmed sets and the items just dropped, per kind (a join). */
function mergeTrimmed(
  a: ReadonlyMap<ProfileItemKind, readonly number[]>,
  b: ReadonlyMap<ProfileItemKind, readonly number[]>,
  dropped: readonly ItemState[],
): ReadonlyMap<ProfileItemKind, readonly number[]> {
  if (dropped.length === 0) {
    if (a === b || b.size === 0) return a;
    if (a.size === 0) return b;
  }
  const out = new Map<ProfileItemKind, readonly number[]>();
  for (const kind of PROFILE_ITEM_KINDS) {
    const all = [...(a.get(kind) ?? []), ...(b.get(kind) ?? [])];
    for (const item of dropped) if (item.kind === kind) all.push(trimmedValueHash(item.value));
    if (all.length > 0) out.set(kind, lowestHashes(all));
  }
  return out;
}

/**
 * Merges two states of the same profile. Commutative, associative and idempotent; throws when
 * the keys differ (merging different workloads is a bug in the caller).
 */
export function mergeProfiles(a: Profile, b: Profile): Profile {
  if (a === b) return a;
  if (a.key !== b.key) {
    throw new Error(`mergeProfiles: different profiles '${a.key}' and '${b.key}'`);
  }
  const { items, dropped } = mergeItems(a.items, b.items);
  const notLearned = mergeCounters(a.notLearned, b.notLearned, MAX_PROFILE_NODES);
  const trimmed = mergeTrimmed(a.trimmed, b.trimmed, dropped);
  if (a.epoch !== b.epoch) {
    // The higher epoch's life cycle and clock win whole; items and counters merge regardless.
    const newer = a.epoch > b.epoch ? a : b;
    return { ...newer, items, notLearned, trimmed };
  }
  let lock: Stamp | undefined;
  if (a.lock === undefined) lock = b.lock;
  else if (b.lock === undefined) lock = a.lock;
  else lock = earlierStamp(a.lock, b.lock);
  return {
    key: a.key,
    epoch: a.epoch,
    epochStart: earlierStamp(a.epochStart, b.epochStart),
    lock,
    activity: mergeCounters(a.activity, b.activity, MAX_PROFILE_NODES),
    notLearned,
    trimmed,
    items,
  };
}

// ---- Reading ------------------------------------------------------------------------------

/** Whether an item counts as part of the profile (see the module comment). */
export function itemPresent(item: ItemState): boolean {
  const learnt = item.firstSeenMs !== UNSET_MS;
  if (item.manual === undefined) return learnt;
  if (item.manual.present) return true;
  return learnt && item.lastSeenMs > item.manual.timeMs;
}

/** Whether the profile holds `kind`/`value` (exactly; see scorer.ts for patterns). */
export function profileHas(p: Profile, kind: ProfileItemKind, value: string): boolean {
  const item = p.items.get(itemKey(kind, value));
  return item !== undefined && itemPresent(item);
}

/** The profile's status. */
export function profileStatus(p: Profile): ProfileStatus {
  return p.lock === undefined ? 'learning' : 'locked';
}

/** Activity observed while learning in the current epoch, all nodes together, in ms. */
export function observedMs(p: Profile): number {
  let sum = 0;
  for (const v of p.activity.values()) sum += v;
  return sum;
}

/** Items of `kind` the profile holds (present or not), for the capacity check. */
export function itemCount(p: Profile, kind: ProfileItemKind): number {
  let n = 0;
  for (const item of p.items.values()) if (item.kind === kind) n++;
  return n;
}

/**
 * When the profile's history starts: its earliest learnt item, or the current epoch's start.
 * {@link UNSET_MS} when it has neither.
 */
export function historyStartMs(p: Profile): number {
  let start = p.epochStart.timeMs;
  for (const item of p.items.values()) if (item.firstSeenMs < start) start = item.firstSeenMs;
  return start;
}

// ---- Edits --------------------------------------------------------------------------------

function checkItem(item: ProfileItem): void {
  if (!PROFILE_ITEM_KINDS.includes(item.kind)) {
    throw new RangeError(`unknown profile item kind '${String(item.kind)}'`);
  }
  if (item.value === '' || item.value.length > MAX_VALUE_LENGTH) {
    throw new RangeError(`profile item value must be 1..${MAX_VALUE_LENGTH} characters`);
  }
  if (!wellFormed(item.value)) {
    throw new RangeError('profile item value must be well-formed Unicode (it holds a lone surrogate)');
  }
}

function checkContext(ctx: EditContext): void {
  if (!Number.isSafeInteger(ctx.nowMs) || ctx.nowMs < 0) {
    throw new RangeError(`edit time must be a non-negative integer of milliseconds, got ${ctx.nowMs}`);
  }
  if (ctx.actor.length > MAX_NAME_LENGTH) {
    throw new RangeError(`edit actor must be at most ${MAX_NAME_LENGTH} characters`);
  }
}

/**
 * Starts learning again: a new epoch, with the learning clock at zero. What was learnt stays;
 * new behaviour is added until the profile locks again.
 */
export function reopenLearning(p: Profile, ctx: EditContext): Profile {
  checkContext(ctx);
  return {
    ...p,
    epoch: p.epoch + 1,
    epochStart: { timeMs: ctx.nowMs, actor: ctx.actor },
    lock: undefined,
    activity: new Map(),
  };
}

/** Locks the profile: from now on, what it does not hold is an anomaly. A locked profile is returned as is. */
export function lockProfile(p: Profile, ctx: EditContext): Profile {
  checkContext(ctx);
  if (p.lock !== undefined) return p;
  return {
    ...p,
    // A profile locked before anything was observed starts its history at the lock.
    epochStart: p.epochStart.timeMs === UNSET_MS ? { timeMs: ctx.nowMs, actor: ctx.actor } : p.epochStart,
    lock: { timeMs: ctx.nowMs, actor: ctx.actor },
  };
}

function edit(p: Profile, item: ProfileItem, ctx: EditContext, present: boolean): Profile {
  checkItem(item);
  checkContext(ctx);
  const key = itemKey(item.kind, item.value);
  const mine = p.items.get(key);
  // An edit wins over every state its author has seen, even with a clock behind them.
  const seen = Math.max(mine?.manual?.timeMs ?? -1, present ? -1 : (mine?.lastSeenMs ?? -1));
  const manual: ManualEdit = { timeMs: Math.max(ctx.nowMs, seen + 1), actor: ctx.actor, present };
  const state: ItemState =
    mine === undefined
      ? { kind: item.kind, value: item.value, firstSeenMs: UNSET_MS, lastSeenMs: 0, nodes: [], manual }
      : { ...mine, manual };
  const items = new Map(p.items);
  items.set(key, state);
  const trimmed = trimItems(items);
  if (!trimmed.items.has(key)) {
    // A new item of a full kind that does not sort among the kept ones: it would be dropped at
    // once. Removing it changes nothing (it is not there); adding it is refused, not lost.
    if (!present) return p;
    throw new RangeError(
      `the profile holds its maximum of ${MAX_ITEMS_PER_KIND} ${item.kind} items; '${item.value}' would not be kept`,
    );
  }
  // The item kept pushed out the largest value of its full kind: that one is counted as trimmed.
  return { ...p, items: trimmed.items, trimmed: mergeTrimmed(p.trimmed, NO_TRIMMED, trimmed.dropped) };
}

/** Adds an item by hand (it stays in the profile until removed by hand). */
export function addItem(p: Profile, item: ProfileItem, ctx: EditContext): Profile {
  return edit(p, item, ctx, true);
}

/** Removes an item by hand (learning it again, after a reopening, brings it back). */
export function removeItem(p: Profile, item: ProfileItem, ctx: EditContext): Profile {
  return edit(p, item, ctx, false);
}

/**
 * A profile holding only observations (what an agent learnt since it last sent), with the
 * life cycle of `base`: the unit an agent sends as a delta. Merging it into any state of the
 * profile adds exactly these observations.
 */
export function observationDelta(
  base: Profile,
  node: string,
  activityMs: number,
  observed: Iterable<{ kind: ProfileItemKind; value: string; firstSeenMs: number; lastSeenMs: number }>,
  notLearned: number,
): Profile {
  const items = new Map<string, ItemState>();
  let firstMs = UNSET_MS;
  for (const o of observed) {
    if (o.firstSeenMs < firstMs) firstMs = o.firstSeenMs;
    items.set(itemKey(o.kind, o.value), {
      kind: o.kind,
      value: o.value,
      firstSeenMs: o.firstSeenMs,
      lastSeenMs: o.lastSeenMs,
      nodes: [node],
      manual: undefined,
    });
  }
  const kept = trimItems(items);
  return {
    key: base.key,
    epoch: base.epoch,
    // The first epoch starts with its first observation (a reopening sets the start of the others).
    epochStart:
      base.epochStart.timeMs === UNSET_MS && firstMs !== UNSET_MS
        ? { timeMs: firstMs, actor: `agent:${node}` }
        : base.epochStart,
    lock: base.lock,
    activity: activityMs > 0 ? new Map([[node, activityMs]]) : new Map(),
    notLearned: notLearned > 0 ? new Map([[node, notLearned]]) : new Map(),
    trimmed: mergeTrimmed(NO_TRIMMED, NO_TRIMMED, kept.dropped),
    items: kept.items,
  };
}

/**
 * The part of `p` an agent on `node` has changed since it last sent it: the items of
 * `itemKeys` (by {@link itemKey}; keys no longer in `p` are skipped), the life cycle, this node's
 * counters, and the trimmed sets when `withTrimmed`. A join-decomposition: merged into a state
 * that already holds everything `p` held when it was last sent (in full or by such deltas), it
 * gives what merging `p` whole gives.
 *
 * @example profileDelta(p, 'node-a', [itemKey('exec', '/bin/sh')], false)
 */
export function profileDelta(
  p: Profile,
  node: string,
  itemKeys: Iterable<string>,
  withTrimmed: boolean,
): Profile {
  const items = new Map<string, ItemState>();
  for (const k of itemKeys) {
    const item = p.items.get(k);
    if (item !== undefined) items.set(k, item);
  }
  const activity = p.activity.get(node);
  const notLearned = p.notLearned.get(node);
  return {
    key: p.key,
    epoch: p.epoch,
    epochStart: p.epochStart,
    lock: p.lock,
    activity: activity === undefined ? new Map() : new Map([[node, activity]]),
    notLearned: notLearned === undefined ? new Map() : new Map([[node, notLearned]]),
    trimmed: withTrimmed ? p.trimmed : NO_TRIMMED,
    items,
  };
}

// ---- Summary ------------------------------------------------------------------------------

/** The profile as the API shows it. */
export function summarizeProfile(p: Profile): ProfileSummary {
  const parts = parseProfileKey(p.key);
  const nodes = new Set<string>(p.activity.keys());
  const itemCounts: Record<ProfileItemKind, number> = {
    exec: 0,
    spawn: 0,
    user: 0,
    file_write: 0,
    connect: 0,
    listen: 0,
  };
  const held: Record<ProfileItemKind, number> = { ...itemCounts };
  const items: ProfileSummary['items'] = [];
  for (const key of [...p.items.keys()].sort(compareStrings)) {
    const item = p.items.get(key) as ItemState;
    held[item.kind]++;
    for (const n of item.nodes) nodes.add(n);
    if (!itemPresent(item)) continue;
    itemCounts[item.kind]++;
    const manual = item.manual?.present === true;
    items.push({
      kind: item.kind,
      value: item.value,
      firstSeenMs: item.firstSeenMs !== UNSET_MS ? item.firstSeenMs : (item.manual?.timeMs ?? 0),
      lastSeenMs: Math.max(item.lastSeenMs, manual ? (item.manual?.timeMs ?? 0) : 0),
      manual,
    });
  }
  let notLearned = 0;
  for (const v of p.notLearned.values()) notLearned += v;
  const trimmed: Record<ProfileItemKind, number> = { ...itemCounts };
  const trimmedEstimated: ProfileItemKind[] = [];
  for (const kind of PROFILE_ITEM_KINDS) {
    const hashes = p.trimmed.get(kind) ?? [];
    trimmed[kind] = hashes.length;
    const kth = hashes[MAX_TRIMMED_HASHES - 1];
    if (kth !== undefined) {
      // The bottom-k estimate of how many distinct hashes there are: (k - 1) / (k-th smallest).
      const estimate = Math.round(((MAX_TRIMMED_HASHES - 1) * 2 ** 32) / (kth + 1));
      trimmed[kind] = Math.max(MAX_TRIMMED_HASHES, estimate);
      trimmedEstimated.push(kind);
    }
  }
  return {
    key: p.key,
    ...parts,
    status: profileStatus(p),
    learningSinceMs: p.epochStart.timeMs === UNSET_MS ? 0 : p.epochStart.timeMs,
    lockedAtMs: p.lock === undefined ? null : p.lock.timeMs,
    observedMs: observedMs(p),
    nodes: [...nodes].sort(compareStrings).slice(0, MAX_PROFILE_NODES),
    items,
    sizeBytes: encodeProfile(p).length,
    itemCounts,
    full: PROFILE_ITEM_KINDS.filter((k) => held[k] >= MAX_ITEMS_PER_KIND),
    notLearned,
    trimmed,
    trimmedEstimated,
  };
}

// ---- Binary form --------------------------------------------------------------------------
//
//   'VGPF' u8(version: 1, or 2 when there is a trimmed section)
//   str key, uint epoch, stamp epochStart, u8 hasLock [stamp lock]
//   uint n, n × (str node, uint ms)          activity
//   uint n, n × (str node, uint count)       notLearned
//   uint n, n × (u8 kind, uint m, m × uint)  trimmed (version 2): kinds ascending, m ≥ 1 hashes
//                                            ascending, each written as its gap to the previous
//   uint n, n × item                         items, sorted by kind then value
//   item: u8 kind, str value, uint firstSeen, uint lastSeen, uint n, n × str node,
//         u8 manual (0 none, 1 added, 2 removed) [uint time, str actor]
//   stamp: uint time, str actor
// uint: unsigned LEB128 of an integer up to 2^53-1; str: uint byte length, UTF-8 (a lone
// surrogate as U+FFFD, as TextEncoder writes it). Version 1 is version 2 without `trimmed`: a
// profile with nothing trimmed (nearly all) is written as version 1, so that agents and
// collectors of the version before read it during a rolling upgrade. The version is a function
// of the profile, so the bytes stay canonical.

const MAGIC = [0x56, 0x47, 0x50, 0x46]; // 'VGPF'
const VERSION = 2;
const OLDEST_VERSION = 1;
/** The first version with the trimmed section. */
const TRIMMED_VERSION = 2;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  uint(v: number): void {
    this.room(8);
    let n = v;
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }

  /**
   * Writes `s` without a TextEncoder call in the common case (ASCII: one pass, one byte per
   * character); otherwise measures its UTF-8 length and encodes into the buffer in place.
   */
  str(s: string): void {
    const n = s.length;
    const start = this.len;
    this.uint(n);
    this.room(n);
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.len = start;
        this.strUtf8(s);
        return;
      }
      buf[at++] = c;
    }
    this.len = at;
  }

  private strUtf8(s: string): void {
    const size = utf8Length(s);
    this.uint(size);
    this.room(size);
    const { written } = utf8.encodeInto(s, this.buf.subarray(this.len, this.len + size));
    this.len += written;
  }

  stamp(s: Stamp): void {
    this.uint(s.timeMs);
    this.str(s.actor);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Bytes of `s` in UTF-8, a lone surrogate counting as U+FFFD (3 bytes). */
function utf8Length(s: string): number {
  let size = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        size += 4;
        i++;
      } else size += 3;
    } else size += 3;
  }
  return size;
}

const KIND_INDEX: Readonly<Record<ProfileItemKind, number>> = Object.fromEntries(
  PROFILE_ITEM_KINDS.map((k, i) => [k, i]),
) as Record<ProfileItemKind, number>;

function kindIndex(kind: ProfileItemKind): number {
  return KIND_INDEX[kind];
}

function sortedEntries<V>(map: ReadonlyMap<string, V>): [string, V][] {
  return [...map.entries()].sort((a, b) => compareStrings(a[0], b[0]));
}

/** The canonical bytes of a profile (a `BaselineDelta.delta` or `BaselineUpdate.profile`). */
export function encodeProfile(p: Profile): Uint8Array {
  const w = new Writer();
  for (const b of MAGIC) w.byte(b);
  const trimmedKinds = PROFILE_ITEM_KINDS.filter((k) => (p.trimmed.get(k)?.length ?? 0) > 0);
  w.byte(trimmedKinds.length > 0 ? TRIMMED_VERSION : OLDEST_VERSION);
  w.str(p.key);
  w.uint(p.epoch);
  w.stamp(p.epochStart);
  if (p.lock === undefined) w.byte(0);
  else {
    w.byte(1);
    w.stamp(p.lock);
  }
  for (const counter of [p.activity, p.notLearned]) {
    const entries = sortedEntries(counter);
    w.uint(entries.length);
    for (const [node, v] of entries) {
      w.str(node);
      w.uint(v);
    }
  }
  if (trimmedKinds.length > 0) w.uint(trimmedKinds.length);
  for (const kind of trimmedKinds) {
    const hashes = p.trimmed.get(kind) as readonly number[];
    w.byte(kindIndex(kind));
    w.uint(hashes.length);
    let prev = 0;
    for (const h of hashes) {
      w.uint(h - prev);
      prev = h;
    }
  }
  const items = [...p.items.values()].sort(
    (a, b) => kindIndex(a.kind) - kindIndex(b.kind) || compareStrings(a.value, b.value),
  );
  w.uint(items.length);
  for (const item of items) {
    w.byte(kindIndex(item.kind));
    w.str(item.value);
    w.uint(item.firstSeenMs);
    w.uint(item.lastSeenMs);
    w.uint(item.nodes.length);
    for (const n of item.nodes) w.str(n);
    if (item.manual === undefined) w.byte(0);
    else {
      w.byte(item.manual.present ? 1 : 2);
      w.stamp(item.manual);
    }
  }
  return w.bytes();
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  byte(what: string): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw new ProfileDecodeError(`truncated reading ${what} at byte ${this.pos}`);
    this.pos++;
    return b;
  }

  uint(what: string, max = Number.MAX_SAFE_INTEGER): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) throw new ProfileDecodeError(`${what}: integer longer than 8 bytes at byte ${this.pos}`);
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) break;
      scale *= 0x80;
    }
    if (value > max) throw new ProfileDecodeError(`${what}: ${value} is more than the limit ${max}`);
    return value;
  }

  str(what: string, maxChars: number): string {
    // A character is at most 3 UTF-8 bytes in the BMP and 4 (two UTF-16 units) beyond it.
    const n = this.uint(`${what} length`, maxChars * 3);
    if (this.pos + n > this.buf.length) throw new ProfileDecodeError(`truncated reading ${what}`);
    let s: string;
    try {
      s = fromUtf8.decode(this.buf.subarray(this.pos, this.pos + n));
    } catch {
      throw new ProfileDecodeError(`${what} is not valid UTF-8`);
    }
    this.pos += n;
    if (s.length > maxChars) throw new ProfileDecodeError(`${what} longer than ${maxChars} characters`);
    return s;
  }

  stamp(what: string): Stamp {
    return { timeMs: this.uint(`${what} time`), actor: this.str(`${what} actor`, MAX_NAME_LENGTH) };
  }
}

function readCounter(r: Reader, what: string): Map<string, number> {
  const n = r.uint(`${what} count`, MAX_PROFILE_NODES);
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const node = r.str(`${what} node`, MAX_NAME_LENGTH);
    if (out.has(node)) throw new ProfileDecodeError(`${what}: node '${node}' twice`);
    out.set(node, r.uint(`${what} value`));
  }
  return out;
}

/**
 * Reads bytes written by {@link encodeProfile}. Throws {@link ProfileDecodeError} naming what is
 * wrong: not a profile, an unknown version, truncation, a count or length above the limits,
 * duplicates, or bytes after the end.
 */
export function decodeProfile(bytes: Uint8Array): Profile {
  if (bytes.length > MAX_PROFILE_BYTES) {
    throw new ProfileDecodeError(`${bytes.length} bytes is more than the limit ${MAX_PROFILE_BYTES}`);
  }
  const r = new Reader(bytes);
  for (const b of MAGIC) {
    if (bytes.length < MAGIC.length || r.byte('magic') !== b)
      throw new ProfileDecodeError('not a profile (bad magic)');
  }
  const version = r.byte('version');
  if (version < OLDEST_VERSION || version > VERSION)
    throw new ProfileDecodeError(
      `unsupported version ${version} (this reads ${OLDEST_VERSION} to ${VERSION})`,
    );
  const key = r.str('key', MAX_KEY_LENGTH);
  if (key === '') throw new ProfileDecodeError('empty key');
  const epoch = r.uint('epoch');
  const epochStart = r.stamp('epoch start');
  const hasLock = r.byte('lock flag');
  if (hasLock > 1) throw new ProfileDecodeError(`bad lock flag ${hasLock}`);
  const lock = hasLock === 1 ? r.stamp('lock') : undefined;
  const activity = readCounter(r, 'activity');
  const notLearned = readCounter(r, 'not learned');
  const trimmed = version >= TRIMMED_VERSION ? readTrimmed(r) : NO_TRIMMED;
  const n = r.uint('item count', MAX_ITEMS_PER_KIND * PROFILE_ITEM_KINDS.length);
  const items = new Map<string, ItemState>();
  const perKind = new Map<ProfileItemKind, number>();
  for (let i = 0; i < n; i++) {
    const k = r.byte('item kind');
    const kind = PROFILE_ITEM_KINDS[k];
    if (kind === undefined) throw new ProfileDecodeError(`item ${i}: unknown kind ${k}`);
    const count = (perKind.get(kind) ?? 0) + 1;
    if (count > MAX_ITEMS_PER_KIND)
      throw new ProfileDecodeError(`more than ${MAX_ITEMS_PER_KIND} ${kind} items`);
    perKind.set(kind, count);
    const value = r.str(`item ${i} value`, MAX_VALUE_LENGTH);
    if (value === '') throw new ProfileDecodeError(`item ${i}: empty value`);
    const firstSeenMs = r.uint(`item ${i} first seen`);
    const lastSeenMs = r.uint(`item ${i} last seen`);
    const nodeCount = r.uint(`item ${i} node count`, MAX_ITEM_NODES);
    const nodes: string[] = [];
    for (let j = 0; j < nodeCount; j++) {
      const node = r.str(`item ${i} node`, MAX_NAME_LENGTH);
      const prev = nodes[nodes.length - 1];
      if (prev !== undefined && node <= prev)
        throw new ProfileDecodeError(`item ${i}: nodes not sorted or repeated`);
      nodes.push(node);
    }
    const flag = r.byte(`item ${i} manual flag`);
    if (flag > 2) throw new ProfileDecodeError(`item ${i}: bad manual flag ${flag}`);
    const manual: ManualEdit | undefined =
      flag === 0 ? undefined : { ...r.stamp(`item ${i} edit`), present: flag === 1 };
    const ik = itemKey(kind, value);
    if (items.has(ik)) throw new ProfileDecodeError(`item ${kind} '${value}' twice`);
    items.set(ik, { kind, value, firstSeenMs, lastSeenMs, nodes, manual });
  }
  if (!r.done) throw new ProfileDecodeError('bytes after the end of the profile');
  return { key, epoch, epochStart, lock, activity, notLearned, trimmed, items };
}

function readTrimmed(r: Reader): ReadonlyMap<ProfileItemKind, readonly number[]> {
  const kinds = r.uint('trimmed kind count', PROFILE_ITEM_KINDS.length);
  if (kinds === 0) return NO_TRIMMED;
  const out = new Map<ProfileItemKind, readonly number[]>();
  let prevKind = -1;
  for (let i = 0; i < kinds; i++) {
    const k = r.byte('trimmed kind');
    const kind = PROFILE_ITEM_KINDS[k];
    if (kind === undefined) throw new ProfileDecodeError(`trimmed: unknown kind ${k}`);
    if (k <= prevKind) throw new ProfileDecodeError('trimmed: kinds not sorted or repeated');
    prevKind = k;
    const m = r.uint(`trimmed ${kind} count`, MAX_TRIMMED_HASHES);
    if (m === 0) throw new ProfileDecodeError(`trimmed ${kind}: no hashes`);
    const hashes: number[] = [];
    let h = 0;
    for (let j = 0; j < m; j++) {
      const gap = r.uint(`trimmed ${kind} hash`, 0xffffffff);
      if (j > 0 && gap === 0) throw new ProfileDecodeError(`trimmed ${kind}: hashes not ascending`);
      h += gap;
      if (h > 0xffffffff) throw new ProfileDecodeError(`trimmed ${kind}: hash beyond 32 bits`);
      hashes.push(h);
    }
    out.set(kind, hashes);
  }
  return out;
}
