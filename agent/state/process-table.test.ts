import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Event } from '../../core/event.js';
import { requireShared } from '../../test/support/shared.js';
import { sysdigExport, sysdigUnavailable } from '../../test/support/sysdig.js';
import type { ProcReader, ProcSnapshot } from './proc-reader.js';
import { MAX_ANCESTRY_DEPTH, ProcessTable, type ProcessInfo } from './process-table.js';

function ev(fields: Record<string, unknown>): Event {
  return { fields };
}

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function known(table: ProcessTable, pid: number): ProcessInfo {
  const proc = table.get(pid);
  assert.ok(proc !== undefined, `pid ${pid} should be known`);
  return proc;
}

/** A process's generic event, as sysdig's JSON shows it. */
function activity(pid: number, ppid: number, name: string, extra: Record<string, unknown> = {}): Event {
  return ev({
    'evt.type': 'read',
    'evt.dir': '<',
    'proc.pid': pid,
    'thread.tid': pid,
    'proc.ppid': ppid,
    'proc.name': name,
    ...extra,
  });
}

function procexit(pid: number, tid = pid): Event {
  return ev({ 'evt.type': 'procexit', 'evt.dir': '>', 'proc.pid': pid, 'thread.tid': tid });
}

/** A fake /proc: snapshots by pid, counting reads. */
class FakeProc implements ProcReader {
  readonly reads: number[] = [];
  containerReads = 0;
  constructor(private readonly procs: Map<number, ProcSnapshot>) {}
  read(pid: number): ProcSnapshot | undefined {
    this.reads.push(pid);
    return this.procs.get(pid);
  }
  containerId(pid: number): string | undefined {
    this.containerReads++;
    return this.procs.get(pid)?.containerId;
  }
}

function snapshot(pid: number, ppid: number, name: string, extra: Partial<ProcSnapshot> = {}): ProcSnapshot {
  return {
    pid,
    ppid,
    name,
    exe: name,
    args: '',
    exepath: `/usr/bin/${name}`,
    cwd: '/',
    uid: 0,
    loginuid: -1,
    tty: 0,
    startTime: undefined,
    containerId: 'host',
    vpid: pid,
    ...extra,
  };
}

