import assert from 'node:assert/strict';
import { eventFromRecord } from '../event.js';
import { createFieldRegistry } from '../fields/registry.js';
import { compileOutput, jsonFieldValue, OutputFormatError } from './output.js';

const registry = createFieldRegistry();
const evt = eventFromRecord({
  'evt.type': 'open',
  'proc.name': 'Cat',
  'proc.pid': 4242,
  'fd.name': '/ETC/Passwd',
  'proc.aname[2]': 'sshd',
});

function render(format: string): { text: string; fields: Record<string, unknown> } {
  return compileOutput(format, registry).render(evt);
}

function failure(format: string): OutputFormatError {
  try {
    compileOutput(format, registry);
  } catch (err) {
    if (err instanceof OutputFormatError) return err;
    throw err;
  }
  return assert.fail(`${format} compiled`);
}

describe('compileOutput', () => {
  it('substitutes fields and reports their raw values', () => {
    const r = render('open of %fd.name by %proc.name (pid=%proc.pid)');
    assert.equal(r.text, 'open of /ETC/Passwd by Cat (pid=4242)');
    assert.deepEqual(r.fields, { 'fd.name': '/ETC/Passwd', 'proc.name': 'Cat', 'proc.pid': 4242 });
  });

  it('prints <NA> for missing values and reports them as null', () => {
    const r = render('user=%user.name');
    assert.equal(r.text, 'user=<NA>');
    assert.deepEqual(r.fields, { 'user.name': null });
  });

  it('keys fields with arguments as written', () => {
    const r = render('ancestor=%proc.aname[2]');
    assert.equal(r.text, 'ancestor=sshd');
    assert.deepEqual(Object.keys(r.fields), ['proc.aname[2]']);
  });

  it('applies transformers, reporting the fields they read', () => {
    const r = render('%tolower(fd.name) %toupper(proc.name)');
    assert.equal(r.text, '/etc/passwd CAT');
    assert.deepEqual(r.fields, { 'fd.name': '/ETC/Passwd', 'proc.name': 'Cat' });
  });

  it('takes the longest text that compiles as the token', () => {
    assert.equal(render('%proc.name.').text, 'Cat.');
    assert.equal(render('(%proc.name)').text, '(Cat)');
    assert.equal(render('%proc.name[x]').text, 'Cat[x]');
    assert.equal(render('%proc.name:%proc.pid').text, 'Cat:4242');
  });

  it('pads or truncates to a width', () => {
    assert.equal(render('[%6proc.name]').text, '[Cat   ]');
    assert.equal(render('[%2proc.name]').text, '[Ca]');
  });

  it('accepts a leading * and counts each field once', () => {
    const o = compileOutput('*%proc.name %proc.name', registry);
    assert.equal(o.render(evt).text, 'Cat Cat');
    assert.deepEqual(o.fieldNames, ['proc.name']);
  });

  it('reports extra fields without printing them', () => {
    const o = compileOutput('%proc.name', registry, { extraFields: ['fd.name', 'proc.name', 'not a field'] });
    const r = o.render(evt);
    assert.equal(r.text, 'Cat');
    assert.deepEqual(r.fields, { 'proc.name': 'Cat', 'fd.name': '/ETC/Passwd' });
  });

  it('rejects a trailing %, a bare width and unknown fields, at their offsets', () => {
    const end = failure('all done %');
    assert.equal(end.offset, 9);
    assert.match(end.message, /expected a field name after '%', found the end of the output/);
    const width = failure('x %12');
    assert.equal(width.offset, 5);
    const unknown = failure('a=%proc.name b=%proc.nmae c');
    assert.equal(unknown.offset, 16);
    assert.match(unknown.message, /found "proc.nmae"/);
    const star = failure('*x %bogus.field');
    assert.equal(star.offset, 4);
    assert.equal(failure('').offset, 0);
    assert.equal(failure('100%% sure').offset, 4);
  });

  it('converts values to JSON-ready form', () => {
    assert.equal(jsonFieldValue(undefined), null);
    assert.equal(jsonFieldValue(12n), 12);
    assert.equal(jsonFieldValue(18446744073709551615n), '18446744073709551615');
    assert.deepEqual(jsonFieldValue(['a', 2n]), ['a', 2]);
    assert.equal(jsonFieldValue(Number.NaN), 'NaN');
    assert.equal(typeof jsonFieldValue(new Uint8Array([104, 105])), 'string');
  });
});
