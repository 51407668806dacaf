import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Alert } from '../../core/alert.js';
import { Priority } from '../../core/priority.js';
import { createFalcoHttpHandler } from '../ingest/falco-http.js';
import {
  createFalcoOutput,
  toFalcoJson,
  type FalcoJsonAlert,
  type FalcoOutputOptions,
} from './falco-output.js';
import {
  describeOutputConformance,
  type HarnessSettings,
  type ReceivedAlert,
} from './output-conformance.test.js';
import {
  closedPort,
  closeServer,
  sampleAlert,
  startHttpReceiver,
  type HttpReceiver,
} from './output-fixtures.test.js';
import { parseOutputEntry } from './registry.js';

/** The keys of Falco's JSON alert, in the order Falco writes them (nlohmann::json sorts keys). */
const FALCO_KEYS = ['hostname', 'output', 'output_fields', 'priority', 'rule', 'source', 'tags', 'time'];

/**
 * Falcosidekick's acceptance rules for a posted alert (its FalcoPayload.Check and the reading of
 * k8s fields in newFalcoPayload), restated: a known priority, a rule, an RFC 3339 time, at least
 * one output field, and `k8s.ns.name` / `k8s.pod.name` strings when not null. Returns what it
 * would refuse, or undefined.
 */
function falcosidekickRefuses(body: Record<string, unknown>): string | undefined {
  const priorities = [
    'emergency',
    'alert',
    'critical',
    'error',
    'warning',
    'notice',
    'informational',
    'info',
    'debug',
  ];
  if (typeof body['priority'] !== 'string' || !priorities.includes(body['priority'].toLowerCase()))
    return 'priority';
  if (typeof body['rule'] !== 'string' || body['rule'] === '') return 'rule';
  const time = body['time'];
  if (typeof time !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(time))
    return 'time';
  const fields = body['output_fields'];
  if (fields === null || typeof fields !== 'object' || Object.keys(fields).length === 0)
    return 'output_fields';
  for (const key of ['k8s.ns.name', 'k8s.pod.name']) {
    const v = (fields as Record<string, unknown>)[key];
    if (v !== undefined && v !== null && typeof v !== 'string') return key;
  }
  if (body['output'] !== undefined && typeof body['output'] !== 'string') return 'output';
  return undefined;
}

function options(url: string, extra: Partial<FalcoOutputOptions> = {}): FalcoOutputOptions {
  return { url: new URL(url), headers: {}, vigilFields: true, timeoutMs: 2000, ...extra };
}

function decode(receiver: HttpReceiver): ReceivedAlert[] {
  return receiver.requests
    .filter((r) => r.status === 200)
    .map((r) => {
      const body = JSON.parse(r.body) as FalcoJsonAlert;
      return {
        id: String(body.output_fields['vigil.id']),
        rule: body.rule,
        priority: body.priority,
        output: body.output,
      };
    });
}

describeOutputConformance('falco', async () => {
  const receiver = await startHttpReceiver();
  const dead = await closedPort();
  return {
    create: (s: HarnessSettings) => createFalcoOutput(s, options(receiver.url)),
    createUnreachable: (s: HarnessSettings) => createFalcoOutput(s, options(`http://127.0.0.1:${dead}/`)),
    received: () => Promise.resolve(decode(receiver)),
    close: () => receiver.close(),
  };
});

