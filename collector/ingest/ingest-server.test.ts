import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { agentLinkService, type OutgoingAgentMessage } from '../../proto/agent-link-service.js';
import { linkTypes } from '../../proto/link-proto.js';
import {
  LINK_PROTOCOL_VERSION,
  type Hello,
  type ReceivedCollectorMessage,
} from '../../proto/link-messages.js';
import { createTestPki, type TestPki, type TestTls } from '../../test/support/link-pki.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { CollectorStore } from '../store/store.js';
import type { AgentEvent } from './agent-session.js';
import { CommandDeliveryError } from './command-router.js';
import { startIngestServer, type IngestLimits, type IngestServer } from './ingest-server.js';

function alert(id: string, node = 'node-1', priority: Alert['priority'] = 'Warning'): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Terminal shell in container',
    priority,
    output: `12:00:00.000000000: ${priority} shell (id=${id})`,
    output_fields: { 'proc.name': 'bash' },
    source: 'syscall',
    tags: ['shell'],
    hostname: node,
    id,
    kind: 'signature',
    node,
  };
}

function hello(node: string): Hello {
  return {
    node,
    agentVersion: '0.1.0-test',
    protocolVersion: LINK_PROTOCOL_VERSION,
    capabilities: ['nftables'],
    host: {
      hostname: node,
      os: 'Debian 12',
      kernel: '6.1',
      arch: 'x64',
      cpus: 4,
      memoryBytes: 8e9,
      source: 'jsonl',
    },
  };
}

/** A hand-driven agent: a raw stream with the link's codec. */
class TestAgent {
  readonly received: ReceivedCollectorMessage[] = [];
  readonly status: Promise<grpc.StatusObject>;
  private readonly call: grpc.ClientDuplexStream<OutgoingAgentMessage, ReceivedCollectorMessage>;
  private readonly client: grpc.Client;
  private waiters: (() => void)[] = [];

  constructor(port: number, credentials: grpc.ChannelCredentials) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, credentials);
    const m = agentLinkService().Connect;
    this.call = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    this.call.on('data', (msg: ReceivedCollectorMessage) => {
      this.received.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  static withTls(port: number, tls: TestTls): TestAgent {
    return new TestAgent(
      port,
      grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert)),
    );
  }

  send(message: OutgoingAgentMessage): void {
    this.call.write(message);
  }

  /** Waits for the next message of `type` not yet taken. */
  async next<T extends ReceivedCollectorMessage['type']>(
    type: T,
    timeoutMs = 5000,
  ): Promise<Extract<ReceivedCollectorMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ReceivedCollectorMessage, { type: T }>;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no ${type} within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async connect(node: string): Promise<void> {
    this.send({ type: 'hello', hello: hello(node) });
    await this.next('welcome');
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  const match = values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return match?.value ?? 0;
}

