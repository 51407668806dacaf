/**
 * Small process tools for the node-in-a-box harness: running a command and reading its output,
 * and telling whether a pid is really alive.
 *
 * A process that exited stays a zombie until its parent reaps it, and on these machines PID 1
 * reaps late; `kill(pid, 0)` succeeds on a zombie. So liveness is read from the State line of
 * `/proc/PID/status`.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Output of a command that exited 0. */
export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `file` with `args` (no shell) and resolves with its output; rejects, with the exit code and
 * stderr in the message, when it fails or outlives `timeoutMs` (default 30 s).
 */
export function run(file: string, args: readonly string[], timeoutMs = 30_000): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err !== null) {
          const detail = stderr.trim() === '' ? stdout.trim() : stderr.trim();
          reject(
            new Error(`${file} ${args.join(' ')} failed (${String(err.code ?? err.signal)}): ${detail}`, {
              cause: err,
            }),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** The one-letter state of `pid` (R, S, D, Z, ...) from /proc, or undefined when there is no such process. */
export function processState(pid: number): string | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return /^State:\s+(\S)/m.exec(status)?.[1];
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a process that has not exited (zombies and dead tasks count as gone). */
export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Resolves to true once none of `pids` is alive, or false after `timeoutMs`. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pids.every((pid) => !isAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** A live process's command line (arguments split), working directory and pid. */
export interface ProcessInfo {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly cwd: string | undefined;
}

/** Every live process on the machine, as far as /proc lets us read it. */
export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!isAlive(pid)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a !== '');
    } catch {
      continue;
    }
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    out.push({ pid, argv, cwd });
  }
  return out;
}
