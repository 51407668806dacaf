/**
 * The live kernel sensor (privileged): the real BPF programs and loader, through the `ebpf`
 * source, watching real processes on this machine and in a real pod (containerd, CRI, runc):
 * pids, parents, users, command lines, paths and addresses as the kernel saw them; the
 * container found from the cgroup id; paths and arguments byte for byte; argument lists cut at
 * the limits and marked; failures reported with their errno; the source conformance suite; and
 * a clear refusal without privileges.
 *
 * Needs root, the node-in-a-box packages and the built sensor (build-sensor.mjs). Skips with
 * the reason on a developer machine; fails when CI=true.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event } from '../../core/event.js';
import { textToBytes } from '../../agent/sources/ebpf/byte-text.js';
import { DEFAULT_SENSOR_PATH, EbpfSource, sensorPreflight } from '../../agent/sources/ebpf/ebpf-source.js';
import { RecordingSink, describeSourceConformance } from '../../agent/sources/source-conformance.js';
import { startNodeInABox, type NodeInABox, type Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';

/** requirePrivileged, and the sensor itself: built, and this kernel able to run it. */
function requireSensor(ctx: Mocha.Context): void {
  requirePrivileged(ctx);
  const reason = sensorPreflight(DEFAULT_SENSOR_PATH);
  if (reason === undefined) return;
  if (process.env['CI'] === 'true')
    throw new Error(`the eBPF sensor tests must run in CI but cannot: ${reason}`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/** Runs a command to its end; resolves with its pid. */
function run(command: string, args: readonly string[], cwd?: string): Promise<number> {
  const child = spawn(command, [...args], { stdio: 'ignore', ...(cwd !== undefined ? { cwd } : {}) });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid as number));
  });
}

/** Polls `check` until it holds (for state that arrives without a sink delivery). */
async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const of = (sink: RecordingSink, pred: (f: Readonly<Record<string, unknown>>) => boolean): Event[] =>
  sink.events.filter((e) => pred(e.fields));

