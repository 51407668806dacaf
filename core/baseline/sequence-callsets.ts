/**
 * The call-set part of the syscall-sequence model (sequence-model.ts): which distinct calls a
 * trace uses, compared with the nearest trace seen in training.
 *
 * A program's runs tend to use the same set of calls; a trace whose set is far from every
 * training trace's set (it uses calls the nearest normal run does not, or lacks calls it always
 * makes) is unusual even when each step on its own is likely. The distance is
 * 1 - max over prototypes P of |T ∩ P| / sqrt(|T| · |P|) (cosine of the two sets).
 *
 * Prototypes are the distinct call sets of the training traces, 1024-bit sets, at most
 * `maxPrototypes` of them: once full, further new sets are refused and counted (the first ones
 * seen stay). Online, a trace's set only changes when a call appears for the first time in it
 * (at most 1024 times per trace); only then are the intersections updated through per-call
 * posting lists and the nearest distance recomputed, so a repeated call costs one bit test.
 */
import { LearnerBytesError, type ByteReader, type ByteWriter } from './sequence-bytes.js';
import { CALL_SPACE } from './sequence-tables.js';

/** 32-bit words per call set. */
export const SET_WORDS = CALL_SPACE / 32;

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Collects the distinct call sets of training traces, capped. */
export class CallSetCollector {
  private sets: Uint32Array;
  private readonly index = new Map<string, number>();
  private readonly current = new Uint32Array(SET_WORDS);
  private empty = true;
  /** Prototypes held. */
  size = 0;
  /** New sets refused because the collector was full. */
  dropped = 0;

  constructor(readonly maxPrototypes: number) {
    this.sets = new Uint32Array(Math.min(64, maxPrototypes) * SET_WORDS);
  }

  /** Whether the current trace's set holds a call. */
  get inTrace(): boolean {
    return !this.empty;
  }

  /** Adds a call (0..1023) to the current trace's set. */
  observe(call: number): void {
    this.current[call >>> 5]! |= 1 << (call & 31);
    this.empty = false;
  }

  /** Ends the current trace: its set becomes a prototype unless already held or the collector is full. */
  endTrace(): void {
    if (this.empty) return;
    const key = CallSetCollector.keyOf(this.current);
    if (!this.index.has(key)) {
      if (this.size >= this.maxPrototypes) {
        this.dropped++;
      } else {
        if (this.size * SET_WORDS === this.sets.length) this.grow();
        this.sets.set(this.current, this.size * SET_WORDS);
        this.index.set(key, this.size++);
      }
    }
    this.current.fill(0);
    this.empty = true;
  }

  /** The prototypes, `SET_WORDS` words each, in the order first seen. */
  build(): Uint32Array {
    return this.sets.slice(0, this.size * SET_WORDS);
  }

  /**
   * Writes what the collector holds (for `SequenceLearner.toBytes`): the refusals, the
   * prototypes in the order first seen, and the current trace's set.
   */
  writeState(w: ByteWriter): void {
    w.f64(this.dropped);
    w.u32(this.size);
    for (let i = 0; i < this.size * SET_WORDS; i++) w.u32(this.sets[i]!);
    for (const word of this.current) w.u32(word);
  }

  /**
   * Reads a collector written by {@link writeState} with this cap; throws
   * {@link LearnerBytesError} when a prototype is empty or repeated, or there are too many.
   */
  static readState(r: ByteReader, maxPrototypes: number): CallSetCollector {
    const c = new CallSetCollector(maxPrototypes);
    c.dropped = r.counter('call-set dropped count');
    const size = r.count('call-set prototype count', maxPrototypes, SET_WORDS * 4);
    c.sets = new Uint32Array(Math.max(size, Math.min(64, maxPrototypes)) * SET_WORDS);
    const one = new Uint32Array(SET_WORDS);
    for (let p = 0; p < size; p++) {
      let any = 0;
      for (let w = 0; w < SET_WORDS; w++) {
        const word = r.u32('call-set prototype');
        one[w] = word;
        any |= word;
      }
      if (any === 0) throw new LearnerBytesError(`call-set prototype ${p} is empty`);
      const key = CallSetCollector.keyOf(one);
      if (c.index.has(key)) throw new LearnerBytesError(`call-set prototype ${p} repeats an earlier one`);
      c.sets.set(one, p * SET_WORDS);
      c.index.set(key, p);
    }
    c.size = size;
    for (let w = 0; w < SET_WORDS; w++) {
      const word = r.u32('current call set');
      c.current[w] = word;
      if (word !== 0) c.empty = false;
    }
    return c;
  }

