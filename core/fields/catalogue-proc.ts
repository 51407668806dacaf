/**
 * Catalogue: process and thread fields (`proc.*`, `thread.*`) — who did it, and their ancestry.
 *
 * Names and types follow libsinsp's process field class; descriptions are ours. Ancestor fields
 * (`proc.aname[N]`, `proc.aexe[N]`, ...) read `proc.aname[N]` from the record; index 0 is the
 * process itself (`proc.name`) and 1 its parent (`proc.pname`). `proc.aname` without an index
 * means "any ancestor" (from the parent up): the record may carry it as an array, else it is
 * collected from `proc.pname`/`proc.aname[1]`, `proc.aname[2]`, ... up to the first missing one,
 * else asked of the context. A string under the bare `proc.aname` key is not used: sysdig's
 * `%proc.aname` prints the process's own name there, not its ancestors.
 */
import type { Event } from '../event.js';
import type { FieldDef, FieldExtractor } from './types.js';
import { defineField, isIndex, type FieldSpec } from './catalogue-support.js';

/** The deepest ancestry collected from a flat record. */
const MAX_ANCESTORS = 64;

/**
 * Index 0 and 1 of an ancestor family are also the process's and the parent's own fields
 * (`proc.aname[1]` is `proc.pname`).
 */
function ancestorAliases(self: string, parent: string): (arg: string | undefined) => readonly string[] {
  return (arg) => {
    if (!isIndex(arg)) return [];
    const n = Number(arg);
    return n === 0 ? [self] : n === 1 ? [parent] : [];
  };
}

/** All ancestors from the parent up, for the family without index; a reused array. */
function ancestorList(
  family: string,
  parent: string,
): (arg: string | undefined) => FieldExtractor | undefined {
  return (arg) => {
    if (arg !== undefined) return undefined;
    const keys: string[] = [];
    for (let k = 1; k <= MAX_ANCESTORS; k++) keys.push(`${family}[${k}]`);
    const scratch: unknown[] = [];
    return (evt: Event) => {
      const f = evt.fields;
      const whole = f[family];
      if (Array.isArray(whole)) return whole as unknown[];
      scratch.length = 0;
      for (let k = 0; k < keys.length; k++) {
        let v = f[keys[k]!];
        if ((v === undefined || v === null) && k === 0) v = f[parent];
        if (v === undefined || v === null) break;
        scratch.push(v);
      }
      return scratch.length > 0 ? scratch : undefined;
    };
  };
}

/** The parent's field, when the record carries the ancestor form instead. */
function parentAlias(family: string): () => readonly string[] {
  return () => [`${family}[1]`];
}

