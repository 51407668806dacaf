/**
 * The variable-order Markov part of the syscall-sequence model (sequence-model.ts): learns how
 * likely each call is after the calls before it, and prices a call in bits of surprisal.
 *
 * A context is the last k calls, k = 0..maxOrder. Probabilities are blended over all orders by
 * interpolated Witten-Bell smoothing (the escape scheme of PPM-C):
 *
 *     P_k(s | c) = (n(c, s) + u(c) · P_{k-1}(s | c')) / (n(c) + u(c))
 *
 * where c' is c without its oldest call, n(c, s) counts s after c in training, n(c) = Σ_s n(c, s),
 * u(c) is the number of distinct calls seen after c, and P_{-1} is uniform over the 1024 call
 * numbers. A context never seen in training falls back to the next shorter one. Every trace starts
 * from a context of "start of trace" markers, so the opening calls are modelled too.
 *
 * Built tables hold, per context, its fingerprint and escape cost log2((n + u) / u), and per seen
 * transition its full smoothed cost -log2 P and the context that follows it. Scoring a call: from
 * the longest context down, find the context, then the transition; if the transition is absent
 * pay the escape cost and go one order down. In normal traffic the transition is found at once
 * from the context the previous call led to: one probe per call (see MarkovCursor).
 */
import { LearnerBytesError, type ByteReader, type ByteWriter } from './sequence-bytes.js';
import {
  CALL_SPACE,
  FingerprintTable,
  SEED_A,
  SEED_B,
  TransitionTable,
  capacityFor,
  keyB,
  mixA,
  mixB,
  slotOf,
} from './sequence-tables.js';

/** The call number that stands for "start of trace" in contexts (never a real call). */
export const START = CALL_SPACE;

/** Bits paid for a call never seen after any context: uniform over the 1024 call numbers. */
const UNIFORM_BITS = Math.log2(CALL_SPACE);

/** The immutable tables of a built Markov model. */
export interface MarkovTables {
  readonly maxOrder: number;
  /** Context fingerprints (two halves; `ctxB` 0 = empty slot). */
  readonly ctxA: Uint32Array;
  readonly ctxB: Uint32Array;
  /** Bits paid when the next call was never seen after this context: log2((n + u) / u). */
  readonly ctxEscape: Float32Array;
  /** `contextSlot * 1024 + call + 1`; 0 = empty slot. */
  readonly trKey: Uint32Array;
  /** -log2 P(call | context), smoothed over all shorter contexts. */
  readonly trBits: Float32Array;
  /**
   * The context slot to use after this transition: the longest held context ending with the
   * transition's call. Lets the scorer go from call to call with one probe (see MarkovCursor).
   */
  readonly trNext: Int32Array;
}

/** Incremental counts of contexts and transitions, capped (see {@link MarkovCounts.dropped}). */
export class MarkovCounts {
  private readonly contextTable: FingerprintTable;
  private readonly transitionTable: TransitionTable;
  /** Per context id: order, total count n, distinct successors u, parent (one call shorter). */
  private ctxOrder = new Uint8Array(1024);
  private ctxN = new Float64Array(1024);
  private ctxU = new Uint32Array(1024);
  private ctxParent = new Int32Array(1024);
  /** Per context id: its oldest call (the one its parent lacks); with the parent chain, its calls. */
  private ctxOldest = new Uint16Array(1024);
  /** Per transition id: count. */
  private trCount = new Float64Array(4096);
  private readonly history = new Uint16Array(16).fill(START);
  private head = 0;
  private readonly isNew = { isNew: false };
  private readonly ids: Int32Array;
  /** Context or transition insertions refused because a table was full. */
  dropped = 0;

  constructor(
    readonly maxOrder: number,
    maxContexts: number,
    maxTransitions: number,
  ) {
    this.contextTable = new FingerprintTable(maxContexts);
    this.transitionTable = new TransitionTable(maxTransitions);
    this.ids = new Int32Array(maxOrder + 1);
    // Context id 0 is the empty context (order 0).
    this.contextTable.insert(SEED_A, keyB(SEED_B));
    this.ctxParent[0] = -1;
  }

  /** Contexts held. */
  get contexts(): number {
    return this.contextTable.size;
  }

