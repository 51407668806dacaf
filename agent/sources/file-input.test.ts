import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInput } from './file-input.js';
import { createJsonLinesDecoder } from './json-lines-decoder.js';
import { mapJsonlRecord } from './jsonl-source.js';
import { RecordingSink } from './source-conformance.js';
import { StreamSource } from './stream-source.js';

const line = (n: number): string => `${JSON.stringify({ 'evt.num': n, 'evt.type': 'open' })}\n`;
const nums = (sink: RecordingSink): unknown[] => sink.events.map((e) => e.fields['evt.num']);

describe('FileInput (tail -F)', () => {
  let dir: string;
  let sources: StreamSource[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-file-'));
  });
  afterEach(async () => {
    for (const s of sources) await s.stop();
    sources = [];
    await rm(dir, { recursive: true, force: true });
  });

  function follow(path: string, startAt: 'beginning' | 'end' = 'beginning'): StreamSource {
    // A long fallback interval: these tests must pass on fs.watch wake-ups alone, and the ones
    // that rely on polling say so.
    const s = new StreamSource({
      name: 'jsonl',
      input: new FileInput(path, { startAt, pollIntervalMs: 100 }),
      decoder: createJsonLinesDecoder(mapJsonlRecord),
    });
    sources.push(s);
    return s;
  }

  it('follows appends', async () => {
    const path = join(dir, 'a.jsonl');
    await writeFile(path, line(1));
    const sink = new RecordingSink();
    await follow(path).start(sink);
    await sink.waitFor(() => sink.eventCount === 1, 'the first line');
    await appendFile(path, line(2) + line(3));
    await sink.waitFor(() => sink.eventCount === 3, 'the appended lines');
    assert.deepEqual(nums(sink), [1, 2, 3]);
  });

  it('starts at the end when asked, and reads only what is appended', async () => {
    const path = join(dir, 'b.jsonl');
    await writeFile(path, line(1) + line(2));
    const sink = new RecordingSink();
    await follow(path, 'end').start(sink);
    await appendFile(path, line(3));
    await sink.waitFor(() => sink.eventCount === 1, 'the appended line');
    assert.deepEqual(nums(sink), [3]);
  });

  it('follows rotation by rename and re-create, finishing the old file first', async () => {
    const path = join(dir, 'c.jsonl');
    await writeFile(path, line(1));
    const sink = new RecordingSink();
    const source = follow(path);
    await source.start(sink);
    await sink.waitFor(() => sink.eventCount === 1, 'line 1');
    // The writer appends a last line to the old file after it was renamed (it still holds it
    // open), then starts the new one.
    await rename(path, `${path}.1`);
    await appendFile(`${path}.1`, line(2));
    await writeFile(path, line(3) + line(4));
    await sink.waitFor(() => sink.eventCount === 4, 'lines of both files');
    assert.deepEqual(nums(sink), [1, 2, 3, 4]);
    assert.ok(sink.notices.includes('file rotated; following the new file'));
    // Only the new file is followed now.
    await appendFile(`${path}.1`, line(99));
    await appendFile(path, line(5));
    await sink.waitFor(() => sink.eventCount === 5, 'line 5');
    assert.deepEqual(nums(sink), [1, 2, 3, 4, 5]);
  });

  it('waits while the file is missing between rename and re-create', async () => {
    const path = join(dir, 'd.jsonl');
    await writeFile(path, line(1));
    const sink = new RecordingSink();
    await follow(path).start(sink);
    await sink.waitFor(() => sink.eventCount === 1, 'line 1');
    await unlink(path);
    // Let the reader look at the missing path a few times (the interval is 100 ms).
    await new Promise((r) => setTimeout(r, 250));
    await writeFile(path, line(2));
    await sink.waitFor(() => sink.eventCount === 2, 'line 2 from the re-created file');
    assert.equal(sink.malformedCount, 0);
  });

  it('reads a truncated file again from its start (copytruncate)', async () => {
    const path = join(dir, 'e.jsonl');
    await writeFile(path, line(1) + line(2) + line(3));
    const sink = new RecordingSink();
    await follow(path).start(sink);
    await sink.waitFor(() => sink.eventCount === 3, 'lines 1-3');
    await truncate(path, 0);
    await appendFile(path, line(4));
    await sink.waitFor(() => sink.eventCount === 4, 'line 4 after truncation');
    assert.deepEqual(nums(sink), [1, 2, 3, 4]);
    assert.ok(sink.notices.includes('file truncated; reading it again from the start'));
  });

  it('reports a line cut off by rotation as truncated instead of gluing it to the next file', async () => {
    const path = join(dir, 'f.jsonl');
    await writeFile(path, line(1) + '{"evt.num":2,"evt.ty');
    const sink = new RecordingSink();
    await follow(path).start(sink);
    await sink.waitFor(() => sink.eventCount === 1, 'line 1');
    await rename(path, `${path}.1`);
    await writeFile(path, line(3));
    await sink.waitFor(() => sink.eventCount === 2, 'line 3');
    assert.deepEqual(nums(sink), [1, 3]);
    assert.deepEqual(sink.reasons(), { truncated: 1 });
  });

  it('reads a file once to its end without following', async () => {
    const path = join(dir, 'g.jsonl');
    await writeFile(path, line(1) + line(2));
    const source = new StreamSource({
      name: 'jsonl',
      input: new FileInput(path, { follow: false, chunkBytes: 7 }),
      decoder: createJsonLinesDecoder(mapJsonlRecord),
    });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    // Read 7 bytes at a time: every line crosses chunk boundaries.
    assert.deepEqual(nums(sink), [1, 2]);
  });
});
