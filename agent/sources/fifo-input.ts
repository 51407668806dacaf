/**
 * A named pipe (FIFO) as a {@link ByteInput}.
 *
 * Followed (the default), the FIFO is opened for reading *and* writing without blocking: holding
 * a write end ourselves means the pipe never reports end-of-file when a writer goes away, so
 * writers can come, go and restart while the agent keeps reading (Linux allows this O_RDWR open
 * of a FIFO). Not followed, it is read like `cat fifo`: the open waits for the first writer and
 * the input ends when the last writer closes.
 *
 * Reads go through a non-blocking pipe handle on the event loop, never a thread-pool read that
 * could sit blocked on an idle pipe.
 */
import { closeSync, constants, open as openCallback, openSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { deferred, type ByteInput, type ByteInputHandler, type ByteStream } from './byte-input.js';
import { asError } from './stream-source.js';

/** Options for {@link FifoInput}. */
export interface FifoInputOptions {
  /** Keep reading across writers (default true); false ends at the last writer's close. */
  readonly follow?: boolean;
}

/** Reads a FIFO; `start` rejects when the path is not a FIFO. */
export class FifoInput implements ByteInput {
  readonly describe: string;
  private readonly follow: boolean;
  private socket: Socket | undefined;
  private stream: ByteStream | undefined;
  /** The blocking open of a non-followed FIFO, while it waits for a writer. */
  private opening: Promise<void> | undefined;
  private stopping = false;
  private readonly finished = deferred();

  constructor(
    private readonly path: string,
    options: FifoInputOptions = {},
  ) {
    this.describe = path;
    this.follow = options.follow ?? true;
  }

  async start(handler: ByteInputHandler): Promise<void> {
    const st = await stat(this.path);
    if (!st.isFIFO()) throw new Error(`${this.path} is not a FIFO`);
    if (this.follow) {
      const fd = await openFd(this.path, constants.O_RDWR | constants.O_NONBLOCK);
      this.attach(fd, handler);
      return;
    }
    // A plain read-only open blocks (in the thread pool) until a writer opens the FIFO; start
    // does not wait for that: the source is running, just idle.
    this.opening = openFd(this.path, constants.O_RDONLY).then(
      (fd) => {
        if (this.stopping) closeSync(fd);
        else this.attach(fd, handler);
      },
      (err: unknown) => this.finished.reject(asError(err)),
    );
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.opening !== undefined && this.socket === undefined) {
      // Release the open still waiting for a writer by briefly being that writer; ENXIO means
      // the open has just finished on its own.
      try {
        closeSync(openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // Nothing to release.
      }
      await this.opening;
    }
    const socket = this.socket;
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
    this.endStream();
    this.finished.resolve();
  }

  private attach(fd: number, handler: ByteInputHandler): void {
    const stream = handler.open(this.path);
    this.stream = stream;
    const socket = new Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.stopping) stream.data(chunk);
    });
    socket.on('end', () => {
      this.endStream();
      socket.destroy();
      this.finished.resolve();
    });
    socket.on('error', (err) => {
      this.endStream();
      socket.destroy();
      this.finished.reject(new Error(`reading FIFO ${this.path} failed: ${err.message}`, { cause: err }));
    });
  }

  private endStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.end();
  }
}

function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    openCallback(path, flags, (err, fd) => (err === null ? resolve(fd) : reject(err)));
  });
}
