import assert from 'node:assert/strict';
import { buildAlert, clockTimeNs, isoTimeNs } from './alert.js';
import { eventFromRecord } from './event.js';
import { createFieldRegistry } from './fields/registry.js';
import { loadRules } from './rules/loader.js';

const registry = createFieldRegistry();

function loadRule(output: string, extra = '') {
  const r = loadRules(
    [
      {
        name: 'alert.yaml',
        text: `- rule: Shell spawned
  desc: a shell
  condition: evt.type = execve and proc.name = bash
  output: "${output}"
  priority: INFO
  tags: [shell, mitre_execution]
${extra}`,
      },
    ],
    { registry },
  );
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return r.ruleset?.get('Shell spawned') ?? assert.fail('rule did not load');
}

describe('buildAlert', () => {
  it("builds Falco's JSON alert from the event's own time", () => {
    const rule = loadRule('shell %proc.name by %user.name');
    const evt = eventFromRecord({
      'evt.type': 'execve',
      'proc.name': 'bash',
      'evt.rawtime': 1470327477881730713n,
    });
    const alert = buildAlert(rule, evt, { hostname: 'node-1', id: 'a-1' });
    assert.deepEqual(alert, {
      time: '2016-08-04T16:17:57.881730713Z',
      rule: 'Shell spawned',
      priority: 'Informational',
      output: '16:17:57.881730713: Informational shell bash by <NA>',
      output_fields: { 'proc.name': 'bash', 'user.name': null, 'evt.time': Number(1470327477881730713n) },
      source: 'syscall',
      tags: ['mitre_execution', 'shell'],
      hostname: 'node-1',
      id: 'a-1',
      kind: 'signature',
      node: 'node-1',
    });
    assert.doesNotThrow(() => JSON.stringify(alert));
  });

  it('reads evt.rawtime given as a decimal string or a number', () => {
    const rule = loadRule('x');
    const fromString = buildAlert(rule, eventFromRecord({ 'evt.rawtime': '1000000000000000001' }), {
      hostname: 'h',
      id: '1',
    });
    assert.equal(fromString.time, '2001-09-09T01:46:40.000000001Z');
    const fromNumber = buildAlert(rule, eventFromRecord({ 'evt.rawtime': 1_500_000_000_000_000_000 }), {
      hostname: 'h',
      id: '2',
    });
    assert.equal(fromNumber.time.slice(0, 20), '2017-07-14T02:40:00.');
  });

  it('falls back to timeNs, and uses the node name when given', () => {
    const rule = loadRule('x');
    const alert = buildAlert(rule, eventFromRecord({ 'proc.name': 'bash' }), {
      hostname: 'host-a',
      id: 'z',
      node: 'node-a',
      timeNs: 1_000_000_000n,
    });
    assert.equal(alert.time, '1970-01-01T00:00:01.000000000Z');
    assert.equal(alert.output, '00:00:01.000000000: Informational x');
    assert.equal(alert.node, 'node-a');
    assert.equal(alert.hostname, 'host-a');
  });

  it('refuses to invent a time', () => {
    const rule = loadRule('x');
    assert.throws(() => buildAlert(rule, eventFromRecord({}), { hostname: 'h', id: '1' }), /no timeNs/);
  });

  it('reports exception fields among the output fields', () => {
    const rule = loadRule(
      'shell %proc.name',
      `  exceptions:
    - name: parents
      fields: [proc.pname]
      values: [[sshd]]
`,
    );
    const alert = buildAlert(rule, eventFromRecord({ 'proc.name': 'bash', 'proc.pname': 'cron' }), {
      hostname: 'h',
      id: '1',
      timeNs: 5n,
    });
    assert.deepEqual(alert.output_fields, { 'proc.name': 'bash', 'proc.pname': 'cron', 'evt.time': 5 });
  });

  it('formats nanosecond times', () => {
    assert.equal(isoTimeNs(0n), '1970-01-01T00:00:00.000000000Z');
    assert.equal(isoTimeNs(86_400_000_000_123n), '1970-01-02T00:00:00.000000123Z');
    assert.equal(clockTimeNs(3_723_000_000_042n), '01:02:03.000000042');
  });
});
