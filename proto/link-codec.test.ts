import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import type { Alert } from '../core/alert.js';
import { agentLinkService } from './agent-link-service.js';
import {
  decodeAgentMessage,
  decodeCollectorMessage,
  encodeAgentMessage,
  encodeCollectorMessage,
} from './link-codec.js';
import type { AgentMessage, CollectorMessage } from './link-messages.js';
import { LINK_PROTO_PATH, linkTypes } from './link-proto.js';

const signature: Alert = {
  time: '2024-05-01T12:00:00.123456789Z',
  rule: 'Terminal shell in container',
  priority: 'Warning',
  output: '12:00:00.123456789: Warning A shell was spawned in a container (user=root)',
  output_fields: {
    'proc.name': 'bash',
    'user.name': 'root',
    'evt.time': 1714564800123,
    'fd.name': null,
    ok: true,
  },
  source: 'syscall',
  tags: ['container', 'shell'],
  hostname: 'node-1',
  id: '01HX0000000000000000000001',
  kind: 'signature',
  node: 'node-1',
};

const anomaly: Alert = {
  ...signature,
  id: '01HX0000000000000000000002',
  rule: 'Unusual process for workload',
  priority: 'Informational',
  kind: 'anomaly',
  score: 0.8125,
  reasons: ['process curl never seen in 14 days', 'parent is nginx'],
  workload: {
    namespace: 'shop',
    ownerKind: 'Deployment',
    ownerName: 'web',
    pod: 'web-7d9f',
    container: 'nginx',
    image: 'nginx:1.27',
  },
};

/** Encodes a raw wire AgentMessage, for shapes the codec itself never writes. */
function rawAgentMessage(object: Record<string, unknown>): Buffer {
  const type = linkTypes().agentMessage;
  return Buffer.from(type.encode(type.fromObject(object)).finish());
}

function roundTrip(message: AgentMessage): ReturnType<typeof decodeAgentMessage> {
  return decodeAgentMessage(encodeAgentMessage(message));
}

