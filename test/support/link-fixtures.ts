/**
 * Fixture processes for the agent <-> collector link: `test/e2e/fixtures/link-collector.ts` runs
 * the real ingest server over the real SQLite store, `link-agent.ts` the real shipper over a real
 * spool being filled. Both speak JSON lines on stdout. Used by test/e2e/link.test.ts and
 * test/bench/collector.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './shared.js';

const collectorScript = join(projectRoot, 'dist', 'test', 'e2e', 'fixtures', 'link-collector.js');
const agentScript = join(projectRoot, 'dist', 'test', 'e2e', 'fixtures', 'link-agent.js');

/** A fixture process speaking JSON lines on stdout; stderr (its logs) kept for failures. */
export class Fixture {
  readonly events: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<number | string>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters = new Set<() => void>();

  constructor(script: string, args: string[]) {
    this.child = spawn(process.execPath, ['--enable-source-maps', script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let rest = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) if (p !== '') this.events.push(JSON.parse(p) as Record<string, unknown>);
      this.waiters.forEach((w) => w());
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      // Keep the tail only: a long run logs a lot.
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        resolve(code ?? signal ?? 'unknown');
        this.waiters.forEach((w) => w());
      });
    });
  }

  /** The first event named `name` (counting from `from`), waiting at most `ms`. */
  async waitFor(name: string, ms: number, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.slice(from).find((e) => e['event'] === name);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `the fixture exited (${this.child.exitCode ?? this.child.signalCode}) before '${name}':\n${this.stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${name}' within ${ms} ms:\n${this.stderr.slice(-4000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 200));
        const waiters = this.waiters;
        waiters.add(done);
        function done(): void {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
      });
    }
  }

  /** Asks the collector fixture for a report. */
  async report(): Promise<Record<string, unknown>> {
    const from = this.events.length;
    this.child.stdin.write('report\n');
    return this.waitFor('report', 10_000, from);
  }

  send(line: string): void {
    this.child.stdin.write(line + '\n');
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Starts the collector fixture over the SQLite file `db` with the certificates in `pki`. */
export function startCollector(db: string, pki: string, extra: string[] = []): Fixture {
  return new Fixture(collectorScript, ['--db', db, '--pki', pki, ...extra]);
}

/**
 * Starts an agent fixture: it appends `count` alerts (ids `PREFIX-N`) to its spool at `rate` per
 * second (0: all at once) and ships them to the collector on `port`.
 */
export function startAgent(
  spool: string,
  pki: string,
  node: string,
  port: number,
  prefix: string,
  count: number,
  rate: number,
  extra: string[] = [],
): Fixture {
  return new Fixture(agentScript, [
    '--spool',
    spool,
    '--pki',
    pki,
    '--node',
    node,
    '--target',
    `127.0.0.1:${port}`,
    '--prefix',
    prefix,
    '--count',
    String(count),
    '--rate',
    String(rate),
    ...extra,
  ]);
}

/** The port the collector fixture listens on, once it does. */
export async function listeningPort(collector: Fixture): Promise<number> {
  return (await collector.waitFor('listening', 20_000))['port'] as number;
}

/** Stops a fixture with SIGTERM and waits for it to exit. */
export async function stop(f: Fixture): Promise<void> {
  f.kill('SIGTERM');
  await f.exited;
}
