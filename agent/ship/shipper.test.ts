import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { startIngestServer, type IngestServer } from '../../collector/ingest/ingest-server.js';
import { openSqliteStore } from '../../collector/store/sqlite-store.js';
import type { CollectorStore } from '../../collector/store/store.js';
import { agentLinkService } from '../../proto/agent-link-service.js';
import type { Command, CommandResult, LinkHostFacts, QuarantineReport } from '../../proto/link-messages.js';
import { createTestPki, type TestPki } from '../../test/support/link-pki.js';
import { quarantineReport } from '../enforce/quarantine-report.js';
import { openQuarantineStore } from '../enforce/quarantine-store.js';
import { openSpool, type Spool } from '../spool/spool.js';
import { collectHostFacts } from './host-facts.js';
import { startShipper, type Shipper, type ShipperOptions } from './shipper.js';

function alert(id: string, node = 'node-1'): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Outbound connection to a mining pool',
    priority: 'Critical',
    output: `12:00:00.000000000: Critical outbound connection to a mining pool (id=${id})`,
    output_fields: { 'fd.sip': '203.0.113.7', 'fd.sport': 3333, 'proc.name': 'xmrig' },
    source: 'syscall',
    tags: ['network', 'mitre_impact'],
    hostname: node,
    id,
    kind: 'signature',
    node,
  };
}

