import assert from 'node:assert/strict';
import type { Event } from '../../../core/event.js';
import { frameRecord } from '../length-prefixed-decoder.js';
import { textToBytes } from './byte-text.js';
import {
  buildEventRecord,
  buildHeaderRecord,
  buildStatsRecord,
  type EventRecordSpec,
} from './record-builder.js';
import {
  CONTROL_RECORD,
  SensorRecordDecoder,
  absolutePath,
  createSensorDecoder,
  type SensorCounters,
  type SensorHeader,
} from './record-decoder.js';
import { EventFlag, ExecFlag, FdKind, RecordType } from './wire-format.js';

const BOOT_TO_EPOCH = 1_700_000_000_000_000_000n;
const CONTAINER = 'c'.repeat(12) + 'f'.repeat(52);

/** A decoder that has read a header; container lookups answer from `containers`. */
function decoder(
  containers: Map<number, string> = new Map(),
  lookups: [number, number][] = [],
): SensorRecordDecoder {
  const d = new SensorRecordDecoder({
    containers: () => ({
      containerOf: (id, pid) => {
        lookups.push([id, pid]);
        return containers.get(id);
      },
    }),
  });
  assert.equal(d.decode(buildHeaderRecord({ bootToEpochNs: BOOT_TO_EPOCH })), CONTROL_RECORD);
  return d;
}

function fields(d: SensorRecordDecoder, spec: EventRecordSpec): Readonly<Record<string, unknown>> {
  const out = d.decode(buildEventRecord(spec));
  if (typeof out === 'string') assert.fail(`not decoded: ${out}`);
  return out.fields;
}

const ip4 = (...b: number[]): Buffer => Buffer.from(b);
const ip6 = (text: string): Buffer => {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups: string[] = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
};

