/**
 * The `ebpf` source's own logic, with stand-in sensor programs (shell scripts playing a
 * prepared record stream, or failing the way the sensor fails): start-up and its errors,
 * options, loss notices, and the source conformance suite. The real sensor against real
 * processes and pods is tested in test/privileged/ebpf-*.test.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameRecord } from '../length-prefixed-decoder.js';
import { RecordingSink, describeSourceConformance } from '../source-conformance.js';
import {
  EbpfSource,
  LossMonitor,
  ebpfSourceFactory,
  sensorEventTypes,
  type EbpfSourceStats,
} from './ebpf-source.js';
import { buildEventRecord, buildHeaderRecord, buildStatsRecord } from './record-builder.js';
import { RecordType } from './wire-format.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-ebpf-source-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let scripts = 0;
/** An executable stand-in for the sensor: writes `stream`, saves its arguments, then `tail`. */
function fakeSensor(stream: Buffer, tail = 'exec sleep 3600', stderr = ''): string {
  const path = join(dir, `sensor-${++scripts}`);
  writeFileSync(`${path}.bin`, stream);
  writeFileSync(
    path,
    `#!/bin/sh\necho "$@" > "${path}.args"\n${stderr === '' ? '' : `echo '${stderr}' >&2\n`}cat "${path}.bin"\n${tail}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

const ready = (): string | undefined => undefined;
const header = frameRecord(buildHeaderRecord({ bootToEpochNs: 1_000n, events: ['openat'] }));
const open = (pid: number): Buffer =>
  frameRecord(
    buildEventRecord({
      type: RecordType.openat,
      ts: 5n,
      pid,
      comm: 'cat',
      res: 3,
      nums: [-100, 0, 0, 0],
      strs: ['/etc/hosts', ''],
    }),
  );

describe('EbpfSource start-up', () => {
  it('resolves once the sensor has sent its header, and passes the options on', async () => {
    const sensor = fakeSensor(Buffer.concat([header, open(1)]));
    const source = new EbpfSource({
      sensorPath: sensor,
      preflight: ready,
      eventTypes: ['openat', 'close'],
      ringBytes: 1 << 20,
      argvMax: 8,
      argLen: 64,
    });
    const sink = new RecordingSink();
    try {
      await source.start(sink);
      assert.deepEqual(source.sensorHeader?.events, ['openat']);
      await sink.waitFor(() => sink.eventCount === 1, 'the event');
      assert.equal(sink.events[0]?.fields['fd.name'], '/etc/hosts');
      assert.equal(sink.events[0]?.fields['evt.rawtime'], 1_005n);
      const args = readFileSync(`${sensor}.args`, 'utf8');
      assert.match(args, /--events \S*openat/);
      assert.match(args, /--events \S*execve/, 'the process life cycle is always traced');
      assert.doesNotMatch(args, /close/);
      assert.match(args, /--ring-bytes 1048576 --argv-max 8 --arg-len 64/);
      assert.match(args, new RegExp(`--ignore-pid ${process.pid}`));
      assert.ok(
        sink.notices.some((n) => n.includes('does not trace')),
        'says which types it cannot trace',
      );
    } finally {
      await source.stop();
    }
  });

  it('rejects with the reason the machine cannot run the sensor', async () => {
    const source = new EbpfSource({
      preflight: () => 'the kernel has no BTF (/sys/kernel/btf/vmlinux is missing)',
    });
    await assert.rejects(source.start(new RecordingSink()), /the kernel has no BTF/);
    await assert.rejects(source.done(), /no BTF/);
    await source.stop();
  });

  it('rejects with the sensor’s own last word when it exits before attaching', async () => {
    const sensor = fakeSensor(
      Buffer.alloc(0),
      'exit 1',
      'vigil-sensor: cannot attach exit_openat (tracepoint/syscalls/sys_exit_openat): Permission denied (errno 13)',
    );
    const source = new EbpfSource({ sensorPath: sensor, preflight: ready });
    await assert.rejects(
      source.start(new RecordingSink()),
      /the ebpf source cannot run: cannot attach exit_openat \(tracepoint\/syscalls\/sys_exit_openat\): Permission denied \(errno 13\)/,
    );
    await source.stop();
  });

  it('rejects when the sensor does not attach in time', async () => {
    const sensor = fakeSensor(Buffer.alloc(0));
    const source = new EbpfSource({ sensorPath: sensor, preflight: ready, startTimeoutMs: 200 });
    await assert.rejects(source.start(new RecordingSink()), /did not attach within 200 ms/);
    await source.stop();
  });

  it('exposes the sensor’s counters and tells when the share lost crosses the threshold', async () => {
    const stats = (sent: number, lost: number): Buffer =>
      frameRecord(buildStatsRecord(1n, [{ type: RecordType.openat, sent, lost }]));
    const sensor = fakeSensor(Buffer.concat([header, stats(1000, 0), stats(2000, 0), stats(2500, 500)]));
    const source = new EbpfSource({ sensorPath: sensor, preflight: ready, lossNoticeRatio: 0.1 });
    const sink = new RecordingSink();
    try {
      await source.start(sink);
      await sink.waitFor(() => sink.notices.some((n) => n.includes('lost events')), 'the loss notice');
      const s: EbpfSourceStats = source.stats();
      assert.equal(s.lost, 500);
      assert.deepEqual(s.sensor['openat'], { sent: 2500, lost: 500 });
      assert.deepEqual(s.lostByType, { openat: 500 });
      assert.equal(s.sensorRuns, 1);
      const entry = sink.log.find((e) => e.kind === 'notice' && e.message.includes('lost events'));
      assert.ok(entry?.kind === 'notice');
      assert.deepEqual(entry.fields?.['lostByType'], { openat: 500 });
    } finally {
      await source.stop();
    }
  });
});

describe('sensorEventTypes', () => {
  it('traces what the rules need that it can, plus the process life cycle', () => {
    const { trace, untraced } = sensorEventTypes(['openat', 'connect', 'read', 'openat']);
    assert.ok(trace.includes('openat') && trace.includes('connect'));
    for (const t of ['clone', 'fork', 'vfork', 'clone3', 'execve', 'execveat', 'procexit'])
      assert.ok(trace.includes(t), t);
    assert.ok(!trace.includes('unlink'));
    assert.deepEqual(untraced, ['read']);
  });
  it('traces everything it can for `all`', () => {
    const { trace } = sensorEventTypes('all');
    assert.ok(trace.includes('ptrace') && trace.includes('umount2') && trace.includes('sendmsg'));
  });
});

describe('LossMonitor', () => {
  it('notices a share lost at or above the ratio, once a minute, with what was lost since', () => {
    let now = 0;
    const m = new LossMonitor(0.01, () => now);
    const reading = (sent: number, lost: number): Map<string, { sent: number; lost: number }> =>
      new Map([['openat', { sent, lost }]]);
    assert.equal(m.observe(reading(1000, 0)), undefined);
    assert.equal(m.observe(reading(2000, 5)), undefined, '5 of 1005 is below 1%');
    const first = m.observe(reading(2100, 100));
    assert.deepEqual(first?.['lostByType'], { openat: 100 }, 'includes the losses below the ratio');
    now += 30_000;
    assert.equal(m.observe(reading(2200, 200)), undefined, 'within the minute');
    now += 31_000;
    assert.deepEqual(m.observe(reading(2300, 300))?.['lostByType'], { openat: 200 });
  });
  it('starts over when the counters go down (a restarted sensor)', () => {
    const m = new LossMonitor(0.5, () => 0);
    m.observe(new Map([['openat', { sent: 1000, lost: 0 }]]));
    assert.deepEqual(m.observe(new Map([['openat', { sent: 10, lost: 20 }]]))?.['lost'], 20);
  });
});

describe('ebpfSourceFactory', () => {
  it('reads its options and refuses bad or unknown ones', () => {
    const source = ebpfSourceFactory.create({
      target: '',
      options: { eventTypes: 'openat,connect', follow: true },
    });
    assert.ok(source instanceof EbpfSource);
    assert.ok(source.eventTypes.includes('connect'));
    const fromRules = ebpfSourceFactory.create({
      target: '',
      options: { eventTypes: new Set(['unlinkat']) },
    });
    assert.ok(fromRules instanceof EbpfSource && fromRules.eventTypes.includes('unlinkat'));
    assert.throws(
      () => ebpfSourceFactory.create({ target: '', options: { ringBytes: 3000000 } }),
      /ringBytes must be a power of two/,
    );
    assert.throws(() => ebpfSourceFactory.create({ target: '', options: { argvMax: 0 } }), /argvMax must be/);
    assert.throws(
      () => ebpfSourceFactory.create({ target: '', options: { ringbytes: 4096 } }),
      /unknown option ringbytes/,
    );
    assert.throws(
      () => ebpfSourceFactory.create({ target: '', options: { eventTypes: 7 } }),
      /eventTypes must be/,
    );
  });
});

{
  const good = Array.from({ length: 25 }, (_, i) => open(100 + i));
  const unknownKind = frameRecord(buildEventRecord({ type: 99, comm: 'x' }));
  const cut = buildEventRecord({ type: RecordType.openat, comm: 'x', nums: [0, 0, 0, 0], strs: ['/a', ''] });
  const badRecord = frameRecord(cut.subarray(0, cut.length - 1));
  const stream = Buffer.concat([header, ...good.slice(0, 10), unknownKind, badRecord, ...good.slice(10)]);
  describeSourceConformance('ebpf (a stand-in sensor)', {
    create: () => new EbpfSource({ sensorPath: fakeSensor(stream), preflight: ready }),
    finite: false,
    feed: () => Promise.resolve(),
    expected: { events: 25, malformed: { 'unknown-kind': 1, 'bad-record': 1 } },
  });
}
