/**
 * `vigil up`: the collector and an agent together on this machine, with embedded defaults —
 * the quickest way to see Vigil work. It is what `npm start` runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { openTokenStore } from '../../collector/auth/token-store.js';
import {
  agentTlsPaths,
  initCertificateDirectory,
  issueAgentFiles,
} from '../../collector/certs/certificate-directory.js';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { openCollectorDatabase } from '../../collector/store/database.js';
import { UsageError, type CliIO, type Command } from '../command.js';

const usage = `Usage: vigil up [--data-dir DIR] [--http-port N] [--grpc-port N] [--source SPEC] [--rules FILE]...

Starts a collector and an agent on this machine, wired together with mutual TLS, and prints the
web console's URL and an admin token to sign in with. Everything lives under the data directory
(default ./.vigil): certificates (made on first start), the collector's database, the agent's
spool, and logs.
New alerts are printed here as they arrive (from the collector's live feed). Ctrl-C stops both.

The agent uses the best source this machine allows and says which and why: the eBPF sensor when
it is built and Vigil runs as root, otherwise procfs (polling /proc; needs no privileges).

Options:
  --data-dir DIR     where everything is kept (default ./.vigil)
  --http-port N      the console, API, live feed and metrics (default 8080; 127.0.0.1 only)
  --grpc-port N      where the agent connects (default 7443; 127.0.0.1 only)
  --agent-port N     the agent's metrics (default 9376; 127.0.0.1 only)
  --source SPEC      the agent's source instead of the automatic choice (e.g. jsonl:FILE)
  --rules FILE       rule files for the agent (repeatable; default Vigil's own ruleset)`;

const vigilBin = fileURLToPath(new URL('../vigil.js', import.meta.url));

/** Picks the agent's source: what this machine allows, and why. */
function chooseSource(): { spec: string; why: string } {
  const sensor = fileURLToPath(new URL('../../agent/sources/ebpf/vigil-sensor', import.meta.url));
  if (process.getuid?.() !== 0)
    return { spec: 'procfs:', why: 'not running as root, so the eBPF sensor cannot load' };
  if (!existsSync(sensor))
    return {
      spec: 'procfs:',
      why: 'the eBPF sensor was not built (clang, libbpf-dev, bpftool missing at build time)',
    };
  if (!existsSync('/sys/kernel/btf/vmlinux'))
    return { spec: 'procfs:', why: 'the kernel has no BTF (/sys/kernel/btf/vmlinux)' };
  return { spec: 'ebpf:', why: 'root, BTF present and the sensor built' };
}

/** Ensures an admin token exists for this data directory; returns it. */
function ensureAdminToken(dataDir: string, dbPath: string): string {
  const file = join(dataDir, 'admin.token');
  const db = openCollectorDatabase({ path: dbPath });
  try {
    const tokens = openTokenStore({ database: db, now: Date.now });
    if (existsSync(file)) {
      const saved = readFileSync(file, 'utf8').trim();
      if (tokens.verify(saved, 'admin').ok) return saved;
      tokens.revoke('vigil-up-admin');
    }
    const made = tokens.create({ name: 'vigil-up-admin', role: 'admin' });
    if (!made.ok) throw new Error(`cannot create the admin token: ${made.reason}`);
    writeFileSync(file, made.token + '\n', { mode: 0o600 });
    return made.token;
  } finally {
    db.close();
  }
}

function port(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`--${name} must be a port number, got ${text}`);
  return n;
}

/** Resolves once `url` answers, or rejects after `ms` (or when `child` exits first). */
async function waitForHttp(url: string, child: ChildProcess, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${what} exited with code ${child.exitCode} while starting; see its log`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer at ${url} within ${ms / 1000} s; see its log`);
}

