/**
 * Profile deltas over the real link: an agent's baseline engine ships through its real shipper
 * (gRPC, mutual TLS) to the collector's ingest server and baseline service (real SQLite). The
 * first send of a profile on a stream is the whole profile; then only what changed goes; and a
 * collector that comes back without what it had (a new database) gets the whole profile again
 * from the agent's next stream.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { BaselineEngine } from '../../agent/baseline/baseline-engine.js';
import type { Shipper } from '../../agent/ship/shipper.js';
import { openSpool, type Spool } from '../../agent/spool/spool.js';
import { createAgentContext } from '../../agent/state/agent-context.js';
import { ProcessTable } from '../../agent/state/process-table.js';
import { createBaselineService, type BaselineService } from '../../collector/baseline/baseline-service.js';
import { openProfileStore } from '../../collector/baseline/profile-store.js';
import { startIngestServer, type IngestServer } from '../../collector/ingest/ingest-server.js';
import { openCollectorDatabase, type CollectorDatabase } from '../../collector/store/database.js';
import { openSqliteStore } from '../../collector/store/sqlite-store.js';
import type { CollectorStore } from '../../collector/store/store.js';
import { encodeProfile, type Profile } from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { startBaselineShipper } from '../support/baseline-pipeline.js';
import { createTestPki, type TestPki } from '../support/link-pki.js';

const T0 = 1_714_564_800_000;
const MINUTE = 60_000;
const IMAGE = 'registry.local/api:1.4';
const KEY = `-/Container/api/-|${IMAGE}`;
const quiet = createLogger({ write: () => undefined, now: Date.now, level: 'error' });

async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Collector {
  readonly db: CollectorDatabase;
  readonly alerts: CollectorStore;
  readonly ingest: IngestServer;
  readonly service: BaselineService;
  /** The collector's profile of KEY as bytes (hex), '' when it has none. */
  bytes(): string;
  close(): Promise<void>;
}

describe('profile deltas over the link (e2e)', function () {
  this.timeout(60_000);
  let pki: TestPki;
  let dir: string;
  const open: { collectors: Collector[]; shipper?: Shipper; spool?: Spool; engine?: BaselineEngine } = {
    collectors: [],
  };

  before(() => {
    pki = createTestPki();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-baseline-deltas-'));
  });
  afterEach(async () => {
    await open.shipper?.close();
    open.engine?.close();
    open.spool?.close();
    for (const c of open.collectors.splice(0)) await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function collector(database: string, port = 0): Promise<Collector> {
    const db = openCollectorDatabase({ path: join(dir, database) });
    const alerts = openSqliteStore({ database: db });
    const ingest = await startIngestServer({
      listen: `127.0.0.1:${port}`,
      tls: pki.collector,
      store: alerts,
      onAlertsStored: () => undefined,
      logger: quiet,
      registry: new Registry(),
    });
    const profiles = openProfileStore({ database: db });
    const service = createBaselineService({
      store: profiles,
      link: ingest,
      registry: new Registry(),
      logger: quiet,
      limits: { pushIntervalMs: 50, flushIntervalMs: 50, tickMs: 20 },
    });
    let closed = false;
    const c: Collector = {
      db,
      alerts,
      ingest,
      service,
      bytes() {
        service.flush();
        const row = profiles.get(KEY);
        return row === undefined ? '' : Buffer.from(row.profile).toString('hex');
      },
      async close() {
        if (closed) return;
        closed = true;
        service.stop();
        await ingest.close({ graceMs: 100 });
        alerts.close();
        db.close();
      },
    };
    open.collectors.push(c);
    return c;
  }

  it('sends the whole profile first on each stream, then only what changed', async () => {
    const first = await collector('collector-1.db');
    const port = first.ingest.port;
    const processes = new ProcessTable({ maxEntries: 1000 });
    const context = createAgentContext({ processes });
    const engine = new BaselineEngine({
      node: 'node-a',
      context,
      logger: quiet,
      learningPeriodMs: 24 * 60 * MINUTE,
      sequences: false,
      flushIntervalMs: 100,
    });
    open.engine = engine;
    const event = (t: number, i: number): void => {
      engine.observe({
        fields: {
          'evt.type': 'connect',
          'evt.dir': '<',
          'evt.res': 'SUCCESS',
          'evt.rawtime': BigInt(t) * 1_000_000n,
          'proc.pid': 7,
          'fd.sip': `10.0.${Math.floor(i / 250)}.${i % 250}`,
          'fd.sport': 5432,
          'fd.l4proto': 'tcp',
          'container.id': 'a'.repeat(64),
          'container.image': IMAGE,
        },
        context,
      });
    };
    for (let i = 0; i < 500; i++) event(T0 + i, i);
    open.spool = openSpool({ path: join(dir, 'spool.db') });
    open.shipper = startBaselineShipper({
      port: port,
      pki,
      node: 'node-a',
      spool: open.spool,
      engine: engine,
      logger: quiet,
    });
    const mine = (): string => Buffer.from(encodeProfile(engine.profile(KEY) as Profile)).toString('hex');
    await eventually(() => first.bytes() === mine(), 'the collector to hold the whole profile');
    const sent = engine.stats().deltaBytesSent;
    assert.ok(sent.whole >= mine().length / 2, `whole ${sent.whole} bytes`);
    assert.equal(sent.delta, 0);

    // One destination again, eleven minutes on: a delta of that item alone goes.
    event(T0 + 11 * MINUTE, 250);
    await eventually(() => first.bytes() === mine(), 'the collector to merge the delta');
    const after = engine.stats().deltaBytesSent;
    assert.equal(after.whole, sent.whole, 'no whole profile sent again');
    assert.ok(after.delta > 0 && after.delta * 10 < sent.whole, `delta ${after.delta} bytes`);

    // The collector comes back on the same address without what it had (a new database): the
    // agent's new stream starts with the whole profile, so nothing is missing there.
    await first.close();
    const second = await collector('collector-2.db', port);
    event(T0 + 12 * MINUTE, 900); // learnt while the link was down
    await eventually(() => second.bytes() === mine(), 'the new collector to hold the whole profile');
    assert.ok(engine.stats().deltaBytesSent.whole > sent.whole, 'a whole profile on the new stream');
    assert.equal(second.service.get(KEY)?.items.length, 501);
  });
});
