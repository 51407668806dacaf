/**
 * The decoder layer: how a byte stream becomes events.
 *
 * Every stream-shaped source is "some bytes through a decoder": the input (a file, a FIFO, a
 * socket connection, stdin, a child process's stdout) only moves bytes, and a
 * {@link StreamDecoder} frames them (JSON lines, length-prefixed binary records) and maps each
 * frame to an {@link Event}. One decoder instance serves one stream, because framing state (a
 * half-read line, a half-read record) belongs to the stream it came from.
 */
import type { Event } from '../../core/event.js';

/**
 * Stable reason tokens for input that could not be decoded, shared by every decoder so that
 * metrics read the same across sources. Mappers may add their own (`missing-field`,
 * `unknown-kind`, ...).
 */
export const MalformedReasons = {
  /** Not JSON at all: garbage, binary noise, a partial line glued to another. */
  notJson: 'not-json',
  /** JSON cut off before its end (a writer killed mid-line, a record cut by end of stream). */
  truncated: 'truncated',
  /** A line or record longer than the configured limit; skipped without being buffered. */
  oversized: 'oversized',
  /** Valid JSON of the wrong type where an object is expected (array, number, string, null). */
  badType: 'bad-type',
  /** A required part of the record is absent or of the wrong type. */
  missingField: 'missing-field',
  /** A well-formed record of a kind this source does not map. */
  unknownKind: 'unknown-kind',
  /** A binary record its decoder rejected. */
  badRecord: 'bad-record',
} as const;

/** Where a decoder delivers: the event and malformed halves of a source's sink. */
export interface DecodeSink {
  event(evt: Event): void;
  malformed(reason: string, detail?: string): void;
}

/**
 * Turns the chunks of one byte stream into events.
 *
 * The chunk passed to {@link push} is only valid during the call: the input may reuse its memory
 * afterwards, so a decoder copies whatever it keeps (a partial line or record). A decoder never
 * throws on bad input; it reports it to its sink and carries on.
 */
export interface StreamDecoder {
  /** Feeds one chunk of the stream. */
  push(chunk: Buffer): void;
  /** The stream ended: deliver or report what is left (an unterminated last line, a cut record). */
  end(): void;
}

/** Makes the decoder for one new stream, delivering to `sink`. */
export type DecoderFactory = (sink: DecodeSink) => StreamDecoder;

/**
 * Maps one decoded JSON object to an event, or returns the reason token it is malformed.
 * Mappers are pure and must not keep `record` beyond returning an event built from it.
 */
export type RecordMapper = (record: Record<string, unknown>) => Event | string;

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The name of a JSON value's type for malformed details: `array`, `null`, `number`, ... */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
