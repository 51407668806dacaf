/**
 * Little-endian byte writing and checked reading for the saved form of a sequence learner
 * (sequence-model.ts `SequenceLearner.toBytes`). The reader never reads past its input: every
 * read first checks that the bytes are there, and {@link ByteReader.count} checks a length read
 * from the input against the bytes left before anything is allocated for it, so a forged length
 * cannot make the reader allocate more than the input's own size. Failures throw
 * {@link LearnerBytesError} naming the field and the offset.
 */

/** What is wrong with a saved learner (wrapped into `SequenceModelError` by its readers). */
export class LearnerBytesError extends Error {
  override readonly name = 'LearnerBytesError';
}

/** Appends little-endian values to a growing buffer. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  /** The bytes written so far (a copy sized exactly). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Reads little-endian values, checking every length against the bytes left. */
export class ByteReader {
  private readonly view: DataView;
  private off = 0;

  constructor(private readonly input: Uint8Array) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.off;
  }

  /** Bytes not read yet. */
  get left(): number {
    return this.input.byteLength - this.off;
  }

  private need(n: number, what: string): void {
    if (n > this.left)
      throw new LearnerBytesError(
        `truncated at byte ${this.off}: ${what} needs ${n} bytes, ${this.left} left`,
      );
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.off, true);
    this.off += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.off, true);
    this.off += 8;
    return v;
  }

  /** A u32 in `min..max`. */
  bounded(what: string, min: number, max: number): number {
    const at = this.off;
    const v = this.u32(what);
    if (v < min || v > max)
      throw new LearnerBytesError(`${what} at byte ${at} is ${v}, outside ${min}..${max}`);
    return v;
  }

  /** A whole number 0..2^53 stored as a float64 (counters). */
  counter(what: string): number {
    const at = this.off;
    const v = this.f64(what);
    if (!Number.isSafeInteger(v) || v < 0)
      throw new LearnerBytesError(`${what} at byte ${at} is ${v}, not a whole number of at least 0`);
    return v;
  }

  /**
   * A count of entries of `bytesEach` bytes that follow (u32), at most `max`, and no more than
   * the bytes left can hold: checked before the caller allocates anything for them.
   */
  count(what: string, max: number, bytesEach: number): number {
    const at = this.off;
    const n = this.bounded(what, 0, max);
    if (n * bytesEach > this.left)
      throw new LearnerBytesError(
        `${what} at byte ${at} is ${n} (${n * bytesEach} bytes), but only ${this.left} bytes follow`,
      );
    return n;
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.left !== 0)
      throw new LearnerBytesError(`${this.left} unexpected bytes after the end at byte ${this.off}`);
  }
}
