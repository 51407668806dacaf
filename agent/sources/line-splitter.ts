/**
 * Splits a byte stream into text lines, bounded in memory.
 *
 * Event sources that read JSON lines (files, FIFOs, sockets, stdin, `vigil replay`) feed raw
 * chunks in and get whole lines out. A line longer than `maxLineBytes` is never buffered in full:
 * its bytes are discarded as they arrive and it is reported once as oversized, so a runaway writer
 * cannot make the reader grow without bound. Lines that are not valid UTF-8 are still delivered
 * (invalid sequences decoded as U+FFFD) and flagged, so that the caller can count them.
 */
import { isUtf8 } from 'node:buffer';

/** What the splitter tells its caller about each line. */
export interface LineSink {
  /** A complete line without its `\n` (a trailing `\r` is kept: JSON parsing ignores it). */
  line(text: string, invalidUtf8: boolean): void;
  /** A line longer than the limit was skipped; `bytes` is how much of it was seen. */
  oversized(bytes: number): void;
}

/** Default upper bound for one line: 1 MiB is far above any real event. */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

/**
 * Incremental line splitter. Call {@link push} with each chunk and {@link end} once at the end of
 * the stream (an unterminated last line is delivered there).
 *
 * @example
 *   const splitter = new LineSplitter({ line: (t) => lines.push(t), oversized: () => skipped++ });
 *   stream.on('data', (c) => splitter.push(c)).on('end', () => splitter.end());
 */
export class LineSplitter {
  private pending: Buffer | undefined;
  /** Bytes of an oversized line discarded so far; -1 when not inside one. */
  private discarding = -1;

  constructor(
    private readonly sink: LineSink,
    private readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES,
  ) {
    if (!(maxLineBytes > 0)) throw new RangeError(`maxLineBytes must be positive, got ${maxLineBytes}`);
  }

  /** Feeds one chunk of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    if (this.discarding >= 0) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.discarding += chunk.length;
        return;
      }
      this.sink.oversized(this.discarding + nl);
      this.discarding = -1;
      start = nl + 1;
    }
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl < start) {
      this.keep(chunk.subarray(start));
      return;
    }
    let head: Buffer;
    if (this.pending !== undefined) {
      head = Buffer.concat([this.pending, chunk.subarray(start, lastNl + 1)]);
      this.pending = undefined;
    } else {
      head = chunk.subarray(start, lastNl + 1);
    }
    this.emitBlock(head);
    if (lastNl + 1 < chunk.length) this.keep(chunk.subarray(lastNl + 1));
  }

  /** Ends the stream: delivers a last line that had no newline. */
  end(): void {
    if (this.discarding >= 0) {
      this.sink.oversized(this.discarding);
      this.discarding = -1;
    }
    const rest = this.pending;
    this.pending = undefined;
    if (rest !== undefined && rest.length > 0) this.emitLine(rest, 0, rest.length);
  }

  /** Keeps an incomplete line for the next chunk, or starts discarding it when it is too long. */
  private keep(part: Buffer): void {
    const size = (this.pending?.length ?? 0) + part.length;
    if (size > this.maxLineBytes) {
      this.pending = undefined;
      this.discarding = size;
      return;
    }
    // Copy: the caller may reuse the chunk's memory once push() returns.
    this.pending = this.pending === undefined ? Buffer.from(part) : Buffer.concat([this.pending, part]);
  }

  /** Emits every line of a block that ends with a newline. */
  private emitBlock(block: Buffer): void {
    if (isUtf8(block)) {
      // One decode for the whole block, then split the string: far cheaper than a decode per line.
      const text = block.toString('utf8');
      let from = 0;
      for (;;) {
        const nl = text.indexOf('\n', from);
        if (nl < 0) break;
        if (nl - from > this.maxLineBytes) this.sink.oversized(Buffer.byteLength(text.slice(from, nl)));
        else this.sink.line(text.slice(from, nl), false);
        from = nl + 1;
      }
      return;
    }
    let from = 0;
    for (;;) {
      const nl = block.indexOf(10, from);
      if (nl < 0) break;
      this.emitLine(block, from, nl);
      from = nl + 1;
    }
  }

  private emitLine(buf: Buffer, from: number, to: number): void {
    if (to - from > this.maxLineBytes) {
      this.sink.oversized(to - from);
      return;
    }
    const bytes = buf.subarray(from, to);
    this.sink.line(bytes.toString('utf8'), !isUtf8(bytes));
  }
}
