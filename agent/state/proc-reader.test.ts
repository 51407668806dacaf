import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcReader, parseProcCmdline, parseProcStat, parseProcStatus } from './proc-reader.js';

const CONTAINER = '3b8e1a6f0c2d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab';

/** `/proc/PID/stat` with the given name, ppid, tty and start time (in ticks). */
function statLine(pid: number, name: string, ppid: number, tty: number, startTicks: number): string {
  // Fields 3..22 of proc(5); the ones not under test are plausible filler.
  const after = ['S', ppid, pid, pid, tty, -1, 4194560, 100, 0, 0, 0, 5, 3, 0, 0, 20, 0, 1, 0, startTicks];
  return `${pid} (${name}) ${after.join(' ')} 123456 789 18446744073709551615\n`;
}

describe('proc-reader', () => {
  describe('parsers', () => {
    it('reads a stat line whose name holds spaces and parentheses', () => {
      assert.deepEqual(parseProcStat(statLine(42, 'tmux: server) (x', 7, 34816, 123456)), {
        name: 'tmux: server) (x',
        ppid: 7,
        tty: 34816,
        startTicks: 123456,
      });
      assert.equal(parseProcStat('garbage'), undefined);
      assert.equal(parseProcStat('42 (short) S 1'), undefined);
    });

    it('takes the effective uid and the innermost pid from status', () => {
      const status =
        'Name:\tnginx\nTgid:\t900\nPid:\t900\nPPid:\t880\nUid:\t1000\t101\t101\t101\nGid:\t0\t0\t0\t0\nNSpid:\t900\t1\n';
      assert.deepEqual(parseProcStatus(status), { uid: 101, vpid: 1 });
      assert.deepEqual(parseProcStatus('Name:\tx\n'), { uid: undefined, vpid: undefined });
    });

    it('splits a command line into argv[0] and the rest', () => {
      assert.deepEqual(parseProcCmdline('/usr/sbin/nginx\0-g\0daemon off;\0'), {
        exe: '/usr/sbin/nginx',
        args: '-g daemon off;',
      });
      assert.deepEqual(parseProcCmdline(''), { exe: '', args: '' });
    });
  });

  describe('on a procfs tree', () => {
    let root: string;

    before(() => {
      root = mkdtempSync(join(tmpdir(), 'vigil-proc-'));
      writeFileSync(join(root, 'stat'), 'cpu  1 2 3 4\nbtime 1700000000\nprocesses 10\n');
      const full = join(root, '900');
      mkdirSync(full);
      writeFileSync(join(full, 'stat'), statLine(900, 'nginx', 880, 0, 250));
      writeFileSync(join(full, 'status'), 'Name:\tnginx\nUid:\t0\t101\t101\t101\nNSpid:\t900\t1\n');
      writeFileSync(join(full, 'cmdline'), 'nginx: worker process\0');
      writeFileSync(join(full, 'loginuid'), '4294967295');
      writeFileSync(
        join(full, 'cgroup'),
        `0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-${CONTAINER}.scope\n`,
      );
      symlinkSync('/usr/sbin/nginx (deleted)', join(full, 'exe'));
      symlinkSync('/var/www', join(full, 'cwd'));
      // A process whose other files cannot be read (another user's, when not root).
      const sparse = join(root, '77');
      mkdirSync(sparse);
      writeFileSync(join(sparse, 'stat'), statLine(77, 'kworker/0:1', 2, 0, 3));
    });

    after(() => rmSync(root, { recursive: true, force: true }));

    it('reads everything the table keeps', () => {
      const reader = createProcReader({ root });
      assert.deepEqual(reader.read(900), {
        pid: 900,
        ppid: 880,
        name: 'nginx',
        exe: 'nginx: worker process',
        args: '',
        exepath: '/usr/sbin/nginx',
        cwd: '/var/www',
        uid: 101,
        loginuid: -1,
        tty: 0,
        // btime plus 250 ticks of 10 ms.
        startTime: 1_700_000_002_500_000_000,
        containerId: CONTAINER,
        vpid: 1,
      });
      assert.equal(reader.containerId(900), CONTAINER);
    });

    it('leaves unreadable fields undefined, and answers undefined for a missing process', () => {
      const reader = createProcReader({ root });
      const kworker = reader.read(77);
      assert.equal(kworker?.name, 'kworker/0:1');
      assert.equal(kworker?.ppid, 2);
      assert.equal(kworker?.exe, '');
      assert.equal(kworker?.exepath, undefined);
      assert.equal(kworker?.uid, undefined);
      assert.equal(kworker?.containerId, undefined);
      assert.equal(reader.read(12345), undefined);
      assert.equal(reader.read(-1), undefined);
      assert.equal(reader.containerId(12345), undefined);
    });
  });

  it('reads this very process from the real /proc', () => {
    const me = createProcReader().read(process.pid);
    assert.ok(me !== undefined);
    assert.equal(me.ppid, process.ppid);
    assert.equal(me.cwd, process.cwd());
    assert.equal(me.exepath, process.execPath);
    assert.equal(me.uid, process.geteuid?.());
    assert.ok(me.args.includes('mocha'), `args: ${me.args}`);
    assert.ok(
      me.startTime !== undefined &&
        me.startTime <= Date.now() * 1e6 &&
        me.startTime > Date.now() * 1e6 - 3600e9,
    );
  });
});