describe('ProcessTable', () => {
  describe('clone, execve and procexit', () => {
    it('learns a child from both sides of clone, then its new program from execve', () => {
      const table = new ProcessTable();
      table.observe(
        activity(100, 1, 'bash', {
          'proc.cmdline': 'bash -i',
          'proc.exe': 'bash',
          'proc.cwd': '/root',
          'user.uid': 0,
          'user.name': 'root',
        }),
      );
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'proc.ppid': 1,
          'proc.name': 'bash',
          'evt.res': 'SUCCESS',
          'evt.rawtime': 5_000_000_000,
          'evt.args':
            'res=200(bash) exe=bash args=-i. tid=100(bash) pid=100(bash) ptid=1(systemd) flags=25165824(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID) uid=0 gid=0 vtid=100(bash) vpid=100(bash) ',
        }),
      );
      // The parent's side alone already tells of the child, a copy of its parent.
      let child = known(table, 200);
      assert.equal(child.ppid, 100);
      assert.equal(child.name, 'bash');
      assert.equal(child.cwd, '/root');
      assert.equal(child.startTime, 5_000_000_000);

      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 200,
          'thread.tid': 200,
          'proc.ppid': 100,
          'proc.name': 'bash',
          'evt.res': 'SUCCESS',
          'evt.args': 'res=0 exe=bash',
          'evt.rawtime': 5_000_000_100,
        }),
      );
      assert.equal(table.get(200), child, "the child's own event keeps the entry the parent's side made");

      table.observe(
        ev({
          'evt.type': 'execve',
          'evt.dir': '<',
          'proc.pid': 200,
          'thread.tid': 200,
          'proc.ppid': 100,
          'evt.res': 'SUCCESS',
          'proc.name': 'ls',
          'proc.exe': 'ls',
          'proc.exepath': '/usr/bin/ls',
          'proc.cmdline': 'ls -la /tmp',
        }),
      );
      child = known(table, 200);
      assert.equal(child.name, 'ls');
      assert.equal(child.exepath, '/usr/bin/ls');
      assert.equal(child.args, '-la /tmp');
      assert.equal(child.cmdline, 'ls -la /tmp');
      assert.equal(child.cwd, '/root', 'exec keeps the working directory');
      assert.equal(table.ancestor(child, 0), child);
      assert.equal(table.ancestor(child, 1)?.name, 'bash');
      assert.equal(table.parent(child)?.cmdline, 'bash -i');
    });

    it("creates a child from its own clone event when the parent's was not seen", () => {
      const table = new ProcessTable();
      table.observe(activity(100, 1, 'sshd'));
      table.observe(
        ev({
          'evt.type': 'clone3',
          'evt.dir': '<',
          'proc.pid': 300,
          'thread.tid': 300,
          'proc.ppid': 100,
          'proc.name': 'sshd',
          'evt.rawres': 0,
        }),
      );
      assert.equal(table.ancestor(known(table, 300), 1)?.pid, 100);
    });

    it('does not take a new thread for a new process', () => {
      const table = new ProcessTable();
      table.observe(activity(100, 1, 'curl'));
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'proc.ppid': 1,
          'evt.rawres': 101,
          'evt.arg.flags':
            '47619(CLONE_FILES|CLONE_FS|CLONE_PARENT_SETTID|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD|CLONE_VM)',
        }),
      );
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 102,
          'proc.ppid': 1,
          'evt.rawres': 0,
        }),
      );
      // The same as a PPM_CL_* number: CLONE_THREAD is bit 13.
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'proc.ppid': 1,
          'evt.rawres': 103,
          'evt.rawarg.flags': 47619,
        }),
      );
      assert.equal(table.get(101), undefined);
      assert.equal(table.get(102), undefined);
      assert.equal(table.get(103), undefined);
      assert.equal(table.size, 1, 'only curl');
    });

    it('does not trust the result of a clone called inside a pid namespace', () => {
      const table = new ProcessTable();
      table.observe(activity(25754, 25722, 'bash'));
      // bash is pid 1 in its container: the result 6 is the child's pid there, not on the host.
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 25754,
          'thread.tid': 25754,
          'proc.ppid': 25722,
          'proc.name': 'bash',
          'evt.res': 'SUCCESS',
          'evt.args':
            'res=6 exe=/bin/bash flags=25165824(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID) uid=0 gid=0 vtid=1(systemd) vpid=1(systemd) ',
        }),
      );
      assert.equal(table.get(6), undefined);
      // Without vpid, a caller in a container is assumed to be in its own namespace too.
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 25754,
          'thread.tid': 25754,
          'container.id': '697956520d89',
          'evt.rawres': 7,
          'evt.rawarg.flags': 0,
        }),
      );
      assert.equal(table.get(7), undefined);
      // The child's own event gives its host pid.
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 32052,
          'thread.tid': 32052,
          'proc.ppid': 25754,
          'proc.name': 'bash',
          'evt.args': 'res=0 exe=/bin/bash vtid=6 vpid=6 ',
        }),
      );
      assert.equal(table.ancestor(known(table, 32052), 1)?.pid, 25754);
    });

    it('ignores failed clones and execs', () => {
      const table = new ProcessTable();
      table.observe(activity(100, 1, 'bash', { 'proc.cmdline': 'bash' }));
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'evt.rawres': -11,
          'evt.rawarg.flags': 0,
        }),
      );
      table.observe(
        ev({
          'evt.type': 'execve',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'evt.res': 'ENOENT',
          'proc.name': 'bash',
          'proc.cmdline': 'bash',
        }),
      );
      assert.equal(table.size, 1);
      assert.equal(known(table, 100).cmdline, 'bash');
    });

    it("marks a process exited when its main thread exits, not another thread's", () => {
      const clock = manualClock();
      const table = new ProcessTable({ now: clock.now, exitGraceMs: 1000 });
      table.observe(activity(100, 1, 'curl'));
      table.observe(procexit(100, 101));
      assert.equal(known(table, 100).exited, false);
      table.observe(procexit(100));
      assert.equal(known(table, 100).exited, true);
    });

    it('keeps an exited process through its grace period, then lets it go', () => {
      const clock = manualClock();
      const table = new ProcessTable({ now: clock.now, exitGraceMs: 1000 });
      table.observe(activity(100, 1, 'sh'));
      table.observe(activity(200, 100, 'sleep'));
      table.observe(procexit(100));
      clock.advance(999);
      table.observe(activity(200, 100, 'sleep'));
      assert.equal(known(table, 100).exited, true, 'late events still find it');
      clock.advance(1);
      table.observe(activity(200, 100, 'sleep'));
      assert.equal(table.get(100), undefined);
      assert.equal(table.stats().expired, 1);
      // Its orphan still knows it.
      assert.equal(table.ancestor(known(table, 200), 1)?.name, 'sh');
    });

    it('treats events under an exited pid with another program as a new process', () => {
      const table = new ProcessTable();
      table.observe(activity(100, 1, 'sh'));
      table.observe(procexit(100));
      table.observe(activity(100, 50, 'nginx'));
      const proc = known(table, 100);
      assert.equal(proc.exited, false);
      assert.equal(proc.name, 'nginx');
      assert.equal(proc.ppid, 50);
    });
  });

  describe('ancestry', () => {
    it('fills a parent from the child event (proc.pname, proc.pcmdline) until it shows itself', () => {
      const table = new ProcessTable();
      table.observe(activity(200, 100, 'ls', { 'proc.pname': 'bash', 'proc.pcmdline': 'bash -i' }));
      const parent = table.ancestor(known(table, 200), 1);
      assert.equal(parent?.name, 'bash');
      assert.equal(parent?.cmdline, 'bash -i');
      assert.equal(table.ancestor(known(table, 200), 2), undefined);
      table.observe(activity(100, 10, 'bash', { 'proc.pname': 'sshd' }));
      assert.deepEqual(
        table.ancestors(known(table, 200)).map((p) => p.name),
        ['bash', 'sshd'],
      );
    });

    it('follows a reparented process to its new parent', () => {
      const table = new ProcessTable();
      table.observe(activity(100, 1, 'sh'));
      table.observe(activity(200, 100, 'daemon'));
      table.observe(activity(50, 1, 'subreaper'));
      table.observe(activity(200, 50, 'daemon'));
      assert.equal(table.ancestor(known(table, 200), 1)?.name, 'subreaper');
    });

    it('does not take a process that started after its child for its parent (pid reuse)', () => {
      const table = new ProcessTable();
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 200,
          'thread.tid': 200,
          'proc.ppid': 100,
          'proc.name': 'orphan',
          'evt.rawres': 0,
          'evt.rawtime': 1e18,
        }),
      );
      table.observe(
        ev({
          'evt.type': 'clone',
          'evt.dir': '<',
          'proc.pid': 100,
          'thread.tid': 100,
          'proc.ppid': 1,
          'proc.name': 'newcomer',
          'evt.rawres': 0,
          'evt.rawtime': 2e18,
        }),
      );
      assert.equal(table.ancestor(known(table, 200), 1), undefined);
    });

    it('stops at cycles in the parent links', () => {
      const table = new ProcessTable();
      table.observe(activity(10, 20, 'a'));
      table.observe(activity(20, 30, 'b'));
      table.observe(activity(30, 10, 'c'));
      const a = known(table, 10);
      assert.equal(table.ancestor(a, 2)?.name, 'c');
      assert.equal(table.ancestor(a, 3), undefined, 'a is its own great-grandparent: stop');
      assert.equal(table.ancestor(a, 60), undefined);
      assert.deepEqual(
        table.ancestors(a).map((p) => p.name),
        ['b', 'c'],
      );
      table.observe(activity(40, 40, 'self'));
      assert.equal(table.ancestor(known(table, 40), 1), undefined, 'its own parent is no parent');
    });

    it(`walks at most ${MAX_ANCESTRY_DEPTH} steps`, () => {
      const table = new ProcessTable();
      for (let pid = 1; pid <= 200; pid++) table.observe(activity(pid, pid - 1, `p${pid}`));
      const leaf = known(table, 200);
      assert.equal(table.ancestor(leaf, MAX_ANCESTRY_DEPTH)?.pid, 200 - MAX_ANCESTRY_DEPTH);
      assert.equal(table.ancestor(leaf, MAX_ANCESTRY_DEPTH + 1), undefined);
      assert.equal(table.ancestors(leaf).length, MAX_ANCESTRY_DEPTH);
    });
  });

  describe('bounds', () => {
    it('stays under its cap when fed 1,000,000 distinct pids', () => {
      const cap = 10_000;
      const clock = manualClock();
      const table = new ProcessTable({ maxEntries: cap, now: clock.now });
      let peak = 0;
      for (let pid = 1; pid <= 1_000_000; pid++) {
        const e = activity(pid, pid % 7 === 0 ? pid - 1 : 1, 'worker', { 'proc.pname': 'parent' });
        table.observe(e);
        if (pid % 3 === 0) table.observe(procexit(pid));
        if (table.size > peak) peak = table.size;
        if (pid % 1000 === 0) clock.advance(1);
      }
      assert.ok(peak <= cap, `peak ${peak} above the cap ${cap}`);
      assert.ok(table.stats().evicted > 900_000);
      // The newest processes are the ones kept.
      assert.equal(known(table, 1_000_000).name, 'worker');
    });

    it('evicts exited processes first, then the least recently seen', () => {
      const table = new ProcessTable({ maxEntries: 3 });
      table.observe(activity(1, 0, 'a'));
      table.observe(activity(2, 0, 'b'));
      table.observe(activity(3, 0, 'c'));
      table.observe(procexit(3));
      table.observe(activity(4, 0, 'd'));
      assert.deepEqual(
        [1, 2, 3, 4].map((pid) => table.get(pid) !== undefined),
        [true, true, false, true],
      );
      table.observe(activity(1, 0, 'a'));
      table.observe(activity(5, 0, 'e'));
      assert.deepEqual(
        [1, 2, 4, 5].map((pid) => table.get(pid) !== undefined),
        [true, false, true, true],
      );
    });
  });

  describe('live (reading /proc)', () => {
    it('fills a missing parent and its ancestors from /proc, once', () => {
      const proc = new FakeProc(
        new Map([
          [100, snapshot(100, 10, 'bash')],
          [10, snapshot(10, 1, 'sshd')],
          [1, snapshot(1, 0, 'systemd')],
        ]),
      );
      const table = new ProcessTable({ procReader: proc });
      table.observe(activity(200, 100, 'ls'));
      assert.deepEqual(proc.reads, [100], 'the parent is read when the child appears');
      assert.deepEqual(
        table.ancestors(known(table, 200)).map((p) => `${p.pid}:${p.name}`),
        ['100:bash', '10:sshd', '1:systemd'],
      );
      table.ancestors(known(table, 200));
      table.observe(activity(201, 100, 'cat'));
      assert.deepEqual(proc.reads, [100, 10, 1], 'each read once');
      assert.equal(table.lookup(10)?.name, 'sshd');
      assert.equal(table.lookup(77), undefined);
      assert.equal(table.get(77), undefined);
      assert.deepEqual(proc.reads, [100, 10, 1, 77], 'lookup reads only what the table lacks');
    });

    it('reads a process the event does not describe', () => {
      const proc = new FakeProc(
        new Map([[300, snapshot(300, 1, 'nginx', { args: '-g daemon off;', containerId: 'a'.repeat(64) })]]),
      );
      const table = new ProcessTable({ procReader: proc });
      table.observe(ev({ 'evt.type': 'openat', 'proc.pid': 300 }));
      const nginx = known(table, 300);
      assert.equal(nginx.cmdline, 'nginx -g daemon off;');
      assert.equal(table.containerId(nginx), 'a'.repeat(64));
    });

    it('does not ask /proc again about a pid it did not have, within the negative TTL', () => {
      const clock = manualClock();
      const proc = new FakeProc(new Map());
      const table = new ProcessTable({ procReader: proc, now: clock.now, negativeTtlMs: 10_000 });
      for (let i = 0; i < 1000; i++) table.observe(activity(500 + (i % 2), 400, 'x'));
      assert.deepEqual(proc.reads, [400]);
      clock.advance(10_000);
      table.observe(activity(502, 400, 'x'));
      assert.deepEqual(proc.reads, [400, 400]);
    });

    it('reads at most its budget per second, however many unknown parents arrive', () => {
      const clock = manualClock();
      const proc = new FakeProc(new Map());
      const table = new ProcessTable({ procReader: proc, now: clock.now, procReadsPerSecond: 50 });
      for (let pid = 10_000; pid < 20_000; pid++) table.observe(activity(pid, pid + 100_000, 'flood'));
      assert.equal(proc.reads.length, 50);
      clock.advance(100);
      for (let pid = 20_000; pid < 30_000; pid++) table.observe(activity(pid, pid + 100_000, 'flood'));
      assert.equal(proc.reads.length, 55);
      assert.ok(table.stats().procSkipped >= 19_000);
    });

    it("reads a process's container from /proc only when asked, and once", () => {
      const proc = new FakeProc(new Map([[300, snapshot(300, 1, 'nginx', { containerId: 'b'.repeat(64) })]]));
      const table = new ProcessTable({ procReader: proc });
      table.observe(activity(300, 1, 'nginx'));
      table.observe(activity(1, 0, 'init'));
      assert.equal(proc.containerReads, 0);
      const nginx = known(table, 300);
      assert.equal(table.containerId(nginx), 'b'.repeat(64));
      assert.equal(table.containerId(nginx), 'b'.repeat(64));
      assert.equal(proc.containerReads, 1);
    });
  });

  describe('on the real captures', function () {
    const levels = [1, 2, 3] as const;
    const refFields = levels.flatMap((n) => [`proc.aname[${n}]`, `proc.apid[${n}]`]);

    it('resolves proc.aname[N] and proc.apid[N] as sysdig does, wherever the stream told it', async function () {
      const dir = requireShared(this, 'captures/scap');
      const missingSysdig = sysdigUnavailable();
      if (missingSysdig !== undefined) {
        console.log(`      skipped: ${missingSysdig}`);
        this.skip();
      }
      this.timeout(120_000);
      let agreed = 0;
      let unknown = 0;
      for (const file of readdirSync(dir)
        .filter((n) => n.endsWith('.falco.jsonl'))
        .sort()) {
        const reference = new Map<number, Record<string, unknown>>();
        for (const row of await sysdigExport(join(dir, file.replace('.falco.jsonl', '.scap')), refFields)) {
          reference.set(row['evt.num'] as number, row);
        }
        const table = new ProcessTable({ now: () => 0 });
        // Pids some event has named together with their parent: the table can know their parent.
        const parentTold = new Set<number>();
        for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
          if (line === '') continue;
          const fields = JSON.parse(line) as Record<string, unknown>;
          table.observe({ fields });
          const pid = fields['proc.pid'];
          // sysdig writes -1 where it could not tell the thread's process.
          if (typeof pid !== 'number' || pid < 0) continue;
          if (typeof fields['proc.ppid'] === 'number' && fields['proc.ppid'] > 0) parentTold.add(pid);
          const ref = reference.get(fields['evt.num'] as number);
          assert.ok(ref !== undefined, `${file}: sysdig has no event ${String(fields['evt.num'])}`);
          const proc = known(table, pid);
          for (const n of levels) {
            // Below an unknown ancestor everything is unknown: counted once, at the first.
            if (table.ancestor(proc, n - 1) === undefined) break;
            const ours = table.ancestor(proc, n);
            const theirName: unknown = ref[`proc.aname[${n}]`] ?? undefined;
            const theirPid: unknown = ref[`proc.apid[${n}]`] ?? undefined;
            const where: string = `${file} event ${String(fields['evt.num'])} (${String(fields['proc.name'])} ${pid}) level ${n}`;
            if (ours !== undefined) {
              assert.equal(ours.name, theirName, `${where}: name`);
              assert.equal(ours.pid, theirPid, `${where}: pid`);
              agreed++;
            } else if (theirPid !== undefined) {
              // Unknown only where the stream never said who the last known ancestor's parent is.
              const last = table.ancestor(proc, n - 1);
              assert.ok(
                last !== undefined && !parentTold.has(last.pid),
                `${where}: ${String(theirName)} was knowable`,
              );
              unknown++;
            }
          }
        }
      }
      assert.ok(agreed > 6_000, `only ${agreed} ancestors resolved`);
      assert.ok(unknown < agreed, `${unknown} unknown against ${agreed} resolved`);
    });

    it('knows the whole ancestry of the command run in the nginx container', function () {
      const dir = requireShared(this, 'captures/scap');
      const table = new ProcessTable({ now: () => 0 });
      let checked = false;
      for (const line of readFileSync(
        join(dir, 'falco_psp_run_as_user_0_container.falco.jsonl'),
        'utf8',
      ).split('\n')) {
        if (line === '') continue;
        const fields = JSON.parse(line) as Record<string, unknown>;
        table.observe({ fields });
        if (fields['evt.type'] === 'execve' && fields['evt.dir'] === '<' && fields['proc.name'] === 'ls') {
          const ls = known(table, fields['proc.pid'] as number);
          // As `sysdig -p '%proc.aname[1] ... %proc.apid[4]' proc.name=ls` prints them.
          assert.deepEqual(
            [1, 2, 3, 4].map((n) => table.ancestor(ls, n)?.name),
            ['bash', 'containerd-shim', 'containerd', 'systemd'],
          );
          assert.deepEqual(
            [1, 2, 3, 4].map((n) => table.ancestor(ls, n)?.pid),
            [25754, 25722, 1787, 1],
          );
          assert.equal(ls.containerId, '697956520d89');
          checked = true;
        }
      }
      assert.ok(checked, 'the capture has the exec of ls');
    });
  });
});
