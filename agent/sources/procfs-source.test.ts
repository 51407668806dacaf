import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import type { Event } from '../../core/event.js';
import { containerIdFromCgroup } from '../state/cgroup-container-id.js';
import {
  ProcfsSource,
  createProcfsSource,
  parseProcStat,
  type ProcfsSourceOptions,
} from './procfs-source.js';
import { procfsSourceFactory } from './procfs-source.js';
import { RecordingSink, describeSourceConformance } from './source-conformance.js';

/** Real processes started by these tests, killed (by pid) when each test ends. */
const children: ChildProcess[] = [];

function startSleeper(args: string[] = ['60']): ChildProcess {
  const child = spawn('sleep', args, { cwd: tmpdir(), stdio: 'ignore' });
  children.push(child);
  return child;
}

async function killChildren(): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

/** A source that only looks when told to (pollNow): no timer runs during a test. */
function quiet(options: ProcfsSourceOptions = {}): ProcfsSource {
  return new ProcfsSource({ intervalMs: 3_600_000, connections: false, ...options });
}

const forPid = (sink: RecordingSink, pid: number | undefined, type: string): Event[] =>
  sink.events.filter((e) => e.fields['proc.pid'] === pid && e.fields['evt.type'] === type);

describeSourceConformance('procfs', {
  create: () => quiet(),
  finite: false,
  async feed(source) {
    startSleeper();
    await (source as ProcfsSource).pollNow();
  },
  // The machine adds its own processes: at least the one started here is reported.
  expected: { events: 1, malformed: {}, exact: false },
  cleanup: killChildren,
});

