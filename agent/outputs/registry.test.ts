import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleAlert } from './alert-output-conformance.test.js';
import { AlertOutputError } from './alert-output.js';
import { alertOutputFactories, createAlertOutput, findAlertOutputFactory } from './registry.js';

describe('alert output registry', () => {
  it('lists each output once, described, with an example that names it', () => {
    const names = alertOutputFactories.map((f) => f.name);
    assert.deepEqual(names, ['stdout', 'file']);
    for (const f of alertOutputFactories) {
      assert.ok(f.description.length > 10, f.name);
      assert.ok(f.example === f.name || f.example.startsWith(`${f.name}:`), f.example);
      assert.equal(findAlertOutputFactory(f.name), f);
    }
    assert.equal(findAlertOutputFactory('slack'), undefined);
  });

  it('builds NAME:TARGET behind a queue, with options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-registry-'));
    try {
      const path = join(dir, 'alerts.jsonl');
      const out = createAlertOutput(`file:${path}`, { maxFiles: 1 }, { maxQueued: 10 });
      assert.equal(out.name, 'file');
      out.write([sampleAlert('a')]);
      await out.flush();
      await out.close();
      assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { id: string }).id, 'a');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names what it knows when asked for an unknown output', () => {
    assert.throws(
      () => createAlertOutput('syslog:localhost'),
      (err: unknown) =>
        err instanceof AlertOutputError &&
        /output syslog:localhost: unknown output 'syslog' \(known: stdout, file:\S+\)/.test(err.message),
    );
  });
});