describe('falco output', function () {
  this.timeout(10_000);
  const settings = { name: 'sidekick', minPriority: Priority.Debug, queueSize: 100 };

  it("posts one alert per request with exactly Falco's keys, as application/json", async () => {
    const receiver = await startHttpReceiver();
    const output = createFalcoOutput(settings, options(receiver.url));
    try {
      assert.equal(output.maxBatch, 1);
      assert.equal((await output.send([sampleAlert(1, 'Critical')])).result, 'success');
      const [req] = receiver.requests;
      assert.ok(req !== undefined);
      assert.equal(req.method, 'POST');
      assert.equal(req.headers['content-type'], 'application/json');
      const body = JSON.parse(req.body) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), FALCO_KEYS);
      assert.equal(falcosidekickRefuses(body), undefined);
      const alert = sampleAlert(1, 'Critical');
      assert.deepEqual(body, {
        hostname: 'node-1',
        output: alert.output,
        output_fields: {
          ...alert.output_fields,
          'vigil.id': alert.id,
          'vigil.kind': 'signature',
          'vigil.node': 'node-1',
        },
        priority: 'Critical',
        rule: alert.rule,
        source: 'syscall',
        tags: alert.tags,
        time: alert.time,
      });
    } finally {
      await output.close();
      await receiver.close();
    }
  });

  it('leaves Vigil fields out when told, and still satisfies Falcosidekick with an empty alert', () => {
    const bare: Alert = {
      ...sampleAlert(1),
      output_fields: {},
      kind: 'anomaly',
      score: 0.9,
      reasons: ['new binary'],
    };
    const without = toFalcoJson(bare, { vigilFields: false }) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(without), FALCO_KEYS);
    assert.deepEqual(
      without['output_fields'],
      { 'evt.time': 1714564800123456800 },
      'evt.time from the time, as Falco adds it',
    );
    assert.equal(falcosidekickRefuses(without), undefined);
    const withFields = toFalcoJson(bare).output_fields;
    assert.equal(withFields['vigil.kind'], 'anomaly');
    assert.equal(withFields['vigil.score'], 0.9);
    assert.equal(withFields['vigil.reasons'], 'new binary');
  });

  it('turns a non-string k8s.ns.name or k8s.pod.name into a string, as Falcosidekick reads them', () => {
    const odd: Alert = { ...sampleAlert(1), output_fields: { 'k8s.ns.name': 42, 'k8s.pod.name': null } };
    const body = toFalcoJson(odd) as unknown as Record<string, unknown>;
    assert.equal(falcosidekickRefuses(body), undefined);
    assert.equal((body['output_fields'] as Record<string, unknown>)['k8s.ns.name'], '42');
  });

  it('is read back by the Falco ingest endpoint as the same alert', async () => {
    const got: Alert[] = [];
    const handler = createFalcoHttpHandler({ onAlerts: (alerts) => void got.push(...alerts) });
    const server: Server = createServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/falco`;
    const output = createFalcoOutput(settings, options(url));
    try {
      const sent = [sampleAlert(1, 'Critical'), sampleAlert(2, 'Notice')];
      for (const alert of sent) assert.equal((await output.send([alert])).result, 'success');
      assert.equal(got.length, 2);
      for (const [i, alert] of sent.entries()) {
        const back = got[i];
        assert.ok(back !== undefined);
        assert.equal(back.rule, alert.rule);
        assert.equal(back.priority, alert.priority);
        assert.equal(back.time, alert.time);
        assert.equal(back.output, alert.output);
        assert.equal(back.hostname, alert.hostname);
        assert.equal(back.node, alert.node);
        assert.deepEqual(back.tags, alert.tags);
        assert.equal(back.output_fields['vigil.id'], alert.id);
        assert.equal(back.workload?.namespace, 'shop');
      }
    } finally {
      await output.close();
      await closeServer(server);
    }
  });

  it('is configured with url, headers, user_agent and vigil_fields', () => {
    const plan = parseOutputEntry(
      { type: 'falco', url: 'http://falcosidekick:2801/', vigil_fields: false, headers: { 'x-a': 'b' } },
      ['outputs', 0],
    );
    assert.equal(plan.settings.name, 'falco');
    assert.throws(
      () => parseOutputEntry({ type: 'falco', name: 'sk', url: 'ftp://falcosidekick/' }, ['outputs', 1]),
      /outputs\.1\.url: expected an http or https URL for falco output "sk", found "ftp:\/\/falcosidekick\/\.\.\."/,
    );
  });
});
