/**
 * A regular file as a {@link ByteInput}, read once or followed like `tail -F`.
 *
 * Following: after reaching the end the input waits for the file to change — woken by
 * `fs.watch` on the file's directory, and by an interval timer in case watching is unavailable
 * (network and some overlay file systems) or an event is missed — and then:
 * - reads what was appended;
 * - notices rotation (the path now names another inode: logrotate's rename + create), finishes
 *   the old file, and reads the new one from its start;
 * - notices truncation (the file is now shorter than what was read: logrotate's `copytruncate`),
 *   and reads again from the start;
 * - keeps waiting while the path is missing between a rename and the re-creation.
 * Each file generation is a new stream, so a line cut off by rotation is reported as truncated
 * instead of being glued to the next file's first line.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { deferred, type ByteInput, type ByteInputHandler, type ByteStream } from './byte-input.js';
import { asError } from './stream-source.js';

/** Options for {@link FileInput}. */
export interface FileInputOptions {
  /** Keep reading as the file grows, rotates or is truncated (default true). */
  readonly follow?: boolean;
  /** Where to begin in the file present at start: `beginning` (default) or `end`. */
  readonly startAt?: 'beginning' | 'end';
  /** Fallback check interval while following, in ms (default 250). */
  readonly pollIntervalMs?: number;
  /** Bytes read per call (default 1 MiB); one buffer of this size is reused. */
  readonly chunkBytes?: number;
}

/** Identity of an inode: a rotated-in file has another. */
interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * Reads a regular file, optionally following it. `start` rejects when the file cannot be opened
 * (a missing file at start is a configuration error, reported at once rather than waited for).
 */
export class FileInput implements ByteInput {
  readonly describe: string;
  private readonly follow: boolean;
  private readonly startAt: 'beginning' | 'end';
  private readonly pollIntervalMs: number;
  private readonly buffer: Buffer;

  private handle: FileHandle | undefined;
  private identity: FileIdentity | undefined;
  private position = 0;
  private stopping = false;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Wakes the reader when it waits for a change; a wake with no waiter is remembered. */
  private wakeWaiter: (() => void) | undefined;
  private wakePending = false;
  private reopenFailing = false;
  private loop: Promise<void> | undefined;
  private readonly finished = deferred();

  constructor(
    private readonly path: string,
    options: FileInputOptions = {},
  ) {
    this.describe = path;
    this.follow = options.follow ?? true;
    this.startAt = options.startAt ?? 'beginning';
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.buffer = Buffer.allocUnsafe(options.chunkBytes ?? 1 << 20);
  }

  async start(handler: ByteInputHandler): Promise<void> {
    const handle = await open(this.path, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error(`${this.path} is not a regular file`);
      this.identity = { dev: st.dev, ino: st.ino };
      this.position = this.startAt === 'end' ? st.size : 0;
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.handle = handle;
    if (this.follow) this.watchForChanges(handler);
    this.loop = this.run(handler).then(
      () => this.finished.resolve(),
      (err: unknown) => this.finished.reject(asError(err)),
    );
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.wake();
    await this.loop;
  }

  private watchForChanges(handler: ByteInputHandler): void {
    // Watch the directory, not the file: a watch on the file follows its inode and goes quiet
    // after a rename, while the directory also reports the new file appearing under the name.
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.wake();
      });
      this.watcher.on('error', (err) => {
        handler.notice('file watch failed; polling only', { path: this.path, err: err.message });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      handler.notice('file watch unavailable; polling only', { path: this.path, err: asError(err).message });
    }
    this.timer = setInterval(() => this.wake(), this.pollIntervalMs);
  }

  private wake(): void {
    const waiter = this.wakeWaiter;
    if (waiter === undefined) {
      this.wakePending = true;
      return;
    }
    this.wakeWaiter = undefined;
    waiter();
  }

  private waitForWake(): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.wakeWaiter = resolve));
  }

  private async run(handler: ByteInputHandler): Promise<void> {
    let stream: ByteStream = handler.open(this.path);
    try {
      while (!this.stopping) {
        const handle = this.handle!;
        const { bytesRead } = await handle.read(this.buffer, 0, this.buffer.length, this.position);
        if (this.stopping) break;
        if (bytesRead > 0) {
          this.position += bytesRead;
          stream.data(this.buffer.subarray(0, bytesRead));
          continue;
        }
        if (!this.follow) break;
        const change = await this.checkForReplacement(handle);
        if (change === 'rotated') {
          if (await this.reopen(handler)) {
            stream.end();
            stream = handler.open(this.path);
          } else {
            await this.waitForWake();
          }
        } else if (change === 'truncated') {
          stream.end();
          this.position = 0;
          handler.notice('file truncated; reading it again from the start', { path: this.path });
          stream = handler.open(this.path);
        } else {
          await this.waitForWake();
        }
      }
    } finally {
      stream.end();
      await this.handle?.close();
      this.handle = undefined;
    }
  }

  /** At end of file: has the path been rotated to a new inode, or the file truncated? */
  private async checkForReplacement(handle: FileHandle): Promise<'rotated' | 'truncated' | 'none'> {
    const current = await handle.stat();
    if (current.size < this.position) return 'truncated';
    let named;
    try {
      named = await stat(this.path);
    } catch {
      // Renamed away and not yet re-created: keep waiting on the old file.
      return 'none';
    }
    const id = this.identity!;
    if (named.isFile() && (named.ino !== id.ino || named.dev !== id.dev)) return 'rotated';
    return 'none';
  }

  /** Switches to the file now under the path; false (after a notice) when it cannot be opened. */
  private async reopen(handler: ByteInputHandler): Promise<boolean> {
    let next: FileHandle;
    try {
      next = await open(this.path, 'r');
    } catch (err) {
      // Gone again between stat and open, or not readable: stay on the old file, look again later.
      // One notice per streak of failures, not one per poll.
      if (!this.reopenFailing) {
        handler.notice('rotated file could not be opened; retrying', {
          path: this.path,
          err: asError(err).message,
        });
      }
      this.reopenFailing = true;
      return false;
    }
    const st = await next.stat();
    await this.handle?.close();
    this.handle = next;
    this.identity = { dev: st.dev, ino: st.ino };
    this.position = 0;
    this.reopenFailing = false;
    handler.notice('file rotated; following the new file', { path: this.path });
    return true;
  }
}
