import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../core/config-schema.js';
import { Priority } from '../../core/priority.js';
import { projectRoot } from '../../test/support/shared.js';
import { loadCollectorConfig } from '../config.js';
import { kubeConnectionOf } from './response.js';

describe('collector configuration: response', () => {
  const example = join(projectRoot, 'deploy', 'collector.example.yaml');
  const exampleText = readFileSync(example, 'utf8');

  it('is off in the shipped example: no policies, no Kubernetes, kube-system never touched', () => {
    const cfg = loadCollectorConfig({ name: example, text: exampleText }, {}, []);
    assert.deepEqual(cfg.response, {
      neverNamespaces: ['kube-system'],
      kubernetes: { mode: 'off' },
      policies: [],
    });
    assert.equal(kubeConnectionOf(cfg.response.kubernetes), undefined);
  });

  it('accepts the commented example policies as written', () => {
    // Uncomment the example's `policies:` block (and drop the `policies: []` above it).
    const lines = exampleText.split('\n');
    const start = lines.findIndex((l) => l === '  # policies:');
    assert.ok(start > 0, 'the example has a commented policies block');
    const block: string[] = [];
    for (let i = start; i < lines.length && (lines[i] as string).startsWith('  #'); i++) {
      block.push((lines[i] as string).replace(/^ {2}# ?/, '  '));
    }
    const text = exampleText
      .replace('  policies: []\n', '')
      .replace(block.map((l) => l.replace(/^ {2}/, '  # ')).join('\n'), block.join('\n'));
    const cfg = loadCollectorConfig({ name: example, text }, {}, []);
    assert.deepEqual(
      cfg.response.policies.map((p) => [p.name, p.action, p.dryRun]),
      [
        ['crypto-miners', 'quarantine', true],
        ['anomalous-shells', 'notify', false],
      ],
    );
    assert.equal(cfg.response.policies[0]?.match.priority, Priority.Critical);
    assert.deepEqual(cfg.response.policies[0]?.match.outputFields, { 'k8s.ns.name': ['shop', 'payments'] });
    assert.deepEqual(cfg.response.policies[0]?.rateLimit, { max: 3, perMs: 600_000 });
  });

  it('names the file, line and key of a bad policy', () => {
    const text = [
      'response:',
      '  policies:',
      '    - name: shells',
      '      match:',
      '        priority: loud',
      '',
    ].join('\n');
    assert.throws(
      () => loadCollectorConfig({ name: 'c.yaml', text }, {}, []),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^c\.yaml:5:\d+: response\.policies\.0\.match\.priority: expected a priority/.test(err.message),
    );
  });

  it('keeps defaults for the keys a file leaves out, and maps the Kubernetes modes', () => {
    const cfg = loadCollectorConfig(
      { name: 'c.yaml', text: 'response:\n  kubernetes:\n    mode: kubeconfig\n    context: prod\n' },
      {},
      [],
    );
    assert.deepEqual(cfg.response.neverNamespaces, ['kube-system']);
    assert.deepEqual(cfg.response.kubernetes, { mode: 'kubeconfig', kubeconfig: '', context: 'prod' });
    const conn = kubeConnectionOf({ mode: 'kubeconfig', kubeconfig: '/etc/kube.yaml', context: 'prod' });
    assert.deepEqual(conn, { mode: 'kubeconfig', path: '/etc/kube.yaml', context: 'prod' });
    assert.deepEqual(
      kubeConnectionOf({ mode: 'url', server: 'http://127.0.0.1:8001', tokenFile: '', caFile: '' }),
      {
        mode: 'url',
        server: 'http://127.0.0.1:8001',
      },
    );
    assert.throws(
      () =>
        kubeConnectionOf({ mode: 'url', server: 'https://k', tokenFile: '/nonexistent/token', caFile: '' }),
      /response\.kubernetes\.token_file: cannot read \/nonexistent\/token/,
    );
  });
});