describe('SensorRecordDecoder', () => {
  it('fills the process fields every event carries', () => {
    const lookups: [number, number][] = [];
    const d = decoder(new Map([[77, CONTAINER]]), lookups);
    const f = fields(d, {
      type: RecordType.openat,
      ts: 123n,
      cgroup: 77n,
      res: 3,
      pid: 4242,
      tid: 4243,
      ppid: 1,
      uid: 1000,
      gid: 100,
      loginuid: 1000,
      vpid: 7,
      comm: 'cat',
      nums: [-100, 0, 0, 0],
      strs: ['/etc/passwd', ''],
    });
    assert.deepEqual(lookups, [[77, 4242]]);
    assert.equal(f['evt.type'], 'openat');
    assert.equal(f['evt.dir'], '<');
    assert.equal(f['evt.rawtime'], BOOT_TO_EPOCH + 123n);
    assert.equal(f['evt.res'], 'SUCCESS');
    assert.equal(f['evt.rawres'], 3);
    assert.equal(f['proc.pid'], 4242);
    assert.equal(f['thread.tid'], 4243);
    assert.equal(f['proc.ppid'], 1);
    assert.equal(f['proc.vpid'], 7);
    assert.equal(f['proc.name'], 'cat');
    assert.equal(f['user.uid'], 1000);
    assert.equal(f['group.gid'], 100);
    assert.equal(f['user.loginuid'], 1000);
    assert.equal(f['container.id'], CONTAINER.slice(0, 12));
    assert.equal(f['container.full_id'], CONTAINER);
    assert.equal(typeof f['evt.num'], 'number');
  });

  it('marks the host, an unset login uid and an unknown container', () => {
    const d = decoder(new Map([[1, '']]));
    const host = fields(d, { type: RecordType.socket, cgroup: 1n, pid: 5, comm: 'x', nums: [2, 1, 0] });
    assert.equal(host['container.id'], 'host');
    assert.equal(host['container.full_id'], undefined);
    assert.equal(host['user.loginuid'], -1);
    const unknown = fields(d, { type: RecordType.socket, cgroup: 2n, pid: 5, comm: 'x', nums: [2, 1, 0] });
    assert.equal(unknown['container.id'], undefined);
  });

  it('reports records before the header, unknown types and overruns as malformed', () => {
    const fresh = new SensorRecordDecoder();
    assert.equal(fresh.decode(buildEventRecord({ type: RecordType.socket, nums: [2, 1, 0] })), 'no-header');
    const d = decoder();
    assert.equal(d.decode(buildEventRecord({ type: 99 })), 'unknown-kind');
    const cut = buildEventRecord({ type: RecordType.openat, nums: [0, 0, 0, 0], strs: ['/etc/passwd', ''] });
    assert.equal(d.decode(cut.subarray(0, cut.length - 3)), 'bad-record');
    assert.equal(d.decode(Buffer.from([1])), 'bad-record');
    assert.equal(d.decode(buildHeaderRecord({ version: 99 })), 'bad-version');
  });

  it('describes a successful exec: program, arguments, directory, terminal, capabilities, environment', () => {
    const d = decoder();
    const f = fields(d, {
      type: RecordType.execve,
      pid: 10,
      ppid: 9,
      vpid: 10,
      comm: 'sh',
      nums: [
        34816,
        ExecFlag.upperLayer | ExecFlag.writable,
        1n << 21n,
        (1n << 21n) | 1n,
        0,
        40,
        20,
        555,
        3,
        10,
        10,
      ],
      strs: ['/bin/busybox', '/bin/sh', '/root', 'sh', '-c', 'echo a  b', 'HOME=/root', 'TERM=xterm'],
    });
    assert.equal(f['evt.type'], 'execve');
    assert.equal(f['proc.name'], 'sh');
    assert.equal(f['proc.exe'], 'sh');
    assert.equal(f['proc.exepath'], '/bin/busybox');
    assert.equal(f['proc.args'], '-c echo a  b');
    assert.equal(f['proc.cmdline'], 'sh -c echo a  b');
    assert.equal(f['proc.cwd'], '/root');
    assert.equal(f['proc.tty'], 34816);
    assert.equal(f['proc.is_exe_upper_layer'], true);
    assert.equal(f['proc.is_exe_writable'], true);
    assert.equal(f['proc.is_exe_from_memfd'], false);
    assert.equal(f['proc.is_sid_leader'], true);
    assert.equal(f['proc.is_vpgid_leader'], true);
    assert.equal(f['evt.arg.flags'], 'EXE_WRITABLE|EXE_UPPER_LAYER');
    assert.equal(f['thread.cap_permitted'], 'CAP_SYS_ADMIN');
    assert.equal(f['thread.cap_effective'], 'CAP_CHOWN CAP_SYS_ADMIN');
    assert.equal(f['proc.env'], 'HOME=/root TERM=xterm');
    assert.equal(f['evt.arg.args_truncated'], undefined);
  });

  it('marks an argument list the sensor cut', () => {
    const d = decoder();
    const f = fields(d, {
      type: RecordType.execve,
      flags: EventFlag.argvTruncated,
      comm: 'echo',
      nums: [0, 0, 0, 0, 0, 9000, 0, 0, 2, 0, 0],
      strs: ['/bin/echo', '/bin/echo', '/', 'echo', { bytes: 'aaaa', truncated: true }],
    });
    assert.equal(f['proc.args'], 'aaaa');
    assert.equal(f['evt.arg.args_truncated'], true);
  });

  it('leaves a failed exec to describe the caller, with what it tried in evt.arg.*', () => {
    const d = decoder();
    const f = fields(d, {
      type: RecordType.execveat,
      res: -2,
      comm: 'node',
      nums: [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0],
      strs: ['', '/nope', '/work', 'nope', '-x'],
    });
    assert.equal(f['evt.type'], 'execveat');
    assert.equal(f['evt.res'], 'ENOENT');
    assert.equal(f['evt.rawres'], -2);
    assert.equal(f['proc.name'], 'node');
    assert.equal(f['proc.cmdline'], undefined);
    assert.equal(f['proc.exepath'], undefined);
    assert.equal(f['evt.arg.filename'], '/nope');
    assert.equal(f['evt.arg.exe'], 'nope');
    assert.equal(f['evt.arg.args'], '-x');
  });

  it('names process creation by its syscall and exits by status', () => {
    const d = decoder();
    const names = [0, 1, 2, 3].map(
      (k) =>
        fields(d, { type: RecordType.clone, pid: 20, ppid: 10, comm: 'sh', nums: [k, 10, 0] })['evt.type'],
    );
    assert.deepEqual(names, ['clone', 'fork', 'vfork', 'clone3']);
    const exit = fields(d, { type: RecordType.procexit, pid: 20, comm: 'sh', nums: [(3 << 8) | 0x80 | 9] });
    assert.equal(exit['evt.type'], 'procexit');
    assert.equal(exit['evt.arg.ret'], 3);
    assert.equal(exit['evt.arg.sig'], 9);
    assert.equal(exit['evt.arg.core'], 1);
  });

  it('makes open paths absolute and renders open flags and modes as Falco does', () => {
    const d = decoder();
    const rel = fields(d, {
      type: RecordType.openat,
      res: 4,
      comm: 'vi',
      nums: [-100, 0o1 | 0o100 | 0o1000 | 0o2000000, 0o640, 0],
      strs: ['../etc/./shadow', '/home/user'],
    });
    assert.equal(rel['fd.name'], '/home/etc/shadow');
    assert.equal(rel['fd.nameraw'], '../etc/./shadow');
    assert.equal(rel['fd.num'], 4);
    assert.equal(rel['fd.typechar'], 'f');
    assert.equal(rel['fd.type'], 'file');
    assert.equal(rel['evt.arg.flags'], 'O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC');
    assert.equal(rel['evt.rawarg.flags'], 2 | (1 << 2) | (1 << 8) | (1 << 12));
    assert.equal(rel['evt.arg.mode'], '0640');
    const failed = fields(d, {
      type: RecordType.open,
      res: -13,
      comm: 'cat',
      nums: [-100, 0o200000, 0, 0],
      strs: ['/root', ''],
    });
    assert.equal(failed['evt.res'], 'EACCES');
    assert.equal(failed['fd.num'], -1);
    assert.equal(failed['fd.typechar'], 'd');
    assert.equal(failed['evt.arg.flags'], 'O_RDONLY|O_DIRECTORY');
    const creat = fields(d, {
      type: RecordType.creat,
      res: 3,
      comm: 'sh',
      nums: [-100, 0, 0o644, 0],
      strs: ['/tmp/x', ''],
    });
    assert.equal(creat['evt.arg.flags'], 'O_WRONLY|O_CREAT|O_TRUNC');
  });

  it('keeps every byte of a path: spaces, quotes, newlines and invalid UTF-8', () => {
    const d = decoder();
    const raw = Buffer.concat([Buffer.from('/tmp/a b"c\nd\''), Buffer.from([0xff, 0xfe, 0x80])]);
    const f = fields(d, {
      type: RecordType.openat,
      res: 3,
      comm: 'x',
      nums: [-100, 0, 0, 0],
      strs: [raw, ''],
    });
    assert.deepEqual(textToBytes(f['fd.name'] as string), raw);
  });

  it('describes a connect from the client side, an accept from the server side, and a listener', () => {
    const d = decoder();
    const connect = fields(d, {
      type: RecordType.connect,
      res: -115,
      comm: 'curl',
      nums: [5, 2, 6, 40000, 443, 1, 0],
      strs: [ip4(10, 0, 0, 5), ip4(93, 184, 216, 34)],
    });
    assert.equal(connect['evt.res'], 'EINPROGRESS');
    assert.equal(connect['fd.name'], '10.0.0.5:40000->93.184.216.34:443');
    assert.equal(connect['fd.cip'], '10.0.0.5');
    assert.equal(connect['fd.sip'], '93.184.216.34');
    assert.equal(connect['fd.lport'], 40000);
    assert.equal(connect['fd.rport'], 443);
    assert.equal(connect['fd.l4proto'], 'tcp');
    assert.equal(connect['fd.typechar'], '4');
    assert.equal(connect['fd.type'], 'ipv4');
    assert.equal(connect['fd.sockfamily'], 'ip');
    assert.equal(connect['fd.num'], 5);

    const accept = fields(d, {
      type: RecordType.accept4,
      res: 7,
      comm: 'nginx',
      nums: [3, 10, 6, 8080, 51000, 1, 0o4000],
      strs: [ip6('2001:db8::3'), ip6('2001:db8::4')],
    });
    assert.equal(accept['fd.name'], '2001:db8::4:51000->2001:db8::3:8080');
    assert.equal(accept['fd.cip'], '2001:db8::4');
    assert.equal(accept['fd.sport'], 8080);
    assert.equal(accept['fd.typechar'], '6');
    assert.equal(accept['fd.num'], 7);
    assert.equal(accept['evt.arg.flags'], 'SOCK_NONBLOCK');

    const mapped = fields(d, {
      type: RecordType.connect,
      comm: 'x',
      nums: [4, 10, 6, 1234, 80, 1, 0],
      strs: [ip6('::ffff:7f00:1'), ip6('::ffff:7f00:1')],
    });
    assert.equal(mapped['fd.name'], '127.0.0.1:1234->127.0.0.1:80');
    assert.equal(mapped['fd.typechar'], '4');

    const listen = fields(d, {
      type: RecordType.listen,
      comm: 'nc',
      nums: [3, 2, 6, 8080, 0, 1, 128],
      strs: [ip4(0, 0, 0, 0), ip4(0, 0, 0, 0)],
    });
    assert.equal(listen['fd.name'], '0.0.0.0:8080');
    assert.equal(listen['fd.sip'], '0.0.0.0');
    assert.equal(listen['fd.sport'], 8080);
    assert.equal(listen['evt.arg.backlog'], 128);
  });

  it('names Unix sockets by path (abstract ones with @)', () => {
    const d = decoder();
    const path = fields(d, {
      type: RecordType.connect,
      comm: 'x',
      nums: [3, 1, 0, 0, 0, 1, 0],
      strs: ['', Buffer.from('/run/containerd/containerd.sock\0')],
    });
    assert.equal(path['fd.name'], '/run/containerd/containerd.sock');
    assert.equal(path['fd.typechar'], 'u');
    assert.equal(path['fd.sockfamily'], 'unix');
    const abstract = fields(d, {
      type: RecordType.accept,
      res: 4,
      comm: 'x',
      nums: [3, 1, 0, 0, 0, 1, 0],
      strs: [Buffer.from('\0hidden'), ''],
    });
    assert.equal(abstract['fd.name'], '@hidden');
  });

  it('reports datagrams to a new destination as not connected, name changed', () => {
    const d = decoder();
    const f = fields(d, {
      type: RecordType.sendto,
      res: 12,
      comm: 'dig',
      nums: [4, 2, 17, 5353, 53, 2, 12],
      strs: [ip4(0, 0, 0, 0), ip4(169, 254, 169, 254)],
    });
    assert.equal(f['fd.l4proto'], 'udp');
    assert.equal(f['fd.connected'], false);
    assert.equal(f['fd.name_changed'], true);
    assert.equal(f['fd.sip'], '169.254.169.254');
  });

  it('describes what a duplicated descriptor is', () => {
    const d = decoder();
    const sock = fields(d, {
      type: RecordType.dup2,
      res: 1,
      comm: 'sh',
      nums: [3, 1, 0, FdKind.socket, 1, 2, 6, 40000, 4444, 1, 0],
      strs: [ip4(10, 0, 0, 2), ip4(10, 0, 0, 9), ''],
    });
    assert.equal(sock['evt.rawres'], 1);
    assert.equal(sock['fd.num'], 1);
    assert.equal(sock['fd.type'], 'ipv4');
    assert.equal(sock['fd.sip'], '10.0.0.9');
    const file = fields(d, {
      type: RecordType.dup3,
      res: 2,
      comm: 'sh',
      nums: [3, 2, 0o2000000, FdKind.file, 0, 0, 0, 0, 0, 0, 0],
      strs: ['', '', '/tmp/log'],
    });
    assert.equal(file['fd.type'], 'file');
    assert.equal(file['fd.name'], '/tmp/log');
    assert.equal(file['evt.arg.flags'], 'O_CLOEXEC');
  });

  it('describes file system changes with absolute and raw paths', () => {
    const d = decoder();
    const unlinkat = fields(d, {
      type: RecordType.unlinkat,
      comm: 'rm',
      nums: [-100, 0x200],
      strs: ['.bash_history', '/root'],
    });
    assert.equal(unlinkat['evt.arg.name'], '/root/.bash_history');
    assert.equal(unlinkat['evt.rawarg.name'], '.bash_history');
    assert.equal(unlinkat['fs.path.name'], '/root/.bash_history');
    assert.equal(unlinkat['evt.arg.flags'], 'AT_REMOVEDIR');
    const chmod = fields(d, {
      type: RecordType.fchmodat,
      comm: 'chmod',
      nums: [-100, 0o4755],
      strs: ['/usr/bin/x', ''],
    });
    assert.equal(chmod['evt.arg.filename'], '/usr/bin/x');
    assert.match(chmod['evt.arg.mode'] as string, /^04755\(.*S_ISUID.*\)$/);
    const rename = fields(d, {
      type: RecordType.renameat2,
      comm: 'mv',
      nums: [-100, -100, 1],
      strs: ['a', '/tmp', '/var/b', ''],
    });
    assert.equal(rename['evt.arg.oldpath'], '/tmp/a');
    assert.equal(rename['evt.arg.newpath'], '/var/b');
    assert.equal(rename['evt.arg.flags'], 'RENAME_NOREPLACE');
    const symlink = fields(d, {
      type: RecordType.symlinkat,
      comm: 'ln',
      nums: [-100, -100, 0],
      strs: ['../etc/shadow', '', 'lnk', '/tmp'],
    });
    assert.equal(symlink['evt.arg.target'], '../etc/shadow');
    assert.equal(symlink['evt.arg.linkpath'], '/tmp/lnk');
    const mkdir = fields(d, {
      type: RecordType.mkdir,
      comm: 'mkdir',
      nums: [-100, 0o700],
      strs: ['/tmp/d', ''],
    });
    assert.equal(mkdir['evt.arg.path'], '/tmp/d');
    assert.equal(mkdir['evt.arg.mode'], '0700(S_IRUSR|S_IWUSR|S_IXUSR)');
  });

  it('renders the remaining syscalls’ arguments by name', () => {
    const d = decoder();
    assert.equal(
      fields(d, { type: RecordType.ptrace, comm: 'gdb', nums: [16, 1] })['evt.arg.request'],
      'PTRACE_ATTACH',
    );
    assert.equal(fields(d, { type: RecordType.setuid, comm: 'su', nums: [65534] })['evt.arg.uid'], 65534);
    assert.equal(fields(d, { type: RecordType.bpf, comm: 'x', nums: [5] })['evt.arg.cmd'], 'BPF_PROG_LOAD');
    assert.equal(
      fields(d, { type: RecordType.unshare, comm: 'x', nums: [0x10000000 | 0x20000] })['evt.arg.flags'],
      'CLONE_NEWNS|CLONE_NEWUSER',
    );
    assert.equal(
      fields(d, { type: RecordType.setns, comm: 'x', nums: [3, 0x40000000] })['evt.arg.nstype'],
      'CLONE_NEWNET',
    );
    assert.equal(
      fields(d, { type: RecordType.socket, comm: 'x', nums: [17, 3, 768] })['evt.arg.domain'],
      'AF_PACKET',
    );
    const mount = fields(d, {
      type: RecordType.mount,
      comm: 'mount',
      nums: [0xc0ed0000 | 4096 | 16384],
      strs: ['/a', '/b', 'none'],
    });
    assert.equal(mount['evt.arg.flags'], 'MS_BIND|MS_REC');
    assert.equal(mount['evt.arg.dir'], '/b');
    assert.equal(
      fields(d, { type: RecordType.memfd_create, comm: 'x', res: 3, nums: [1], strs: ['payload'] })[
        'evt.arg.name'
      ],
      'payload',
    );
  });

  it('hands header and stats records to their callbacks', () => {
    const headers: SensorHeader[] = [];
    const stats: SensorCounters[] = [];
    const d = new SensorRecordDecoder({ onHeader: (h) => headers.push(h), onStats: (s) => stats.push(s) });
    d.decode(
      buildHeaderRecord({
        sensorPid: 9,
        cgroupHierarchy: 'unified:/sys/fs/cgroup',
        events: ['execve', 'openat'],
      }),
    );
    assert.equal(headers[0]?.sensorPid, 9);
    assert.equal(headers[0]?.cgroupHierarchy, 'unified:/sys/fs/cgroup');
    assert.deepEqual(headers[0]?.events, ['execve', 'openat']);
    assert.equal(
      d.decode(buildStatsRecord(5n, [{ type: RecordType.openat, sent: 10, lost: 2 }])),
      CONTROL_RECORD,
    );
    assert.deepEqual(stats[0]?.byType.get('openat'), { sent: 10, lost: 2 });
  });
});

