import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/config-schema.js';
import { projectRoot } from '../test/support/shared.js';
import { loadCollectorConfig, storePath, tlsPaths } from './config.js';

describe('collector configuration', () => {
  it('accepts the shipped example', () => {
    const name = join(projectRoot, 'deploy', 'collector.example.yaml');
    const cfg = loadCollectorConfig({ name, text: readFileSync(name, 'utf8') }, {}, []);
    assert.equal(cfg.grpc.listen, '0.0.0.0:7443');
    assert.equal(cfg.outputs.length, 1);
    assert.equal(cfg.retention.max_age, 30 * 24 * 3600 * 1000);
    assert.equal(storePath(cfg), '/var/lib/vigil/collector/collector.db');
    assert.equal(tlsPaths(cfg).cert, '/var/lib/vigil/collector/certs/collector/tls.crt');
  });

  it('names the output and key of a bad output setting', () => {
    assert.throws(
      () =>
        loadCollectorConfig(
          { name: 'c.yaml', text: 'outputs:\n  - type: webhook\n    url: not a url\n' },
          {},
          [],
        ),
      (err: unknown) => err instanceof ConfigError && /c\.yaml:3:\d+: outputs\.0\.url/.test(err.message),
    );
    assert.throws(
      () => loadCollectorConfig({ name: 'c.yaml', text: 'outputs:\n  - type: pager\n' }, {}, []),
      /pager/,
    );
  });

  it('takes environment variables over the file', () => {
    const cfg = loadCollectorConfig(
      { name: 'c.yaml', text: 'http:\n  listen: 0.0.0.0:1\n' },
      { VIGIL_HTTP_LISTEN: '127.0.0.1:9', VIGIL_RETENTION_MAX_BYTES: '1GiB' },
      [],
    );
    assert.equal(cfg.http.listen, '127.0.0.1:9');
    assert.equal(cfg.retention.max_bytes, 2 ** 30);
  });
});
