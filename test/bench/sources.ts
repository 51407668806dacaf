/**
 * Throughput of the `jsonl` source alone: events per second from a file of real capture lines
 * (shared/captures/scap/*.falco.jsonl, repeated to about a million lines) read once to its end
 * into a sink that only counts. For scale it also times the floor — the same file through the
 * same line splitter with nothing but JSON.parse — so the source's own cost shows.
 *
 * Run: npm run build && npm run bench:sources -- [LINES] [CHUNK_KIB]
 */
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDir } from '../support/shared.js';
import { createJsonLinesDecoder } from '../../agent/sources/json-lines-decoder.js';
import { FileInput } from '../../agent/sources/file-input.js';
import { mapJsonlRecord } from '../../agent/sources/jsonl-source.js';
import { readLines } from '../../agent/sources/read-lines.js';
import { StreamSource } from '../../agent/sources/stream-source.js';

const targetLines = Number(process.argv[2] ?? 1_000_000);
const chunkKib = Number(process.argv[3] ?? 1024);
if (sharedDir === undefined) throw new Error('the benchmark needs ../shared (set VIGIL_SHARED_DIR)');

const scap = join(sharedDir, 'captures', 'scap');
const lines: string[] = [];
for (const f of readdirSync(scap)
  .filter((n) => n.endsWith('.falco.jsonl'))
  .sort()) {
  for (const l of readFileSync(join(scap, f), 'utf8').split('\n')) if (l !== '') lines.push(l);
}
const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-'));
const path = join(dir, 'events.jsonl');
const block = lines.join('\n') + '\n';
const repeats = Math.ceil(targetLines / lines.length);
const out = await open(path, 'w');
const blockBytes = Buffer.from(block);
for (let i = 0; i < repeats; i++) await out.write(blockBytes);
await out.close();
const total = lines.length * repeats;
const bytes = Buffer.byteLength(block) * repeats;

async function viaSource(): Promise<number> {
  const source = new StreamSource({
    name: 'jsonl',
    input: new FileInput(path, { follow: false, chunkBytes: chunkKib * 1024 }),
    decoder: createJsonLinesDecoder(mapJsonlRecord),
  });
  let events = 0;
  await source.start({
    event: () => void events++,
    malformed: () => {},
    notice: () => {},
  });
  await source.done();
  if (events !== total) throw new Error(`expected ${total} events, got ${events}`);
  return events;
}

async function floor(): Promise<number> {
  let objects = 0;
  await readLines(createReadStream(path, { highWaterMark: chunkKib * 1024 }), {
    line(text) {
      const v: unknown = JSON.parse(text);
      if (v !== null && typeof v === 'object') objects++;
    },
    oversized() {},
  });
  return objects;
}

async function time(what: string, run: () => Promise<number>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const n = await run();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = n / seconds;
  process.stdout.write(
    `${what.padEnd(22)} ${n} events in ${seconds.toFixed(2)} s: ${Math.round(rate).toLocaleString('en')} events/s, ` +
      `${(bytes / seconds / 1e6).toFixed(0)} MB/s\n`,
  );
  return rate;
}

try {
  process.stdout.write(`${total} lines, ${(bytes / 1e6).toFixed(0)} MB, ${chunkKib} KiB reads\n`);
  // One warm-up pass of each, then the measured ones.
  await viaSource();
  await floor();
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    rates.push(await time('jsonl source', viaSource));
    await time('floor (JSON.parse only)', floor);
  }
  rates.sort((a, b) => a - b);
  process.stdout.write(`jsonl source median: ${Math.round(rates[1]!).toLocaleString('en')} events/s\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
