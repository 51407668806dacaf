import assert from 'node:assert/strict';
import type { Event } from '../../core/event.js';
import { ChildProcessInput, type ChildProcessInputOptions } from './child-process-input.js';
import { MalformedReasons } from './decoder.js';
import { createJsonLinesDecoder } from './json-lines-decoder.js';
import { mapJsonlRecord } from './jsonl-source.js';
import { createLengthPrefixedDecoder } from './length-prefixed-decoder.js';
import { RecordingSink, describeSourceConformance } from './source-conformance.js';
import { StreamSource } from './stream-source.js';

/**
 * A miniature binary event record, standing in for the eBPF sensor's: u16 kind (1 exec,
 * 2 exit), u32 pid, then the process name in UTF-8.
 */
function decodeTestRecord(payload: Buffer): Event | string {
  if (payload.length < 6) return MalformedReasons.badRecord;
  const kind = payload.readUInt16LE(0);
  const type = kind === 1 ? 'execve' : kind === 2 ? 'procexit' : undefined;
  if (type === undefined) return MalformedReasons.unknownKind;
  return {
    fields: {
      'evt.type': type,
      'proc.pid': payload.readUInt32LE(2),
      'proc.name': payload.toString('utf8', 6),
    },
  };
}

const RECORDS = 40;
const MAX_RECORD = 1024;

/**
 * The producer: a real child process writing length-prefixed records to its stdout in 7-byte
 * writes, so records straddle pipe reads. Between good records it writes one record too short
 * to decode, one of an unknown kind and one longer than the reader's limit; it ends with a
 * record cut short.
 */
const PRODUCER = `
  const frame = (p) => { const b = Buffer.alloc(4 + p.length); b.writeUInt32LE(p.length, 0); p.copy(b, 4); return b; };
  const rec = (kind, pid, name) => {
    const p = Buffer.alloc(6 + Buffer.byteLength(name));
    p.writeUInt16LE(kind, 0); p.writeUInt32LE(pid, 2); p.write(name, 6);
    return frame(p);
  };
  const parts = [];
  for (let i = 0; i < ${RECORDS}; i++) {
    if (i === 3) parts.push(frame(Buffer.from([1, 0])));
    if (i === 5) parts.push(rec(9, 1, 'x'));
    if (i === 7) parts.push(frame(Buffer.alloc(${MAX_RECORD * 4}, 0x41)));
    parts.push(rec(i % 2 === 0 ? 1 : 2, 1000 + i, 'proc-' + i));
  }
  const cut = Buffer.alloc(4); cut.writeUInt32LE(100, 0);
  parts.push(cut, Buffer.from('only-part'));
  const out = Buffer.concat(parts);
  let at = 0;
  const go = () => {
    while (at < out.length) {
      const piece = out.subarray(at, at + 7); at += 7;
      if (!process.stdout.write(piece)) return process.stdout.once('drain', go);
    }
  };
  go();
`;

function binarySource(script: string, options: ChildProcessInputOptions = {}): StreamSource {
  return new StreamSource({
    name: 'ebpf-like',
    input: new ChildProcessInput(process.execPath, { args: ['-e', script], ...options }),
    decoder: createLengthPrefixedDecoder(decodeTestRecord, { maxRecordBytes: MAX_RECORD }),
  });
}

describeSourceConformance('child process through a length-prefixed decoder', {
  create: () => binarySource(PRODUCER),
  finite: true,
  expected: {
    events: RECORDS,
    malformed: { 'bad-record': 1, 'unknown-kind': 1, oversized: 1, truncated: 1 },
  },
});

