/**
 * The kernel sensor's record format, as the agent reads it: the numbers of
 * `sensor/sensor-records.h` (the C side's definition; `wire-format.test.ts` checks that the two
 * agree) and the event types the sensor can trace.
 *
 * A record is a u16 record type followed by its body, all little-endian. Event records have an
 * 80-byte header ({@link EventHeader}), then `nnum` 64-bit numbers, then `nstr` strings, each a
 * u16 (length | {@link STR_TRUNCATED}) followed by exactly that many bytes.
 */

/** The format version this decoder reads; a stream of another version is refused. */
export const FORMAT_VERSION = 1;

/** Record types (the first u16 of every record). */
export const RecordType = {
  header: 1,
  stats: 2,
  clone: 10,
  execve: 11,
  execveat: 12,
  procexit: 13,
  open: 20,
  openat: 21,
  openat2: 22,
  creat: 23,
  connect: 30,
  accept: 31,
  accept4: 32,
  listen: 33,
  socket: 34,
  sendto: 35,
  sendmsg: 36,
  dup: 40,
  dup2: 41,
  dup3: 42,
  unlink: 50,
  unlinkat: 51,
  rmdir: 52,
  mkdir: 53,
  mkdirat: 54,
  chmod: 55,
  fchmod: 56,
  fchmodat: 57,
  rename: 60,
  renameat: 61,
  renameat2: 62,
  link: 63,
  linkat: 64,
  symlink: 65,
  symlinkat: 66,
  ptrace: 70,
  setuid: 71,
  setgid: 72,
  setns: 73,
  unshare: 74,
  bpf: 75,
  init_module: 76,
  finit_module: 77,
  memfd_create: 78,
  mount: 79,
  umount2: 80,
} as const;

/** Every record type is below this. */
export const RECORD_TYPE_MAX = 96;

/** Event header offsets (struct vigil_event_header). */
export const EventHeader = {
  type: 0,
  flags: 2,
  nnum: 4,
  nstr: 6,
  ts: 8,
  cgroup: 16,
  res: 24,
  pid: 32,
  tid: 36,
  ppid: 40,
  uid: 44,
  gid: 48,
  loginuid: 52,
  vpid: 56,
  comm: 64,
  commLength: 16,
  size: 80,
} as const;

/** Event header flags. */
export const EventFlag = { argvTruncated: 1 << 0, envTruncated: 1 << 1 } as const;

/** A string's u16 prefix: this bit marks bytes cut at a limit. */
export const STR_TRUNCATED = 0x8000;
/** A string's u16 prefix: these bits are its length. */
export const STR_LEN_MASK = 0x7fff;

/** nums of a clone record. */
export const CloneNum = { syscall: 0, callerTid: 1, tty: 2 } as const;
/** Which syscall made the process, by the clone record's `CloneNum.syscall`. */
export const CLONE_SYSCALLS = ['clone', 'fork', 'vfork', 'clone3'] as const;

/** nums of an exec record. */
export const ExecNum = {
  tty: 0,
  flags: 1,
  capPermitted: 2,
  capEffective: 3,
  capInheritable: 4,
  argsBytes: 5,
  envBytes: 6,
  exeIno: 7,
  argc: 8,
  sid: 9,
  pgid: 10,
} as const;
/** strs of an exec record before argv (then `argc` argv strings, then the environment). */
export const ExecStr = { exepath: 0, filename: 1, cwd: 2, fixed: 3 } as const;
/** Exec flag bits (ExecNum.flags), the same bits as Falco's PPM_EXE_*. */
export const ExecFlag = { writable: 1, upperLayer: 2, fromMemfd: 4, lowerLayer: 8 } as const;

/** nums of a procexit record: the exit code as wait(2) reports it. */
export const ExitNum = { code: 0 } as const;
/** nums of an open-family record (strs: the path as passed, the directory it is relative to). */
export const OpenNum = { dirfd: 0, flags: 1, mode: 2, resolve: 3 } as const;
/** The socket tuple shared by socket events (and dup of a socket, from DupNum.tuple). */
export const SockNum = {
  fd: 0,
  family: 1,
  proto: 2,
  lport: 3,
  rport: 4,
  type: 5,
  extra: 6,
  count: 7,
} as const;
/** nums of a socket record. */
export const SocketNum = { domain: 0, type: 1, protocol: 2 } as const;
/** nums of a dup-family record: then a socket tuple from `tuple` (strs: laddr, raddr, path). */
export const DupNum = { oldfd: 0, newfd: 1, flags: 2, fdKind: 3, tuple: 4 } as const;
/** What a descriptor refers to (DupNum.kind). */
export const FdKind = { unknown: 0, file: 1, directory: 2, socket: 3, pipe: 4, other: 5 } as const;
/** nums of a one-path record (unlink, mkdir, chmod...): `arg` is its mode or flags. */
export const PathNum = { dirfd: 0, arg: 1 } as const;
/** nums of a two-path record (rename, link, symlink; strs: old, old base, new, new base). */
export const PairNum = { olddirfd: 0, newdirfd: 1, flags: 2 } as const;

/** Offsets in the header record (struct vigil_header_record); strings follow at `size`. */
export const HeaderRecord = {
  version: 2,
  sensorPid: 4,
  bootToEpochNs: 8,
  ringBytes: 16,
  argvMax: 20,
  argLen: 24,
  envBytes: 28,
  size: 32,
} as const;

/** The stats record: a 16-byte head, then `count` 24-byte entries. */
export const StatsRecord = { count: 2, ts: 8, size: 16, entrySize: 24 } as const;

/** Event type names as the sensor's `--events` takes them, and the record type of each. */
export const SENSOR_EVENT_TYPES: ReadonlyMap<string, number> = new Map<string, number>([
  ['clone', RecordType.clone],
  ['clone3', RecordType.clone],
  ['fork', RecordType.clone],
  ['vfork', RecordType.clone],
  ...Object.entries(RecordType).filter(([name]) => name !== 'header' && name !== 'stats' && name !== 'clone'),
]);

/**
 * What the agent's process table needs whatever the rules say: process creation, program
 * changes and exits. The `ebpf` source always enables these.
 */
export const STATE_EVENT_TYPES: readonly string[] = [
  'clone',
  'fork',
  'vfork',
  'clone3',
  'execve',
  'execveat',
  'procexit',
];
