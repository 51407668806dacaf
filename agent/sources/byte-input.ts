/**
 * Where a stream-shaped source's bytes come from.
 *
 * A {@link ByteInput} only moves bytes: it opens a file, a FIFO, a listening socket, stdin or a
 * child process, and hands every chunk to a {@link ByteStream}. What the bytes mean is the
 * decoder's business (see `decoder.ts`); counting and the source lifecycle are
 * `stream-source.ts`'s. An input may produce several streams over its life — one per accepted
 * connection, one per generation of a rotated file, one per run of a restarted child — and each
 * stream gets its own decoder, so a half-written line of one never glues onto another.
 */

/** One stream of bytes, fed by an input. */
export interface ByteStream {
  /** One chunk, valid only during the call (the input may reuse the memory). */
  data(chunk: Buffer): void;
  /** The stream ended (EOF, connection closed, file rotated away). Called once. */
  end(): void;
}

/** What an input reports to while it runs. */
export interface ByteInputHandler {
  /** A new stream begins; `label` says which (`/var/log/x.jsonl`, `unix:/run/x.sock#3`). */
  open(label: string): ByteStream;
  /** A condition the operator should know about (rotation followed, connection refused...). */
  notice(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/**
 * A producer of byte streams with a lifecycle. Inputs are started once and stopped once; the
 * stream source above them enforces that.
 */
export interface ByteInput {
  /** What is read, for messages: a path, `unix:/path`, `-`, a command. */
  readonly describe: string;
  /** Opens the input; rejects with an Error saying why when it cannot. */
  start(handler: ByteInputHandler): Promise<void>;
  /**
   * Resolves when a finite input has ended (every stream ended); rejects when reading failed for
   * good. A followed input never settles on its own.
   */
  done(): Promise<void>;
  /**
   * Stops reading, ends open streams and releases what the input holds. After it resolves the
   * input calls its handler no more. Only called after `start` resolved.
   */
  stop(): Promise<void>;
}

/** A promise with its settle functions, for inputs whose end is signalled from callbacks. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
  readonly settled: boolean;
}

/**
 * Makes a {@link Deferred}. Its promise has a no-op rejection handler attached, so a rejection no
 * one awaits (a followed input that failed while nobody was waiting on `done()`) does not crash
 * the process; callers that await it still see the rejection.
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return {
    promise,
    get settled() {
      return settled;
    },
    resolve(value: T) {
      if (settled) return;
      settled = true;
      resolve(value);
    },
    reject(err: Error) {
      if (settled) return;
      settled = true;
      reject(err);
    },
  };
}