describe('ChildProcessInput', () => {
  it('decodes the records a child writes, in order, with their fields', async () => {
    const source = binarySource(PRODUCER);
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    assert.equal(sink.eventCount, RECORDS);
    assert.deepEqual(sink.events[0]?.fields, {
      'evt.type': 'execve',
      'proc.pid': 1000,
      'proc.name': 'proc-0',
    });
    assert.deepEqual(sink.events[RECORDS - 1]?.fields, {
      'evt.type': 'procexit',
      'proc.pid': 1000 + RECORDS - 1,
      'proc.name': `proc-${RECORDS - 1}`,
    });
    assert.deepEqual(
      sink.events.map((e) => e.fields['proc.pid']),
      Array.from({ length: RECORDS }, (_, i) => 1000 + i),
    );
  });

  it('feeds JSON lines from a child through the JSON decoder just the same', async () => {
    const script = `for (let i = 0; i < 5; i++) console.log(JSON.stringify({ 'evt.num': i, 'evt.type': 'open' })); console.log('oops');`;
    const source = new StreamSource({
      name: 'jsonl',
      input: new ChildProcessInput(process.execPath, { args: ['-e', script] }),
      decoder: createJsonLinesDecoder(mapJsonlRecord),
    });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    assert.deepEqual(
      sink.events.map((e) => e.fields['evt.num']),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(sink.reasons(), { 'not-json': 1 });
  });

  it('rejects start() when the command cannot be run', async () => {
    const source = new StreamSource({
      name: 'x',
      input: new ChildProcessInput('/nonexistent/vigil-helper'),
      decoder: createJsonLinesDecoder(mapJsonlRecord),
    });
    await assert.rejects(
      source.start(new RecordingSink()),
      /cannot run \/nonexistent\/vigil-helper: .*ENOENT/,
    );
    await assert.rejects(source.done(), /ENOENT/);
  });

  it('rejects done() when the child fails, quoting its last stderr line; stderr lines become notices', async () => {
    const script = `console.error('loading probes'); console.error('attach failed: permission denied'); process.exit(3);`;
    const source = binarySource(script);
    const sink = new RecordingSink();
    await source.start(sink);
    await assert.rejects(source.done(), /exited with status 3: attach failed: permission denied/);
    const lines = sink.log
      .filter((e) => e.kind === 'notice')
      .map((e) => (e.kind === 'notice' ? e.fields?.['line'] : ''));
    assert.deepEqual(lines, ['loading probes', 'attach failed: permission denied']);
  });

  it('bounds the stderr notices of a chatty child', async () => {
    const script = `for (let i = 0; i < 500; i++) console.error('line ' + i);`;
    const source = binarySource(script, { maxStderrNotices: 5 });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    assert.equal(sink.notices.filter((n) => n === 'helper stderr').length, 5);
    assert.equal(sink.notices.filter((n) => n === 'further helper stderr suppressed for this run').length, 1);
  });

  it('restarts a child that exits when asked to, each run a new stream', async () => {
    // Each run writes one complete record and one cut short: the cut must not join the next run.
    const script = `
      const p = Buffer.alloc(10); p.writeUInt16LE(1, 0); p.writeUInt32LE(process.pid, 2); p.write('once', 6);
      const f = Buffer.alloc(14); f.writeUInt32LE(10, 0); p.copy(f, 4);
      process.stdout.write(Buffer.concat([f, Buffer.from([50, 0, 0])]));
    `;
    const source = binarySource(script, { restart: true, restartDelayMs: 10 });
    const sink = new RecordingSink();
    await source.start(sink);
    await sink.waitFor(() => sink.eventCount >= 3, 'three runs');
    await source.stop();
    const pids = new Set(sink.events.map((e) => e.fields['proc.pid']));
    assert.ok(pids.size >= 3, 'each run is a new process');
    assert.ok((sink.malformedByReason.get('truncated') ?? 0) >= 2, 'each cut record is reported on its own');
    assert.ok(sink.notices.includes('helper stopped; restarting'));
    await source.done();
  });

  it('stop() ends a long-running child, with SIGKILL when it ignores SIGTERM', async () => {
    const script = `process.on('SIGTERM', () => {}); console.error('ready'); setInterval(() => {}, 1000);`;
    const input = new ChildProcessInput(process.execPath, { args: ['-e', script], stopTimeoutMs: 200 });
    const source = new StreamSource({ name: 'x', input, decoder: createJsonLinesDecoder(mapJsonlRecord) });
    const sink = new RecordingSink();
    await source.start(sink);
    await sink.waitFor(() => sink.notices.includes('helper stderr'), 'the child to be ready');
    const pid = input.pid;
    assert.ok(pid !== undefined);
    const t0 = Date.now();
    await source.stop();
    assert.ok(Date.now() - t0 >= 150, 'it waited for SIGTERM to work before SIGKILL');
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    await source.done();
  });
});
