import { decodeJsonEvent } from '../../core/json-event.js';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJsonSource } from './json-source.js';
import { jsonlSourceFactory, mapJsonlRecord } from './jsonl-source.js';
import {
  MALFORMED_JSON_REASONS,
  RecordingSink,
  describeSourceConformance,
  jsonCorpus,
} from './source-conformance.js';
import type { EventSource } from './source.js';

/** Falco-field records, as the captures and `sysdig -j -p` write them. */
const RECORDS = Array.from({ length: 20 }, (_, i) =>
  JSON.stringify({
    'evt.num': i + 1,
    'evt.type': i % 2 === 0 ? 'openat' : 'execve',
    'evt.dir': '<',
    'evt.rawtime': Date.UTC(2018, 7, 17, 17, 35, 48) * 1e6 + i * 1000,
    'proc.name': 'cat',
    'fd.name': `/etc/file-${i}`,
    'container.id': 'host',
  }),
);
const SMALL_LIMIT = 4096;

function exact(line: string): Readonly<Record<string, unknown>> {
  const evt = decodeJsonEvent(line);
  assert.ok(typeof evt !== 'string');
  return evt.fields;
}
const CORPUS = jsonCorpus(RECORDS, SMALL_LIMIT * 2);
const EXPECTED = {
  events: RECORDS.length,
  malformed: { ...MALFORMED_JSON_REASONS, oversized: 1 },
};

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-jsonl-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
const fresh = (name: string): string => join(dir, `${name}-${++seq}`);

function jsonl(target: string, options: Record<string, unknown> = {}): EventSource {
  return jsonlSourceFactory.create({ target, options: { maxLineBytes: SMALL_LIMIT, ...options } });
}

describeSourceConformance('jsonl (file read once)', {
  async create() {
    const path = fresh('once.jsonl');
    await writeFile(path, CORPUS);
    return jsonl(path, { follow: false });
  },
  finite: true,
  expected: EXPECTED,
});

{
  let path = '';
  describeSourceConformance('jsonl (file followed)', {
    async create() {
      path = fresh('followed.jsonl');
      await writeFile(path, '');
      return jsonl(path, { pollIntervalMs: 20 });
    },
    finite: false,
    async feed() {
      // Two appends that split a line in the middle: the reader must join them.
      const cut = CORPUS.indexOf('openat') + 3;
      await appendFile(path, CORPUS.slice(0, cut));
      await appendFile(path, CORPUS.slice(cut));
    },
    expected: EXPECTED,
  });
}

{
  let path = '';
  describeSourceConformance('jsonl (FIFO, followed across writers)', {
    create() {
      path = fresh('events.fifo');
      execFileSync('mkfifo', [path]);
      return jsonl(path);
    },
    finite: false,
    async feed() {
      // Two writers one after the other: the followed FIFO outlives the first.
      const half = CORPUS.lastIndexOf('\n', CORPUS.length / 2) + 1;
      for (const part of [CORPUS.slice(0, half), CORPUS.slice(half)]) {
        // Non-blocking: with no reader (after stop) the open fails instead of waiting forever.
        // The parts are far below the pipe's capacity, so the write itself never has to wait.
        const w = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
        await w.writeFile(part);
        await w.close();
      }
    },
    expected: EXPECTED,
  });
}

{
  let path = '';
  let writer: ChildProcess | undefined;
  describeSourceConformance('jsonl (FIFO read once)', {
    async create() {
      path = fresh('once.fifo');
      execFileSync('mkfifo', [path]);
      const corpusFile = `${path}.src`;
      await writeFile(corpusFile, CORPUS);
      // A separate writer process, as in `cat events > fifo`: its open blocks until we read.
      writer = spawn('sh', ['-c', 'exec cat "$0" > "$1"', corpusFile, path], { stdio: 'ignore' });
      return jsonl(path, { follow: false });
    },
    finite: true,
    expected: EXPECTED,
    async cleanup() {
      const w = writer;
      writer = undefined;
      if (w !== undefined && w.exitCode === null && w.signalCode === null) {
        const exited = new Promise((r) => w.once('exit', r));
        w.kill('SIGKILL');
        await exited;
      }
    },
  });
}

{
  let path = '';
  describeSourceConformance('jsonl (unix socket, several writers)', {
    create() {
      path = fresh('events.sock');
      return jsonl(`unix:${path}`);
    },
    finite: false,
    async feed() {
      const half = CORPUS.lastIndexOf('\n', CORPUS.length / 2) + 1;
      await Promise.all([
        writeToSocket(path, CORPUS.slice(0, half)),
        writeToSocket(path, CORPUS.slice(half)),
      ]);
    },
    expected: EXPECTED,
  });
}

