import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../core/alert.js';
import { Priority } from '../../core/priority.js';
import { createFileOutput } from './file-output.js';
import { describeOutputConformance, type HarnessSettings } from './output-conformance.test.js';
import { sampleAlert } from './output-fixtures.test.js';
import { parseOutputEntry } from './registry.js';

async function readLines(path: string): Promise<Alert[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  assert.ok(text === '' || text.endsWith('\n'), 'the file ends with a whole line');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Alert);
}

describeOutputConformance('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-file-output-'));
  const path = join(dir, 'out', 'alerts.jsonl');
  const blocker = join(dir, 'not-a-dir');
  await writeFile(blocker, 'x');
  return {
    create: (s: HarnessSettings) => createFileOutput(s, { path, maxBytes: 1 << 20, maxFiles: 2 }),
    // A path under a regular file can never be created.
    createUnreachable: (s: HarnessSettings) =>
      createFileOutput(s, { path: join(blocker, 'alerts.jsonl'), maxBytes: 1 << 20, maxFiles: 2 }),
    received: async () =>
      (await readLines(path)).map((a) => ({
        id: a.id,
        rule: a.rule,
        priority: a.priority,
        output: a.output,
      })),
    close: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('file output', () => {
  let dir: string;
  const settings = { name: 'archive', minPriority: Priority.Debug, queueSize: 100 };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-file-output-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('rotates by size and keeps only max_files rotated files, newest first', async () => {
    const path = join(dir, 'alerts.jsonl');
    const lineBytes = Buffer.byteLength(JSON.stringify(sampleAlert(0)) + '\n');
    // Room for three lines per file.
    const output = createFileOutput(settings, { path, maxBytes: lineBytes * 3 + 10, maxFiles: 2 });
    const alerts = Array.from({ length: 14 }, (_, i) => sampleAlert(i));
    for (let i = 0; i < alerts.length; i += 4) {
      assert.equal((await output.send(alerts.slice(i, i + 4))).result, 'success');
    }
    await output.close();
    assert.deepEqual((await readdir(dir)).sort(), ['alerts.jsonl', 'alerts.jsonl.1', 'alerts.jsonl.2']);
    const ids = async (p: string): Promise<string[]> => (await readLines(p)).map((a) => a.id);
    // 14 lines, 3 per file: [0-2] [3-5] [6-8] [9-11] [12-13]; the two oldest files are gone.
    assert.deepEqual(
      await ids(path),
      [12, 13].map((n) => sampleAlert(n).id),
    );
    assert.deepEqual(
      await ids(`${path}.1`),
      [9, 10, 11].map((n) => sampleAlert(n).id),
    );
    assert.deepEqual(
      await ids(`${path}.2`),
      [6, 7, 8].map((n) => sampleAlert(n).id),
    );
    for (const f of await readdir(dir)) assert.ok((await stat(join(dir, f))).size <= lineBytes * 3 + 10);
  });

  it('appends to an existing file, counting its size, and keeps no rotated file with max_files 0', async () => {
    const path = join(dir, 'alerts.jsonl');
    const line = JSON.stringify(sampleAlert(0)) + '\n';
    await writeFile(path, line + line);
    const output = createFileOutput(settings, { path, maxBytes: Buffer.byteLength(line) * 3, maxFiles: 0 });
    assert.equal((await output.send([sampleAlert(1)])).result, 'success');
    assert.equal((await readLines(path)).length, 3);
    assert.equal((await output.send([sampleAlert(2)])).result, 'success');
    await output.close();
    assert.deepEqual(await readdir(dir), ['alerts.jsonl']);
    assert.deepEqual(
      (await readLines(path)).map((a) => a.id),
      [sampleAlert(2).id],
    );
  });

  it('gives a line longer than max_bytes a file of its own instead of cutting it', async () => {
    const path = join(dir, 'alerts.jsonl');
    const output = createFileOutput(settings, { path, maxBytes: 1024, maxFiles: 3 });
    const big = sampleAlert(1, 'Warning', 'x'.repeat(4000));
    assert.equal((await output.send([sampleAlert(0), big, sampleAlert(2)])).result, 'success');
    await output.close();
    assert.deepEqual(
      (await readLines(`${path}.2`)).map((a) => a.id),
      [sampleAlert(0).id],
    );
    assert.deepEqual(
      (await readLines(`${path}.1`)).map((a) => a.output.length),
      [4000],
    );
    assert.deepEqual(
      (await readLines(path)).map((a) => a.id),
      [sampleAlert(2).id],
    );
  });

  it('is configured with path, max_bytes as a size and max_files', () => {
    assert.doesNotThrow(() =>
      parseOutputEntry({ type: 'file', path: '/tmp/a.jsonl', max_bytes: '10MiB' }, ['outputs', 0]),
    );
    assert.throws(
      () =>
        parseOutputEntry({ type: 'file', name: 'archive', path: '/tmp/a', max_bytes: 'lots' }, [
          'outputs',
          2,
        ]),
      /outputs\.2\.max_bytes: expected a size in bytes .* for file output "archive", found "lots"/,
    );
  });
});
