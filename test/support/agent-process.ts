/**
 * Runs `vigil agent` as a separate process for end-to-end tests: collects its alerts (stdout)
 * and its JSON log lines (stderr), and finds its metrics endpoint.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './shared.js';

/** A running agent process. */
export interface AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Alerts printed so far (parsed JSON lines of stdout). */
  readonly alerts: Record<string, unknown>[];
  /** Log lines so far (parsed JSON lines of stderr; unparsable lines kept as { raw }). */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the metrics URL once the agent logged it. */
  metricsUrl(): Promise<string>;
  /** Waits until `predicate` holds (checked on every output line), or rejects after `ms`. */
  waitFor(what: string, predicate: () => boolean, ms?: number): Promise<void>;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited(): Promise<number | string>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<number | string>;
}

/** Starts `vigil agent ARGS...`. */
export function startAgentProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'vigil.js'), 'agent', ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const alerts: Record<string, unknown>[] = [];
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((w) => w());
  const lines = (stream: NodeJS.ReadableStream, into: Record<string, unknown>[]): void => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) {
        if (p === '') continue;
        try {
          into.push(JSON.parse(p) as Record<string, unknown>);
        } catch {
          into.push({ raw: p });
        }
      }
      wake();
    });
  };
  lines(child.stdout, alerts);
  lines(child.stderr, logs);
  const exit = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      wake();
    });
  });
  const waitFor = (what: string, predicate: () => boolean, ms = 15_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (predicate()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        const tail = logs
          .slice(-8)
          .map((l) => JSON.stringify(l))
          .join('\n');
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; last agent logs:\n${tail}`));
      }, ms);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  return {
    child,
    alerts,
    logs,
    async metricsUrl() {
      await waitFor('the metrics endpoint', () => logs.some((l) => typeof l['url'] === 'string'));
      return logs.find((l) => typeof l['url'] === 'string')?.['url'] as string;
    },
    waitFor,
    exited: () => exit,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exit;
    },
  };
}

/** Reads one sample of a metric (name plus exact label set) from Prometheus text; 0 when absent. */
export function metricValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const lm of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      got.set(lm[1] as string, lm[2] as string);
    if (want.every(([k, v]) => got.get(k) === v)) return Number(m[3]);
  }
  return 0;
}