describe('ingest server', function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir: string;
  let store: CollectorStore;
  let registry: Registry;
  let server: IngestServer | undefined;
  let stored: { alerts: readonly Alert[]; node: string }[];
  let events: AgentEvent[];
  let agents: TestAgent[];
  const logLines: string[] = [];

  before(() => {
    pki = createTestPki();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-ingest-'));
    store = openSqliteStore({ path: join(dir, 'collector.db') });
    registry = new Registry();
    stored = [];
    events = [];
    agents = [];
    logLines.length = 0;
  });
  afterEach(async () => {
    for (const a of agents) a.close();
    await server?.close({ graceMs: 100 });
    server = undefined;
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(limits: IngestLimits = {}, storeOverride?: CollectorStore): Promise<IngestServer> {
    server = await startIngestServer({
      listen: '127.0.0.1:0',
      tls: pki.collector,
      store: storeOverride ?? store,
      onAlertsStored: (alerts, node) => stored.push({ alerts, node }),
      onAgentEvent: (e) => events.push(e),
      logger: createLogger({ write: (l) => logLines.push(l), now: Date.now, level: 'debug' }),
      registry,
      limits,
      collectorVersion: '0.1.0-test',
    });
    return server;
  }

  function agent(node: string, tls: TestTls = pki.agent(node)): TestAgent {
    const a = TestAgent.withTls(server!.port, tls);
    agents.push(a);
    return a;
  }

  it('welcomes an agent with its limits and records it connected, then disconnected', async () => {
    await start({ maxBatchAlerts: 250, maxMessageBytes: 1 << 20, heartbeatIntervalMs: 5000 });
    const a = agent('node-1');
    a.send({ type: 'hello', hello: hello('node-1') });
    const w = await a.next('welcome');
    assert.deepEqual(w.welcome, {
      collectorVersion: '0.1.0-test',
      maxBatchAlerts: 250,
      maxMessageBytes: 1 << 20,
      heartbeatIntervalMs: 5000,
    });
    const [record] = store.listAgents();
    assert.equal(record?.node, 'node-1');
    assert.equal(record?.connected, true);
    assert.deepEqual(record?.capabilities, ['nftables']);
    assert.equal(record?.host.cpus, 4);
    assert.deepEqual(server!.connectedNodes(), ['node-1']);
    assert.equal(await metricValue(registry, 'vigil_collector_agents_connected'), 1);

    a.send({
      type: 'heartbeat',
      heartbeat: { sentUnixMs: Date.now(), spoolDepth: 17, spoolDropped: 2, eventsTotal: 900 },
    });
    await eventually(() => store.listAgents()[0]?.spoolDepth === 17, 'the heartbeat to be recorded');
    assert.equal(store.listAgents()[0]?.spoolDropped, 2);

    a.close();
    await eventually(() => store.listAgents()[0]?.connected === false, 'the disconnect to be recorded');
    assert.deepEqual(
      events.map((e) => e.type),
      ['connected', 'heartbeat', 'disconnected'],
    );
    assert.deepEqual(server!.connectedNodes(), []);
    assert.equal(await metricValue(registry, 'vigil_collector_agents_connected'), 0);
  });

  it('stores a batch, then acks it, then passes the new alerts on', async () => {
    await start();
    const a = agent('node-1');
    await a.connect('node-1');
    const batch = [alert('a1'), alert('a2', 'node-1', 'Critical'), alert('a3')];
    a.send({ type: 'alerts', batch: { batchId: 1, alerts: batch, resent: false } });
    const ack = await a.next('ack');
    assert.deepEqual(ack.ack, { batchId: 1, stored: 3, duplicates: 0, rejected: [] });
    assert.equal(store.alertCount(), 3);
    assert.deepEqual(store.getAlert('a2')?.alert, batch[1]);
    await eventually(() => stored.length === 1, 'onAlertsStored');
    assert.deepEqual(stored[0], { alerts: batch, node: 'node-1' });
    assert.equal(
      await metricValue(registry, 'vigil_collector_alerts_received_total', {
        node: 'node-1',
        priority: 'Warning',
        kind: 'signature',
      }),
      2,
    );
    assert.equal(
      await metricValue(registry, 'vigil_collector_alerts_received_total', { priority: 'Critical' }),
      1,
    );
    const histogram = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === 'vigil_collector_store_insert_duration_seconds',
    );
    assert.ok(
      histogram?.values.some(
        (v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.value === 1,
      ),
    );
  });

  it('a resent batch stores and passes on only what is new; duplicates are counted', async () => {
    await start();
    const a = agent('node-1');
    await a.connect('node-1');
    a.send({ type: 'alerts', batch: { batchId: 1, alerts: [alert('a1'), alert('a2')], resent: false } });
    await a.next('ack');
    a.send({
      type: 'alerts',
      batch: { batchId: 2, alerts: [alert('a1'), alert('a2'), alert('a3')], resent: true },
    });
    const ack = await a.next('ack');
    assert.deepEqual(ack.ack, { batchId: 2, stored: 1, duplicates: 2, rejected: [] });
    await eventually(() => stored.length === 2, 'onAlertsStored');
    assert.deepEqual(
      stored[1]?.alerts.map((x) => x.id),
      ['a3'],
    );
    // All duplicates: nothing is passed on.
    a.send({ type: 'alerts', batch: { batchId: 3, alerts: [alert('a3')], resent: true } });
    assert.deepEqual((await a.next('ack')).ack, { batchId: 3, stored: 0, duplicates: 1, rejected: [] });
    assert.equal(stored.length, 2);
    assert.equal(store.alertCount(), 3);
    assert.equal(await metricValue(registry, 'vigil_collector_alerts_duplicates_total'), 3);
  });

  it('acks unreadable alerts as rejected without storing them; alerts naming another node get the certificate’s', async () => {
    await start();
    const a = agent('node-1');
    await a.connect('node-1');
    const type = linkTypes().agentMessage;
    const good = { id: 'ok', time: '2024-05-01T12:00:00Z', priority: 3, kind: 1, node: 'node-9' };
    a.send(
      Buffer.from(
        type
          .encode(
            type.fromObject({ alerts: { batchId: 5, alerts: [good, { ...good, id: 'bad', kind: 7 }] } }),
          )
          .finish(),
      ),
    );
    const ack = await a.next('ack');
    assert.equal(ack.ack.stored, 1);
    assert.deepEqual(ack.ack.rejected, [{ alertId: 'bad', reason: 'unknown kind 7' }]);
    assert.equal(store.getAlert('bad'), undefined);
    assert.equal(store.getAlert('ok')?.alert.node, 'node-1');
    assert.equal(await metricValue(registry, 'vigil_collector_alerts_rejected_total'), 1);
  });

  it('sends no Ack when the store fails, and ends the stream UNAVAILABLE', async () => {
    const failing: CollectorStore = {
      ...store,
      insertAlerts: () => {
        throw new Error('disk I/O error');
      },
    };
    await start({}, failing);
    const a = agent('node-1');
    await a.connect('node-1');
    a.send({ type: 'alerts', batch: { batchId: 1, alerts: [alert('a1')], resent: false } });
    const status = await a.status;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.ok(!a.received.some((m) => m.type === 'ack'));
    assert.equal(stored.length, 0);
    assert.ok(logLines.some((l) => l.includes('disk I/O error')));
  });

  it('refuses a Hello for another node than the certificate’s: PERMISSION_DENIED', async () => {
    await start();
    const a = agent('node-1');
    a.send({ type: 'hello', hello: hello('node-2') });
    const status = await a.status;
    assert.equal(status.code, grpc.status.PERMISSION_DENIED);
    assert.equal(
      status.details,
      'Hello claims node "node-2" but the client certificate is for node "node-1"',
    );
    assert.deepEqual(store.listAgents(), []);
    assert.equal(
      await metricValue(registry, 'vigil_collector_agent_streams_refused_total', { reason: 'node-mismatch' }),
      1,
    );
  });

  it('refuses anything but a Hello first, a wrong protocol, and silence', async () => {
    await start({ helloTimeoutMs: 300 });
    const early = agent('node-1');
    early.send({ type: 'alerts', batch: { batchId: 1, alerts: [alert('x')], resent: false } });
    const s1 = await early.status;
    assert.equal(s1.code, grpc.status.FAILED_PRECONDITION);
    assert.match(s1.details, /first message must be a Hello, not alerts/);
    assert.equal(store.alertCount(), 0);

    const old = agent('node-1');
    old.send({ type: 'hello', hello: { ...hello('node-1'), protocolVersion: 0 } });
    const s2 = await old.status;
    assert.equal(s2.code, grpc.status.FAILED_PRECONDITION);
    assert.match(s2.details, /link protocol 0; this collector speaks 1/);

    const quiet = agent('node-1');
    const s3 = await quiet.status;
    assert.equal(s3.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(s3.details, /no Hello within 300 ms/);
  });

  it('refuses an oversized message (RESOURCE_EXHAUSTED) and a batch over the alert limit', async () => {
    await start({ maxMessageBytes: 64 * 1024, maxBatchAlerts: 10 });
    const a = agent('node-1');
    await a.connect('node-1');
    const big = { ...alert('big'), output: 'x'.repeat(100 * 1024) };
    a.send({ type: 'alerts', batch: { batchId: 1, alerts: [big], resent: false } });
    const s = await a.status;
    assert.equal(s.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(store.alertCount(), 0);

    const b = agent('node-1');
    await b.connect('node-1');
    const many = Array.from({ length: 11 }, (_, i) => alert(`m${i}`));
    b.send({ type: 'alerts', batch: { batchId: 1, alerts: many, resent: false } });
    const s2 = await b.status;
    assert.equal(s2.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(s2.details, /a batch of 11 alerts; the limit is 10/);
    assert.equal(store.alertCount(), 0);
  });

  it('refuses clients without a certificate or with one from another CA at the TLS handshake', async () => {
    await start();
    const anonymous = new TestAgent(server!.port, grpc.credentials.createSsl(Buffer.from(pki.ca.certPem)));
    agents.push(anonymous);
    anonymous.send({ type: 'hello', hello: hello('node-1') });
    assert.equal((await anonymous.status).code, grpc.status.UNAVAILABLE);
    const foreign = agent('node-1', pki.foreignAgent('node-1'));
    foreign.send({ type: 'hello', hello: hello('node-1') });
    assert.equal((await foreign.status).code, grpc.status.UNAVAILABLE);
    assert.deepEqual(store.listAgents(), []);
  });

  it('a new stream from the same node replaces the old one', async () => {
    await start();
    const first = agent('node-1');
    await first.connect('node-1');
    const second = agent('node-1');
    await second.connect('node-1');
    const s = await first.status;
    assert.equal(s.code, grpc.status.ABORTED);
    assert.deepEqual(server!.connectedNodes(), ['node-1']);
    // The replaced stream's end does not mark the node disconnected.
    assert.equal(store.listAgents()[0]?.connected, true);
    second.send({ type: 'alerts', batch: { batchId: 1, alerts: [alert('z')], resent: false } });
    assert.equal((await second.next('ack')).ack.stored, 1);
  });

  it('routes commands to the node and their results back by id; fails when no answer can come', async () => {
    await start({ commandTimeoutMs: 300 });
    const a = agent('node-1');
    await a.connect('node-1');
    const b = agent('node-2');
    await b.connect('node-2');

    const pending = server!.sendCommand('node-1', {
      id: 'q-1',
      action: { type: 'release', quarantineId: 'Q1', namespace: 'shop', pod: 'web' },
    });
    const cmd = await a.next('command');
    assert.deepEqual(cmd.command, {
      id: 'q-1',
      action: { type: 'release', quarantineId: 'Q1', namespace: 'shop', pod: 'web' },
    });
    // A result from another node for the same id is not taken.
    b.send({ type: 'command-result', result: { commandId: 'q-1', outcome: 'applied', detail: 'forged' } });
    await new Promise((r) => setTimeout(r, 50));
    a.send({
      type: 'command-result',
      result: { commandId: 'q-1', outcome: 'released', detail: 'rules removed' },
    });
    assert.deepEqual(await pending, { commandId: 'q-1', outcome: 'released', detail: 'rules removed' });

    const release = { type: 'release', quarantineId: 'Q2', namespace: 'shop', pod: 'web' } as const;
    await assert.rejects(server!.sendCommand('node-3', { id: 'c-3', action: release }), (err: unknown) => {
      assert.ok(err instanceof CommandDeliveryError);
      assert.equal(err.reason, 'not-connected');
      return true;
    });
    await assert.rejects(
      server!.sendCommand('node-2', { id: 'c-4', action: release }),
      /did not answer command c-4 within 300 ms/,
    );
    const dropped = server!.sendCommand('node-1', { id: 'c-5', action: release }, { timeoutMs: 10_000 });
    await a.next('command');
    await assert.rejects(server!.sendCommand('node-1', { id: 'c-5', action: release }), /already waiting/);
    a.close();
    await assert.rejects(
      dropped,
      (err: unknown) => err instanceof CommandDeliveryError && err.reason === 'disconnected',
    );
    assert.equal(
      await metricValue(registry, 'vigil_collector_agent_commands_total', { outcome: 'released' }),
      1,
    );
    assert.equal(
      await metricValue(registry, 'vigil_collector_agent_commands_total', { outcome: 'timeout' }),
      1,
    );
  });

  it('marks agents left connected by a previous run as disconnected at start', async () => {
    store.upsertAgent({
      node: 'ghost',
      version: '0.0.1',
      host: hello('ghost').host,
      capabilities: [],
      connected: true,
      firstSeenMs: 1000,
      lastSeenMs: 2000,
      spoolDepth: 0,
      spoolDropped: 0,
    });
    await start();
    assert.equal(store.listAgents()[0]?.connected, false);
    const a = agent('ghost');
    await a.connect('ghost');
    const record = store.listAgents()[0];
    assert.equal(record?.connected, true);
    assert.equal(record?.firstSeenMs, 1000, 'first seen is kept');
  });

  it('ends every stream UNAVAILABLE on close, so agents come back later', async () => {
    await start();
    const a = agent('node-1');
    await a.connect('node-1');
    await server!.close({ graceMs: 500 });
    server = undefined;
    assert.equal((await a.status).code, grpc.status.UNAVAILABLE);
    assert.equal(store.listAgents()[0]?.connected, false);
  });
});
