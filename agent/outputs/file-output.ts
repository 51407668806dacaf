/**
 * The `file` output: alerts appended as JSON lines to a file, rotated by size.
 *
 * When the next line would take the file past `maxBytes`, the file is renamed `PATH.1` (an
 * existing `PATH.1` becomes `PATH.2`, and so on) and a new file is started; only `maxFiles`
 * rotated files are kept, so the output never uses more than about (maxFiles + 1) × maxBytes.
 * A single line longer than `maxBytes` gets a file of its own rather than being cut.
 *
 * Lines are written with the file opened in append mode, whole lines per write, so a reader
 * tailing the file sees complete lines. No fsync: the spool is the durable copy; this file is a
 * convenience for people and host-side shippers.
 */
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { AlertOutputError, alertLine, type AlertOutput, type AlertOutputFactory } from './alert-output.js';

/** Default size at which the file is rotated: 100 MiB. */
export const DEFAULT_FILE_OUTPUT_MAX_BYTES = 100 * 1024 * 1024;

/** Default number of rotated files kept beside the live one. */
export const DEFAULT_FILE_OUTPUT_MAX_FILES = 5;

/** Options of {@link createFileOutput}. */
export interface FileOutputOptions {
  /** The live file; its directory is created when missing. */
  readonly path: string;
  /** Rotate before the file would exceed this size (default {@link DEFAULT_FILE_OUTPUT_MAX_BYTES}). */
  readonly maxBytes?: number;
  /**
   * Rotated files to keep, `PATH.1` (newest) to `PATH.N` (default
   * {@link DEFAULT_FILE_OUTPUT_MAX_FILES}); 0 keeps none.
   */
  readonly maxFiles?: number;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * Appends alerts as JSON lines to `options.path`, rotating by size.
 *
 * @example createQueuedOutput(createFileOutput({ path: '/var/log/vigil/alerts.jsonl', maxFiles: 3 }))
 */
export function createFileOutput(options: FileOutputOptions): AlertOutput {
  const maxBytes = options.maxBytes ?? DEFAULT_FILE_OUTPUT_MAX_BYTES;
  const maxFiles = options.maxFiles ?? DEFAULT_FILE_OUTPUT_MAX_FILES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new AlertOutputError('file', `maxBytes must be a positive integer, got ${String(maxBytes)}`);
  }
  if (!Number.isSafeInteger(maxFiles) || maxFiles < 0) {
    throw new AlertOutputError('file', `maxFiles must be a non-negative integer, got ${String(maxFiles)}`);
  }
  if (options.path === '') throw new AlertOutputError('file', 'needs a path');
  return new FileOutput(options.path, maxBytes, maxFiles);
}

class FileOutput implements AlertOutput {
  readonly name = 'file';
  private handle: FileHandle | undefined;
  /** Bytes in the live file: read once when it is opened, then counted. */
  private size = 0;
  private closed = false;
  /** Every file operation runs on this chain, one at a time, so writes and rotations never interleave. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {}

  write(alerts: readonly Alert[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`the file output for ${this.path} is closed`));
    if (alerts.length === 0) return Promise.resolve();
    const lines = alerts.map(alertLine);
    return this.serially(() => this.writeLines(lines));
  }

  close(): Promise<void> {
    if (this.closed) return this.tail;
    this.closed = true;
    return this.serially(async () => {
      const handle = this.handle;
      this.handle = undefined;
      await handle?.close();
    });
  }

  private serially(task: () => Promise<void>): Promise<void> {
    const run = this.tail.then(task);
    // The chain continues after a failure; the failure is the caller's, through `run`.
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async writeLines(lines: readonly string[]): Promise<void> {
    const handle = await this.live();
    let chunk = '';
    let chunkBytes = 0;
    let current = handle;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.maxBytes) {
        if (chunkBytes > 0) await this.append(current, chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        current = await this.rotate();
      }
      chunk += line;
      chunkBytes += bytes;
    }
    if (chunkBytes > 0) await this.append(current, chunk, chunkBytes);
  }

  private async append(handle: FileHandle, text: string, bytes: number): Promise<void> {
    try {
      // appendFile loops until all of it is written; the O_APPEND open puts it at the end.
      await handle.appendFile(text);
    } catch (err) {
      throw new Error(`cannot write alerts to ${this.path}`, { cause: err });
    }
    this.size += bytes;
  }

  /** The live file, opened (and its size read) on first use. */
  private async live(): Promise<FileHandle> {
    if (this.handle !== undefined) return this.handle;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const handle = await open(this.path, 'a');
      try {
        this.size = (await handle.stat()).size;
      } catch (err) {
        await handle.close();
        throw err;
      }
      this.handle = handle;
      return handle;
    } catch (err) {
      throw new Error(`cannot open ${this.path} for alerts`, { cause: err });
    }
  }

  /** Shifts PATH -> PATH.1 -> ... -> PATH.maxFiles (the oldest falls off) and opens a new PATH. */
  private async rotate(): Promise<FileHandle> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
    try {
      if (this.maxFiles === 0) {
        await unlink(this.path).catch((err: unknown) => {
          if (!isMissing(err)) throw err;
        });
      } else {
        // rename() replaces its target, so PATH.maxFiles is overwritten by PATH.(maxFiles-1).
        for (let i = this.maxFiles - 1; i >= 1; i--) {
          await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((err: unknown) => {
            if (!isMissing(err)) throw err;
          });
        }
        await rename(this.path, `${this.path}.1`).catch((err: unknown) => {
          if (!isMissing(err)) throw err;
        });
      }
    } catch (err) {
      throw new Error(`cannot rotate ${this.path}`, { cause: err });
    }
    return this.live();
  }
}

function optionalInteger(value: unknown, key: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new AlertOutputError(
      'file',
      `${key} must be an integer of at least ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Registry entry for `--output file:PATH`. */
export const fileOutputFactory: AlertOutputFactory = {
  name: 'file',
  description: 'alerts as JSON lines appended to a file, rotated by size (options: maxBytes, maxFiles)',
  example: 'file:/var/log/vigil/alerts.jsonl',
  create(spec) {
    if (spec.target === '') throw new AlertOutputError('file', 'needs a path: file:PATH');
    for (const key of Object.keys(spec.options)) {
      if (key !== 'maxBytes' && key !== 'maxFiles') {
        throw new AlertOutputError('file', `unknown option ${key} (known: maxBytes, maxFiles)`);
      }
    }
    const maxBytes = optionalInteger(spec.options['maxBytes'], 'maxBytes', 1);
    const maxFiles = optionalInteger(spec.options['maxFiles'], 'maxFiles', 0);
    return createFileOutput({
      path: spec.target,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      ...(maxFiles !== undefined ? { maxFiles } : {}),
    });
  },
};