  /** Transitions held. */
  get transitions(): number {
    return this.transitionTable.size;
  }

  /** Counts `call` (0..1023, checked by the caller) after the current trace's history. */
  observe(call: number): void {
    const K = this.maxOrder;
    const ids = this.ids;
    ids[0] = 0;
    let a = SEED_A;
    let b = SEED_B;
    let known = 1;
    for (let k = 1; k <= K; k++) {
      const prev = this.history[(this.head - k) & 15]!;
      a = mixA(a, prev);
      b = mixB(b, prev);
      const before = this.contextTable.size;
      const id = this.contextTable.insert(a, keyB(b));
      if (id < 0) {
        // Table full. Longer contexts extend this one, so none of them can be held either.
        this.dropped++;
        break;
      }
      if (id >= this.ctxOrder.length) this.growContexts();
      if (this.contextTable.size > before) {
        this.ctxOrder[id] = k;
        this.ctxParent[id] = ids[k - 1]!;
        this.ctxOldest[id] = prev;
      }
      ids[k] = id;
      known = k + 1;
    }
    for (let k = 0; k < known; k++) {
      const ctx = ids[k]!;
      const t = this.transitionTable.insert(ctx * CALL_SPACE + call, this.isNew);
      if (t < 0) {
        this.dropped++;
        continue;
      }
      if (t >= this.trCount.length) this.growTransitions();
      if (this.isNew.isNew) this.ctxU[ctx]!++;
      this.trCount[t]!++;
      this.ctxN[ctx]!++;
    }
    this.history[this.head & 15] = call;
    this.head++;
  }

  /** The current trace ended. */
  endTrace(): void {
    this.history.fill(START);
    this.head = 0;
  }

  /** Smoothed, immutable tables of what was counted so far. */
  build(): MarkovTables {
    const nCtx = this.contextTable.size;
    const nTr = this.transitionTable.size;
    const K = this.maxOrder;
    // Smoothed probability of each held transition, from short contexts to long ones so that a
    // parent's probabilities are known when a child needs them.
    const prob = new Float64Array(nTr);
    const trCtx = new Int32Array(nTr);
    const trCall = new Uint16Array(nTr);
    const byOrder: number[][] = Array.from({ length: K + 1 }, () => []);
    this.transitionTable.forEach((key, id) => {
      const ctx = Math.floor(key / CALL_SPACE);
      trCtx[id] = ctx;
      trCall[id] = key - ctx * CALL_SPACE;
      byOrder[this.ctxOrder[ctx]!]!.push(id);
    });
    const probAt = (ctx: number, call: number): number => {
      // P_{order(ctx)}(call | ctx) for a transition that may be absent.
      let escape = 1;
      for (let c = ctx; c >= 0; c = this.ctxParent[c]!) {
        const t = this.transitionTable.get(c * CALL_SPACE + call);
        if (t >= 0) return escape * prob[t]!;
        const n = this.ctxN[c]!;
        if (n > 0) escape *= this.ctxU[c]! / (n + this.ctxU[c]!);
      }
      return escape / CALL_SPACE;
    };
    for (const list of byOrder) {
      for (const t of list) {
        const ctx = trCtx[t]!;
        const parent = this.ctxParent[ctx]!;
        const below = parent >= 0 ? probAt(parent, trCall[t]!) : 1 / CALL_SPACE;
        const n = this.ctxN[ctx]!;
        const u = this.ctxU[ctx]!;
        prob[t] = (this.trCount[t]! + u * below) / (n + u);
      }
    }
    // Lay out the tables: contexts with counts get a slot; transitions key on that slot.
    let seen = 0;
    for (let id = 0; id < nCtx; id++) if (this.ctxN[id]! > 0) seen++;
    const ctxCap = capacityFor(seen);
    const ctxA = new Uint32Array(ctxCap);
    const ctxB = new Uint32Array(ctxCap);
    const ctxEscape = new Float32Array(ctxCap);
    const slotOfCtx = new Int32Array(nCtx).fill(-1);
    const ctxMask = ctxCap - 1;
    // Placed in id order, not in the order of the learner's table: the model is then a function
    // of what was learnt alone, whatever the table's layout (a learner read back from its bytes
    // builds the same model byte for byte).
    const idA = new Uint32Array(nCtx);
    const idB = new Uint32Array(nCtx);
    this.contextTable.forEach((a, b, id) => {
      idA[id] = a;
      idB[id] = b;
    });
    for (let id = 0; id < nCtx; id++) {
      const n = this.ctxN[id]!;
      if (n === 0) continue;
      const a = idA[id]!;
      let i = a & ctxMask;
      while (ctxB[i] !== 0) i = (i + 1) & ctxMask;
      ctxA[i] = a;
      ctxB[i] = idB[id]!;
      const u = this.ctxU[id]!;
      ctxEscape[i] = Math.log2((n + u) / u);
      slotOfCtx[id] = i;
    }
    const trCap = capacityFor(nTr);
    const trKey = new Uint32Array(trCap);
    const trBits = new Float32Array(trCap);
    const trNext = new Int32Array(trCap);
    const trMask = trCap - 1;
    for (let t = 0; t < nTr; t++) {
      const key = slotOfCtx[trCtx[t]!]! * CALL_SPACE + trCall[t]!;
      let i = slotOf(key, trMask);
      while (trKey[i] !== 0) i = (i + 1) & trMask;
      trKey[i] = key + 1;
      trBits[i] = -Math.log2(prob[t]!);
      trNext[i] = this.nextSlot(trCtx[t]!, trCall[t]!, slotOfCtx);
    }
    return { maxOrder: K, ctxA, ctxB, ctxEscape, trKey, trBits, trNext };
  }