{
  describeSourceConformance('jsonl (a readable stream, as stdin)', {
    async create() {
      const path = fresh('stdin.jsonl');
      await writeFile(path, CORPUS);
      return createJsonSource(
        'jsonl',
        mapJsonlRecord,
        { target: '-', options: { maxLineBytes: SMALL_LIMIT } },
        {
          stdin: createReadStream(path, { highWaterMark: 1024 }),
        },
      );
    },
    finite: true,
    expected: EXPECTED,
  });
}

function writeToSocket(path: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.end(text));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

describe('jsonl source', () => {
  it('skips a 10 MB line under the default 1 MiB limit and reads the lines around it', async () => {
    const path = fresh('huge.jsonl');
    const huge = `{"evt.type":"open","fd.name":"${'a'.repeat(10 << 20)}"}`;
    await writeFile(path, `${RECORDS[0]}\n${huge}\n${RECORDS[1]}\n`);
    const source = jsonlSourceFactory.create({ target: path, options: { follow: false } });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    assert.equal(sink.eventCount, 2);
    assert.deepEqual(sink.reasons(), { oversized: 1 });
    assert.equal(source.stats().bytes, Buffer.byteLength(`${RECORDS[0]}\n${huge}\n${RECORDS[1]}\n`));
  });

  it('keeps records as they are, so events match a replay of the same file', async () => {
    const path = fresh('as-is.jsonl');
    await writeFile(path, `${RECORDS[0]}\r\n\n   \n${RECORDS[1]}`);
    const source = jsonl(path, { follow: false });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    // A CRLF line, blank lines and a last line without newline: two events, nothing malformed.
    assert.deepEqual(
      sink.events.map((e) => e.fields),
      // Exactly as a replay decodes them (nanosecond timestamps as exact bigints).
      [exact(RECORDS[0]!), exact(RECORDS[1]!)],
    );
    assert.equal(sink.malformedCount, 0);
  });

  it('reports lag from evt.rawtime', async () => {
    const path = fresh('lag.jsonl');
    const tenSecondsAgo = (Date.now() - 10_000) * 1e6;
    await writeFile(path, JSON.stringify({ 'evt.type': 'open', 'evt.rawtime': tenSecondsAgo }) + '\n');
    const source = jsonl(path, { follow: false });
    await source.start(new RecordingSink());
    await source.done();
    const lag = source.stats().lagSeconds;
    assert.ok(lag !== undefined && lag >= 9.5 && lag < 60, `lag ${lag}`);
  });

  it('rejects start() for a missing file, a directory, or a socket path without unix:', async () => {
    await assert.rejects(jsonl(fresh('missing.jsonl')).start(new RecordingSink()), /ENOENT/);
    await assert.rejects(jsonl(dir).start(new RecordingSink()), /neither a regular file nor a FIFO/);
    const sockPath = fresh('plain.sock');
    const listener = jsonl(`unix:${sockPath}`);
    await listener.start(new RecordingSink());
    try {
      await assert.rejects(jsonl(sockPath).start(new RecordingSink()), /use unix:/);
    } finally {
      await listener.stop();
    }
  });

  it('refuses bad options and a missing target with a message naming them', () => {
    assert.throws(() => jsonlSourceFactory.create({ target: '', options: {} }), /needs a target/);
    assert.throws(
      () => jsonlSourceFactory.create({ target: '/x', options: { follow: 'yes' } }),
      /option follow must be true or false, got "yes"/,
    );
    assert.throws(
      () => jsonlSourceFactory.create({ target: '/x', options: { startAt: 'middle' } }),
      /option startAt must be one of beginning, end/,
    );
    assert.throws(
      () => jsonlSourceFactory.create({ target: '/x', options: { folow: true } }),
      /unknown option folow/,
    );
    assert.throws(
      () => jsonlSourceFactory.create({ target: '/x', options: { maxLineBytes: 0 } }),
      /maxLineBytes must be an integer from 1/,
    );
  });

  it('reads real stdin (`-`) in a child process to its end', async () => {
    const jsonSourceUrl = new URL('./json-source.js', import.meta.url).href;
    const jsonlUrl = new URL('./jsonl-source.js', import.meta.url).href;
    const script = `
      const { createJsonSource } = await import(${JSON.stringify(jsonSourceUrl)});
      const { mapJsonlRecord } = await import(${JSON.stringify(jsonlUrl)});
      const s = createJsonSource('jsonl', mapJsonlRecord, { target: '-', options: { maxLineBytes: ${SMALL_LIMIT} } });
      const types = [];
      await s.start({ event: (e) => types.push(e.fields['evt.type']), malformed() {}, notice() {} });
      await s.done();
      process.stdout.write(JSON.stringify({ types, stats: s.stats() }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stdin.end(CORPUS);
    const code = await new Promise((r) => child.once('close', r));
    assert.equal(code, 0);
    const result = JSON.parse(out) as { types: string[]; stats: { events: number; malformed: number } };
    assert.equal(result.types.length, RECORDS.length);
    assert.equal(result.types[0], 'openat');
    assert.equal(result.stats.malformed, 7);
  });
});
