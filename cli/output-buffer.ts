/**
 * Buffers many small writes (one JSON line per alert or match) into large writes to a stream,
 * and exposes the stream's back-pressure so that readers can pause.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Coalesces writes up to `limit` characters before handing them to the stream. */
export class OutputBuffer {
  private parts: string[] = [];
  private size = 0;
  private blocked = false;

  constructor(
    private readonly out: Writable,
    private readonly limit = 64 * 1024,
  ) {}

  /** Appends text; flushes when the buffer is full. */
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= this.limit) this.flush();
  }

  /** Hands everything buffered to the stream. */
  flush(): void {
    if (this.size === 0) return;
    const text = this.parts.length === 1 ? (this.parts[0] as string) : this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (!this.out.write(text)) this.blocked = true;
  }

  /** Resolves once the stream has room again (at once when it has). */
  async drained(): Promise<void> {
    if (!this.blocked) return;
    this.blocked = false;
    if (this.out.writableNeedDrain) await once(this.out, 'drain');
  }

  /** Flushes and waits until the stream accepted everything. */
  async close(): Promise<void> {
    this.flush();
    await this.drained();
  }
}
