/**
 * The whole system as separate processes: two `vigil agent`s ship to a `vigil collector` over
 * gRPC with mutual TLS. The collector is killed and stays down for 30 seconds while the agents
 * keep raising alerts, then restarts; every alert the agents spooled arrives exactly once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { initCertificateDirectory, issueAgentFiles } from '../../collector/certs/certificate-directory.js';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { projectRoot } from '../support/shared.js';

const vigil = join(projectRoot, 'dist', 'cli', 'vigil.js');
const DOWN_MS = Number(process.env['VIGIL_TEST_COLLECTOR_DOWN_MS'] ?? 30_000);

function startCollectorProcess(
  dataDir: string,
  tlsDir: string,
  grpc: number,
  http: number,
): ChildProcessWithoutNullStreams {
  return spawn(
    process.execPath,
    [
      vigil,
      'collector',
      '--data-dir',
      dataDir,
      '--tls-dir',
      tlsDir,
      '--grpc-listen',
      `127.0.0.1:${grpc}`,
      '--http-listen',
      `127.0.0.1:${http}`,
    ],
    { stdio: 'pipe' },
  );
}

async function waitListening(child: ChildProcessWithoutNullStreams): Promise<{ grpc: number; http: number }> {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not start:\n${text}`)), 20_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      text += chunk;
      for (const line of text.split('\n')) {
        if (!line.includes('"collector started"')) continue;
        const rec = JSON.parse(line) as { grpcPort: number; http: string };
        clearTimeout(timer);
        resolve({ grpc: rec.grpcPort, http: Number(rec.http.split(':').pop()) });
        return;
      }
    });
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}:\n${text}`)));
  });
}

const shellEvent = (node: string, n: number): string =>
  JSON.stringify({
    'evt.num': n,
    'evt.type': 'execve',
    'evt.dir': '<',
    'proc.name': 'bash',
    'proc.cmdline': `bash -c step-${node}-${n}`,
    'proc.pid': 1000 + n,
  });

describe('agents -> collector, collector down for 30 s (e2e, separate processes)', function () {
  this.timeout(180_000);
  let work: string;
  const agents: AgentProcess[] = [];
  let collector: ChildProcessWithoutNullStreams | undefined;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-system-'));
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    if (collector !== undefined && collector.exitCode === null) {
      collector.kill('SIGTERM');
      await new Promise((r) => collector?.once('exit', r));
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('delivers every alert exactly once across a 30 s collector outage', async () => {
    const certs = join(work, 'certs');
    initCertificateDirectory(certs, defaultCollectorNames('vigil'));
    const nodes = ['node-a', 'node-b'];
    for (const n of nodes) issueAgentFiles(certs, n);
    const rules = join(work, 'rules.yaml');
    writeFileSync(
      rules,
      '- rule: Shell step\n  desc: a marked shell\n  condition: evt.type = execve and proc.name = bash\n  output: "%proc.cmdline"\n  priority: NOTICE\n',
    );
    const collectorData = join(work, 'collector');
    collector = startCollectorProcess(collectorData, join(certs, 'collector'), 0, 0);
    const ports = await waitListening(collector);

    const inputs = nodes.map((n) => join(work, `${n}.jsonl`));
    for (const f of inputs) writeFileSync(f, '');
    nodes.forEach((node, i) => {
      agents.push(
        startAgentProcess([
          '--node',
          node,
          '--source',
          `jsonl:${inputs[i]}`,
          '--rules',
          rules,
          '--collector',
          `127.0.0.1:${ports.grpc}`,
          '--tls-dir',
          join(certs, 'agents', node),
          '--data-dir',
          join(work, `agent-${node}`),
          '--listen',
          'none',
        ]),
      );
    });

    let n = 0;
    const raise = (count: number): void => {
      for (let k = 0; k < count; k++) {
        n++;
        nodes.forEach((node, i) => appendFileSync(inputs[i] as string, shellEvent(node, n) + '\n'));
      }
    };
    // Before, during and after the outage, alerts keep coming.
    const ticker = setInterval(() => raise(50), 100);
    try {
      await new Promise((r) => setTimeout(r, 3000));
      collector.kill('SIGKILL');
      await new Promise((r) => collector?.once('exit', r));
      await new Promise((r) => setTimeout(r, DOWN_MS));
      collector = startCollectorProcess(collectorData, join(certs, 'collector'), ports.grpc, ports.http);
      await waitListening(collector);
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      clearInterval(ticker);
    }
    const expected = n * nodes.length;
    for (const a of agents) await a.waitFor('every alert printed', () => a.alerts.length === n, 60_000);
    const printed = new Set(agents.flatMap((a) => a.alerts.map((x) => x['id'] as string)));
    assert.equal(printed.size, expected);

    // Wait until the collector has them all, then count by id in its database.
    const db = join(collectorData, 'collector.db');
    const deadline = Date.now() + 60_000;
    let rows: { id: string; n: number }[] = [];
    while (Date.now() < deadline) {
      const conn = new Database(db, { readonly: true, fileMustExist: true });
      rows = conn.prepare('SELECT id, count(*) AS n FROM alerts GROUP BY id').all() as {
        id: string;
        n: number;
      }[];
      conn.close();
      if (rows.length >= expected) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(
      rows.filter((r) => r.n !== 1),
      [],
      'stored more than once',
    );
    const stored = new Set(rows.map((r) => r.id));
    const missing = [...printed].filter((id) => !stored.has(id));
    assert.equal(missing.length, 0, `${missing.length} of ${expected} alerts never reached the collector`);
    assert.equal(stored.size, expected, 'the collector has alerts no agent raised');
    console.log(
      `      ${expected} alerts from 2 agents, collector down ${DOWN_MS / 1000} s: all stored exactly once`,
    );
  });
});