const host: LinkHostFacts = {
  hostname: 'node-1',
  os: 'Debian 12',
  kernel: '6.1',
  arch: 'x64',
  cpus: 2,
  memoryBytes: 4e9,
  source: 'jsonl',
};

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metricValue(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

describe('shipper', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let store: CollectorStore;
  let spool: Spool;
  let server: IngestServer | undefined;
  let shipper: Shipper | undefined;
  let delivered: string[];
  let agentLog: string[];
  let agentRegistry: Registry;

  before(() => {
    pki = createTestPki();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-ship-'));
    store = openSqliteStore({ path: join(dir, 'collector.db') });
    spool = openSpool({ path: join(dir, 'spool.db') });
    delivered = [];
    agentLog = [];
    agentRegistry = new Registry();
  });
  afterEach(async () => {
    await shipper?.close();
    shipper = undefined;
    await server?.close({ graceMs: 100 });
    server = undefined;
    spool.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startServer(listen = '127.0.0.1:0', heartbeatIntervalMs = 10_000): Promise<IngestServer> {
    server = await startIngestServer({
      listen,
      tls: pki.collector,
      store,
      onAlertsStored: (alerts) => delivered.push(...alerts.map((a) => a.id)),
      logger: createLogger({ write: () => undefined, now: Date.now }),
      registry: new Registry(),
      limits: { heartbeatIntervalMs },
    });
    return server;
  }

  function ship(port: number, overrides: Partial<ShipperOptions> = {}): Shipper {
    shipper = startShipper({
      target: `127.0.0.1:${port}`,
      tls: pki.agent('node-1'),
      node: 'node-1',
      spool,
      hostFacts: host,
      agentVersion: '0.1.0-test',
      logger: createLogger({ write: (l) => agentLog.push(l), now: Date.now, level: 'debug' }),
      registry: agentRegistry,
      backoff: { initialMs: 20, maxMs: 200 },
      maxBatchAlerts: 100,
      ...overrides,
    });
    return shipper;
  }

  it('delivers everything in the spool, and deletes it from the spool once acknowledged', async () => {
    const { port } = await startServer();
    const s = ship(port);
    for (let i = 0; i < 20; i++) {
      spool.append(Array.from({ length: 100 }, (_, j) => alert(`a${i * 100 + j}`)));
      s.notify();
    }
    await eventually(() => store.alertCount() === 2000 && spool.depth() === 0, 'delivery');
    assert.equal(new Set(delivered).size, 2000);
    assert.equal(delivered.length, 2000);
    assert.equal(s.status().connected, true);
    assert.equal(s.status().batchesInFlight, 0);
    assert.deepEqual(store.getAlert('a1234')?.alert, alert('a1234'));
    assert.equal(await metricValue(agentRegistry, 'vigil_agent_ship_alerts_acked_total'), 2000);
    assert.equal(await metricValue(agentRegistry, 'vigil_agent_ship_connected'), 1);
    assert.equal(store.listAgents()[0]?.version, '0.1.0-test');
  });

  it('keeps alerts through a collector restart and delivers each exactly once', async () => {
    const { port } = await startServer();
    const s = ship(port);
    spool.append(Array.from({ length: 500 }, (_, i) => alert(`before${i}`)));
    s.notify();
    await eventually(() => store.alertCount() === 500, 'the first alerts');
    await server!.close({ graceMs: 100 });
    server = undefined;
    await eventually(() => !s.status().connected, 'the shipper to notice');
    spool.append(Array.from({ length: 500 }, (_, i) => alert(`during${i}`)));
    s.notify();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(spool.depth(), 500, 'nothing is lost while the collector is away');

    await startServer(`127.0.0.1:${port}`);
    await eventually(() => store.alertCount() === 1000 && spool.depth() === 0, 'delivery after the restart');
    assert.equal(new Set(delivered).size, 1000);
    assert.equal(delivered.length, 1000, 'no alert passed on twice');
    assert.ok(s.status().sessions >= 2);
    assert.ok(agentLog.some((l) => l.includes('reconnecting')));
  });

  it('runs commands through onCommand and answers with the result; a failing command answers failed', async () => {
    const { port } = await startServer();
    const seen: Command[] = [];
    ship(port, {
      onCommand: (command): Promise<CommandResult> => {
        seen.push(command);
        if (command.action.type === 'release') return Promise.reject(new Error('nft: no such table'));
        return Promise.resolve({ commandId: 'ignored', outcome: 'applied', detail: 'pod network cut' });
      },
    });
    await eventually(() => server!.connectedNodes().includes('node-1'), 'the agent to connect');
    const quarantine: Command = {
      id: 'q-7',
      action: {
        type: 'quarantine',
        quarantineId: 'Q7',
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'u-1',
        cutEstablished: true,
        freeze: true,
        reason: 'miner',
      },
    };
    assert.deepEqual(await server!.sendCommand('node-1', quarantine), {
      commandId: 'q-7',
      outcome: 'applied',
      detail: 'pod network cut',
    });
    assert.deepEqual(seen, [quarantine]);
    const failed = await server!.sendCommand('node-1', {
      id: 'r-7',
      action: { type: 'release', quarantineId: 'Q7', namespace: 'shop', pod: 'web-1' },
    });
    assert.deepEqual(failed, { commandId: 'r-7', outcome: 'failed', detail: 'nft: no such table' });
  });

  it('reports the quarantines held, read afresh, in the Hello of every new stream', async () => {
    const held = openQuarantineStore(join(dir, 'quarantines.db'));
    try {
      const reports: (QuarantineReport | undefined)[] = [];
      const listen = (srv: IngestServer): void =>
        srv.onAgentEvent((e) => {
          if (e.type === 'connected') reports.push(e.quarantines);
        });
      const { port } = await startServer();
      listen(server!);
      const s = ship(port, { quarantineReport: () => quarantineReport(held) });
      await eventually(() => reports.length === 1, 'the first Hello');
      assert.deepEqual(reports[0], { held: [], omitted: 0 });
      // Applied while connected: the next stream's Hello says so.
      held.put({
        quarantineId: 'q-lx1-0a1b2c3d4e',
        namespace: 'shop',
        pod: 'web-1',
        podUid: 'u-1',
        cutEstablished: true,
        freeze: false,
        reason: 'miner',
        appliedMs: 1_714_564_800_123,
      });
      await server!.close({ graceMs: 100 });
      await eventually(() => !s.status().connected, 'the shipper to notice');
      await startServer(`127.0.0.1:${port}`);
      listen(server!);
      await eventually(() => reports.length === 2, 'the Hello of the new stream');
      assert.deepEqual(reports[1], {
        held: [
          {
            quarantineId: 'q-lx1-0a1b2c3d4e',
            namespace: 'shop',
            pod: 'web-1',
            podUid: 'u-1',
            appliedMs: 1_714_564_800_123,
          },
        ],
        omitted: 0,
      });
    } finally {
      held.close();
    }
  });

  it('connects without a quarantine report when reading it fails, and says why', async () => {
    const reports: (QuarantineReport | undefined)[] = [];
    const { port } = await startServer();
    server!.onAgentEvent((e) => {
      if (e.type === 'connected') reports.push(e.quarantines);
    });
    ship(port, {
      quarantineReport: () => {
        throw new Error('SQLITE_IOERR: disk I/O error');
      },
    });
    await eventually(() => reports.length === 1, 'the Hello');
    assert.equal(reports[0], undefined);
    assert.ok(
      agentLog.some((l) => l.includes('reading the quarantines held failed') && l.includes('SQLITE_IOERR')),
    );
  });

  it('sends heartbeats with the spool depth at the interval the collector asks for', async () => {
    const { port } = await startServer('127.0.0.1:0', 50);
    // No polling: the alerts below stay in the spool until notify().
    const s = ship(port, { pollIntervalMs: 60_000 });
    await eventually(() => s.status().connected, 'the agent to connect');
    spool.append([alert('x1'), alert('x2')]);
    await eventually(() => store.listAgents()[0]?.spoolDepth === 2, 'a heartbeat reporting the depth');
    const seen = store.listAgents()[0]!.lastSeenMs;
    await eventually(() => store.listAgents()[0]!.lastSeenMs > seen, 'the next heartbeat');
    s.notify();
    await eventually(() => store.listAgents()[0]?.spoolDepth === 0, 'a heartbeat after delivery');
    assert.equal(store.alertCount(), 2);
  });

  it('keeps retrying, with the refusal logged as an error, when the certificate is for another node', async () => {
    const { port } = await startServer();
    spool.append([alert('kept')]);
    const s = ship(port, { node: 'node-2' });
    await eventually(() => (s.status().sessions ?? 0) >= 3, 'several attempts');
    assert.equal(s.status().lastEnd?.code, 'PERMISSION_DENIED');
    assert.ok(
      agentLog.some((l) => l.includes('"level":"error"') && l.includes('client certificate is for node')),
    );
    assert.equal(spool.depth(), 1);
    assert.equal(store.alertCount(), 0);
  });

  it('gives up on a collector that never says Welcome, and tries again', async () => {
    // A server that accepts the stream and says nothing.
    const silent = new grpc.Server();
    silent.addService(agentLinkService(), { Connect: () => undefined });
    const port = await new Promise<number>((resolve, reject) =>
      silent.bindAsync(
        '127.0.0.1:0',
        grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.certPem), [
          { cert_chain: Buffer.from(pki.collector.cert), private_key: Buffer.from(pki.collector.key) },
        ]),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    try {
      const s = ship(port, { welcomeTimeoutMs: 200 });
      await eventually(() => s.status().sessions >= 2, 'a second attempt');
      assert.equal(s.status().lastEnd?.code, 'DEADLINE_EXCEEDED');
      assert.match(s.status().lastEnd?.details ?? '', /no Welcome within 200 ms/);
      await s.close();
      shipper = undefined;
    } finally {
      silent.forceShutdown();
    }
  });

  it('close() stops reconnecting and leaves unacknowledged alerts in the spool', async () => {
    const s = ship(1); // nothing listens on port 1
    spool.append([alert('stay')]);
    await eventually(() => s.status().sessions >= 2, 'attempts');
    await s.close();
    const sessions = s.status().sessions;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(s.status().sessions, sessions);
    assert.equal(spool.depth(), 1);
    shipper = undefined;
  });

  it('refuses unusable TLS material or an unparsable target at once', () => {
    assert.throws(() => ship(1, { tls: { ca: 'x', cert: 'y', key: 'z' } }), /unusable TLS material/);
    assert.throws(() => ship(1, { target: '' }), /not a usable collector address/);
  });

  it('collects host facts from the machine', async () => {
    const facts = await collectHostFacts('procfs: not root');
    assert.ok(facts.cpus > 0);
    assert.ok(facts.memoryBytes > 64 * 1024 * 1024);
    assert.notEqual(facts.kernel, '');
    assert.notEqual(facts.hostname, '');
    assert.equal(facts.source, 'procfs: not root');
  });
});
