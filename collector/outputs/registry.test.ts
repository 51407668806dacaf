import assert from 'node:assert/strict';
import { obj, resolveConfig, str } from '../../core/config-schema.js';
import { createLogger } from '../../core/log.js';
import { Priority } from '../../core/priority.js';
import { createOutputs, OUTPUT_TYPES, outputListSchema, parseOutputEntry } from './registry.js';

const quiet = { logger: createLogger({ write: () => undefined, now: Date.now }) };

describe('output registry', () => {
  it('lists one entry per output type, each with a description and an example of its own type', () => {
    assert.deepEqual([...OUTPUT_TYPES.keys()].sort(), ['falco', 'file', 'slack', 'syslog', 'webhook']);
    for (const [type, entry] of OUTPUT_TYPES) {
      assert.equal(entry.type, type);
      assert.equal(entry.example['type'], type);
      assert.ok(entry.description.length > 20);
    }
  });

  it('fills the shared keys with defaults and reads them when given', () => {
    const plain = parseOutputEntry({ type: 'webhook', url: 'http://soc.example/hook' }, ['outputs', 0]);
    assert.deepEqual(plain.settings, {
      name: 'webhook',
      type: 'webhook',
      minPriority: Priority.Debug,
      queueSize: 10_000,
      retry: {
        maxAttempts: 8,
        initialBackoffMs: 500,
        maxBackoffMs: 30_000,
        deadlineMs: 120_000,
        jitter: 0.5,
      },
    });
    const tuned = parseOutputEntry(
      {
        type: 'webhook',
        name: 'soc',
        url: 'http://soc.example/hook',
        min_priority: 'Warning',
        queue_size: 500,
        retry: { max_attempts: 3, deadline: '30s' },
      },
      ['outputs', 0],
    );
    assert.equal(tuned.settings.name, 'soc');
    assert.equal(tuned.settings.minPriority, Priority.Warning);
    assert.equal(tuned.settings.queueSize, 500);
    assert.equal(tuned.settings.retry.maxAttempts, 3);
    assert.equal(tuned.settings.retry.deadlineMs, 30_000);
    assert.equal(tuned.settings.retry.initialBackoffMs, 500, 'unset retry keys keep their defaults');
  });

  it('names the file, line, key, output type and name in errors', () => {
    const yaml = [
      'outputs:',
      '  - type: webhook',
      '    name: soc',
      '    url: http://soc.example/hook',
      '    min_priority: severe',
    ].join('\n');
    const schema = obj({ outputs: outputListSchema });
    assert.throws(
      () =>
        resolveConfig(schema, { defaults: { outputs: [] }, file: { name: 'collector.yaml', text: yaml } }),
      (err: Error) => {
        assert.equal(
          err.message,
          'collector.yaml:5:19: outputs.0.min_priority: expected a priority (emergency, alert, critical, error, warning, notice, informational, debug) for webhook output "soc", found "severe"',
        );
        return true;
      },
    );
  });

  it('refuses an unknown type, a non-mapping entry, and two outputs with one name', () => {
    assert.throws(
      () => parseOutputEntry({ type: 'pagerduty' }, ['outputs', 0]),
      /outputs\.0\.type: expected one of webhook, slack, syslog, falco, file, found "pagerduty"/,
    );
    assert.throws(
      () => parseOutputEntry('webhook', ['outputs', 1]),
      /outputs\.1: expected a mapping with a type/,
    );
    assert.throws(
      () =>
        outputListSchema.parse(
          [
            { type: 'file', path: '/tmp/a' },
            { type: 'file', path: '/tmp/b' },
          ],
          ['outputs'],
          () => ({ source: 'collector.yaml' }),
        ),
      /outputs\.1\.name: expected a name not used by another output \(entry 0 is also "file"; set name:\)/,
    );
  });

  it('never shows a URL path in an error, since it may hold a token', () => {
    assert.throws(
      () =>
        parseOutputEntry({ type: 'slack', webhook_url: 'hxxps://hooks.slack.com/services/T0/B0/SECRET' }, [
          'outputs',
          0,
        ]),
      (err: Error) =>
        !err.message.includes('SECRET') && /webhook_url: expected an http or https URL/.test(err.message),
    );
  });

  it('builds outputs wrapped in the retry decorator, naming the output and key when a file is unreadable', async () => {
    const [plan] = outputListSchema.parse(
      [{ type: 'syslog', name: 'siem', host: '127.0.0.1', protocol: 'tls', ca_file: '/nonexistent/ca.pem' }],
      ['outputs'],
      () => ({ source: 'test' }),
    );
    assert.ok(plan !== undefined);
    assert.throws(
      () => createOutputs([plan], quiet),
      /syslog output "siem": ca_file: cannot read \/nonexistent\/ca\.pem/,
    );
    const built = createOutputs(
      [
        parseOutputEntry({ type: 'file', name: 'archive', path: '/tmp/vigil-registry-test.jsonl' }, [
          'outputs',
          0,
        ]),
      ],
      quiet,
    );
    assert.equal(built[0]?.name, 'archive');
    assert.equal(built[0]?.type, 'file');
    await Promise.all(built.map((o) => o.close()));
  });

  it('accepts an empty list, and refuses something that is not a list', () => {
    assert.deepEqual(
      outputListSchema.parse([], ['outputs'], () => ({ source: 'test' })),
      [],
    );
    assert.throws(
      () =>
        resolveConfig(obj({ outputs: outputListSchema, x: str() }), {
          defaults: { outputs: 'webhook', x: '' },
        }),
      /outputs: expected a list of outputs, each a mapping with a type, found "webhook"/,
    );
  });
});
