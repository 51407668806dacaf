/**
 * Reads directories of syscall traces in the ADFA-LD format: one trace per file, the trace being
 * whitespace-separated decimal syscall numbers (0..1023). Used by `vigil baseline` and the
 * sequence-model benchmark.
 *
 * Files are found recursively and visited in a stable order (byte order of their paths), so runs
 * are reproducible. Each file is bounded in size; a file that is too large, unreadable, empty or
 * holds a token that is not a syscall number is reported through `onError` and skipped, and the
 * rest continue.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Largest trace file read by default (64 MiB, about 16 million calls). */
export const DEFAULT_MAX_TRACE_BYTES = 64 << 20;

/** Largest syscall number a trace may hold. */
const MAX_CALL = 1023;

/** A trace file that could not be used, with the reason naming the file and the bad input. */
export class TraceFileError extends Error {
  override readonly name = 'TraceFileError';
  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** One trace read from a file. */
export interface SyscallTrace {
  readonly path: string;
  readonly calls: Uint16Array;
}

/**
 * Parses the text of one trace. Throws {@link TraceFileError} naming the first bad token, its
 * position (call index, 1-based, and line) and what was expected.
 */
export function parseTrace(text: string, path: string): Uint16Array {
  const out = new Uint16Array(Math.ceil(text.length / 2) + 1);
  let n = 0;
  let line = 1;
  let i = 0;
  const len = text.length;
  while (i < len) {
    let ch = text.charCodeAt(i);
    if (ch === 10) {
      line++;
      i++;
      continue;
    }
    if (ch === 32 || ch === 9 || ch === 13 || ch === 11 || ch === 12) {
      i++;
      continue;
    }
    const start = i;
    let value = 0;
    let digits = true;
    while (i < len) {
      ch = text.charCodeAt(i);
      if (ch === 32 || ch === 10 || ch === 9 || ch === 13 || ch === 11 || ch === 12) break;
      if (ch >= 48 && ch <= 57) value = value * 10 + (ch - 48);
      else digits = false;
      i++;
    }
    if (!digits || value > MAX_CALL) {
      const token = text.slice(start, Math.min(i, start + 40));
      throw new TraceFileError(
        path,
        `bad token '${token}' at call ${n + 1} (line ${line}): expected a syscall number 0..${MAX_CALL}`,
      );
    }
    out[n++] = value;
  }
  if (n === 0) throw new TraceFileError(path, 'holds no syscall numbers');
  return out.slice(0, n);
}

/**
 * Every regular file under `dir`, recursively, in byte order of their paths. Hidden entries
 * (names starting with '.') are skipped. Throws when `dir` is not a readable directory.
 */
export function listTraceFiles(dir: string): string[] {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) throw new Error(`${dir}: no such directory`);
  if (!st.isDirectory()) throw new Error(`${dir}: not a directory`);
  const files: string[] = [];
  const walk = (d: string): void => {
    const entries = readdirSync(d, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  walk(dir);
  return files;
}

/** Options of {@link readTraces}. */
export interface ReadTracesOptions {
  /** Largest file read (bytes); larger ones are reported and skipped. */
  readonly maxFileBytes?: number;
  /** Told about every file skipped; reading goes on. */
  readonly onError?: (err: TraceFileError) => void;
}

/**
 * The traces of every file under `dir` (see {@link listTraceFiles}), read one at a time so that
 * only one file's text is in memory.
 */
export function* readTraces(dir: string, options: ReadTracesOptions = {}): Generator<SyscallTrace> {
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_TRACE_BYTES;
  for (const path of listTraceFiles(dir)) {
    try {
      const size = statSync(path).size;
      if (size > maxBytes)
        throw new TraceFileError(
          path,
          `is ${size} bytes, more than the limit of ${maxBytes} bytes for a trace`,
        );
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw new TraceFileError(path, `cannot be read: ${(err as Error).message}`, { cause: err });
      }
      yield { path, calls: parseTrace(text, path) };
    } catch (err) {
      if (!(err instanceof TraceFileError)) throw err;
      options.onError?.(err);
    }
  }
}