  /**
   * The model slot of the longest held context that ends the history `context` + `call` (at most
   * maxOrder calls). Contexts are held with all their suffixes, so the search goes up from order 0
   * and stops at the first order not held.
   */
  private nextSlot(context: number, call: number, slotOfCtx: Int32Array): number {
    const recent: number[] = [call]; // newest first
    const older: number[] = [];
    for (let c = context; c > 0; c = this.ctxParent[c]!) older.push(this.ctxOldest[c]!);
    for (let i = older.length - 1; i >= 0 && recent.length < this.maxOrder; i--) recent.push(older[i]!);
    let best = this.ctxN[0]! > 0 ? slotOfCtx[0]! : -1;
    let a = SEED_A;
    let b = SEED_B;
    for (const x of recent) {
      a = mixA(a, x);
      b = mixB(b, x);
      const id = this.contextTable.get(a, keyB(b));
      if (id < 0 || this.ctxN[id] === 0) break;
      best = slotOfCtx[id]!;
    }
    return best;
  }

  /**
   * Writes what the counts hold (for `SequenceLearner.toBytes`), canonically: the contexts in id
   * order as (parent, oldest call) — their fingerprints follow from those — then the transitions
   * in id order as (key, count), then the current trace's last `maxOrder` calls. Per-context
   * totals and successor counts are not written: they are sums over the transitions.
   */
  writeState(w: ByteWriter): void {
    const nCtx = this.contextTable.size;
    w.f64(this.dropped);
    w.u32(nCtx);
    for (let id = 1; id < nCtx; id++) w.u32(this.ctxParent[id]!);
    for (let id = 1; id < nCtx; id++) w.u16(this.ctxOldest[id]!);
    const nTr = this.transitionTable.size;
    const keys = new Uint32Array(nTr);
    this.transitionTable.forEach((key, id) => {
      keys[id] = key;
    });
    w.u32(nTr);
    for (let t = 0; t < nTr; t++) {
      w.u32(keys[t]!);
      w.f64(this.trCount[t]!);
    }
    for (let k = 1; k <= this.maxOrder; k++) w.u16(this.history[(this.head - k) & 15]!);
  }

