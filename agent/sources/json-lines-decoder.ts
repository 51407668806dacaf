/**
 * A {@link StreamDecoder} for JSON lines: one JSON object per line, mapped to an event by a
 * {@link RecordMapper}. Falco-field JSON, sysdig's `-j` output, Tetragon's and Tracee's JSON
 * exports all arrive this way and differ only in their mapper.
 */
import { restoreExactTimestamp } from '../../core/json-event.js';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter } from './line-splitter.js';
import {
  MalformedReasons,
  isRecord,
  jsonTypeName,
  type DecodeSink,
  type DecoderFactory,
  type RecordMapper,
  type StreamDecoder,
} from './decoder.js';

/** Options for {@link createJsonLinesDecoder}. */
export interface JsonLinesDecoderOptions {
  /** Longest accepted line in bytes; longer lines are skipped as `oversized`. */
  readonly maxLineBytes?: number;
}

/**
 * Makes a decoder factory for JSON lines mapped by `mapper`.
 *
 * Blank lines are skipped without being counted (a trailing newline, CRLF files). A line that is
 * valid JSON but carries invalid UTF-8 is still decoded (its bad bytes become U+FFFD): dropping
 * it would let anyone hide an action behind a file name that is not valid UTF-8.
 *
 * @example
 *   const factory = createJsonLinesDecoder((r) => ({ fields: r }));
 *   const decoder = factory({ event: (e) => out.push(e), malformed: (why) => bad.push(why) });
 *   decoder.push(Buffer.from('{"evt.type":"open"}\n'));
 */
export function createJsonLinesDecoder(
  mapper: RecordMapper,
  options: JsonLinesDecoderOptions = {},
): DecoderFactory {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  return (sink) => new JsonLinesDecoder(mapper, sink, maxLineBytes);
}

class JsonLinesDecoder implements StreamDecoder {
  private readonly splitter: LineSplitter;

  constructor(
    private readonly mapper: RecordMapper,
    private readonly sink: DecodeSink,
    maxLineBytes: number,
  ) {
    this.splitter = new LineSplitter(
      {
        line: (text) => this.line(text),
        oversized: (bytes) => sink.malformed(MalformedReasons.oversized, `${bytes} bytes`),
      },
      maxLineBytes,
    );
  }

  push(chunk: Buffer): void {
    this.splitter.push(chunk);
  }

  end(): void {
    this.splitter.end();
  }

  private line(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const why = classifyUnparsable(text);
      if (why !== undefined) this.sink.malformed(why, preview(text));
      return;
    }
    if (!isRecord(value)) {
      this.sink.malformed(MalformedReasons.badType, `expected an object, got ${jsonTypeName(value)}`);
      return;
    }
    restoreExactTimestamp(value, text);
    const out = this.mapper(value);
    if (typeof out === 'string') this.sink.malformed(out);
    else this.sink.event(out);
  }
}

/**
 * Why a line that JSON.parse rejected is malformed, or undefined for a blank line. A line that
 * opens an object or array and never closes it was cut off (`truncated`); anything else is
 * garbage (`not-json`).
 */
export function classifyUnparsable(text: string): string | undefined {
  let first = 0;
  while (first < text.length && isBlank(text.charCodeAt(first))) first++;
  if (first === text.length) return undefined;
  let last = text.length - 1;
  while (isBlank(text.charCodeAt(last))) last--;
  const open = text.charCodeAt(first);
  const close = text.charCodeAt(last);
  if ((open === 0x7b && close !== 0x7d) || (open === 0x5b && close !== 0x5d))
    return MalformedReasons.truncated;
  return MalformedReasons.notJson;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

/** The start of a bad line, for a log detail that cannot itself grow large. */
function preview(text: string): string {
  return text.length <= 80 ? text : `${text.slice(0, 80)}...`;
}
