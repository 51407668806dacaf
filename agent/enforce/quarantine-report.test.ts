import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAgentMessage } from '../../proto/link-codec.js';
import { LINK_PROTOCOL_VERSION } from '../../proto/link-messages.js';
import { MAX_REPORT_BYTES, quarantineReport } from './quarantine-report.js';
import { MAX_ACTIVE_QUARANTINES, openQuarantineStore, type QuarantineStore } from './quarantine-store.js';

describe('quarantine report (real store)', function () {
  this.timeout(60_000);
  let dir: string;
  let store: QuarantineStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-qreport-'));
    store = openQuarantineStore(join(dir, 'quarantines.db'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (i: number, namespace = 'shop', pod = `web-${i}`): void =>
    store.put({
      quarantineId: `q-${i}`,
      namespace,
      pod,
      podUid: `uid-${i}`,
      cutEstablished: true,
      freeze: false,
      reason: 'test',
      appliedMs: 1000 + i,
    });

  it('lists every record, oldest applied first; an empty store reports none', () => {
    assert.deepEqual(quarantineReport(store), { held: [], omitted: 0 });
    put(2);
    put(1);
    put(3);
    assert.deepEqual(quarantineReport(store), {
      held: [1, 2, 3].map((i) => ({
        quarantineId: `q-${i}`,
        namespace: 'shop',
        pod: `web-${i}`,
        podUid: `uid-${i}`,
        appliedMs: 1000 + i,
      })),
      omitted: 0,
    });
    store.delete('q-2');
    assert.deepEqual(
      quarantineReport(store).held.map((q) => q.quarantineId),
      ['q-1', 'q-3'],
    );
  });

  it('leaves out the newest records beyond its byte budget, and counts them', () => {
    for (let i = 1; i <= 10; i++) put(i);
    // Each entry: 24 + 'q-N' + 'shop' + 'web-N' + 'uid-N' = 24 + 3 + 4 + 5 + 5 = 41 bytes (N < 10).
    const r = quarantineReport(store, 41 * 4);
    assert.deepEqual(
      r.held.map((q) => q.quarantineId),
      ['q-1', 'q-2', 'q-3', 'q-4'],
    );
    assert.equal(r.omitted, 6);
  });

  it('keeps a Hello from a full store of the longest names far below the collector\u2019s 4 MiB limit', () => {
    const namespace = 'n'.repeat(63);
    for (let i = 0; i < MAX_ACTIVE_QUARANTINES; i++) put(i, namespace, `${'p'.repeat(240)}-${i}`);
    const report = quarantineReport(store);
    assert.ok(report.omitted > 0, 'a full store of the longest names does not fit');
    assert.equal(report.held.length + report.omitted, MAX_ACTIVE_QUARANTINES);
    const bytes = encodeAgentMessage({
      type: 'hello',
      hello: {
        node: 'n'.repeat(253),
        agentVersion: '0.1.0',
        protocolVersion: LINK_PROTOCOL_VERSION,
        capabilities: ['nftables', 'cgroup-freeze', 'baselines'],
        host: {
          hostname: 'h',
          os: 'Debian 12',
          kernel: '6.1',
          arch: 'x64',
          cpus: 64,
          memoryBytes: 1e12,
          source: 'ebpf',
        },
        quarantines: report,
      },
    }).length;
    assert.ok(bytes <= MAX_REPORT_BYTES + 4096, `the Hello is ${bytes} bytes`);
    assert.ok(bytes < 4 * 1024 * 1024);
  });
});
