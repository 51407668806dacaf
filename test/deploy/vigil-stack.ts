/**
 * A real collector and a real agent as separate processes, linked over gRPC with mutual TLS, for
 * the tests that scrape their `/metrics` (the dashboard's metric names, Prometheus itself).
 *
 * Both run from the same build as the test (`cli/vigil.js` beside this compiled module), on
 * loopback ports the kernel picks, with certificates made by Vigil's own CA code in a temporary
 * directory. The agent reads Falco-field JSON lines from a file the test appends to
 * ({@link VigilStack.raise}); a rule of the test's own turns each line into an alert, so the
 * event, match, ship and store metrics all move.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { initCertificateDirectory, issueAgentFiles } from '../../collector/certs/certificate-directory.js';

/** `vigil` of the build this module belongs to (dist/ in CI, .build-NAME/ for a helper). */
export const vigilCli = fileURLToPath(new URL('../../cli/vigil.js', import.meta.url));

/** The running pair. */
export interface VigilStack {
  readonly node: string;
  /** The collector's HTTP address (API and `/metrics`), `http://127.0.0.1:PORT`. */
  readonly collectorUrl: string;
  readonly collectorHttpPort: number;
  /** The agent's metrics endpoint, `http://127.0.0.1:PORT/metrics`. */
  readonly agentMetricsUrl: string;
  readonly agentHttpPort: number;
  /** Appends `count` shell executions to the agent's input: each one becomes an alert. */
  raise(count: number): void;
  /** Stops both processes and removes the temporary directory. */
  stop(): Promise<void>;
}

/** A `vigil` daemon process and its JSON log (stderr). */
export interface Daemon {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the first JSON log record (stderr) that `match` accepts. */
  logged(
    what: string,
    match: (rec: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Starts `vigil ARGS`; `prefix` runs it through another program (e.g. `setpriv ...` to take
 * capabilities away): `prefix... node vigil.js ARGS`.
 */
export function daemon(args: readonly string[], prefix: readonly string[] = []): Daemon {
  const argv = [process.execPath, vigilCli, ...args];
  const all = [...prefix, ...argv];
  const child = spawn(all[0] as string, all.slice(1), { stdio: 'pipe' });
  const records: Record<string, unknown>[] = [];
  let text = '';
  const waiters = new Set<() => void>();
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    text += chunk;
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        records.push({ raw: line });
      }
    }
    waiters.forEach((w) => w());
  });
  child.on('exit', () => waiters.forEach((w) => w()));
  return {
    child,
    logged(what, match, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = records.find(match);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`vigil ${args[0]} exited before ${what}:\n${tail()}`));
          }
        };
        const tail = (): string =>
          records
            .slice(-10)
            .map((r) => JSON.stringify(r))
            .join('\n');
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${what} from vigil ${args[0]}:\n${tail()}`));
        }, ms);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const portOf = (url: string): number => Number(new URL(url).port);

/** Starts a collector and an agent (node `node`) shipping to it; resolves once both serve metrics. */
export async function startVigilStack(node = 'prom-node-1'): Promise<VigilStack> {
  const work = mkdtempSync(join(tmpdir(), 'vigil-stack-'));
  const started: Daemon[] = [];
  try {
    const certs = join(work, 'certs');
    initCertificateDirectory(certs, defaultCollectorNames('vigil'));
    issueAgentFiles(certs, node);
    const rules = join(work, 'rules.yaml');
    writeFileSync(
      rules,
      [
        '- rule: Stack test shell',
        '  desc: a shell the test started',
        '  condition: evt.type = execve and proc.name = bash',
        '  output: "shell %proc.cmdline"',
        '  priority: WARNING',
        '  tags: [test]',
        '',
      ].join('\n'),
    );
    const input = join(work, 'events.jsonl');
    writeFileSync(input, '');

    const collector = daemon([
      'collector',
      '--data-dir',
      join(work, 'collector'),
      '--tls-dir',
      join(certs, 'collector'),
      '--grpc-listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ]);
    started.push(collector);
    const up = await collector.logged('"collector started"', (r) => r['msg'] === 'collector started');
    const grpcPort = Number(up['grpcPort']);
    const collectorHttpPort = Number(String(up['http']).split(':').pop());

    const agent = daemon([
      'agent',
      '--node',
      node,
      '--source',
      `jsonl:${input}`,
      '--rules',
      rules,
      '--output',
      'none',
      '--collector',
      `127.0.0.1:${grpcPort}`,
      '--tls-dir',
      join(certs, 'agents', node),
      '--data-dir',
      join(work, 'agent'),
      '--listen',
      '127.0.0.1:0',
    ]);
    started.push(agent);
    const listening = await agent.logged('the metrics endpoint', (r) => typeof r['url'] === 'string');
    const agentMetricsUrl = String(listening['url']);
    await agent.logged('the link to the collector', (r) => r['msg'] === 'connected to the collector');

    let n = 0;
    return {
      node,
      collectorUrl: `http://127.0.0.1:${collectorHttpPort}`,
      collectorHttpPort,
      agentMetricsUrl,
      agentHttpPort: portOf(agentMetricsUrl),
      raise(count) {
        const lines: string[] = [];
        for (let k = 0; k < count; k++) {
          n++;
          lines.push(
            JSON.stringify({
              'evt.num': n,
              'evt.type': 'execve',
              'evt.dir': '<',
              'proc.name': 'bash',
              'proc.cmdline': `bash -c step-${n}`,
              'proc.pid': 5000 + n,
            }),
          );
        }
        appendFileSync(input, lines.join('\n') + '\n');
      },
      async stop() {
        await Promise.all(started.map((d) => d.stop()));
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(started.map((d) => d.stop()));
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/** GETs `url` and returns the body; rejects on a status other than 200. */
export async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}: ${body.slice(0, 300)}`);
  return body;
}

/**
 * The metric family names a Prometheus text exposition declares (`# TYPE name kind`), with their
 * kinds. A family with no samples yet (a labelled counter nothing has bumped) is still declared.
 */
export function metricFamilies(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (m !== null) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/** Skips (or, with CI=true, fails) when `tool` is not installed. */
export function requireTool(ctx: Mocha.Context, tool: string, pkg: string): void {
  const found = ['/usr/bin', '/usr/local/bin', '/bin'].some((d) => existsSync(join(d, tool)));
  if (found) return;
  const why = `${tool} is not installed (apt-get install -y ${pkg})`;
  if (process.env['CI'] === 'true') throw new Error(`must run in CI but cannot: ${why}`);
  console.log(`      skipped: ${why}`);
  ctx.skip();
}
