/**
 * Open-addressing hash tables over typed arrays for the syscall-sequence model
 * (sequence-model.ts): no objects per entry, no garbage per lookup, and a hard cap on entries.
 *
 * Two kinds of key:
 * - a context is a 64-bit fingerprint of the last k calls, held as two 32-bit halves
 *   ({@link FingerprintTable}); a false match needs both halves to collide (about 2^-64 per probe);
 * - a transition (context, next call) is exact: `contextId * 1024 + call`, stored plus one so that
 *   0 marks an empty slot ({@link TransitionTable}).
 *
 * Both use linear probing, a power-of-two capacity and a load factor of at most 1/2. A table
 * grows by doubling until it holds `maxEntries`; after that `insert` refuses (returns -1) and the
 * caller counts the refusal. Nothing is ever evicted: what was learned stays learned.
 */

/** The number of distinct syscall numbers the model knows: calls are 0..1023. */
export const CALL_SPACE = 1024;

/** Smallest power of two that is at least `n` (and at least 16). */
export function capacityFor(entries: number): number {
  let cap = 16;
  while (cap < entries * 2) cap *= 2;
  return cap;
}

/** Mixes a call into a running 32-bit context hash (first half of the fingerprint). */
export function mixA(h: number, call: number): number {
  h = Math.imul(h ^ (call + 0x51ed27), 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Mixes a call into the second half of the fingerprint: a different, cheaper function (FNV-1a
 * style), so that a false match needs two unrelated hashes to collide at once.
 */
export function mixB(h: number, call: number): number {
  return Math.imul(h ^ (call + 0x2545), 0x01000193) >>> 0;
}

/** The stored form of a second fingerprint half: never 0, which marks an empty slot. */
export function keyB(h: number): number {
  return (h | 1) >>> 0;
}

/** Seeds of the two fingerprint halves for the empty context (order 0). */
export const SEED_A = 0x6a09e667;
export const SEED_B = 0xbb67ae85;

/** A growable, capped map from a 64-bit context fingerprint to a dense id (0, 1, 2, ...). */
export class FingerprintTable {
  private keyA: Uint32Array;
  private keyB: Uint32Array;
  private ids: Int32Array;
  private mask: number;
  /** Entries held. */
  size = 0;

  constructor(
    readonly maxEntries: number,
    initialEntries = 1024,
  ) {
    const cap = capacityFor(Math.min(initialEntries, maxEntries));
    this.keyA = new Uint32Array(cap);
    this.keyB = new Uint32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** The id of a fingerprint, or -1 when absent. */
  get(a: number, b: number): number {
    let i = a & this.mask;
    for (;;) {
      const kb = this.keyB[i]!;
      if (kb === 0) return -1;
      if (kb === b && this.keyA[i] === a) return this.ids[i]!;
      i = (i + 1) & this.mask;
    }
  }

  /** The id of a fingerprint, inserting it with id `size` when absent; -1 when full. */
  insert(a: number, b: number): number {
    let i = a & this.mask;
    for (;;) {
      const kb = this.keyB[i]!;
      if (kb === 0) break;
      if (kb === b && this.keyA[i] === a) return this.ids[i]!;
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.maxEntries) return -1;
    if ((this.size + 1) * 2 > this.keyB.length) {
      this.grow();
      return this.insert(a, b);
    }
    const id = this.size++;
    this.keyA[i] = a;
    this.keyB[i] = b;
    this.ids[i] = id;
    return id;
  }

  /** Calls `fn(a, b, id)` for every entry. */
  forEach(fn: (a: number, b: number, id: number) => void): void {
    for (let i = 0; i < this.keyB.length; i++)
      if (this.keyB[i] !== 0) fn(this.keyA[i]!, this.keyB[i]!, this.ids[i]!);
  }

  private grow(): void {
    const { keyA, keyB, ids } = this;
    const cap = keyB.length * 2;
    this.keyA = new Uint32Array(cap);
    this.keyB = new Uint32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < keyB.length; j++) {
      if (keyB[j] === 0) continue;
      let i = keyA[j]! & this.mask;
      while (this.keyB[i] !== 0) i = (i + 1) & this.mask;
      this.keyA[i] = keyA[j]!;
      this.keyB[i] = keyB[j]!;
      this.ids[i] = ids[j]!;
    }
  }
}

/** Spreads an exact transition key over the table (keys are dense in their low bits). */
export function slotOf(key: number, mask: number): number {
  const h = Math.imul(key, 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

/** A growable, capped map from an exact transition key to a dense id. */
export class TransitionTable {
  private keys: Uint32Array;
  private ids: Int32Array;
  private mask: number;
  /** Entries held. */
  size = 0;

  constructor(
    readonly maxEntries: number,
    initialEntries = 4096,
  ) {
    const cap = capacityFor(Math.min(initialEntries, maxEntries));
    this.keys = new Uint32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** The id of `contextId * 1024 + call`, or -1 when absent. */
  get(key: number): number {
    const stored = key + 1;
    let i = slotOf(key, this.mask);
    for (;;) {
      const k = this.keys[i]!;
      if (k === 0) return -1;
      if (k === stored) return this.ids[i]!;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * The id of a key, inserting it with id `size` when absent; -1 when full. `isNew` tells the
   * caller whether this call created the entry.
   */
  insert(key: number, out: { isNew: boolean }): number {
    const stored = key + 1;
    let i = slotOf(key, this.mask);
    for (;;) {
      const k = this.keys[i]!;
      if (k === 0) break;
      if (k === stored) {
        out.isNew = false;
        return this.ids[i]!;
      }
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.maxEntries) return -1;
    if ((this.size + 1) * 2 > this.keys.length) {
      this.grow();
      return this.insert(key, out);
    }
    out.isNew = true;
    const id = this.size++;
    this.keys[i] = stored;
    this.ids[i] = id;
    return id;
  }

  /** Calls `fn(key, id)` for every entry. */
  forEach(fn: (key: number, id: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) fn(this.keys[i]! - 1, this.ids[i]!);
  }

  private grow(): void {
    const { keys, ids } = this;
    const cap = keys.length * 2;
    this.keys = new Uint32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < keys.length; j++) {
      if (keys[j] === 0) continue;
      let i = slotOf(keys[j]! - 1, this.mask);
      while (this.keys[i] !== 0) i = (i + 1) & this.mask;
      this.keys[i] = keys[j]!;
      this.ids[i] = ids[j]!;
    }
  }
}