describe('link codec', () => {
  it('round-trips alerts of both kinds, every priority, score, reasons and workload', () => {
    const priorities = [
      'Emergency',
      'Alert',
      'Critical',
      'Error',
      'Warning',
      'Notice',
      'Informational',
      'Debug',
    ] as const;
    const alerts: Alert[] = [
      signature,
      anomaly,
      ...priorities.map((priority, i) => ({ ...signature, id: `p${i}`, priority })),
    ];
    const decoded = roundTrip({ type: 'alerts', batch: { batchId: 42, alerts, resent: true } });
    assert.equal(decoded.type, 'alerts');
    if (decoded.type !== 'alerts') return;
    assert.equal(decoded.batch.batchId, 42);
    assert.equal(decoded.batch.resent, true);
    assert.deepEqual(decoded.batch.rejected, []);
    assert.deepEqual(decoded.batch.alerts, alerts);
  });

  it('leaves out what an alert does not have (no score key, no empty workload)', () => {
    const decoded = roundTrip({
      type: 'alerts',
      batch: {
        batchId: 1,
        alerts: [{ ...signature, workload: {}, reasons: [], output_fields: {} }],
        resent: false,
      },
    });
    assert.ok(decoded.type === 'alerts');
    const [a] = decoded.batch.alerts;
    assert.ok(a !== undefined);
    assert.equal('score' in a, false);
    assert.equal('workload' in a, false);
    assert.equal('reasons' in a, false);
    assert.deepEqual(a.output_fields, {});
    // A score of zero is a score, not an absent one.
    const zero = roundTrip({
      type: 'alerts',
      batch: { batchId: 1, alerts: [{ ...anomaly, score: 0 }], resent: false },
    });
    assert.ok(zero.type === 'alerts');
    assert.equal(zero.batch.alerts[0]?.score, 0);
  });

  it('writes a bigint output field as its digits', () => {
    const decoded = roundTrip({
      type: 'alerts',
      batch: {
        batchId: 1,
        alerts: [{ ...signature, output_fields: { 'evt.rawtime': 1714564800123456789n } }],
        resent: false,
      },
    });
    assert.ok(decoded.type === 'alerts');
    assert.deepEqual(decoded.batch.alerts[0]?.output_fields, { 'evt.rawtime': '1714564800123456789' });
  });

  it('rejects unreadable alerts one by one, keeping the rest of the batch', () => {
    const good = { id: 'good', time: signature.time, priority: 5, kind: 1, outputFieldsJson: '{"a":1}' };
    const bytes = rawAgentMessage({
      alerts: {
        batchId: 7,
        alerts: [
          good,
          { ...good, id: '' },
          { ...good, id: 'no-priority', priority: 0 },
          { ...good, id: 'no-kind', kind: 0 },
          { ...good, id: 'bad-json', outputFieldsJson: '{"a":' },
          { ...good, id: 'array-fields', outputFieldsJson: '[1,2]' },
          { ...good, id: 'bad-time', time: 'yesterday' },
        ],
      },
    });
    const decoded = decodeAgentMessage(bytes);
    assert.ok(decoded.type === 'alerts');
    assert.deepEqual(
      decoded.batch.alerts.map((a) => [a.id, a.priority, a.kind, a.output_fields]),
      [['good', 'Warning', 'signature', { a: 1 }]],
    );
    assert.deepEqual(
      decoded.batch.rejected.map((r) => r.alertId),
      ['', 'no-priority', 'no-kind', 'bad-json', 'array-fields', 'bad-time'],
    );
    assert.match(decoded.batch.rejected[1]?.reason ?? '', /unknown priority 0/);
    assert.match(decoded.batch.rejected[3]?.reason ?? '', /not JSON/);
  });

  it('round-trips hello, heartbeat (uint64 values), command results and baseline deltas', () => {
    const messages: AgentMessage[] = [
      {
        type: 'hello',
        hello: {
          node: 'node-1',
          agentVersion: '0.1.0',
          protocolVersion: 1,
          capabilities: ['nftables', 'cgroup-freeze'],
          host: {
            hostname: 'node-1',
            os: 'Debian 12',
            kernel: '6.1.0',
            arch: 'x64',
            cpus: 16,
            memoryBytes: 64 * 1024 ** 3,
            source: 'procfs: not root',
          },
        },
      },
      {
        type: 'heartbeat',
        heartbeat: { sentUnixMs: 1_714_564_800_123, spoolDepth: 12, spoolDropped: 3, eventsTotal: 2 ** 40 },
      },
      {
        type: 'command-result',
        result: { commandId: 'c-1', outcome: 'already-applied', detail: 'rules present' },
      },
      {
        type: 'baseline-delta',
        delta: { workloadKey: 'shop/Deployment/web', delta: new Uint8Array([1, 2, 3]) },
      },
    ];
    for (const m of messages) {
      const decoded = roundTrip(m);
      if (m.type === 'baseline-delta' && decoded.type === 'baseline-delta') {
        assert.equal(decoded.delta.workloadKey, m.delta.workloadKey);
        assert.deepEqual([...decoded.delta.delta], [1, 2, 3]);
      } else {
        assert.deepEqual(decoded, m);
      }
    }
  });

  it('keeps the Hello quarantine report and its presence: absent, empty, or with entries', () => {
    const base = {
      node: 'node-1',
      agentVersion: '0.1.0',
      protocolVersion: 1,
      capabilities: ['nftables'],
      host: { hostname: 'node-1', os: '', kernel: '', arch: '', cpus: 1, memoryBytes: 1, source: '' },
    };
    const full: AgentMessage = {
      type: 'hello',
      hello: {
        ...base,
        quarantines: {
          held: [
            {
              quarantineId: 'q-lx1-0a1b2c3d4e',
              namespace: 'shop',
              pod: 'web-1',
              podUid: '0b7c0d3e-7f5e-4a43-9d51-9a0c3f1e2b11',
              appliedMs: 1_714_564_800_123,
            },
            { quarantineId: 'q-2', namespace: 'db', pod: 'pg-0', podUid: '', appliedMs: 2 ** 42 },
          ],
          omitted: 3,
        },
      },
    };
    assert.deepEqual(roundTrip(full), full);
    const empty: AgentMessage = { type: 'hello', hello: { ...base, quarantines: { held: [], omitted: 0 } } };
    assert.deepEqual(roundTrip(empty), empty);
    const absent = roundTrip({ type: 'hello', hello: base });
    assert.equal(absent.type === 'hello' && 'quarantines' in absent.hello, false);
  });

  it('stays compatible with peers that predate the quarantine report (same protocol version)', () => {
    // The contract as it was before Hello.quarantines: what an older collector decodes with.
    const text = readFileSync(LINK_PROTO_PATH, 'utf8');
    const older = text.replace(/^\s*QuarantineReport quarantines = 6;$/m, '');
    assert.notEqual(older, text);
    const root = protobuf.parse(older, { keepCase: false }).root;
    const oldAgentMessage = root.lookupType('vigil.v1.AgentMessage');
    const hello = {
      node: 'node-1',
      agentVersion: '0.1.0',
      protocolVersion: 1,
      capabilities: [],
      host: { hostname: 'n', os: '', kernel: '', arch: '', cpus: 1, memoryBytes: 1, source: '' },
    };
    // A newer agent's Hello reads fine on the older side, with everything it knows intact.
    const bytes = encodeAgentMessage({
      type: 'hello',
      hello: {
        ...hello,
        quarantines: {
          held: [{ quarantineId: 'q-1', namespace: 'a', pod: 'b', podUid: '', appliedMs: 1 }],
          omitted: 0,
        },
      },
    });
    const seen = oldAgentMessage.toObject(oldAgentMessage.decode(bytes)) as {
      hello?: Record<string, unknown>;
    };
    assert.equal(seen.hello?.['node'], 'node-1');
    assert.equal(seen.hello?.['protocolVersion'], 1);
    // An older agent's Hello reads on this side as "not reported".
    const oldBytes = Buffer.from(oldAgentMessage.encode(oldAgentMessage.fromObject({ hello })).finish());
    const decoded = decodeAgentMessage(oldBytes);
    assert.equal(decoded.type, 'hello');
    assert.equal(decoded.type === 'hello' && decoded.hello.quarantines, undefined);
  });

  it('round-trips every collector message', () => {
    const messages: CollectorMessage[] = [
      {
        type: 'welcome',
        welcome: {
          collectorVersion: '0.1.0',
          maxBatchAlerts: 1000,
          maxMessageBytes: 4 << 20,
          heartbeatIntervalMs: 10_000,
        },
      },
      {
        type: 'ack',
        ack: { batchId: 9, stored: 3, duplicates: 1, rejected: [{ alertId: 'x', reason: 'unknown kind 0' }] },
      },
      {
        type: 'command',
        command: {
          id: 'q-1',
          action: {
            type: 'quarantine',
            quarantineId: 'Q1',
            namespace: 'shop',
            pod: 'web-7d9f',
            podUid: 'uid-1',
            cutEstablished: true,
            freeze: false,
            reason: 'crypto miner',
          },
        },
      },
      {
        type: 'command',
        command: {
          id: 'r-1',
          action: { type: 'release', quarantineId: 'Q1', namespace: 'shop', pod: 'web-7d9f' },
        },
      },
      { type: 'config', config: { version: 3, rules: [{ name: 'a.yaml', text: '- rule: x' }] } },
    ];
    for (const m of messages) assert.deepEqual(decodeCollectorMessage(encodeCollectorMessage(m)), m);
  });

  it('reads garbage as unreadable and an empty message as unknown, without throwing', () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert.equal(decodeAgentMessage(garbage).type, 'unreadable');
    assert.equal(decodeCollectorMessage(garbage).type, 'unreadable');
    assert.deepEqual(decodeAgentMessage(Buffer.alloc(0)), { type: 'unknown' });
    assert.deepEqual(decodeCollectorMessage(Buffer.alloc(0)), { type: 'unknown' });
    const noOutcome = decodeAgentMessage(rawAgentMessage({ commandResult: { commandId: 'c', outcome: 0 } }));
    assert.equal(noOutcome.type, 'unreadable');
  });

  it('decodes a command without a known action as unsupported, keeping its id', () => {
    const type = linkTypes().collectorMessage;
    const bytes = Buffer.from(type.encode(type.fromObject({ command: { id: 'future-1' } })).finish());
    assert.deepEqual(decodeCollectorMessage(bytes), {
      type: 'command',
      command: { id: 'future-1', action: { type: 'unsupported' } },
    });
  });

  it('service definition: the agent side writes messages or their encoding alike', () => {
    const m = agentLinkService().Connect;
    assert.equal(m.path, '/vigil.v1.AgentLink/Connect');
    assert.ok(m.requestStream && m.responseStream);
    const message: AgentMessage = {
      type: 'command-result',
      result: { commandId: 'c', outcome: 'applied', detail: '' },
    };
    const encoded = encodeAgentMessage(message);
    assert.equal(m.requestSerialize(encoded), encoded);
    assert.deepEqual(m.requestSerialize(message), encoded);
    assert.deepEqual(m.requestDeserialize(encoded), message);
  });
});
