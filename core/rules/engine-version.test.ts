import assert from 'node:assert/strict';
import {
  BUILTIN_PLUGIN_VERSIONS,
  compareSemVer,
  formatSemVer,
  parseEngineVersion,
  parseSemVer,
  satisfies,
  VIGIL_ENGINE_VERSION,
} from './engine-version.js';

describe('engine versions', () => {
  it('parses semver, ignoring pre-release and build suffixes', () => {
    assert.deepEqual(parseSemVer('0.57.0'), { major: 0, minor: 57, patch: 0 });
    assert.deepEqual(parseSemVer(' 1.2.3 '), { major: 1, minor: 2, patch: 3 });
    assert.deepEqual(parseSemVer('1.2.3-rc.1+build5'), { major: 1, minor: 2, patch: 3 });
    for (const bad of ['', '1', '1.2', '1.2.3.4', 'v1.2.3', '1.x.3'])
      assert.equal(parseSemVer(bad), undefined, bad);
  });

  it('reads the legacy numeric required_engine_version as 0.N.0', () => {
    assert.deepEqual(parseEngineVersion('8'), { major: 0, minor: 8, patch: 0 });
    assert.deepEqual(parseEngineVersion('0.26.0'), { major: 0, minor: 26, patch: 0 });
    assert.equal(parseEngineVersion('eight'), undefined);
  });

  it('is satisfied by the same major version, not older', () => {
    const v = (s: string) => parseSemVer(s) ?? assert.fail(s);
    assert.equal(satisfies(v('0.63.0'), v('0.57.0')), true);
    assert.equal(satisfies(v('0.63.0'), v('0.63.0')), true);
    assert.equal(satisfies(v('0.63.0'), v('0.63.1')), false);
    assert.equal(satisfies(v('0.63.0'), v('0.64.0')), false);
    assert.equal(satisfies(v('1.0.0'), v('0.57.0')), false);
    assert.ok(compareSemVer(v('0.9.0'), v('0.10.0')) < 0);
    assert.equal(formatSemVer(v('0.10.2')), '0.10.2');
  });

  it('claims versions that parse, and satisfies the upstream rules', () => {
    const engine = parseSemVer(VIGIL_ENGINE_VERSION) ?? assert.fail('engine version');
    assert.equal(satisfies(engine, { major: 0, minor: 57, patch: 0 }), true);
    const container = parseSemVer(BUILTIN_PLUGIN_VERSIONS.get('container') ?? '') ?? assert.fail('container');
    assert.equal(satisfies(container, { major: 0, minor: 4, patch: 0 }), true);
  });
});
