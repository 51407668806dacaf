/**
 * A {@link StreamDecoder} for length-prefixed binary records: each record is a 32-bit
 * little-endian byte count followed by that many bytes. This is how a helper process (the eBPF
 * sensor's loader) hands records to the agent through a pipe: no escaping, no parsing of text,
 * and a reader always knows where the next record starts.
 */
import type { Event } from '../../core/event.js';
import { MalformedReasons, type DecodeSink, type DecoderFactory, type StreamDecoder } from './decoder.js';

/** Bytes in a record's length prefix. */
export const RECORD_PREFIX_BYTES = 4;

/** Default upper bound for one record: far above any real event record. */
export const DEFAULT_MAX_RECORD_BYTES = 1 << 20;

/**
 * Decodes one record's payload into an event, or returns the reason it is malformed. `payload`
 * is only valid during the call (it may be a view into the input's reused buffer).
 */
export type RecordDecoder = (payload: Buffer) => Event | string;

/** Options for {@link createLengthPrefixedDecoder}. */
export interface LengthPrefixedDecoderOptions {
  /**
   * Largest accepted payload. A longer record is skipped as `oversized` without being buffered:
   * its declared length is trusted to find the next record, so memory stays bounded.
   */
  readonly maxRecordBytes?: number;
}

/**
 * Makes a decoder factory for length-prefixed records decoded by `decode`.
 *
 * @example
 *   const factory = createLengthPrefixedDecoder((p) => ({ fields: { 'proc.pid': p.readUInt32LE(0) } }));
 */
export function createLengthPrefixedDecoder(
  decode: RecordDecoder,
  options: LengthPrefixedDecoderOptions = {},
): DecoderFactory {
  const max = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!(max > 0)) throw new RangeError(`maxRecordBytes must be positive, got ${max}`);
  return (sink) => new LengthPrefixedDecoder(decode, sink, max);
}

/**
 * Writes one record (prefix and payload) into a new buffer: the writer's side of the framing,
 * for producers written in TypeScript and for tests.
 */
export function frameRecord(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(RECORD_PREFIX_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  payload.copy(out, RECORD_PREFIX_BYTES);
  return out;
}

class LengthPrefixedDecoder implements StreamDecoder {
  /** A length prefix split across chunks. */
  private readonly prefix = Buffer.alloc(RECORD_PREFIX_BYTES);
  private prefixHave = 0;
  /** The payload being assembled across chunks, and how much of it is filled. */
  private partial: Buffer | undefined;
  private partialHave = 0;
  /** Bytes of an oversized record still to skip; its size, for the report. */
  private skipLeft = 0;
  private skipSize = 0;

  constructor(
    private readonly decode: RecordDecoder,
    private readonly sink: DecodeSink,
    private readonly maxRecordBytes: number,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, chunk.length - at);
        this.skipLeft -= n;
        at += n;
        if (this.skipLeft === 0) this.sink.malformed(MalformedReasons.oversized, `${this.skipSize} bytes`);
        continue;
      }
      if (this.partial !== undefined) {
        const n = Math.min(this.partial.length - this.partialHave, chunk.length - at);
        chunk.copy(this.partial, this.partialHave, at, at + n);
        this.partialHave += n;
        at += n;
        if (this.partialHave === this.partial.length) {
          const payload = this.partial;
          this.partial = undefined;
          this.deliver(payload);
        }
        continue;
      }
      // Read the length prefix, possibly in pieces.
      let length: number;
      if (this.prefixHave === 0 && chunk.length - at >= RECORD_PREFIX_BYTES) {
        length = chunk.readUInt32LE(at);
        at += RECORD_PREFIX_BYTES;
      } else {
        const n = Math.min(RECORD_PREFIX_BYTES - this.prefixHave, chunk.length - at);
        chunk.copy(this.prefix, this.prefixHave, at, at + n);
        this.prefixHave += n;
        at += n;
        if (this.prefixHave < RECORD_PREFIX_BYTES) return;
        this.prefixHave = 0;
        length = this.prefix.readUInt32LE(0);
      }
      if (length > this.maxRecordBytes) {
        this.skipLeft = length;
        this.skipSize = length;
        continue;
      }
      if (chunk.length - at >= length) {
        // The whole payload is in this chunk: decode it in place, no copy.
        this.deliver(chunk.subarray(at, at + length));
        at += length;
      } else {
        this.partial = Buffer.allocUnsafe(length);
        this.partialHave = 0;
      }
    }
  }

  end(): void {
    if (this.prefixHave > 0 || this.partial !== undefined || this.skipLeft > 0) {
      const what =
        this.skipLeft > 0
          ? `oversized record of ${this.skipSize} bytes`
          : this.partial !== undefined
            ? `${this.partialHave} of ${this.partial.length} payload bytes`
            : `${this.prefixHave} of ${RECORD_PREFIX_BYTES} prefix bytes`;
      this.sink.malformed(MalformedReasons.truncated, what);
    }
    this.prefixHave = 0;
    this.partial = undefined;
    this.skipLeft = 0;
  }

  private deliver(payload: Buffer): void {
    const out = this.decode(payload);
    if (typeof out === 'string') this.sink.malformed(out);
    else this.sink.event(out);
  }
}
