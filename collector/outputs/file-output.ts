/**
 * The `file` output: alerts appended to a file as JSON lines (the full alert: Falco's keys plus
 * Vigil's), rotated by size.
 *
 * Before a line would take the live file past `max_bytes`, the file becomes `PATH.1`, `PATH.1`
 * becomes `PATH.2`, and so on up to `PATH.<max_files>`, which is overwritten; so the output never
 * holds more than about (max_files + 1) × max_bytes. A line longer than `max_bytes` gets a file
 * to itself rather than being cut. Lines are appended whole (the file is opened with O_APPEND), so
 * a reader tailing it never sees half a line. The store is the durable copy of every alert; this
 * file is for people and log shippers, so there is no fsync.
 */
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { bytes, int, str } from '../../core/config-schema.js';
import { sendFailure, sendSuccess, type CollectorOutput, type SendOutcome } from './collector-output.js';
import { defineOutputType, type OutputSettings } from './output-config.js';

/** Where and how big. */
export interface FileOutputOptions {
  readonly path: string;
  /** Rotate before the live file would pass this many bytes. */
  readonly maxBytes: number;
  /** Rotated files kept (`PATH.1` newest … `PATH.N` oldest); 0 keeps none. */
  readonly maxFiles: number;
}

/** Lines per append. */
const MAX_BATCH = 500;

/**
 * Creates a bare file output (no retry; see {@link withRetry}).
 *
 * @example createFileOutput({ name: 'audit', minPriority: Priority.Debug, queueSize: 10_000 },
 *   { path: '/var/log/vigil/alerts.jsonl', maxBytes: 100 * 2 ** 20, maxFiles: 5 })
 */
export function createFileOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  options: FileOutputOptions,
): CollectorOutput {
  return new FileOutput(settings, options);
}

class FileOutput implements CollectorOutput {
  readonly name: string;
  readonly type = 'file';
  readonly minPriority: OutputSettings['minPriority'];
  readonly queueSize: number;
  readonly maxBatch = MAX_BATCH;
  private handle: FileHandle | undefined;
  /** Bytes in the live file: stat()ed when opened, counted after. */
  private size = 0;
  private closed = false;
  /** Only one file operation runs at a time: the router never overlaps sends, but close() may come during one. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
    private readonly options: FileOutputOptions,
  ) {
    this.name = settings.name;
    this.minPriority = settings.minPriority;
    this.queueSize = settings.queueSize;
  }

  send(batch: readonly Alert[]): Promise<SendOutcome> {
    if (this.closed) return Promise.resolve(sendFailure(new Error(`output ${this.name} is closed`)));
    if (batch.length === 0) return Promise.resolve(sendSuccess());
    return this.serially(async () => {
      try {
        await this.append(batch.map((alert) => JSON.stringify(alert) + '\n'));
        return sendSuccess();
      } catch (err) {
        // Start from a fresh open next time: the handle may point at a file that is gone.
        await this.release();
        // A full or read-only disk may recover (an operator frees space): worth retrying.
        return {
          result: 'retryable',
          error: new Error(`output ${this.name}: cannot append to ${this.options.path}`, { cause: err }),
        };
      }
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return this.serially(() => this.release());
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.busy.then(task);
    this.busy = run.catch(() => undefined);
    return run;
  }

  private async append(lines: readonly string[]): Promise<void> {
    let chunk = '';
    let chunkBytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      const pending = this.size + chunkBytes;
      if (pending > 0 && pending + n > this.options.maxBytes) {
        if (chunkBytes > 0) await this.write(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
      }
      chunk += line;
      chunkBytes += n;
    }
    if (chunkBytes > 0) await this.write(chunk, chunkBytes);
  }

  private async write(text: string, n: number): Promise<void> {
    const handle = await this.live();
    await handle.appendFile(text, 'utf8');
    this.size += n;
  }

  private async live(): Promise<FileHandle> {
    if (this.handle !== undefined) return this.handle;
    await mkdir(dirname(this.options.path), { recursive: true });
    const handle = await open(this.options.path, 'a');
    try {
      this.size = (await handle.stat()).size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.handle = handle;
    return handle;
  }

  private async release(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  /** PATH.(N-1) → PATH.N, …, PATH → PATH.1; with max_files 0 the live file is just removed. */
  private async rotate(): Promise<void> {
    await this.release();
    const path = this.options.path;
    if (this.options.maxFiles === 0) {
      await rm(path, { force: true });
    } else {
      for (let i = this.options.maxFiles - 1; i >= 1; i--)
        await renameIfThere(`${path}.${i}`, `${path}.${i + 1}`);
      await renameIfThere(path, `${path}.1`);
    }
    this.size = 0;
  }
}

async function renameIfThere(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Registry entry: `type: file`. */
export const fileOutputType = defineOutputType({
  type: 'file',
  description: 'alerts as JSON lines appended to a file, rotated by size',
  example: {
    type: 'file',
    name: 'archive',
    path: '/var/log/vigil/alerts.jsonl',
    max_bytes: '100MiB',
    max_files: 5,
  },
  shape: {
    path: str({ nonEmpty: true }),
    max_bytes: bytes(1024),
    max_files: int(0, 1000),
  },
  defaults: { max_bytes: '100MiB', max_files: 5 },
  create(settings, o) {
    return createFileOutput(settings, { path: o.path, maxBytes: o.max_bytes, maxFiles: o.max_files });
  },
});
