/**
 * Runs a program inside a network namespace with `nsenter`, the namespace held open by the agent
 * for the whole run.
 *
 * The namespace is opened here (`/proc/PID/ns/net` of a pod's process, or a named namespace's
 * `/run/netns/NAME`) and its descriptor handed to nsenter as fd 3 (`--net=/proc/self/fd/3`): once
 * opened, the descriptor keeps naming the same namespace even if the pid exits and is reused, so
 * the caller can check the pid after opening and be sure of what it acts on.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';

/** Why a program could not run, or how it ended badly. */
export class NetnsExecError extends Error {
  override readonly name = 'NetnsExecError';
  constructor(
    message: string,
    /** `missing`: a binary is not installed; `permission`: not allowed; `failed`: ran and failed; `timeout`. */
    readonly kind: 'missing' | 'permission' | 'failed' | 'timeout',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Paths of the programs used, and the deadline of one run. */
export interface NetnsExecOptions {
  /** nsenter (default `nsenter`, looked up on PATH). */
  readonly nsenter?: string;
  /** Kills the program after this long (default 5000 ms). */
  readonly timeoutMs?: number;
}

/** A finished run. */
export interface NetnsExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** An open network namespace: run programs in it; close it when done. */
export interface OpenNetns {
  /** The path it was opened from. */
  readonly path: string;
  /** Device and inode of the namespace: equal for the same namespace. */
  readonly id: string;
  /** Runs `argv` in the namespace; rejects with {@link NetnsExecError} unless it exits 0. */
  run(argv: readonly string[], stdin?: string): Promise<NetnsExecResult>;
  close(): void;
}

const PERMISSION = /operation not permitted|permission denied|EPERM|EACCES/i;

/**
 * Opens the network namespace at `path`. Throws a {@link NetnsExecError} when it cannot be
 * opened (`missing` when the path does not exist).
 */
export function openNetns(path: string, options: NetnsExecOptions = {}): OpenNetns {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NetnsExecError(
      `cannot open network namespace ${path}: ${(err as Error).message}`,
      code === 'EACCES' || code === 'EPERM' ? 'permission' : 'missing',
      { cause: err },
    );
  }
  const st = fstatSync(fd);
  const nsenter = options.nsenter ?? 'nsenter';
  const timeoutMs = options.timeoutMs ?? 5000;
  let closed = false;
  return {
    path,
    id: `${st.dev}:${st.ino}`,
    run(argv, stdin) {
      if (closed) return Promise.reject(new NetnsExecError(`network namespace ${path} is closed`, 'failed'));
      const [program] = argv;
      return new Promise<NetnsExecResult>((resolve, reject) => {
        const child = spawn(nsenter, ['--net=/proc/self/fd/3', '--', ...argv], {
          stdio: ['pipe', 'pipe', 'pipe', fd],
        });
        let stdout = '';
        let stderr = '';
        // All three are pipes (stdio above); the types cannot know that.
        const [input, output, errors] = [child.stdin, child.stdout, child.stderr];
        if (input === null || output === null || errors === null) throw new Error('nsenter: no pipes');
        output.setEncoding('utf8').on('data', (c: string) => {
          if (stdout.length < 4 * 1024 * 1024) stdout += c;
        });
        errors.setEncoding('utf8').on('data', (c: string) => {
          if (stderr.length < 64 * 1024) stderr += c;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(
            new NetnsExecError(
              err.code === 'ENOENT'
                ? `${nsenter} not found: install util-linux or set enforce.nsenter`
                : `cannot run ${nsenter}: ${err.message}`,
              err.code === 'ENOENT' ? 'missing' : err.code === 'EACCES' ? 'permission' : 'failed',
              { cause: err },
            ),
          );
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) return resolve({ stdout, stderr });
          const text = stderr.trim().split('\n').slice(0, 6).join('; ');
          if (signal === 'SIGKILL') {
            return reject(
              new NetnsExecError(`${program} in ${path} timed out after ${timeoutMs} ms`, 'timeout'),
            );
          }
          // nsenter exits 127 when it cannot find the program, 126 when it cannot execute it.
          if (code === 127 || code === 126) {
            return reject(
              new NetnsExecError(`cannot run ${program}: ${text}`, code === 127 ? 'missing' : 'permission'),
            );
          }
          reject(
            new NetnsExecError(
              `${argv.join(' ')} in ${path} exited ${code ?? signal}: ${text || '(no message)'}`,
              PERMISSION.test(stderr) ? 'permission' : 'failed',
            ),
          );
        });
        input.on('error', () => undefined); // the program may exit without reading it
        input.end(stdin ?? '');
      });
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}

/** Device and inode of a namespace file (e.g. `/proc/self/ns/net`), to compare namespaces. */
export function netnsIdOf(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    return `${st.dev}:${st.ino}`;
  } finally {
    closeSync(fd);
  }
}
