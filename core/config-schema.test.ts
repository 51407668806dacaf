import assert from 'node:assert/strict';
import { bool, bytes, ConfigError, duration, int, list, obj, resolveConfig, str } from './config-schema.js';

const schema = obj({
  node: str({ nonEmpty: true }),
  rules: list(str({ nonEmpty: true })),
  matching: str({ oneOf: ['first', 'all'] }),
  spool: obj({ max_alerts: int(1), max_bytes: bytes(), flush: duration() }),
  watch: bool(),
});
const defaults = {
  node: 'n1',
  rules: ['/etc/vigil/rules.yaml'],
  matching: 'first',
  spool: { max_alerts: 1000, max_bytes: '1MiB', flush: '100ms' },
  watch: true,
};

function expectConfigError(fn: () => unknown, re: RegExp): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.match(err.message, re);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config schema and layers', () => {
  it('applies defaults < file < environment < flags, converting text values', () => {
    const cfg = resolveConfig(schema, {
      defaults,
      file: { name: 'agent.yaml', text: 'node: from-file\nspool:\n  max_alerts: 5\n' },
      env: [{ variable: 'VIGIL_SPOOL_MAX_BYTES', path: ['spool', 'max_bytes'], value: '2MiB' }],
      flags: [{ flag: '--rules', path: ['rules'], value: ['a.yaml', 'b.yaml'] }],
    });
    assert.equal(cfg.node, 'from-file');
    assert.deepEqual(cfg.rules, ['a.yaml', 'b.yaml']);
    assert.equal(cfg.spool.max_alerts, 5);
    assert.equal(cfg.spool.max_bytes, 2 * 2 ** 20);
    assert.equal(cfg.spool.flush, 100);
    assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.spool));
  });

  it('names file, line and column of a bad value', () => {
    const err = expectConfigError(
      () =>
        resolveConfig(schema, {
          defaults,
          file: { name: 'agent.yaml', text: 'node: x\nspool:\n  max_alerts: -3\n' },
        }),
      /^agent\.yaml:3:15: spool\.max_alerts: expected a positive integer, found number -3$/,
    );
    assert.equal(err.key, 'spool.max_alerts');
  });

  it('refuses unknown keys (typos are never ignored)', () => {
    expectConfigError(
      () => resolveConfig(schema, { defaults, file: { name: 'a.yaml', text: 'spool:\n  max_alert: 3\n' } }),
      /a\.yaml:2:\d+: spool\.max_alert: expected one of the keys max_alerts, max_bytes, flush, found unknown key "max_alert"/,
    );
  });

  it('names the environment variable or flag a bad value came from', () => {
    expectConfigError(
      () =>
        resolveConfig(schema, {
          defaults,
          env: [{ variable: 'VIGIL_WATCH', path: ['watch'], value: 'maybe' }],
        }),
      /^environment variable VIGIL_WATCH: watch: expected true or false, found "maybe"$/,
    );
    expectConfigError(
      () =>
        resolveConfig(schema, {
          defaults,
          flags: [{ flag: '--matching', path: ['matching'], value: 'some' }],
        }),
      /^flag --matching: matching: expected one of first, all, found "some"$/,
    );
  });

  it('reports YAML syntax errors with their position', () => {
    expectConfigError(
      () => resolveConfig(schema, { defaults, file: { name: 'bad.yaml', text: 'node: [unclosed\n' } }),
      /^bad\.yaml:\d+:\d+: \(file\): expected valid YAML/,
    );
  });

  it('parses sizes and durations in their usual spellings', () => {
    const s = obj({ b: bytes(), d: duration() });
    const p = (b: unknown, d: unknown) => s.parse({ b, d }, [], () => ({ source: 't' }));
    assert.deepEqual(p('10MB', '5m'), { b: 10_000_000, d: 300_000 });
    assert.deepEqual(p(42, '1.5s'), { b: 42, d: 1500 });
    assert.throws(() => p('ten', '1s'), ConfigError);
    assert.throws(() => p(1, 'soon'), ConfigError);
  });
});