const specs: FieldSpec[] = [
  { name: 'proc.pid', type: 'int64', description: 'Process id.', aliases: () => ['proc.apid[0]'] },
  {
    name: 'proc.exe',
    type: 'charbuf',
    description: 'First command-line argument (argv[0]), usually the program path.',
    aliases: () => ['proc.aexe[0]'],
  },
  {
    name: 'proc.name',
    type: 'charbuf',
    description: 'Program name without path (the comm).',
    aliases: () => ['proc.aname[0]'],
  },
  {
    name: 'proc.args',
    type: 'charbuf',
    description: 'Command-line arguments after the program, joined by spaces.',
  },
  {
    name: 'proc.env',
    type: 'charbuf',
    arg: 'key',
    description: 'Environment of the process; proc.env[NAME] is one variable.',
    derive: (arg) => {
      if (arg === undefined) return undefined;
      const prefix = `${arg}=`;
      return (evt) => {
        const env = evt.fields['proc.env'];
        if (typeof env !== 'string') return undefined;
        // The whole environment is rendered as NAME=value entries separated by blanks.
        for (const entry of env.split(' ')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
        return undefined;
      };
    },
  },
  {
    name: 'proc.cmdline',
    type: 'charbuf',
    description: 'Program name and arguments, as one string.',
    aliases: () => ['proc.acmdline[0]'],
    derive: () => (evt) => {
      const name = evt.fields['proc.name'];
      const args = evt.fields['proc.args'];
      if (typeof name !== 'string' || typeof args !== 'string') return undefined;
      return args.length === 0 ? name : `${name} ${args}`;
    },
  },
  { name: 'proc.cmdnargs', type: 'uint64', description: 'Number of command-line arguments.' },
  { name: 'proc.cmdlenargs', type: 'uint64', description: 'Total length of the command-line arguments.' },
  {
    name: 'proc.exeline',
    type: 'charbuf',
    description: 'Full command line with argv[0] instead of the name.',
  },
  { name: 'proc.cwd', type: 'charbuf', description: 'Working directory of the process.' },
  { name: 'proc.nthreads', type: 'uint32', description: 'Number of threads of the process.' },
  { name: 'proc.nchilds', type: 'uint32', description: 'Number of child threads of the process.' },
  { name: 'proc.ppid', type: 'int64', description: 'Parent process id.', aliases: parentAlias('proc.apid') },
  {
    name: 'proc.pname',
    type: 'charbuf',
    description: 'Name of the parent process.',
    aliases: parentAlias('proc.aname'),
  },
  {
    name: 'proc.pcmdline',
    type: 'charbuf',
    description: 'Command line of the parent process.',
    aliases: parentAlias('proc.acmdline'),
  },
  {
    name: 'proc.pexe',
    type: 'charbuf',
    description: 'argv[0] of the parent process.',
    aliases: parentAlias('proc.aexe'),
  },
  {
    name: 'proc.pexepath',
    type: 'charbuf',
    description: 'Executable path of the parent process.',
    aliases: parentAlias('proc.aexepath'),
  },
  {
    name: 'proc.apid',
    type: 'int64',
    arg: 'index',
    description: 'Process id of an ancestor: proc.apid[1] is the parent; without index, any ancestor.',
    aliases: ancestorAliases('proc.pid', 'proc.ppid'),
    override: ancestorList('proc.apid', 'proc.ppid'),
  },
  {
    name: 'proc.aname',
    type: 'charbuf',
    arg: 'index',
    description:
      'Name of an ancestor: proc.aname[0] is the process, [1] the parent; without index, any ancestor.',
    aliases: ancestorAliases('proc.name', 'proc.pname'),
    override: ancestorList('proc.aname', 'proc.pname'),
  },
  {
    name: 'proc.aexe',
    type: 'charbuf',
    arg: 'index',
    description: 'argv[0] of an ancestor, by index as proc.aname; without index, any ancestor.',
    aliases: ancestorAliases('proc.exe', 'proc.pexe'),
    override: ancestorList('proc.aexe', 'proc.pexe'),
  },
  {
    name: 'proc.aexepath',
    type: 'charbuf',
    arg: 'index',
    description: 'Executable path of an ancestor, by index as proc.aname; without index, any ancestor.',
    aliases: ancestorAliases('proc.exepath', 'proc.pexepath'),
    override: ancestorList('proc.aexepath', 'proc.pexepath'),
  },
  {
    name: 'proc.acmdline',
    type: 'charbuf',
    arg: 'index',
    description: 'Command line of an ancestor, by index as proc.aname; without index, any ancestor.',
    aliases: ancestorAliases('proc.cmdline', 'proc.pcmdline'),
    override: ancestorList('proc.acmdline', 'proc.pcmdline'),
  },
  { name: 'proc.loginshellid', type: 'int64', description: 'Pid of the oldest shell among the ancestors.' },
  { name: 'proc.duration', type: 'reltime', description: 'Nanoseconds since the process started.' },
  {
    name: 'proc.ppid.duration',
    type: 'reltime',
    description: 'Nanoseconds since the parent process started.',
  },
  { name: 'proc.pid.ts', type: 'abstime', description: 'Start time of the process (ns since the epoch).' },
  {
    name: 'proc.ppid.ts',
    type: 'abstime',
    description: 'Start time of the parent process (ns since the epoch).',
  },
  { name: 'proc.fdopencount', type: 'uint64', description: 'Number of open file descriptors.' },
  {
    name: 'proc.fdlimit',
    type: 'int64',
    description: 'Maximum number of file descriptors the process may open.',
  },
  { name: 'proc.fdusage', type: 'double', description: 'Open descriptors as a share of the limit.' },
  { name: 'proc.vmsize', type: 'uint64', description: 'Virtual memory size in kB.' },
  { name: 'proc.vmrss', type: 'uint64', description: 'Resident memory in kB.' },
  { name: 'proc.vmswap', type: 'uint64', description: 'Swapped memory in kB.' },
  {
    name: 'proc.exepath',
    type: 'charbuf',
    description: 'Full path of the executable.',
    aliases: () => ['proc.aexepath[0]'],
  },
  { name: 'proc.sid', type: 'int64', description: 'Session id.' },
  { name: 'proc.sname', type: 'charbuf', description: 'Name of the session leader.' },
  { name: 'proc.vpgid', type: 'int64', description: 'Process group id, as seen from its pid namespace.' },
  { name: 'proc.vpgid.name', type: 'charbuf', description: 'Name of the process group leader.' },
  { name: 'proc.vpgid.exe', type: 'charbuf', description: 'argv[0] of the process group leader.' },
  {
    name: 'proc.vpgid.exepath',
    type: 'charbuf',
    description: 'Executable path of the process group leader.',
  },
  { name: 'proc.pgid', type: 'int64', description: 'Process group id.' },
  { name: 'proc.tty', type: 'uint32', description: 'Controlling terminal; 0 when there is none.' },
  { name: 'proc.vpid', type: 'int64', description: 'Process id as seen from its pid namespace.' },
  { name: 'proc.pvpid', type: 'int64', description: 'Parent process id as seen from its pid namespace.' },
  {
    name: 'proc.is_container_healthcheck',
    type: 'bool',
    description: "True when the process is a container's health check.",
  },
  {
    name: 'proc.is_container_liveness_probe',
    type: 'bool',
    description: "True when the process is a container's liveness probe.",
  },
  {
    name: 'proc.is_container_readiness_probe',
    type: 'bool',
    description: "True when the process is a container's readiness probe.",
  },
  {
    name: 'proc.is_exe_writable',
    type: 'bool',
    description: 'True when the executable is writable by the process user.',
  },
  {
    name: 'proc.is_exe_upper_layer',
    type: 'bool',
    description: 'True when the executable lives in the upper (writable) overlay layer.',
  },
  {
    name: 'proc.is_exe_lower_layer',
    type: 'bool',
    description: 'True when the executable lives in a lower (image) overlay layer.',
  },
  {
    name: 'proc.is_exe_from_memfd',
    type: 'bool',
    description: 'True when the executable was run from a memfd (fileless).',
  },
  { name: 'proc.is_sid_leader', type: 'bool', description: 'True when the process leads its session.' },
  {
    name: 'proc.is_vpgid_leader',
    type: 'bool',
    description: 'True when the process leads its process group.',
  },
  { name: 'proc.exe_ino', type: 'uint64', description: 'Inode number of the executable.' },
  { name: 'proc.exe_ino.ctime', type: 'abstime', description: 'Change time of the executable inode.' },
  { name: 'proc.exe_ino.mtime', type: 'abstime', description: 'Modification time of the executable inode.' },
  {
    name: 'proc.exe_ino.ctime_duration_proc_start',
    type: 'abstime',
    description: 'Nanoseconds between the executable inode change and the process start.',
  },
  {
    name: 'proc.exe_ino.ctime_duration_pidns_start',
    type: 'abstime',
    description: 'Nanoseconds between the executable inode change and the pid namespace start.',
  },
  {
    name: 'proc.pidns_init_start_ts',
    type: 'uint64',
    description: 'Start time of the pid namespace init process.',
  },
  { name: 'proc.stdin.type', type: 'charbuf', description: 'Type of descriptor 0 (file, pipe, ipv4, ...).' },
  { name: 'proc.stdout.type', type: 'charbuf', description: 'Type of descriptor 1.' },
  { name: 'proc.stderr.type', type: 'charbuf', description: 'Type of descriptor 2.' },
  { name: 'proc.stdin.name', type: 'charbuf', description: 'Name of descriptor 0.' },
  { name: 'proc.stdout.name', type: 'charbuf', description: 'Name of descriptor 1.' },
  { name: 'proc.stderr.name', type: 'charbuf', description: 'Name of descriptor 2.' },
  {
    name: 'thread.pfmajor',
    type: 'uint64',
    description: 'Major page faults of the thread since it started.',
  },
  {
    name: 'thread.pfminor',
    type: 'uint64',
    description: 'Minor page faults of the thread since it started.',
  },
  { name: 'thread.tid', type: 'int64', description: 'Thread id.' },
  { name: 'thread.ismain', type: 'bool', description: 'True for the main thread of a process.' },
  { name: 'thread.vtid', type: 'int64', description: 'Thread id as seen from its pid namespace.' },
  {
    name: 'thread.exectime',
    type: 'reltime',
    description: 'CPU time the thread used in its last scheduling slice.',
  },
  { name: 'thread.totexectime', type: 'reltime', description: 'Total CPU time the thread used.' },
  { name: 'thread.cgroups', type: 'charbuf', description: 'All cgroups of the thread, as one string.' },
  {
    name: 'thread.cgroup',
    type: 'charbuf',
    arg: 'key-required',
    description: 'The cgroup of the thread for one subsystem: thread.cgroup[cpuacct].',
  },
  { name: 'thread.cpu', type: 'double', description: 'CPU used by the thread in the last second.' },
  { name: 'thread.cpu.user', type: 'double', description: 'User CPU used by the thread in the last second.' },
  {
    name: 'thread.cpu.system',
    type: 'double',
    description: 'System CPU used by the thread in the last second.',
  },
  { name: 'thread.vmsize', type: 'uint64', description: 'Virtual memory of the thread in kB.' },
  { name: 'thread.vmrss', type: 'uint64', description: 'Resident memory of the thread in kB.' },
  { name: 'thread.cap_permitted', type: 'charbuf', description: 'Permitted capabilities of the thread.' },
  { name: 'thread.cap_inheritable', type: 'charbuf', description: 'Inheritable capabilities of the thread.' },
  { name: 'thread.cap_effective', type: 'charbuf', description: 'Effective capabilities of the thread.' },
];

/** The process and thread fields. */
export function processFields(): FieldDef[] {
  return specs.map(defineField);
}
