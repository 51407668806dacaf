/**
 * A child process's stdout as a {@link ByteInput}.
 *
 * This is how helpers that need privileges or native code feed the agent: the eBPF sensor's
 * loader writes length-prefixed binary records to its stdout, a `sysdig -j` or
 * `tetra getevents -o json` writes JSON lines. The child's stderr is the helper's log: its lines
 * become notices (a bounded number per run). A child that exits either ends the input (a finite
 * producer: exit status 0 resolves `done()`, anything else rejects it) or, with `restart`, is
 * started again after a delay that doubles while runs keep failing without output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { deferred, type ByteInput, type ByteInputHandler, type ByteStream } from './byte-input.js';
import { LineSplitter } from './line-splitter.js';

/** Options for {@link ChildProcessInput}. */
export interface ChildProcessInputOptions {
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Start the child again when it exits (default false). */
  readonly restart?: boolean;
  /** First restart delay in ms (default 500); doubles up to {@link maxRestartDelayMs}. */
  readonly restartDelayMs?: number;
  /** Longest restart delay in ms (default 30 000). */
  readonly maxRestartDelayMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL, in ms (default 5000). */
  readonly stopTimeoutMs?: number;
  /** Stderr lines passed on as notices per run (default 20); the rest are counted. */
  readonly maxStderrNotices?: number;
}

/** Longest stderr line kept; a helper's log line longer than this is cut. */
const MAX_STDERR_LINE = 4096;

/** Runs a command and reads its stdout. */
export class ChildProcessInput implements ByteInput {
  readonly describe: string;
  private readonly options: ChildProcessInputOptions;
  private child: ChildProcess | undefined;
  /** Settles when the current child has closed its stdio and exited. */
  private childClosed: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay: number;
  private stopping = false;
  private runs = 0;
  private readonly finished = deferred();

  constructor(
    private readonly command: string,
    options: ChildProcessInputOptions = {},
  ) {
    this.options = options;
    this.describe = [command, ...(options.args ?? [])].join(' ');
    this.restartDelay = options.restartDelayMs ?? 500;
  }

  /** The running child's pid, if one runs (for status and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(handler: ByteInputHandler): Promise<void> {
    return this.spawnChild(handler);
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child !== undefined && this.childClosed !== undefined) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timeout = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 5000);
      await this.childClosed;
      clearTimeout(timeout);
    }
    this.finished.resolve();
  }

  private spawnChild(handler: ByteInputHandler): Promise<void> {
    const child = spawn(this.command, [...(this.options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.options.env ?? process.env,
      ...(this.options.cwd !== undefined ? { cwd: this.options.cwd } : {}),
    });
    return new Promise<void>((resolve, reject) => {
      child.on('error', (err) =>
        reject(new Error(`cannot run ${this.describe}: ${err.message}`, { cause: err })),
      );
      child.once('spawn', () => {
        this.runs++;
        this.child = child;
        this.childClosed = this.read(child, handler);
        // A restart that was already under way when stop() ran: end it rather than orphan it.
        if (this.stopping) child.kill('SIGTERM');
        resolve();
      });
    });
  }

  /** Reads one run of the child; settles once it has exited and its output is delivered. */
  private read(child: ChildProcess, handler: ByteInputHandler): Promise<void> {
    const stream: ByteStream = handler.open(`${this.describe} (run ${this.runs})`);
    let sawOutput = false;
    let lastStderr = '';
    let stderrLines = 0;
    const maxNotices = this.options.maxStderrNotices ?? 20;
    const stderr = new LineSplitter(
      {
        line: (text) => {
          lastStderr = text;
          stderrLines++;
          if (stderrLines <= maxNotices)
            handler.notice('helper stderr', { command: this.command, line: text });
          else if (stderrLines === maxNotices + 1)
            handler.notice('further helper stderr suppressed for this run', { command: this.command });
        },
        oversized: () => {},
      },
      MAX_STDERR_LINE,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      sawOutput = true;
      if (!this.stopping) stream.data(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    return new Promise<void>((resolve) => {
      child.once('close', (code, signal) => {
        stderr.end();
        stream.end();
        this.child = undefined;
        resolve();
        if (this.stopping) return;
        const how = signal !== null ? `killed by ${signal}` : `exited with status ${code}`;
        if (this.options.restart === true) {
          this.scheduleRestart(handler, how, sawOutput);
        } else if (code === 0) {
          this.finished.resolve();
        } else {
          const tail = lastStderr === '' ? '' : `: ${lastStderr}`;
          this.finished.reject(new Error(`${this.describe} ${how}${tail}`));
        }
      });
    });
  }

  private scheduleRestart(handler: ByteInputHandler, how: string, sawOutput: boolean): void {
    const max = this.options.maxRestartDelayMs ?? 30_000;
    // A run that produced output was healthy for a while: start over from the short delay.
    if (sawOutput) this.restartDelay = this.options.restartDelayMs ?? 500;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(max, this.restartDelay * 2);
    handler.notice('helper stopped; restarting', { command: this.command, how, delayMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.spawnChild(handler).catch((err: Error) => this.scheduleRestart(handler, err.message, false));
    }, delay);
  }
}
