import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLinesDecoder } from './json-lines-decoder.js';
import { mapJsonlRecord } from './jsonl-source.js';
import { RecordingSink } from './source-conformance.js';
import { StreamSource } from './stream-source.js';
import { UnixSocketInput, type UnixSocketInputOptions } from './unix-socket-input.js';

function source(path: string, options: UnixSocketInputOptions = {}): StreamSource {
  return new StreamSource({
    name: 'jsonl',
    input: new UnixSocketInput(path, options),
    decoder: createJsonLinesDecoder(mapJsonlRecord),
  });
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

describe('UnixSocketInput', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-sock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps each writer its own stream: interleaved half lines do not mix', async () => {
    const path = join(dir, 'a.sock');
    const s = source(path);
    const sink = new RecordingSink();
    await s.start(sink);
    try {
      const a = await dial(path);
      const b = await dial(path);
      a.write('{"evt.num":1,');
      b.write('{"evt.num":2,');
      a.write('"w":"a"}\n');
      b.write('"w":"b"}\n');
      a.end();
      b.end();
      await sink.waitFor(() => sink.eventCount === 2, 'both lines');
      const byNum = new Map(sink.events.map((e) => [e.fields['evt.num'], e.fields['w']]));
      assert.equal(byNum.get(1), 'a');
      assert.equal(byNum.get(2), 'b');
      assert.equal(sink.malformedCount, 0);
    } finally {
      await s.stop();
    }
  });

  it('creates the socket with mode 0600 by default and removes it on stop', async () => {
    const path = join(dir, 'b.sock');
    const s = source(path);
    await s.start(new RecordingSink());
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await s.stop();
    await assert.rejects(stat(path), /ENOENT/);
  });

  it('replaces a stale socket file but refuses a live one or a regular file', async () => {
    // A stale socket: its listener was killed and could not remove the file.
    const stalePath = join(dir, 'stale.sock');
    const listener = spawn(
      process.execPath,
      ['-e', 'require("net").createServer().listen(process.argv[1], () => console.log("up"))', stalePath],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => listener.stdout.once('data', r));
    const killed = new Promise((r) => listener.once('exit', r));
    listener.kill('SIGKILL');
    await killed;
    assert.ok((await stat(stalePath)).isSocket());
    const s1 = source(stalePath);
    await s1.start(new RecordingSink());
    await s1.stop();

    const livePath = join(dir, 'live.sock');
    const live = createServer();
    await new Promise<void>((r) => live.listen(livePath, r));
    try {
      await assert.rejects(source(livePath).start(new RecordingSink()), /in use by another listener/);
    } finally {
      await new Promise((r) => live.close(r));
    }

    const filePath = join(dir, 'file');
    await writeFile(filePath, 'precious');
    await assert.rejects(source(filePath).start(new RecordingSink()), /exists and is not a socket/);
    assert.equal((await stat(filePath)).size, 8);
  });

  it('refuses writers beyond maxConnections, with a notice', async () => {
    const path = join(dir, 'c.sock');
    const s = source(path, { maxConnections: 1 });
    const sink = new RecordingSink();
    await s.start(sink);
    try {
      const first = await dial(path);
      first.write('{"evt.num":1}\n');
      await sink.waitFor(() => sink.eventCount === 1, 'the first writer');
      const second = await dial(path);
      const closed = new Promise((r) => second.once('close', r));
      second.on('error', () => {});
      second.write('{"evt.num":2}\n');
      await closed;
      await sink.waitFor(() => sink.notices.includes('too many writers; connection refused'), 'the notice');
      first.end('{"evt.num":3}\n');
      await sink.waitFor(() => sink.eventCount === 2, 'the first writer again');
      assert.deepEqual(
        sink.events.map((e) => e.fields['evt.num']),
        [1, 3],
      );
    } finally {
      await s.stop();
    }
  });
});