  /**
   * Reads counts written by {@link writeState} for a learner with these caps. Checks every
   * value (a parent precedes its child and is one call shorter, no context or transition twice,
   * transitions name held contexts, counts are whole and positive, calls in range) and throws
   * {@link LearnerBytesError} naming the first that is wrong.
   *
   * (Fingerprints are recomputed from parents: a context whose 64-bit fingerprint collided with
   * another's while learning, a chance of about 2^-63 per context, would read back as an error.)
   */
  static readState(
    r: ByteReader,
    maxOrder: number,
    maxContexts: number,
    maxTransitions: number,
  ): MarkovCounts {
    const m = new MarkovCounts(maxOrder, maxContexts, maxTransitions);
    m.dropped = r.counter('markov dropped count');
    const nCtx = r.bounded('context count', 1, maxContexts);
    if ((nCtx - 1) * 6 > r.left)
      throw new LearnerBytesError(`${nCtx} contexts need ${(nCtx - 1) * 6} bytes, only ${r.left} follow`);
    const parents = new Int32Array(nCtx);
    parents[0] = -1;
    for (let id = 1; id < nCtx; id++) {
      const p = r.u32('context parent');
      if (p >= id) throw new LearnerBytesError(`context ${id} names parent ${p}, not an earlier context`);
      parents[id] = p;
    }
    // The raw (unmarked) fingerprint halves per context id, to extend to the children.
    const rawA = new Uint32Array(nCtx);
    const rawB = new Uint32Array(nCtx);
    rawA[0] = SEED_A;
    rawB[0] = SEED_B;
    while (nCtx > m.ctxOrder.length) m.growContexts();
    for (let id = 1; id < nCtx; id++) {
      const oldest = r.u16('context call');
      if (oldest > START)
        throw new LearnerBytesError(`context ${id} holds call ${oldest}, outside 0..${START}`);
      const p = parents[id]!;
      const order = m.ctxOrder[p]! + 1;
      if (order > maxOrder)
        throw new LearnerBytesError(`context ${id} is ${order} calls long, more than the order ${maxOrder}`);
      const a = mixA(rawA[p]!, oldest);
      const b = mixB(rawB[p]!, oldest);
      if (m.contextTable.insert(a, keyB(b)) !== id)
        throw new LearnerBytesError(`context ${id} repeats an earlier context`);
      rawA[id] = a;
      rawB[id] = b;
      m.ctxOrder[id] = order;
      m.ctxParent[id] = p;
      m.ctxOldest[id] = oldest;
    }
    const nTr = r.count('transition count', maxTransitions, 12);
    while (nTr > m.trCount.length) m.growTransitions();
    for (let t = 0; t < nTr; t++) {
      const key = r.u32('transition key');
      const ctx = Math.floor(key / CALL_SPACE);
      if (ctx >= nCtx) throw new LearnerBytesError(`transition ${t} names context ${ctx}; there are ${nCtx}`);
      const count = r.counter('transition count');
      if (count === 0) throw new LearnerBytesError(`transition ${t} has a count of 0`);
      if (m.transitionTable.insert(key, m.isNew) !== t || !m.isNew.isNew)
        throw new LearnerBytesError(`transition ${t} repeats an earlier transition`);
      m.trCount[t] = count;
      m.ctxN[ctx]! += count;
      m.ctxU[ctx]!++;
    }
    for (let k = 1; k <= maxOrder; k++) {
      const call = r.u16('trace history');
      if (call > START) throw new LearnerBytesError(`trace history holds call ${call}, outside 0..${START}`);
      m.history[(maxOrder - k) & 15] = call;
    }
    m.head = maxOrder;
    return m;
  }

  private growContexts(): void {
    const cap = this.ctxOrder.length * 2;
    const order = new Uint8Array(cap);
    order.set(this.ctxOrder);
    const n = new Float64Array(cap);
    n.set(this.ctxN);
    const u = new Uint32Array(cap);
    u.set(this.ctxU);
    const parent = new Int32Array(cap);
    parent.set(this.ctxParent);
    const oldest = new Uint16Array(cap);
    oldest.set(this.ctxOldest);
    this.ctxOldest = oldest;
    this.ctxOrder = order;
    this.ctxN = n;
    this.ctxU = u;
    this.ctxParent = parent;
  }

  private growTransitions(): void {
    const c = new Float64Array(this.trCount.length * 2);
    c.set(this.trCount);
    this.trCount = c;
  }
}

/** Bytes of a Markov model's tables. */
export function markovBytes(t: MarkovTables): number {
  return (
    t.ctxA.byteLength +
    t.ctxB.byteLength +
    t.ctxEscape.byteLength +
    t.trKey.byteLength +
    t.trBits.byteLength +
    t.trNext.byteLength
  );
}