describe('createSensorDecoder', () => {
  it('frames records split anywhere and does not count header or stats records as malformed', () => {
    const stream = Buffer.concat([
      frameRecord(buildHeaderRecord()),
      frameRecord(buildEventRecord({ type: RecordType.socket, pid: 1, comm: 'a', nums: [2, 1, 0] })),
      frameRecord(buildStatsRecord(1n, [])),
      frameRecord(buildEventRecord({ type: 99, comm: 'b' })),
      frameRecord(buildEventRecord({ type: RecordType.socket, pid: 2, comm: 'c', nums: [10, 2, 0] })),
    ]);
    for (const cut of [0, 1, 5, 40, 100, stream.length - 1]) {
      const events: Event[] = [];
      const bad: string[] = [];
      const d = createSensorDecoder()({ event: (e) => events.push(e), malformed: (r) => bad.push(r) });
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      d.end();
      assert.deepEqual(
        events.map((e) => e.fields['proc.name']),
        ['a', 'c'],
        `cut at ${cut}`,
      );
      assert.deepEqual(bad, ['unknown-kind']);
    }
  });
});

describe('absolutePath', () => {
  it('joins relative paths to their directory and normalizes as libsinsp does', () => {
    assert.equal(absolutePath('/etc/passwd', '/anything'), '/etc/passwd');
    assert.equal(absolutePath('x', '/tmp'), '/tmp/x');
    assert.equal(absolutePath('x', '/'), '/x');
    assert.equal(absolutePath('./a//b/../c/', '/tmp'), '/tmp/a/c');
    assert.equal(absolutePath('../../..', '/a/b'), '/');
    assert.equal(absolutePath('rel', ''), 'rel');
    assert.equal(absolutePath('', '/tmp'), '');
  });
});
