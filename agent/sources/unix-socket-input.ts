/**
 * A listening Unix stream socket as a {@link ByteInput} (`unix:/run/vigil/events.sock`).
 *
 * The agent listens and writers connect, rather than the agent connecting out: writers (Falco's
 * `program_output` through `socat`, a `tetra getevents` pipeline, a sidecar) come, go and restart
 * on their own schedule, several may write at once, and none of them has to be running when the
 * agent starts. Each connection is its own stream with its own decoder, so two writers' lines
 * never interleave mid-line.
 *
 * The socket file is created with mode 0600 by default: whoever can write to it can inject
 * events. A stale socket file left by a crashed agent is replaced; a live one (something answers)
 * or a path that is not a socket makes `start` fail rather than steal or delete it.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { deferred, type ByteInput, type ByteInputHandler } from './byte-input.js';

/** Options for {@link UnixSocketInput}. */
export interface UnixSocketInputOptions {
  /** Permission bits of the socket file (default 0o600). */
  readonly mode?: number;
  /** Most writers connected at once (default 64); further connections are refused. */
  readonly maxConnections?: number;
}

/** Listens on a Unix socket path and reads every connection. Runs until stopped. */
export class UnixSocketInput implements ByteInput {
  readonly describe: string;
  private readonly mode: number;
  private readonly maxConnections: number;
  private server: Server | undefined;
  private readonly connections = new Set<Socket>();
  private accepted = 0;
  private refused = 0;
  private stopping = false;
  private readonly finished = deferred();

  constructor(
    private readonly path: string,
    options: UnixSocketInputOptions = {},
  ) {
    this.describe = `unix:${path}`;
    this.mode = options.mode ?? 0o600;
    this.maxConnections = options.maxConnections ?? 64;
  }

  async start(handler: ByteInputHandler): Promise<void> {
    await this.removeStaleSocket();
    const server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => handler.notice('socket server error', { path: this.path, err: err.message }));
    this.server = server;
    try {
      await chmod(this.path, this.mode);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.finished.promise;
    this.stopping = true;
    const server = this.server;
    const closed =
      server === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.connections) socket.destroy();
    await closed;
    await unlink(this.path).catch(() => {});
    this.finished.resolve();
  }

  private accept(socket: Socket, handler: ByteInputHandler): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.refused++;
      // One notice per power of two keeps a connection storm from becoming a notice storm.
      if ((this.refused & (this.refused - 1)) === 0) {
        handler.notice('too many writers; connection refused', {
          path: this.path,
          maxConnections: this.maxConnections,
          refused: this.refused,
        });
      }
      socket.destroy();
      return;
    }
    this.accepted++;
    const stream = handler.open(`${this.describe}#${this.accepted}`);
    this.connections.add(socket);
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      this.connections.delete(socket);
      stream.end();
    };
    socket.on('data', (chunk: Buffer) => stream.data(chunk));
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err) => {
      handler.notice('writer connection failed', { path: this.path, err: err.message });
      finish();
    });
  }

  /** Removes a socket file no one listens on; refuses to touch anything else. */
  private async removeStaleSocket(): Promise<void> {
    let st;
    try {
      st = await lstat(this.path);
    } catch {
      return;
    }
    if (!st.isSocket()) throw new Error(`${this.path} exists and is not a socket`);
    const live = await new Promise<boolean>((resolve) => {
      const probe = createConnection(this.path);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (live) throw new Error(`${this.path} is in use by another listener`);
    await unlink(this.path);
  }
}