export const upCommand: Command = {
  name: 'up',
  summary: 'run a collector and an agent together on this machine (what npm start runs)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values } = parseArgs({
      args: [...args],
      options: {
        'data-dir': { type: 'string', default: '.vigil' },
        'http-port': { type: 'string' },
        'grpc-port': { type: 'string' },
        'agent-port': { type: 'string' },
        source: { type: 'string' },
        rules: { type: 'string', multiple: true },
      },
      allowPositionals: false,
    });
    const dataDir = resolve(values['data-dir']);
    const httpPort = port(values['http-port'], 8080, 'http-port');
    const grpcPort = port(values['grpc-port'], 7443, 'grpc-port');
    const agentPort = port(values['agent-port'], 9376, 'agent-port');
    const node = process.env['NODE_NAME'] ?? hostname();
    const certs = join(dataDir, 'certs');
    const logs = join(dataDir, 'logs');
    mkdirSync(logs, { recursive: true, mode: 0o700 });

    if (!existsSync(join(certs, 'ca.crt'))) {
      initCertificateDirectory(certs, defaultCollectorNames('vigil'));
      io.stdout.write(`made a certificate authority and the collector's certificate in ${certs}\n`);
    }
    if (!existsSync(agentTlsPaths(certs, node).cert)) issueAgentFiles(certs, node);
    const token = ensureAdminToken(dataDir, join(dataDir, 'collector', 'collector.db'));
    const source =
      values.source !== undefined ? { spec: values.source, why: 'chosen with --source' } : chooseSource();

    const children: ChildProcess[] = [];
    const start = (name: string, argv: string[]): ChildProcess => {
      const log = createWriteStream(join(logs, `${name}.log`), { flags: 'a' });
      const child = spawn(process.execPath, [vigilBin, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.pipe(log);
      children.push(child);
      return child;
    };
    const stopAll = async (): Promise<void> => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((r) => {
              if (c.exitCode !== null || c.signalCode !== null) return r();
              c.once('exit', () => r());
              c.kill('SIGTERM');
            }),
        ),
      );
    };

    try {
      const collector = start('collector', [
        'collector',
        '--data-dir',
        join(dataDir, 'collector'),
        '--tls-dir',
        join(certs, 'collector'),
        '--grpc-listen',
        `127.0.0.1:${grpcPort}`,
        '--http-listen',
        `127.0.0.1:${httpPort}`,
      ]);
      const api = `http://127.0.0.1:${httpPort}`;
      await waitForHttp(`${api}/api/v1/whoami`, collector, 'the collector');
      const agentTls = join(certs, 'agents', node);
      const agent = start('agent', [
        'agent',
        '--node',
        node,
        '--source',
        source.spec,
        ...(values.rules ?? []).flatMap((r) => ['--rules', r]),
        '--collector',
        `127.0.0.1:${grpcPort}`,
        '--tls-dir',
        agentTls,
        '--data-dir',
        join(dataDir, 'agent'),
        '--listen',
        `127.0.0.1:${agentPort}`,
        '--output',
        'none',
      ]);
      await waitForHttp(`http://127.0.0.1:${agentPort}/healthz`, agent, 'the agent');

      io.stdout.write(
        [
          '',
          'Vigil is up.',
          `  console:            ${api}/console/   (sign in with the admin token below)`,
          `  admin token:        ${token}   (also in ${join(dataDir, 'admin.token')})`,
          `  API and live feed:  ${api}/api/v1/alerts   (metrics: ${api}/metrics)`,
          `  agent source:       ${source.spec.replace(/:$/, '')} (${source.why})`,
          `  agent metrics:      http://127.0.0.1:${agentPort}/metrics`,
          `  logs:               ${logs}`,
          '',
          `Try: curl -H 'Authorization: Bearer ${token}' '${api}/api/v1/alerts?limit=5'`,
          'New alerts are printed below. Ctrl-C stops Vigil.',
          '',
        ].join('\n') + '\n',
      );
      const feed = new WebSocket(`ws://127.0.0.1:${httpPort}/api/v1/feed`, {
        headers: { authorization: `Bearer ${token}` },
      });
      feed.on('open', () => feed.send(JSON.stringify({ type: 'subscribe', token, filter: {} })));
      feed.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as {
          type: string;
          alert?: { priority: string; output: string };
        };
        if (msg.type === 'alert' && msg.alert !== undefined)
          io.stdout.write(`${msg.alert.priority.padEnd(13)} ${msg.alert.output}\n`);
      });
      feed.on('error', (err) => io.stderr.write(`vigil up: live feed: ${err.message}\n`));

      const why = await new Promise<string>((resolveStop) => {
        process.once('SIGINT', () => resolveStop('interrupted'));
        process.once('SIGTERM', () => resolveStop('terminated'));
        collector.once('exit', (code) =>
          resolveStop(`the collector exited (code ${code}); see ${join(logs, 'collector.log')}`),
        );
        agent.once('exit', (code) =>
          resolveStop(`the agent exited (code ${code}); see ${join(logs, 'agent.log')}`),
        );
      });
      feed.close();
      io.stdout.write(`\nstopping Vigil: ${why}\n`);
      await stopAll();
      return why === 'interrupted' || why === 'terminated' ? 0 : 1;
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
};
