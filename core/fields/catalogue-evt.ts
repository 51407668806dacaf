/**
 * Catalogue: event fields (`evt.*`, `syscall.type`) — what happened, when, and its arguments.
 *
 * Names, types and argument forms follow libsinsp's `evt` field class; descriptions are ours.
 */
import type { Event } from '../event.js';
import type { FieldDef, FieldType } from './types.js';
import { defineField, type FieldSpec } from './catalogue-support.js';

/**
 * The type of each syscall event argument, by name, as libsinsp's event table declares it
 * (the most common declaration where events differ). `evt.rawarg.NAME` takes this type.
 */
const EVENT_ARG_TYPES: ReadonlyMap<string, FieldType> = new Map(
  (
    'ID:uint16 action:uint32 addr:uint64 args:bytebuf argument:uint64 backlog:uint32 cgroups:bytebuf ' +
    'clockid:uint8 cmd:flags comm:charbuf core:uint8 cpu:uint32 cur:int64 cwd:charbuf data:bytebuf ' +
    'desc:charbuf dev:uint32 dir:fspath dirfd:fd domain:flags dpid:pid dqb_bhardlimit:uint64 ' +
    'dqb_bsoftlimit:uint64 dqb_btime:reltime dqb_curspace:uint64 dqb_ihardlimit:uint64 dqb_isoftlimit:uint64 ' +
    'dqb_itime:reltime dqi_bgrace:reltime dqi_flags:flags dqi_igrace:reltime egid:gid env:bytebuf error:flags ' +
    'euid:uid event_data:bytebuf exe:charbuf fd:fd fd1:fd fd2:fd fd_in:fd fd_out:fd fdin:fd fdlimit:int64 ' +
    'fdout:fd fds:charbuf filename:fspath flags:flags gid:uint32 how:flags id:int64 in_fd:fd initval:uint64 ' +
    'ino:uint64 interval:reltime ip:uint64 json:charbuf key:int32 len:uint64 length:uint64 level:flags ' +
    'linkdirfd:fd linkpath:fspath loginuid:int32 mask:uint32 max:int64 maxevents:errno mode:uint32 ' +
    'name:fspath nativeID:uint16 newcur:int64 newdir:fd newdirfd:fd newmax:int64 newpath:fsrelpath next:pid ' +
    'nsems:int32 nsops:uint32 nstype:flags offin:uint64 offout:uint64 offset:uint64 oldcur:int64 olddir:fd ' +
    'olddirfd:fd oldmax:int64 oldpath:fsrelpath op:flags operation:flags optlen:uint32 optname:flags ' +
    'out_fd:fd path:fspath pathname:fsrelpath peer:uint64 pgft_maj:uint64 pgft_min:uint64 pgid:pid ' +
    'pgoffset:uint64 pid:pid pos:uint64 prot:flags proto:uint32 ptid:pid queuelen:uint32 queuemax:uint32 ' +
    'queuepct:uint8 quota_fmt:flags quota_fmt_out:flags quotafilepath:charbuf request:flags res:errno ' +
    'res_or_fd:int64 resolve:flags resource:flags ret:errno rgid:gid ruid:uid sem_flg_0:flags ' +
    'sem_flg_1:flags sem_num_0:uint16 sem_num_1:uint16 sem_op_0:int16 sem_op_1:int16 semflg:flags ' +
    'semid:int32 semnum:int32 sgid:gid sig:uint8 sigmask:uint32 size:uint32 source:uint64 special:charbuf ' +
    'spid:pid status:errno suid:uid tags:charbuf target:charbuf tid:pid timeout:int64 tty:int32 ' +
    'tuple:charbuf type:uint32 uid:uint32 val:uint64 vm_rss:uint32 vm_size:uint32 vm_swap:uint32 vpid:pid ' +
    'vtid:pid whence:flags ' +
    // Arguments added to the event table after 2022.
    'reaper_tid:int64 trusted_exepath:fspath exe_ino:uint64 exe_ino_ctime:abstime exe_ino_mtime:abstime ' +
    'cap_inheritable:uint64 cap_permitted:uint64 cap_effective:uint64 pidns_init_start_ts:uint64 ' +
    'exe_writable:flags exe_upper_layer:flags exe_from_memfd:flags fsuid:uid fsgid:gid'
  )
    .split(' ')
    .map((pair) => {
      const [name, type] = pair.split(':') as [string, FieldType];
      return [name, type] as const;
    }),
);

