/**
 * A Node.js readable stream as a {@link ByteInput}: stdin (`-`) in the agent, any stream in
 * tests and tools. Finite: it ends with the stream.
 */
import type { Readable } from 'node:stream';
import { deferred, type ByteInput, type ByteInputHandler } from './byte-input.js';

/** Reads one readable stream to its end. */
export class ReadableInput implements ByteInput {
  private stopping = false;
  private readonly finished = deferred();
  private onStop: (() => void) | undefined;

  /** `describe` names the stream in messages (`-` for stdin). */
  constructor(
    private readonly stream: Readable,
    readonly describe: string,
  ) {}

  start(handler: ByteInputHandler): Promise<void> {
    const out = handler.open(this.describe);
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      out.end();
    };
    const onData = (chunk: Buffer | string): void => {
      if (!this.stopping) out.data(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    const onEnd = (): void => {
      finish();
      this.finished.resolve();
    };
    const onError = (err: Error): void => {
      finish();
      this.finished.reject(new Error(`reading ${this.describe} failed: ${err.message}`, { cause: err }));
    };
    this.stream.on('data', onData);
    this.stream.once('end', onEnd);
    this.stream.once('error', onError);
    this.onStop = () => {
      this.stream.off('data', onData);
      this.stream.off('end', onEnd);
      this.stream.off('error', onError);
      // A late error from a stream we no longer read must not become an uncaught exception.
      this.stream.on('error', () => {});
      finish();
    };
    return Promise.resolve();
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  stop(): Promise<void> {
    this.stopping = true;
    this.onStop?.();
    // Release the descriptor: for stdin this is the agent shutting down, for others their end.
    this.stream.destroy();
    this.finished.resolve();
    return Promise.resolve();
  }
}
