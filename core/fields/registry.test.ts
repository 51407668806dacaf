import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireShared } from '../../test/support/shared.js';
import { createFieldRegistry } from './registry.js';
import type { FieldDef } from './types.js';

const registry = createFieldRegistry();

describe('field registry', () => {
  it('finds plain names and resolves dotted-argument families', () => {
    assert.equal(registry.lookup('proc.name')?.name, 'proc.name');
    assert.deepEqual(registry.resolve('proc.name')?.impliedArg, undefined);
    const flags = registry.resolve('evt.arg.flags');
    assert.equal(flags?.def.name, 'evt.arg');
    assert.equal(flags?.impliedArg, 'flags');
    assert.equal(registry.lookup('evt.arg.flags')?.name, 'evt.arg');
    assert.equal(registry.resolve('evt.rawarg.res')?.impliedArg, 'res');
    assert.equal(registry.resolve('evt.type.is.open')?.def.name, 'evt.type.is');
    assert.equal(registry.resolve('evt.type.is')?.impliedArg, undefined, 'an exact name wins');
    assert.equal(registry.lookup('proc.name.x'), undefined, 'only families take dotted arguments');
    assert.equal(registry.lookup('nosuch.field'), undefined);
  });

  it('gives argument-dependent types for evt.rawarg', () => {
    const rawarg = registry.lookup('evt.rawarg')!;
    assert.equal(rawarg.typeForArg?.('res'), 'errno');
    assert.equal(rawarg.typeForArg?.('flags'), 'flags');
    assert.equal(rawarg.typeForArg?.('nosuch'), undefined);
    assert.equal(rawarg.noTransformer, true);
  });

  it('has unique names and a description for every field', () => {
    const seen = new Set<string>();
    for (const def of registry.all()) {
      assert.ok(!seen.has(def.name), def.name);
      seen.add(def.name);
      assert.ok(def.description.length > 5, def.name);
    }
    assert.ok(seen.size > 250, `only ${seen.size} fields`);
  });

  it('lets extra fields replace built-in ones', () => {
    const replacement: FieldDef = { ...registry.lookup('proc.name')!, description: 'replaced' };
    assert.equal(createFieldRegistry([replacement]).lookup('proc.name')?.description, 'replaced');
  });

  it('marks libsinsp types, list-ness, arguments and filter-only fields', () => {
    const expect: Array<[string, Partial<FieldDef>]> = [
      ['user.uid', { type: 'uint32' }],
      ['fd.sport', { type: 'port' }],
      ['fd.net', { type: 'ipnet', filterOnly: true }],
      ['fd.ip', { type: 'ipaddr', filterOnly: true, multi: 'endpoints' }],
      ['fd.types', { isList: true, arg: 'index' }],
      ['proc.aname', { arg: 'index' }],
      ['evt.arg', { arg: 'index-or-key-required', dottedArg: true }],
      ['container.mount.dest', { arg: 'index-or-key-required' }],
      ['evt.buffer', { type: 'bytebuf' }],
      ['evt.rawtime', { type: 'abstime' }],
      ['thread.cpu', { type: 'double' }],
      ['proc.env', { arg: 'key' }],
    ];
    for (const [name, props] of expect) {
      const def = registry.lookup(name);
      assert.ok(def !== undefined, name);
      const actual = def as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(props)) assert.equal(actual[k], v, `${name}.${k}`);
    }
  });
});

describe('field registry: coverage of upstream rules and captures', () => {
  it('knows every field the upstream Falco rules use', function () {
    const text = readFileSync(requireShared(this, 'reference/falco-fields-used.txt'), 'utf8');
    const section = text.split('## ALL distinct fields')[1]!.split('## Distinct field NAMES')[0]!;
    const missing: string[] = [];
    for (const line of section.split('\n')) {
      const m = /^\s+\d+\s+(\S+)\s+cond=/.exec(line);
      if (m === null) continue;
      const written = m[1]!;
      const bracket = written.indexOf('[');
      const name = bracket < 0 ? written : written.slice(0, bracket);
      const found = registry.resolve(name);
      if (found === undefined) missing.push(written);
      else if (bracket >= 0 && found.def.arg === 'none') missing.push(`${written} (argument not accepted)`);
    }
    assert.deepEqual(missing, []);
  });

  it('knows every field of the capture exports', function () {
    const dir = requireShared(this, 'captures/scap');
    const missing = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.falco.jsonl'))) {
      const first = readFileSync(join(dir, f), 'utf8').split('\n', 1)[0]!;
      for (const key of Object.keys(JSON.parse(first) as object))
        if (registry.resolve(key) === undefined) missing.add(key);
    }
    assert.deepEqual([...missing], []);
  });
});