describe('eBPF sensor (privileged: the real sensor on this kernel)', function () {
  this.timeout(120_000);
  before(function () {
    requireSensor(this);
  });

  describe('host processes', () => {
    let source: EbpfSource;
    let sink: RecordingSink;
    let work: string;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'vigil-ebpf-'));
      source = new EbpfSource({ eventTypes: ['openat', 'execve'], argvMax: 6, argLen: 16 });
      sink = new RecordingSink(1_000_000);
      await source.start(sink);
    });
    after(async () => {
      await source?.stop();
      if (work !== undefined) rmSync(work, { recursive: true, force: true });
    });

    it('delivers paths byte for byte: spaces, quotes, newlines, invalid UTF-8', async () => {
      const names = [
        Buffer.from('with space'),
        Buffer.from(`quote"s and 'single'`),
        Buffer.from('new\nline'),
        Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x80, 0x2e, 0x74]),
        Buffer.from('ünï©ødé 🐧'),
      ];
      // A child process: the source does not report the agent's (this process's) own activity.
      const script = `const fs=require('fs');for(const h of process.argv.slice(1))fs.closeSync(fs.openSync(Buffer.from(h,'hex'),'w'))`;
      const pid = await run(process.execPath, ['-e', script, ...names.map((n) => n.toString('hex'))], work);
      for (const name of names) {
        const want = Buffer.concat([Buffer.from(`${work}/`), name]);
        await sink.waitFor(
          () =>
            of(sink, (f) => f['proc.pid'] === pid && f['evt.type'] === 'openat').some((e) =>
              textToBytes(e.fields['fd.name'] as string).equals(want),
            ),
          `the open of ${JSON.stringify(name.toString('latin1'))}`,
        );
        const raw = of(sink, (f) => f['proc.pid'] === pid && f['evt.type'] === 'openat').find((e) =>
          textToBytes(e.fields['fd.nameraw'] as string).equals(name),
        );
        assert.ok(raw !== undefined, 'fd.nameraw is the relative name as passed');
        assert.equal(raw.fields['evt.arg.flags'], 'O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC');
        assert.equal(raw.fields['fd.typechar'], 'f');
        assert.ok((raw.fields['fd.num'] as number) >= 0);
      }
    });

    it('cuts argv at the count and length limits and marks it; a short argv is whole', async () => {
      const long = await run('/bin/echo', ['short', 'x'.repeat(40), 'a', 'b', 'c', 'd', 'e']);
      const whole = await run('/bin/echo', ['one', 'two words']);
      await sink.waitFor(
        () =>
          of(sink, (f) => f['evt.type'] === 'execve' && (f['proc.pid'] === long || f['proc.pid'] === whole))
            .length === 2,
        'both execs',
      );
      const cut = of(sink, (f) => f['evt.type'] === 'execve' && f['proc.pid'] === long)[0]!.fields;
      assert.equal(cut['proc.exe'], '/bin/echo');
      assert.equal(cut['proc.args'], `short ${'x'.repeat(16)} a b c`);
      assert.equal(cut['evt.arg.args_truncated'], true);
      const full = of(sink, (f) => f['evt.type'] === 'execve' && f['proc.pid'] === whole)[0]!.fields;
      assert.equal(full['proc.cmdline'], 'echo one two words');
      assert.equal(full['proc.exepath'], '/usr/bin/echo');
      assert.equal(full['evt.res'], 'SUCCESS');
      assert.equal(full['evt.arg.args_truncated'], undefined);
      assert.equal(full['proc.ppid'], process.pid);
      assert.equal(full['user.uid'], 0);
      assert.equal(full['container.id'], 'host');
    });

    it('reports a failed exec with its errno, leaving the caller’s identity alone', async () => {
      const pid = await run('/bin/sh', ['-c', 'exec /nonexistent/vigil-test-program']);
      await sink.waitFor(
        () => of(sink, (f) => f['proc.pid'] === pid && f['evt.res'] === 'ENOENT').length > 0,
        'the failed exec',
      );
      const f = of(sink, (f) => f['proc.pid'] === pid && f['evt.res'] === 'ENOENT')[0]!.fields;
      assert.equal(f['evt.type'], 'execve');
      assert.equal(f['evt.rawres'], -2);
      assert.equal(f['evt.arg.filename'], '/nonexistent/vigil-test-program');
      assert.equal(f['proc.name'], 'sh');
      assert.equal(f['proc.cmdline'], undefined);
    });

    it('counts what the kernel side sent, per event type', async () => {
      await eventually(() => (source.stats().sensor['openat']?.sent ?? 0) > 0, 'a stats report');
      const stats = source.stats();
      assert.equal(stats.lost, 0);
      assert.ok(stats.sensor['execve'] !== undefined);
      assert.equal(stats.malformed, 0);
    });
  });

  describe('a process in a real pod', () => {
    let node: NodeInABox | undefined;
    let pod: Pod;
    let server: Server;
    let port: number;
    let source: EbpfSource;
    const sink = new RecordingSink(1_000_000);

    before(async () => {
      node = await startNodeInABox({ name: 'ebpfsens' });
      server = createServer((s) => s.end('ok\n'));
      await new Promise<void>((resolve) => server.listen(0, node!.gateway, resolve));
      port = (server.address() as { port: number }).port;
      pod = await node.runPod({ name: 'shop-7d9f', namespace: 'shop' });
      source = new EbpfSource({ eventTypes: ['openat', 'connect'] });
      await source.start(sink);
    });
    after(async () => {
      await source?.stop();
      server?.close();
      await node?.stop();
    });

    it('sees sh -c open a file and connect, with pids, parent, user, command line, path, address and container', async () => {
      const gw = node!.gateway;
      const command = `cat /etc/hostname > /dev/null; echo hi | nc ${gw} ${port} > /dev/null; echo $$; sleep 3`;
      const exec = pod.exec(['sh', '-c', command], { timeoutSeconds: 20 });
      const isSh = (f: Readonly<Record<string, unknown>>): boolean =>
        f['evt.type'] === 'execve' && f['proc.cmdline'] === `sh -c ${command}`;
      await sink.waitFor(() => of(sink, isSh).length === 1, 'the exec of sh -c');
      const sh = of(sink, isSh)[0]!.fields;
      const shPid = sh['proc.pid'] as number;

      // While it sleeps, the kernel's own view of the process must match the event.
      const status = readFileSync(`/proc/${shPid}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number);
      assert.deepEqual(nspid, [shPid, sh['proc.vpid']], 'host pid and in-container pid');
      const ppidNow = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
      const ppidThen = sh['proc.ppid'] as number;
      if (ppidNow !== ppidThen) {
        // `runc exec` started sh and has exited since: sh was re-parented to the shim (a
        // subreaper). The event's parent must then be gone, not some other live process.
        assert.ok(!existsSync(`/proc/${ppidThen}/comm`), `parent ${ppidThen} of the event is still alive`);
      }
      // The runtime's process that holds it now: `runc exec`, or the shim once runc has left (runc
      // may leave between reading sh's status and reading its comm: then read sh's parent again).
      const parentName = (): string | undefined => {
        const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${shPid}/status`, 'utf8'))?.[1]);
        try {
          return readFileSync(`/proc/${ppid}/comm`, 'utf8').trim();
        } catch {
          return undefined;
        }
      };
      const parent = parentName() ?? parentName() ?? '(gone)';
      assert.ok(['runc', 'containerd-shim'].includes(parent), `parent ${parent}`);
      assert.equal(sh['proc.name'], 'sh');
      assert.equal(sh['proc.exepath'], '/bin/busybox');
      assert.equal(sh['user.uid'], 0);
      assert.equal(sh['proc.tty'], 0);
      assert.equal(sh['container.id'], pod.containerId.slice(0, 12));
      assert.equal(sh['container.full_id'], pod.containerId);

      const opened = (f: Readonly<Record<string, unknown>>): boolean =>
        f['evt.type'] === 'openat' && f['fd.name'] === '/etc/hostname' && f['proc.ppid'] === shPid;
      const connected = (f: Readonly<Record<string, unknown>>): boolean =>
        f['evt.type'] === 'connect' && f['proc.ppid'] === shPid;
      await sink.waitFor(
        () => of(sink, opened).length > 0 && of(sink, connected).length > 0,
        'the open and the connect',
      );
      const open = of(sink, opened)[0]!.fields;
      assert.equal(open['evt.res'], 'SUCCESS');
      assert.equal(open['fd.typechar'], 'f');
      assert.equal(open['container.full_id'], pod.containerId);
      const conn = of(sink, connected)[0]!.fields;
      assert.equal(conn['evt.res'], 'SUCCESS');
      assert.equal(conn['proc.name'], 'nc');
      assert.equal(conn['fd.sip'], gw);
      assert.equal(conn['fd.sport'], port);
      assert.equal(conn['fd.cip'], pod.ip);
      assert.equal(conn['fd.l4proto'], 'tcp');
      assert.equal(conn['fd.name'], `${pod.ip}:${conn['fd.cport'] as number}->${gw}:${port}`);
      assert.equal(conn['container.full_id'], pod.containerId);

      const out = await exec;
      assert.equal(out.stdout.trim(), String(sh['proc.vpid']), 'the shell’s own $$ is proc.vpid');
    });
  });

  it('refuses to start without privileges, saying why', () => {
    const res = spawnSync(DEFAULT_SENSOR_PATH, ['--events', 'openat'], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    assert.equal(res.status, 1);
    assert.match(
      res.stderr,
      /^vigil-sensor: not permitted to load BPF programs: run as root or with CAP_BPF and CAP_PERFMON/m,
    );
  });

  it('refuses an unknown event type and a bad option with usage errors', () => {
    const bad = spawnSync(DEFAULT_SENSOR_PATH, ['--events', 'openat,nosuch'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown event type "nosuch"/);
    const ring = spawnSync(DEFAULT_SENSOR_PATH, ['--events', 'openat', '--ring-bytes', '3000000'], {
      encoding: 'utf8',
    });
    assert.equal(ring.status, 2);
    assert.match(ring.stderr, /--ring-bytes must be a power of two/);
  });

  describe('the real sensor', () => {
    let work: string;
    before(() => {
      work = mkdtempSync(join(tmpdir(), 'vigil-ebpf-conf-'));
    });
    after(() => rmSync(work, { recursive: true, force: true }));
    describeSourceConformance('ebpf (the real sensor)', {
      create: () => new EbpfSource({ eventTypes: ['openat'] }),
      finite: false,
      async feed() {
        await run('/bin/sh', ['-c', `for i in 1 2 3 4 5 6 7 8 9 10; do : > ${work}/f$i; done`]);
      },
      // At least the shell's ten opens; the rest of the machine adds its own.
      expected: { events: 10, malformed: {}, exact: false },
    });
  });
});
