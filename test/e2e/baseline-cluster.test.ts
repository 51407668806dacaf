/**
 * Cluster-wide profiles over the real link: three agents' baseline engines ship through their
 * real shippers (gRPC, mutual TLS) to the collector's ingest server and baseline service (real
 * SQLite), which merges the deltas and sends the merged profile back. Two replicas on two nodes
 * end with the same profile, holding what each saw; a third node that never ran the workload
 * gets it too, and an operator's lock on the collector reaches every agent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { BaselineEngine } from '../../agent/baseline/baseline-engine.js';
import { openBaselineStore } from '../../agent/baseline/baseline-store.js';
import type { Shipper } from '../../agent/ship/shipper.js';
import { openSpool, type Spool } from '../../agent/spool/spool.js';
import { createAgentContext, type AgentContext, type PodLookup } from '../../agent/state/agent-context.js';
import type { PodMetadata } from '../../agent/state/cri/pod-metadata.js';
import { ProcessTable } from '../../agent/state/process-table.js';
import { createBaselineService, type BaselineService } from '../../collector/baseline/baseline-service.js';
import { openProfileStore } from '../../collector/baseline/profile-store.js';
import { startIngestServer, type IngestServer } from '../../collector/ingest/ingest-server.js';
import { openCollectorDatabase, type CollectorDatabase } from '../../collector/store/database.js';
import { openSqliteStore } from '../../collector/store/sqlite-store.js';
import type { CollectorStore } from '../../collector/store/store.js';
import { encodeProfile, profileHas, profileStatus, type Profile } from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { startBaselineShipper } from '../support/baseline-pipeline.js';
import { createTestPki, type TestPki } from '../support/link-pki.js';

const KEY = 'shop/Deployment/api/api|registry.local/api:1.4';
const T0 = 1_714_564_800_000;
const quiet = createLogger({ write: () => undefined, now: Date.now, level: 'error' });

function pods(containerId: string, podName: string): PodLookup {
  const meta: PodMetadata = {
    containerId,
    containerName: 'api',
    image: 'registry.local/api:1.4',
    podName,
    namespace: 'shop',
    podUid: `uid-${podName}`,
    labels: { 'pod-template-hash': '7d4b9c6f5' },
    sandboxId: 'c'.repeat(64),
    startedAt: BigInt(T0) * 1_000_000n,
  };
  return {
    peek: (id) => (id === containerId ? meta : undefined),
    resolve: (id) => Promise.resolve(id === containerId ? meta : undefined),
  };
}

interface Node {
  readonly name: string;
  readonly engine: BaselineEngine;
  readonly processes: ProcessTable;
  readonly context: AgentContext;
  readonly containerId: string;
  readonly spool: Spool;
  readonly shipper: Shipper;
  event(fields: Record<string, unknown>): ReturnType<BaselineEngine['observe']>;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cluster-wide profiles over the link (e2e)', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  let db: CollectorDatabase;
  let alerts: CollectorStore;
  let ingest: IngestServer;
  let service: BaselineService;
  const nodes: Node[] = [];

  before(() => {
    pki = createTestPki();
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-baseline-cluster-'));
    db = openCollectorDatabase({ path: join(dir, 'collector.db') });
    alerts = openSqliteStore({ database: db });
    ingest = await startIngestServer({
      listen: '127.0.0.1:0',
      tls: pki.collector,
      store: alerts,
      onAlertsStored: () => undefined,
      logger: quiet,
      registry: new Registry(),
    });
    service = createBaselineService({
      store: openProfileStore({ database: db }),
      link: ingest,
      registry: new Registry(),
      logger: quiet,
      limits: { pushIntervalMs: 50, flushIntervalMs: 50, tickMs: 20 },
    });
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      await n.shipper.close();
      n.engine.close();
      n.spool.close();
    }
    service.stop();
    await ingest.close({ graceMs: 100 });
    alerts.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function node(name: string, containerId: string): Node {
    const processes = new ProcessTable({ maxEntries: 1000 });
    const context = createAgentContext({ processes, pods: pods(containerId, `api-7d4b9c6f5-${name}`) });
    const engine = new BaselineEngine({
      node: name,
      context,
      logger: quiet,
      learningPeriodMs: 3_600_000,
      store: openBaselineStore({ path: join(dir, `${name}-baselines.db`) }),
      flushIntervalMs: 100,
    });
    const spool = openSpool({ path: join(dir, `${name}-spool.db`) });
    const shipper = startBaselineShipper({
      port: ingest.port,
      pki,
      node: name,
      spool: spool,
      engine: engine,
      logger: quiet,
    });
    const n: Node = {
      name,
      engine,
      processes,
      context,
      containerId,
      spool,
      shipper,
      event(fields) {
        const raw = { fields: { 'container.id': containerId, ...fields } };
        processes.observe(raw);
        return engine.observe({ fields: raw.fields, context });
      },
    };
    nodes.push(n);
    return n;
  }

  let pid = 100;
  const exec = (t: number, path: string, parent: string): Record<string, unknown> => ({
    'evt.type': 'execve',
    'evt.dir': '<',
    'evt.res': 'SUCCESS',
    'evt.rawtime': BigInt(t) * 1_000_000n,
    'proc.pid': pid++,
    'proc.exepath': path,
    'proc.pexepath': parent,
    'user.name': 'app',
  });
  const connect = (t: number, address: string, port: number): Record<string, unknown> => ({
    'evt.type': 'connect',
    'evt.dir': '<',
    'evt.res': 'SUCCESS',
    'evt.rawtime': BigInt(t) * 1_000_000n,
    'proc.pid': 7,
    'fd.sip': address,
    'fd.sport': port,
    'fd.l4proto': 'tcp',
  });

  it('merges two replicas’ profiles everywhere, brings a new node up to date, and spreads a lock', async () => {
    const a = node('node-a', 'a'.repeat(64));
    const b = node('node-b', 'b'.repeat(64));
    a.event(exec(T0, '/usr/bin/python3', '/bin/sh'));
    a.event(connect(T0 + 1000, '10.0.0.5', 5432));
    b.event(exec(T0 + 500, '/usr/bin/python3', '/bin/sh'));
    b.event(connect(T0 + 1500, '10.0.0.6', 6379));
    b.event(exec(T0 + 2000, '/usr/bin/redis-cli', '/usr/bin/python3'));

    const bytes = (n: Node): string =>
      Buffer.from(encodeProfile(n.engine.profile(KEY) as Profile)).toString('hex');
    const knowsAll = (n: Node): boolean => {
      const p = n.engine.profile(KEY);
      return (
        p !== undefined &&
        profileHas(p, 'connect', 'tcp 10.0.0.5:5432') &&
        profileHas(p, 'connect', 'tcp 10.0.0.6:6379') &&
        profileHas(p, 'exec', '/usr/bin/redis-cli')
      );
    };
    await eventually(
      () => knowsAll(a) && knowsAll(b) && bytes(a) === bytes(b),
      'both agents to hold the merged profile',
    );
    const summary = service.get(KEY);
    assert.deepEqual(summary?.nodes, ['node-a', 'node-b']);

    // A node where the workload never ran is sent the profile when it connects.
    const c = node('node-c', 'd'.repeat(64));
    await eventually(
      () => c.engine.profile(KEY) !== undefined && knowsAll(c),
      'the new node to be caught up',
    );

    // The operator locks on the collector; every agent gets the lock.
    assert.equal(service.edit(KEY, { action: 'lock' }, 'alice').ok, true);
    await eventually(
      () =>
        nodes.every(
          (n) =>
            n.engine.profile(KEY) !== undefined &&
            profileStatus(n.engine.profile(KEY) as Profile) === 'locked',
        ),
      'the lock on every agent',
    );
    // The pod rescheduled to node-c is no stranger there: what the replicas did is known...
    const known = c.event(exec(T0 + 60_000, '/usr/bin/redis-cli', '/usr/bin/python3'));
    assert.equal(known?.score, 0);
    assert.equal(c.event(connect(T0 + 61_000, '10.0.0.5', 5432))?.score, 0);
    // ...and what none did is an anomaly.
    const odd = c.event(exec(T0 + 62_000, '/usr/bin/nc', '/bin/sh'));
    assert.equal(odd?.raise, true);
    assert.equal(odd?.rule, 'Anomalous executable');
    assert.ok(a.engine.stats().deltasSent > 0 && c.engine.stats().updatesMerged > 0);

    // Bad bytes from the collector are counted and change nothing; the link carries on.
    const before = Buffer.from(encodeProfile(c.engine.profile(KEY) as Profile)).toString('hex');
    assert.ok(
      ingest.sendBaseline('node-c', { workloadKey: KEY, profile: new Uint8Array([0x56, 0x47, 1, 2]) }),
    );
    await eventually(() => c.engine.stats().updatesRejected === 1, 'the bad update to be counted');
    assert.equal(Buffer.from(encodeProfile(c.engine.profile(KEY) as Profile)).toString('hex'), before);
    assert.equal(service.edit(KEY, { action: 'reopen' }, 'alice').ok, true);
    await eventually(
      () => profileStatus(c.engine.profile(KEY) as Profile) === 'learning',
      'the reopening to reach node-c over the same stream',
    );
  });
});