/** The syscall names `evt.type.is.NAME` accepts: any identifier-like name. */
const EVENT_NAME = /^[a-z_][a-z0-9_]*$/;

/** Whether the event is an open-family exit event, where the open flags apply. */
function isOpenExit(evt: Event): boolean | undefined {
  const type = evt.fields['evt.type'];
  if (typeof type !== 'string') return undefined;
  if (type !== 'open' && type !== 'openat' && type !== 'openat2' && type !== 'creat') return false;
  const dir = evt.fields['evt.dir'];
  return dir === undefined || dir === null || dir === '<';
}

/** The open flags of the event: names as sysdig renders them (`O_RDWR|O_CREAT`), or a number. */
function openFlags(evt: Event): unknown {
  const f = evt.fields;
  const v = f['evt.arg.flags'] ?? f['evt.arg[flags]'] ?? f['evt.rawarg.flags'];
  return v === null ? undefined : v;
}

/** libsinsp's portable open flag bits (PPM_O_*), for flags given as numbers. */
const PPM_O_RDONLY = 1;
const PPM_O_WRONLY = 2;
const PPM_O_CREAT = 4;
const PPM_O_TMPFILE = 1 << 15;

function hasFlag(flags: unknown, name: string, bit: number): boolean {
  if (typeof flags === 'number') return (flags & bit) !== 0;
  if (typeof flags !== 'string') return false;
  // Rendered flags are names joined by '|', possibly after a number: "3(O_RDWR|O_CREAT)".
  let start = 0;
  for (let i = 0; i <= flags.length; i++) {
    const c = i < flags.length ? flags.charCodeAt(i) : 124;
    if (c === 124 || c === 40 || c === 41) {
      if (i - start === name.length && flags.startsWith(name, start)) return true;
      start = i + 1;
    }
  }
  return false;
}

function openDerivation(which: 'read' | 'write' | 'exec'): (evt: Event) => unknown {
  return (evt) => {
    const open = isOpenExit(evt);
    if (open !== true) return open;
    const flags = openFlags(evt);
    if (flags === undefined) return undefined;
    const rdwr = hasFlag(flags, 'O_RDWR', PPM_O_RDONLY | PPM_O_WRONLY);
    if (which === 'read') return rdwr || hasFlag(flags, 'O_RDONLY', PPM_O_RDONLY);
    if (which === 'write') return rdwr || hasFlag(flags, 'O_WRONLY', PPM_O_WRONLY);
    const creates =
      evt.fields['evt.type'] === 'creat' ||
      hasFlag(flags, 'O_CREAT', PPM_O_CREAT) ||
      hasFlag(flags, 'O_TMPFILE', PPM_O_TMPFILE);
    if (!creates) return false;
    const mode = evt.fields['evt.arg.mode'] ?? evt.fields['evt.rawarg.mode'];
    // Rendered modes are octal text ("0755"); numbers carry the permission bits directly.
    const bits = typeof mode === 'number' ? mode : typeof mode === 'string' ? parseInt(mode, 8) : NaN;
    return Number.isNaN(bits) ? undefined : (bits & 0o111) !== 0;
  };
}

