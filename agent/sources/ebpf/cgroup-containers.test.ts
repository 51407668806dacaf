import assert from 'node:assert/strict';
import { CgroupContainers, cgroupPathFor, parseCgroupHierarchy, type CgroupFs } from './cgroup-containers.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const POD = '/kubepods/besteffort/pod1f0c';

/** A cgroup file system of directories (path -> inode) and /proc/PID/cgroup texts. */
class FakeFs implements CgroupFs {
  readonly reads: string[] = [];
  readonly dirs = new Map<string, number>();
  readonly procs = new Map<string, string>();

  readText(path: string): string | undefined {
    this.reads.push(path);
    return this.procs.get(path);
  }
  inode(path: string): number | undefined {
    return this.dirs.get(path);
  }
  subdirectories(path: string): string[] {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    return [...this.dirs.keys()]
      .filter(
        (p) => p.startsWith(prefix) && p.length > prefix.length && !p.slice(prefix.length).includes('/'),
      )
      .map((p) => p.slice(prefix.length));
  }
}

function node(): { fs: FakeFs; clock: { now: number } } {
  const fs = new FakeFs();
  fs.dirs.set('/cg', 1);
  fs.dirs.set('/cg/kubepods', 2);
  fs.dirs.set('/cg/kubepods/besteffort', 3);
  fs.dirs.set(`/cg${POD}`, 4);
  fs.dirs.set(`/cg${POD}/${ID_A}`, 100);
  fs.dirs.set('/cg/system.slice', 5);
  return { fs, clock: { now: 1000 } };
}

describe('CgroupContainers', () => {
  it('finds a cgroup through the process that was in it, checks the inode, and caches', () => {
    const { fs, clock } = node();
    fs.procs.set('/proc/42/cgroup', `12:pids:${POD}/${ID_A}\n0::/\n`);
    const c = new CgroupContainers({ kind: 'pids', mount: '/cg' }, { fs, now: () => clock.now });
    assert.equal(c.containerOf(100, 42), ID_A);
    assert.equal(c.containerOf(100, 43), ID_A);
    assert.deepEqual(fs.reads, ['/proc/42/cgroup']);
    assert.equal(c.counters.walks, 0);
  });

  it('says host for a cgroup of no container', () => {
    const { fs, clock } = node();
    fs.procs.set('/proc/7/cgroup', '0::/system.slice\n');
    const c = new CgroupContainers({ kind: 'unified', mount: '/cg' }, { fs, now: () => clock.now });
    assert.equal(c.containerOf(5, 7), '');
  });

  it('walks the hierarchy when the process is gone, and learns every cgroup on the way', () => {
    const { fs, clock } = node();
    fs.dirs.set(`/cg${POD}/${ID_B}`, 101);
    const c = new CgroupContainers({ kind: 'pids', mount: '/cg' }, { fs, now: () => clock.now });
    assert.equal(c.containerOf(100, 42), ID_A);
    assert.equal(c.counters.walks, 1);
    // Learnt by the same walk: no further look.
    assert.equal(c.containerOf(101, 43), ID_B);
    assert.equal(c.counters.walks, 1);
  });

  it('does not trust a process that moved to another cgroup', () => {
    const { fs, clock } = node();
    fs.dirs.set(`/cg${POD}/${ID_B}`, 101);
    fs.procs.set('/proc/42/cgroup', `12:pids:${POD}/${ID_B}\n`);
    const c = new CgroupContainers({ kind: 'pids', mount: '/cg' }, { fs, now: () => clock.now });
    assert.equal(c.containerOf(100, 42), ID_A, 'found by the walk, not by the moved process');
  });

  it('walks at most once per interval, remembers what a walk did not find, and retries later', () => {
    const { fs, clock } = node();
    const c = new CgroupContainers(
      { kind: 'pids', mount: '/cg' },
      { fs, now: () => clock.now, rescanIntervalMs: 250, negativeTtlMs: 1000, procReadsPerId: 2 },
    );
    assert.equal(c.containerOf(999, 1), undefined);
    assert.equal(c.counters.walks, 1);
    // Within the negative period: nothing is read at all.
    const reads = fs.reads.length;
    assert.equal(c.containerOf(999, 2), undefined);
    assert.equal(fs.reads.length, reads);
    // A new cgroup appears, and after the period it is found.
    fs.dirs.set(`/cg${POD}/${ID_B}`, 999);
    clock.now += 1000;
    assert.equal(c.containerOf(999, 3), ID_B);
    assert.equal(c.counters.walks, 2);
  });

  it('spaces walks by twenty times what the last one took', () => {
    const { fs, clock } = node();
    // Each directory looked at costs a millisecond: a walk of this hierarchy takes 6 ms.
    const inode = fs.inode.bind(fs);
    fs.inode = (path) => {
      clock.now += 1;
      return inode(path);
    };
    const c = new CgroupContainers(
      { kind: 'pids', mount: '/cg' },
      { fs, now: () => clock.now, negativeTtlMs: 0 },
    );
    c.containerOf(999, 1);
    assert.equal(c.counters.walks, 1);
    clock.now += 60;
    c.containerOf(998, 2);
    assert.equal(c.counters.walks, 1, 'not within 120 ms of a 6 ms walk');
    clock.now += 61;
    c.containerOf(998, 3);
    assert.equal(c.counters.walks, 2);
  });

  it('limits /proc reads per unknown id while walks are not allowed', () => {
    const { fs, clock } = node();
    const c = new CgroupContainers(
      { kind: 'pids', mount: '/cg' },
      { fs, now: () => clock.now, rescanIntervalMs: 250, procReadsPerId: 2 },
    );
    c.containerOf(100, 1); // walks, finds 100
    for (let pid = 10; pid < 20; pid++) c.containerOf(555, pid);
    assert.equal(fs.reads.filter((r) => r !== '/proc/1/cgroup').length, 2);
  });

  it('knows nothing when there is no cgroup file system', () => {
    const c = new CgroupContainers({ kind: 'none', mount: '' }, { fs: new FakeFs() });
    assert.equal(c.containerOf(1, 1), undefined);
  });
});

describe('cgroupPathFor and parseCgroupHierarchy', () => {
  const text = `12:pids:/a\n4:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d:with:colons\n`;
  it('picks the line of the hierarchy', () => {
    assert.equal(cgroupPathFor(text, 'pids'), '/a');
    assert.equal(cgroupPathFor(text, 'cpuacct'), '/b');
    assert.equal(cgroupPathFor(text, 'unified'), '/d:with:colons');
    assert.equal(cgroupPathFor(text, 'memory'), undefined);
  });
  it('reads the sensor header’s label', () => {
    assert.deepEqual(parseCgroupHierarchy('pids:/sys/fs/cgroup/pids'), {
      kind: 'pids',
      mount: '/sys/fs/cgroup/pids',
    });
    assert.deepEqual(parseCgroupHierarchy('none:'), { kind: 'none', mount: '' });
  });
});
