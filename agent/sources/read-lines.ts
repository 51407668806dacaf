/**
 * Reads a whole byte stream line by line through a {@link LineSplitter}.
 */
import type { Readable } from 'node:stream';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter, type LineSink } from './line-splitter.js';

/** Options for {@link readLines}. */
export interface ReadLinesOptions {
  readonly maxLineBytes?: number;
  /**
   * Called after each chunk with the bytes read so far; a returned promise is awaited before the
   * next chunk is read (how a caller applies back-pressure from its own output).
   */
  readonly afterChunk?: (bytesRead: number) => Promise<void> | void;
}

/** Feeds every line of `stream` to `sink`; resolves at the end of the stream. */
export async function readLines(
  stream: Readable,
  sink: LineSink,
  options: ReadLinesOptions = {},
): Promise<void> {
  const splitter = new LineSplitter(sink, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    splitter.push(buf);
    if (options.afterChunk !== undefined) await options.afterChunk(bytes);
  }
  splitter.end();
}