/**
 * Online pricing of one trace's calls against {@link MarkovTables}.
 *
 * It tracks the slot of the longest held context that ends the history. Usually the next call is
 * a held transition of that context: one probe gives its cost and, through `trNext`, the context
 * for the call after (the fast path). Otherwise (an unseen transition, or right after a reset) it
 * fingerprints the last maxOrder calls and searches from the longest context down, paying escape
 * costs (the slow path, O(maxOrder)). Both give the same result: a held context's prefixes are
 * held too (it was reached by a held transition), so the longest context after a call never
 * extends past the context the call was found in.
 */
export class MarkovCursor {
  private readonly ctxA: Uint32Array;
  private readonly ctxB: Uint32Array;
  private readonly ctxEscape: Float32Array;
  private readonly trKey: Uint32Array;
  private readonly trBits: Float32Array;
  private readonly trNext: Int32Array;
  private readonly ctxMask: number;
  private readonly trMask: number;
  private readonly K: number;
  private readonly fa: Uint32Array;
  private readonly fb: Uint32Array;
  private readonly history = new Uint16Array(16).fill(START);
  private head = 0;
  /** Slot of the longest held context ending the history, or -1 when unknown. */
  private state = -1;

  /** `fastPath` false always takes the slow path (for tests that compare the two). */
  constructor(
    t: MarkovTables,
    private readonly fastPath = true,
  ) {
    this.ctxA = t.ctxA;
    this.ctxB = t.ctxB;
    this.ctxEscape = t.ctxEscape;
    this.trKey = t.trKey;
    this.trBits = t.trBits;
    this.trNext = t.trNext;
    this.ctxMask = t.ctxA.length - 1;
    this.trMask = t.trKey.length - 1;
    this.K = t.maxOrder;
    this.fa = new Uint32Array(this.K + 1);
    this.fb = new Uint32Array(this.K + 1);
  }

  /** Surprisal of `call` (0..1023, checked by the caller) after the history, in bits; then appends it. */
  push(call: number): number {
    const trMask = this.trMask;
    const state = this.state;
    if (state >= 0 && this.fastPath) {
      const stored = state * CALL_SPACE + call + 1;
      let j = slotOf(stored - 1, trMask);
      let sk = this.trKey[j]!;
      while (sk !== 0 && sk !== stored) {
        j = (j + 1) & trMask;
        sk = this.trKey[j]!;
      }
      if (sk !== 0) {
        this.history[this.head & 15] = call;
        this.head++;
        this.state = this.trNext[j]!;
        return this.trBits[j]!;
      }
    }
    return this.slowPush(call);
  }

  private slowPush(call: number): number {
    const K = this.K;
    const fa = this.fa;
    const fb = this.fb;
    let a = SEED_A;
    let b = SEED_B;
    fa[0] = a;
    fb[0] = keyB(b);
    for (let k = 1; k <= K; k++) {
      const prev = this.history[(this.head - k) & 15]!;
      a = mixA(a, prev);
      b = mixB(b, prev);
      fa[k] = a;
      fb[k] = (b | 1) >>> 0;
    }
    this.history[this.head & 15] = call;
    this.head++;
    let bits = 0;
    const ctxMask = this.ctxMask;
    const trMask = this.trMask;
    for (let k = K; k >= 0; k--) {
      const ka = fa[k]!;
      const kb = fb[k]!;
      let i = ka & ctxMask;
      let sb = this.ctxB[i]!;
      while (sb !== 0 && (sb !== kb || this.ctxA[i] !== ka)) {
        i = (i + 1) & ctxMask;
        sb = this.ctxB[i]!;
      }
      if (sb === 0) continue; // context never seen: fall back to a shorter one, no cost
      const key = i * CALL_SPACE + call;
      const stored = key + 1;
      let j = slotOf(key, trMask);
      let sk = this.trKey[j]!;
      while (sk !== 0 && sk !== stored) {
        j = (j + 1) & trMask;
        sk = this.trKey[j]!;
      }
      if (sk !== 0) {
        this.state = this.trNext[j]!;
        return bits + this.trBits[j]!;
      }
      bits += this.ctxEscape[i]!;
    }
    this.state = -1;
    return bits + UNIFORM_BITS;
  }

  /** Forgets the history: the next call starts a trace. */
  reset(): void {
    this.history.fill(START);
    this.head = 0;
    this.state = -1;
  }
}
