import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/config-schema.js';
import { projectRoot } from '../test/support/shared.js';
import { DEFAULT_RULES_FILE, loadAgentConfig } from './config.js';

describe('agent configuration', () => {
  it('accepts the shipped example, which names every key', () => {
    const name = join(projectRoot, 'deploy', 'agent.example.yaml');
    const cfg = loadAgentConfig({ name, text: readFileSync(name, 'utf8') }, {}, []);
    assert.equal(cfg.node, 'worker-1');
    assert.deepEqual(cfg.sources, ['procfs:']);
    assert.equal(cfg.spool.max_bytes, 64 * 2 ** 20);
    assert.equal(cfg.source_options.procfs_interval, 1000);
    assert.equal(cfg.collector.address, '');
  });

  it("defaults to a working agent with Vigil's own rules", () => {
    const cfg = loadAgentConfig(undefined, {}, []);
    assert.deepEqual(cfg.rules, [DEFAULT_RULES_FILE]);
    assert.match(readFileSync(DEFAULT_RULES_FILE, 'utf8'), /- rule: Vigil /);
    assert.equal(cfg.rule_matching, 'first');
  });

  it('lets environment variables override the file, and flags override both', () => {
    const cfg = loadAgentConfig(
      { name: 'a.yaml', text: 'node: from-file\nrule_matching: all\n' },
      { VIGIL_NODE: 'from-env', VIGIL_SOURCES: 'jsonl:/a, jsonl:/b', VIGIL_RULE_MATCHING: 'first' },
      [{ flag: '--node', path: ['node'], value: 'from-flag' }],
    );
    assert.equal(cfg.node, 'from-flag');
    assert.deepEqual(cfg.sources, ['jsonl:/a', 'jsonl:/b']);
    assert.equal(cfg.rule_matching, 'first');
  });

  it('refuses unknown keys and bad values, naming where they came from', () => {
    assert.throws(
      () => loadAgentConfig({ name: 'a.yaml', text: 'spool:\n  max_alert: 5\n' }, {}, []),
      ConfigError,
    );
    assert.throws(
      () => loadAgentConfig(undefined, { VIGIL_SPOOL_MAX_BYTES: 'huge' }, []),
      /environment variable VIGIL_SPOOL_MAX_BYTES: spool\.max_bytes: expected a size in bytes/,
    );
  });
});