describe('procfs source', function () {
  this.timeout(30_000);
  let source: ProcfsSource | undefined;
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await killChildren();
  });

  it('reports a new process as a sampled execve with what /proc says about it', async () => {
    source = quiet();
    const sink = new RecordingSink();
    await source.start(sink);
    const child = startSleeper(['61']);
    await source.pollNow();
    const [evt] = forPid(sink, child.pid, 'execve');
    assert.ok(evt !== undefined, 'the new process was reported');
    const f = evt.fields;
    assert.equal(f['evt.sampled'], true);
    assert.equal(f['evt.dir'], '<');
    assert.equal(f['evt.rawres'], 0);
    assert.equal(f['proc.name'], 'sleep');
    assert.equal(f['proc.exe'], 'sleep');
    assert.equal(f['proc.args'], '61');
    assert.equal(f['proc.cmdline'], 'sleep 61');
    assert.equal(f['proc.exepath'], readlinkSync(`/proc/${child.pid}/exe`));
    assert.equal(f['proc.cwd'], readlinkSync(`/proc/${child.pid}/cwd`));
    assert.equal(f['thread.tid'], child.pid);
    assert.equal(f['proc.ppid'], process.pid);
    assert.equal(f['proc.pname'], readFileSync('/proc/self/comm', 'utf8').trim());
    assert.equal(f['proc.pexepath'], readlinkSync('/proc/self/exe'));
    assert.equal(f['user.uid'], process.getuid?.());
    assert.equal(f['group.gid'], process.getgid?.());
    const loginuid = Number(readFileSync('/proc/self/loginuid', 'utf8'));
    assert.equal(f['user.loginuid'], loginuid === 4294967295 ? -1 : loginuid);
    const container = containerIdFromCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
    assert.equal(f['container.id'], container === undefined ? 'host' : container.slice(0, 12));
    const rawtime = f['evt.rawtime'];
    assert.equal(typeof rawtime, 'bigint', 'nanoseconds, exact');
    assert.ok(Math.abs(Number(rawtime) / 1e6 - Date.now()) < 60_000, 'stamped when seen');
  });

  it('reports an exit once, and forgets the process', async () => {
    source = quiet();
    const sink = new RecordingSink();
    const child = startSleeper();
    await source.start(sink);
    assert.deepEqual(forPid(sink, child.pid, 'execve'), [], 'what ran before start is only learnt');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await source.pollNow();
    await source.pollNow();
    const exits = forPid(sink, child.pid, 'procexit');
    assert.equal(exits.length, 1);
    assert.equal(exits[0]?.fields['proc.name'], 'sleep');
    assert.equal(exits[0]?.fields['evt.sampled'], true);
  });

  it('reports an exec in place (same pid, new program) as an execve without an exit', async () => {
    source = quiet();
    const sink = new RecordingSink();
    const shell = spawn('sh', ['-c', 'read line; exec sleep 62'], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(shell);
    // Wait for the shell to be the shell (it starts as a copy of this process).
    await waitUntil(() => readFileSync(`/proc/${shell.pid}/comm`, 'utf8').trim() === 'sh');
    await source.start(sink);
    shell.stdin.end('go\n');
    await waitUntil(() => readFileSync(`/proc/${shell.pid}/comm`, 'utf8').trim() === 'sleep');
    await source.pollNow();
    const execs = forPid(sink, shell.pid, 'execve');
    assert.equal(execs.length, 1);
    assert.equal(execs[0]?.fields['proc.cmdline'], 'sleep 62');
    assert.deepEqual(forPid(sink, shell.pid, 'procexit'), []);
  });

  it('with existing: emit, reports what already runs, but never kernel threads', async () => {
    const child = startSleeper();
    source = quiet({ existing: 'emit' });
    const sink = new RecordingSink();
    await source.start(sink);
    assert.equal(forPid(sink, child.pid, 'execve').length, 1);
    assert.equal(forPid(sink, process.pid, 'execve').length, 1);
    if (
      existsSync('/proc/2/stat') &&
      parseProcStat(readFileSync('/proc/2/stat', 'utf8'))?.kernelThread === true
    ) {
      assert.deepEqual(forPid(sink, 2, 'execve'), []);
    }
    // Parents are reported before their children.
    const order = sink.events.map((e) => e.fields['proc.pid']);
    assert.ok(order.indexOf(process.pid) < order.indexOf(child.pid));
  });

  it('keeps its process table within maxProcesses, and says so once', async () => {
    source = quiet({ maxProcesses: 3 });
    const sink = new RecordingSink();
    await source.start(sink);
    startSleeper();
    startSleeper();
    await source.pollNow();
    await source.pollNow();
    assert.ok(source.trackedProcesses <= 3);
    assert.equal(
      sink.notices.filter((n) => n === 'process table full; new processes not reported').length,
      1,
    );
  });

  it('reports a new TCP connection as connect from the client and accept at the server', async () => {
    source = new ProcfsSource({ intervalMs: 3_600_000 });
    const sink = new RecordingSink();
    const server = createServer();
    const accepted: Socket[] = [];
    server.on('connection', (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      await source.start(sink);
      const client = connect(port, '127.0.0.1');
      await new Promise((r) => client.once('connect', r));
      const clientPort = client.localPort;
      await source.pollNow();
      const mine = sink.events.filter((e) => e.fields['proc.pid'] === process.pid);
      const out = mine.find((e) => e.fields['evt.type'] === 'connect' && e.fields['fd.sport'] === port);
      const inn = mine.find((e) => e.fields['evt.type'] === 'accept' && e.fields['fd.cport'] === clientPort);
      assert.ok(out !== undefined, 'the client side is a connect');
      assert.ok(inn !== undefined, 'the server side is an accept');
      assert.equal(out.fields['fd.sip'], '127.0.0.1');
      assert.equal(out.fields['fd.cport'], clientPort);
      assert.equal(out.fields['fd.l4proto'], 'tcp');
      assert.equal(out.fields['fd.typechar'], '4');
      assert.equal(out.fields['fd.name'], `127.0.0.1:${clientPort}->127.0.0.1:${port}`);
      assert.equal(out.fields['fd.rport'], port);
      assert.equal(out.fields['evt.rawres'], 0);
      assert.equal(out.fields['evt.sampled'], true);
      assert.equal(out.fields['proc.exepath'], readlinkSync('/proc/self/exe'));
      assert.equal(inn.fields['fd.sport'], port);
      // Seen once: the next look reports nothing new for it.
      const before = sink.eventCount;
      await source.pollNow();
      const again = sink.events
        .slice(before)
        .filter((e) => e.fields['fd.sport'] === port || e.fields['fd.cport'] === clientPort);
      assert.deepEqual(again, []);
      client.destroy();
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps polling when listing connections fails, and says so once', async () => {
    let calls = 0;
    source = new ProcfsSource({
      intervalMs: 3_600_000,
      listConnections: () => {
        calls++;
        return Promise.reject(new Error('netstat: not found'));
      },
    });
    const sink = new RecordingSink();
    await source.start(sink);
    const child = startSleeper();
    await source.pollNow();
    await source.pollNow();
    assert.equal(calls, 3);
    assert.equal(forPid(sink, child.pid, 'execve').length, 1);
    assert.equal(sink.notices.filter((n) => n === 'cannot list network connections').length, 1);
  });

  it('polls by itself on its interval', async () => {
    source = new ProcfsSource({ intervalMs: 50, connections: false });
    const sink = new RecordingSink();
    await source.start(sink);
    const child = startSleeper();
    await sink.waitFor(() => forPid(sink, child.pid, 'execve').length === 1, 'the timer to find the process');
  });

  it('refuses a proc root that is not one, and bad options', async () => {
    await assert.rejects(
      quiet({ procRoot: tmpdir() }).start(new RecordingSink()),
      /does not look like a proc/,
    );
    await assert.rejects(
      quiet({ procRoot: '/nonexistent' }).start(new RecordingSink()),
      /cannot read \/nonexistent/,
    );
    assert.throws(
      () => createProcfsSource({ target: '', options: { intervalMs: 5 } }),
      /intervalMs must be an integer from 50/,
    );
    assert.throws(
      () => createProcfsSource({ target: '', options: { existing: 'all' } }),
      /existing must be one of skip, emit/,
    );
    const s = procfsSourceFactory.create({ target: '/proc', options: { connections: false } });
    assert.equal(s.fidelity, 'sampled');
    await s.stop();
  });
});

describe('parseProcStat', () => {
  it('finds the fields after a name holding spaces and parentheses', () => {
    const line = '4242 (we (ird) name) S 1 4242 4242 34816 4242 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 0 0';
    const s = parseProcStat(line);
    assert.deepEqual(s, {
      comm: 'we (ird) name',
      ppid: 1,
      session: 4242,
      tty: 34816,
      kernelThread: false,
      startTime: '987654',
    });
    assert.equal(
      parseProcStat('2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 1 0 0 20 0 1 0 22 0')?.kernelThread,
      true,
    );
    assert.equal(parseProcStat('garbage'), undefined);
    assert.equal(parseProcStat('1 (x) S'), undefined);
  });
});

/** Waits for real kernel state that a child process changes on its own schedule. */
async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // The file may not be there yet.
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
