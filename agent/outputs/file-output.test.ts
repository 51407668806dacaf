import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { alertLine } from './alert-output.js';
import { describeAlertOutputConformance, sampleAlert } from './alert-output-conformance.test.js';
import { createFileOutput, fileOutputFactory } from './file-output.js';

describeAlertOutputConformance('file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-file-output-'));
  const path = join(dir, 'logs', 'alerts.jsonl');
  return Promise.resolve({
    output: createFileOutput({ path }),
    written: () => Promise.resolve(existsSync(path) ? readFileSync(path, 'utf8') : ''),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
});

function idsIn(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as Alert).id);
}

describe('file output', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-file-output-'));
    path = join(dir, 'alerts.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  // Alerts of one JSON size, so that file sizes are exact multiples.
  const alert = (i: number): Alert => sampleAlert(`a${String(i).padStart(4, '0')}`);
  const lineBytes = Buffer.byteLength(alertLine(alert(0)));

  it('rotates by size, keeps maxFiles rotated files, and loses only the oldest', async () => {
    const output = createFileOutput({ path, maxBytes: 3 * lineBytes, maxFiles: 2 });
    // 20 alerts, 3 per file: 7 files' worth, of which the live one and 2 rotated ones remain.
    for (let i = 0; i < 20; i += 4) await output.write([alert(i), alert(i + 1), alert(i + 2), alert(i + 3)]);
    await output.close();

    assert.deepEqual(readdirSync(dir).sort(), ['alerts.jsonl', 'alerts.jsonl.1', 'alerts.jsonl.2']);
    for (const f of readdirSync(dir)) assert.ok(statSync(join(dir, f)).size <= 3 * lineBytes, f);
    const kept = [...idsIn(`${path}.2`), ...idsIn(`${path}.1`), ...idsIn(path)];
    assert.deepEqual(
      kept,
      Array.from({ length: 8 }, (_, k) => alert(12 + k).id),
    );
    assert.deepEqual(idsIn(path), [alert(18).id, alert(19).id]);
  });

  it('continues an existing file, counting what it already holds, and keeps no rotated file with maxFiles 0', async () => {
    writeFileSync(path, alertLine(alert(0)) + alertLine(alert(1)));
    const output = createFileOutput({ path, maxBytes: 3 * lineBytes, maxFiles: 0 });
    await output.write([alert(2)]);
    assert.deepEqual(idsIn(path), [alert(0).id, alert(1).id, alert(2).id]);
    await output.write([alert(3)]);
    await output.close();
    assert.deepEqual(readdirSync(dir), ['alerts.jsonl']);
    assert.deepEqual(idsIn(path), [alert(3).id]);
  });

  it('gives a line longer than maxBytes a file of its own rather than cutting it', async () => {
    const output = createFileOutput({ path, maxBytes: 2 * lineBytes, maxFiles: 3 });
    const big = sampleAlert('big', 'Critical', 'x'.repeat(3 * lineBytes));
    await output.write([alert(0), big, alert(1)]);
    await output.close();
    assert.deepEqual(idsIn(`${path}.2`), [alert(0).id]);
    assert.deepEqual(idsIn(`${path}.1`), ['big']);
    assert.deepEqual(idsIn(path), [alert(1).id]);
  });

  it('keeps concurrent writes whole and in call order', async () => {
    const output = createFileOutput({ path, maxBytes: 5 * lineBytes, maxFiles: 10 });
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => Promise.resolve(output.write([alert(2 * i), alert(2 * i + 1)]))),
    );
    await output.close();
    const files = readdirSync(dir)
      .filter((f) => f !== 'alerts.jsonl')
      .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    const all = [...files.flatMap((f) => idsIn(join(dir, f))), ...idsIn(path)];
    assert.deepEqual(
      all,
      Array.from({ length: 24 }, (_, k) => alert(k).id),
    );
  });

  it('creates its directory, and rejects with the path when it cannot write', async () => {
    const nested = join(dir, 'a', 'b', 'alerts.jsonl');
    const output = createFileOutput({ path: nested });
    await output.write([alert(0)]);
    await output.close();
    assert.deepEqual(idsIn(nested), [alert(0).id]);

    const blocked = join(dir, 'blocked');
    mkdirSync(blocked);
    const bad = createFileOutput({ path: blocked });
    await assert.rejects(
      async () => bad.write([alert(1)]),
      (err: Error) => err.message.includes(blocked) && err.cause !== undefined,
    );
    // A failure does not wedge the output: the next write is tried again (and fails the same way).
    await assert.rejects(async () => bad.write([alert(2)]), /cannot open/);
    await bad.close();
  });

  it('validates its spec in the registry', () => {
    assert.throws(() => fileOutputFactory.create({ target: '', options: {} }), /output file: needs a path/);
    assert.throws(
      () => fileOutputFactory.create({ target: path, options: { maxBytes: 0 } }),
      /maxBytes must be an integer of at least 1, got 0/,
    );
    assert.throws(
      () => fileOutputFactory.create({ target: path, options: { maxFiles: '3' } }),
      /maxFiles must be an integer of at least 0, got "3"/,
    );
    assert.throws(
      () => fileOutputFactory.create({ target: path, options: { rotate: true } }),
      /unknown option rotate/,
    );
    assert.throws(() => createFileOutput({ path, maxFiles: -1 }), /maxFiles must be a non-negative integer/);
    assert.equal(
      fileOutputFactory.create({ target: path, options: { maxBytes: 10, maxFiles: 1 } }).name,
      'file',
    );
  });
});