const specs: FieldSpec[] = [
  { name: 'evt.num', type: 'uint64', description: 'Sequence number of the event in the stream.' },
  {
    name: 'evt.sampled',
    type: 'bool',
    description:
      'Vigil: true when the event was seen by polling (the procfs source, processes found at start-up) rather than traced as it happened.',
  },
  { name: 'evt.time', type: 'charbuf', description: 'Event time of day, with nanoseconds.' },
  { name: 'evt.time.s', type: 'charbuf', description: 'Event time of day, whole seconds.' },
  {
    name: 'evt.time.iso8601',
    type: 'charbuf',
    description: 'Event time in ISO 8601 (UTC), with nanoseconds.',
  },
  { name: 'evt.datetime', type: 'charbuf', description: 'Event date and time, with nanoseconds.' },
  { name: 'evt.datetime.s', type: 'charbuf', description: 'Event date and time, whole seconds.' },
  { name: 'evt.rawtime', type: 'abstime', description: 'Event timestamp in nanoseconds since the epoch.' },
  { name: 'evt.rawtime.s', type: 'abstime', description: 'Seconds part of the event timestamp.' },
  { name: 'evt.rawtime.ns', type: 'abstime', description: 'Nanoseconds part of the event timestamp.' },
  { name: 'evt.reltime', type: 'reltime', description: 'Nanoseconds since the start of the capture.' },
  {
    name: 'evt.reltime.s',
    type: 'reltime',
    description: 'Seconds part of the time since the capture started.',
  },
  {
    name: 'evt.reltime.ns',
    type: 'reltime',
    description: 'Nanoseconds part of the time since the capture started.',
  },
  { name: 'evt.pluginname', type: 'charbuf', description: 'Plugin that produced the event, if any.' },
  {
    name: 'evt.plugininfo',
    type: 'charbuf',
    description: "The producing plugin's one-line summary of the event.",
  },
  { name: 'evt.source', type: 'charbuf', description: 'Event source, e.g. syscall.' },
  { name: 'evt.hostname', type: 'charbuf', description: 'Host the event was observed on.' },
  {
    name: 'evt.is_async',
    type: 'bool',
    description: 'True for events produced outside any syscall (metadata updates).',
  },
  { name: 'evt.asynctype', type: 'charbuf', description: 'Kind of an asynchronous event.' },
  { name: 'evt.latency', type: 'reltime', description: 'Nanoseconds between a syscall entry and its exit.' },
  { name: 'evt.latency.s', type: 'reltime', description: 'Seconds part of the syscall latency.' },
  { name: 'evt.latency.ns', type: 'reltime', description: 'Nanoseconds part of the syscall latency.' },
  {
    name: 'evt.latency.human',
    type: 'charbuf',
    description: 'Syscall latency as readable text (e.g. 10.3ms).',
  },
  { name: 'evt.deltatime', type: 'reltime', description: 'Nanoseconds since the previous event.' },
  {
    name: 'evt.deltatime.s',
    type: 'reltime',
    description: 'Seconds part of the time since the previous event.',
  },
  {
    name: 'evt.deltatime.ns',
    type: 'reltime',
    description: 'Nanoseconds part of the time since the previous event.',
  },
  { name: 'evt.dir', type: 'charbuf', description: "Direction: '>' entering a syscall, '<' leaving it." },
  { name: 'evt.type', type: 'charbuf', description: 'Event name, e.g. open or execve.' },
  {
    name: 'evt.type.is',
    type: 'uint32',
    arg: 'key-required',
    dottedArg: true,
    description: '1 when the event is of the named type (evt.type.is.open), else 0.',
    checkArg: (arg) => (EVENT_NAME.test(arg) ? undefined : `'${arg}' is not an event name`),
    derive: (arg) => (evt) => {
      const t = evt.fields['evt.type'];
      return typeof t === 'string' ? (t === arg ? 1 : 0) : undefined;
    },
  },
  {
    name: 'syscall.type',
    type: 'charbuf',
    description: 'For syscall events, the syscall name; unset for other events.',
    derive: () => (evt) => {
      const source = evt.fields['evt.source'];
      if (source !== undefined && source !== null && source !== 'syscall') return undefined;
      const t = evt.fields['evt.type'];
      return typeof t === 'string' ? t : undefined;
    },
  },
  { name: 'evt.category', type: 'charbuf', description: 'Event category: file, net, memory, process, ...' },
  { name: 'evt.cpu', type: 'int16', description: 'CPU the event happened on.' },
  { name: 'evt.args', type: 'charbuf', description: 'All event arguments rendered as one string.' },
  {
    name: 'evt.arg',
    type: 'charbuf',
    arg: 'index-or-key-required',
    dottedArg: true,
    description: 'One argument, by name (evt.arg.fd) or position (evt.arg[0]), rendered as text.',
  },
  {
    name: 'evt.rawarg',
    type: 'dynamic',
    arg: 'key-required',
    dottedArg: true,
    noTransformer: true,
    description: 'One argument by name (evt.rawarg.res), with its own type (numbers stay numbers).',
    typeForArg: (arg) => EVENT_ARG_TYPES.get(arg),
    derive: (arg) => {
      if (arg === undefined) return undefined;
      const rendered = `evt.arg.${arg}`;
      const bracketed = `evt.arg[${arg}]`;
      const extra = arg === 'res' ? 'evt.rawres' : undefined;
      return (evt) => {
        const f = evt.fields;
        if (extra !== undefined) {
          const v = f[extra];
          if (v !== undefined && v !== null) return v;
        }
        const v = f[rendered] ?? f[bracketed];
        return v === null ? undefined : v;
      };
    },
  },
  {
    name: 'evt.info',
    type: 'charbuf',
    description: 'Arguments as text, or a decoded summary for some events.',
  },
  {
    name: 'evt.buffer',
    type: 'bytebuf',
    description: 'Data buffer of I/O events (read, write, sendto, ...).',
  },
  { name: 'evt.buflen', type: 'uint64', description: 'Length of the data buffer of I/O events.' },
  { name: 'evt.buflen.in', type: 'uint64', description: 'Length of the data buffer of input I/O events.' },
  { name: 'evt.buflen.out', type: 'uint64', description: 'Length of the data buffer of output I/O events.' },
  {
    name: 'evt.res',
    type: 'charbuf',
    description: 'Return value as text: SUCCESS, or the error name (e.g. ENOENT).',
    derive: () => (evt) => {
      const raw = evt.fields['evt.rawres'];
      return typeof raw === 'number' && raw >= 0 ? 'SUCCESS' : undefined;
    },
  },
  {
    name: 'evt.rawres',
    type: 'int64',
    description: 'Return value as a number (e.g. -2), for range checks.',
    aliases: () => ['evt.rawarg.res'],
  },
  {
    name: 'evt.failed',
    type: 'bool',
    description: 'True when the event returned an error.',
    derive: () => (evt) => {
      const raw = evt.fields['evt.rawres'];
      if (typeof raw === 'number') return raw < 0;
      const res = evt.fields['evt.res'];
      if (typeof res === 'string') return res !== 'SUCCESS';
      return typeof evt.fields['evt.type'] === 'string' ? false : undefined;
    },
  },
  { name: 'evt.is_io', type: 'bool', description: 'True for events that read or write file descriptors.' },
  { name: 'evt.is_io_read', type: 'bool', description: 'True for events that read from file descriptors.' },
  { name: 'evt.is_io_write', type: 'bool', description: 'True for events that write to file descriptors.' },
  { name: 'evt.io_dir', type: 'charbuf', description: "'r' for reads, 'w' for writes." },
  {
    name: 'evt.is_wait',
    type: 'bool',
    description: 'True for events that make the thread wait (sleep, poll, ...).',
  },
  { name: 'evt.wait_latency', type: 'reltime', description: 'Nanoseconds a waiting event spent waiting.' },
  { name: 'evt.is_syslog', type: 'bool', description: 'True for writes to /dev/log.' },
  {
    name: 'evt.count',
    type: 'uint32',
    description: 'Always 1; for counting events.',
    derive: () => () => 1,
  },
  { name: 'evt.count.error', type: 'uint32', description: '1 for events that returned an error.' },
  { name: 'evt.count.error.file', type: 'uint32', description: '1 for failed file events.' },
  { name: 'evt.count.error.net', type: 'uint32', description: '1 for failed network events.' },
  { name: 'evt.count.error.memory', type: 'uint32', description: '1 for failed memory events.' },
  { name: 'evt.count.error.other', type: 'uint32', description: '1 for failed events of no other category.' },
  {
    name: 'evt.count.exit',
    type: 'uint32',
    description: '1 for exit events.',
    derive: () => (evt) => {
      const dir = evt.fields['evt.dir'];
      return typeof dir === 'string' ? (dir === '<' ? 1 : 0) : undefined;
    },
  },
  {
    name: 'evt.abspath',
    type: 'charbuf',
    description: 'Absolute path built from a dirfd and a relative name.',
  },
  {
    name: 'evt.abspath.src',
    type: 'charbuf',
    description: 'Absolute source path of two-path syscalls (rename, link).',
  },
  {
    name: 'evt.abspath.dst',
    type: 'charbuf',
    description: 'Absolute target path of two-path syscalls (rename, link).',
  },
  {
    name: 'evt.is_open_read',
    type: 'bool',
    description: 'True for open events whose file was opened for reading.',
    derive: () => openDerivation('read'),
  },
  {
    name: 'evt.is_open_write',
    type: 'bool',
    description: 'True for open events whose file was opened for writing.',
    derive: () => openDerivation('write'),
  },
  {
    name: 'evt.is_open_exec',
    type: 'bool',
    description: 'True for open or creat events that create a file with execute permission.',
    derive: () => openDerivation('exec'),
  },
  { name: 'evt.is_open_create', type: 'bool', description: 'True for open events that created the file.' },
];

/** The event fields. */
export function eventFields(): FieldDef[] {
  return specs.map(defineField);
}
