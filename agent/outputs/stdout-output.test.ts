import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Alert } from '../../core/alert.js';
import { describeAlertOutputConformance, sampleAlert } from './alert-output-conformance.test.js';
import { createQueuedOutput } from './queued-output.js';
import { createStdoutOutput, stdoutOutputFactory } from './stdout-output.js';

describeAlertOutputConformance('stdout', () => {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  return Promise.resolve({
    output: createStdoutOutput({ stream }),
    written: () => Promise.resolve(text),
    cleanup: () => {
      stream.destroy();
    },
  });
});

/** A stream whose every write completes only when the test says so. */
class HeldStream extends Writable {
  readonly pending: (() => void)[] = [];
  received = '';
  constructor() {
    super({ highWaterMark: 16 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.received += chunk.toString('utf8');
    this.pending.push(() => done());
  }
  release(): void {
    for (const done of this.pending.splice(0)) done();
  }
}

describe('stdout output', () => {
  it('resolves a write only once the stream has taken it, so a slow reader slows writes', async () => {
    const stream = new HeldStream();
    const output = createStdoutOutput({ stream });
    let done = false;
    const write = Promise.resolve(output.write([sampleAlert('a')])).then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false);
    assert.equal(stream.pending.length, 1);
    stream.release();
    await write;
    assert.equal(done, true);
    await output.close();
  });

  it('behind its queue, drops and counts what a stuck reader cannot take, instead of buffering it', async () => {
    const stream = new HeldStream();
    const out = createQueuedOutput(createStdoutOutput({ stream }), { maxQueued: 10, batchSize: 5 });
    out.write([sampleAlert('first', 'Critical')]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stream.pending.length, 1, 'the first write is with the stream, unfinished');
    for (let i = 0; i < 100; i++) out.write([sampleAlert(`a${i}`, i % 2 === 0 ? 'Critical' : 'Debug')]);
    // Ten wait (the ten newest Criticals); every Debug went first, then the older Criticals.
    const stats = out.stats();
    assert.equal(stats.queued, 10);
    assert.equal(stats.dropped, 90);
    assert.equal(stats.droppedByPriority.Debug, 50);
    assert.equal(stats.droppedByPriority.Critical, 40);
    while (out.stats().queued > 0 || stream.pending.length > 0) {
      stream.release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await out.flush();
    const ids = stream.received
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as Alert).id);
    assert.deepEqual(ids, ['first', ...Array.from({ length: 10 }, (_, k) => `a${80 + 2 * k}`)]);
    assert.equal(out.stats().written, 11);
    await out.close();
  });

  it('fails writes after a stream error instead of crashing the process', async () => {
    const stream = new PassThrough();
    const output = createStdoutOutput({ stream });
    stream.destroy(new Error('EPIPE: the reader went away'));
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(async () => output.write([sampleAlert('a')]), /standard output failed: EPIPE/);
    await output.close();
  });

  it('writes JSON lines on a real process stdout that another process reads', async () => {
    // The child writes three batches through the real process.stdout (a pipe) and exits.
    const moduleUrl = new URL('./stdout-output.js', import.meta.url).href;
    const alerts: Alert[] = [
      sampleAlert('x1', 'Error'),
      sampleAlert('x2', 'Alert'),
      sampleAlert('x3', 'Debug'),
    ];
    const script = `
      const { createStdoutOutput } = await import(${JSON.stringify(moduleUrl)});
      const out = createStdoutOutput();
      const alerts = JSON.parse(process.argv[1]);
      for (const a of alerts) await out.write([a]);
      await out.close();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(alerts)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (text += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.deepEqual(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
      alerts,
    );
  });

  it('is in the registry with no target and no options', async () => {
    const output = stdoutOutputFactory.create({ target: '', options: {} });
    assert.equal(output.name, 'stdout');
    await output.close();
    assert.throws(() => stdoutOutputFactory.create({ target: '/tmp/x', options: {} }), /takes no target/);
    assert.throws(
      () => stdoutOutputFactory.create({ target: '', options: { pretty: true } }),
      /takes no options, got pretty/,
    );
  });
});