  private static keyOf(set: Uint32Array): string {
    return Array.from(set, (w) => w.toString(36)).join('.');
  }

  private grow(): void {
    const cap = Math.min((this.sets.length / SET_WORDS) * 2, this.maxPrototypes);
    const sets = new Uint32Array(cap * SET_WORDS);
    sets.set(this.sets);
    this.sets = sets;
  }
}

/** Prototype sets prepared for online scoring: sizes and per-call posting lists. */
export class CallSetIndex {
  /** Number of prototypes. */
  readonly count: number;
  /** Per prototype: number of calls in its set. */
  readonly sizes: Float64Array;
  /** Posting lists: prototypes holding call c are `ids[starts[c] .. starts[c + 1])`. */
  readonly starts: Int32Array;
  readonly ids: Int32Array;

  constructor(readonly sets: Uint32Array) {
    this.count = sets.length / SET_WORDS;
    this.sizes = new Float64Array(this.count);
    const perCall = new Int32Array(CALL_SPACE);
    for (let p = 0; p < this.count; p++) {
      for (let w = 0; w < SET_WORDS; w++) {
        const word = sets[p * SET_WORDS + w]!;
        if (word === 0) continue;
        this.sizes[p]! += popcount32(word);
        for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) perCall[w * 32 + bit]!++;
      }
    }
    this.starts = new Int32Array(CALL_SPACE + 1);
    for (let c = 0; c < CALL_SPACE; c++) this.starts[c + 1] = this.starts[c]! + perCall[c]!;
    this.ids = new Int32Array(this.starts[CALL_SPACE]!);
    const fill = this.starts.slice(0, CALL_SPACE);
    for (let p = 0; p < this.count; p++) {
      for (let w = 0; w < SET_WORDS; w++) {
        const word = sets[p * SET_WORDS + w]!;
        for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) this.ids[fill[w * 32 + bit]!++] = p;
      }
    }
  }

  /** Bytes of the prototype sets as stored. */
  get storedBytes(): number {
    return this.sets.byteLength;
  }
}

/** Online distance of one trace's call set to the nearest prototype. */
export class CallSetCursor {
  private readonly seen = new Uint32Array(SET_WORDS);
  /** Per prototype: calls it shares with the trace so far. */
  private readonly inter: Int32Array;
  private distinct = 0;
  /** Distance as of the last {@link distance} call; stale when `dirty`. */
  private nearest = 1;
  private dirty = false;

  constructor(private readonly index: CallSetIndex) {
    this.inter = new Int32Array(index.count);
  }

  /** Notes a call (0..1023, checked by the caller). O(1) unless the call is new to this trace. */
  push(call: number): void {
    const w = call >>> 5;
    const bit = 1 << (call & 31);
    if ((this.seen[w]! & bit) !== 0) return;
    this.seen[w]! |= bit;
    this.distinct++;
    this.dirty = true;
    const { starts, ids } = this.index;
    const inter = this.inter;
    for (let i = starts[call]!, end = starts[call + 1]!; i < end; i++) inter[ids[i]!]!++;
  }

  /**
   * 1 - cosine similarity to the nearest prototype: 0 = the same set as some training trace, 1 =
   * nothing in common with any (or no prototypes); 0 before any call. O(prototypes) the first
   * time it is asked after the set grew, O(1) otherwise.
   */
  distance(): number {
    if (this.distinct === 0) return 0;
    if (this.dirty) {
      const { sizes, count } = this.index;
      let best = 0;
      for (let p = 0; p < count; p++) {
        const x = this.inter[p]!;
        if (x === 0) continue;
        const cos = x / Math.sqrt(this.distinct * sizes[p]!);
        if (cos > best) best = cos;
      }
      this.nearest = 1 - best;
      this.dirty = false;
    }
    return this.nearest;
  }

  reset(): void {
    this.seen.fill(0);
    this.inter.fill(0);
    this.distinct = 0;
    this.nearest = 1;
    this.dirty = false;
  }
}
