/**
 * Linux numbers rendered the way Falco renders them, so that rules written against Falco's
 * output match: errno names for `evt.res`, flag names for `evt.arg.flags` (`O_RDWR|O_CREAT`),
 * mode bits (`S_ISUID`), capabilities, ptrace requests, socket domains and so on.
 *
 * The numbers are Linux's (the generic values x86-64 and arm64 share); the names are the C
 * constants'. Flag renderings are cached per value: few distinct values occur.
 */

/** Linux errno names by number (x86-64 / generic). */
const ERRNO: ReadonlyMap<number, string> = new Map(
  (
    'EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES EFAULT ENOTBLK ' +
    'EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG ENOSPC ESPIPE ' +
    'EROFS EMLINK EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK ENOSYS ENOTEMPTY ELOOP - ENOMSG EIDRM ' +
    'ECHRNG EL2NSYNC EL3HLT EL3RST ELNRNG EUNATCH ENOCSI EL2HLT EBADE EBADR EXFULL ENOANO EBADRQC EBADSLT ' +
    '- EBFONT ENOSTR ENODATA ETIME ENOSR ENONET ENOPKG EREMOTE ENOLINK EADV ESRMNT ECOMM EPROTO EMULTIHOP ' +
    'EDOTDOT EBADMSG EOVERFLOW ENOTUNIQ EBADFD EREMCHG ELIBACC ELIBBAD ELIBSCN ELIBMAX ELIBEXEC EILSEQ ' +
    'ERESTART ESTRPIPE EUSERS ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ' +
    'ESOCKTNOSUPPORT EOPNOTSUPP EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH ' +
    'ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT ' +
    'ECONNREFUSED EHOSTDOWN EHOSTUNREACH EALREADY EINPROGRESS ESTALE EUCLEAN ENOTNAM ENAVAIL EISNAM ' +
    'EREMOTEIO EDQUOT ENOMEDIUM EMEDIUMTYPE ECANCELED ENOKEY EKEYEXPIRED EKEYREVOKED EKEYREJECTED ' +
    'EOWNERDEAD ENOTRECOVERABLE ERFKILL EHWPOISON'
  )
    .split(' ')
    .map((name, i) => [i + 1, name] as const)
    .filter(([, name]) => name !== '-'),
);

/**
 * `evt.res` as Falco gives it: `SUCCESS` for a result >= 0, else the errno's name
 * (`ENOENT`, `EINPROGRESS`), or `E<n>` for a number without one.
 */
export function resultName(res: number): string {
  if (res >= 0) return 'SUCCESS';
  return ERRNO.get(-res) ?? `E${-res}`;
}

/** A table of flag bits: [bits, name], rendered in this order. */
type FlagTable = ReadonlyArray<readonly [number, string]>;

/** Renders `value` as the names of the bits it has, joined with `|`; unknown bits as a number. */
function render(value: number, table: FlagTable): string {
  let rest = value >>> 0;
  const names: string[] = [];
  for (const [bits, name] of table) {
    if (bits !== 0 && (rest & bits) === bits) {
      names.push(name);
      rest = (rest & ~bits) >>> 0;
    }
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.join('|');
}

/** A cached renderer for one table. */
function renderer(table: FlagTable, zero = ''): (value: number) => string {
  const cache = new Map<number, string>();
  return (value) => {
    let text = cache.get(value);
    if (text === undefined) {
      text = value === 0 ? zero : render(value, table);
      if (cache.size < 4096) cache.set(value, text);
    }
    return text;
  };
}

// open(2) flags: Linux bits, Falco's names, and libsinsp's portable bits (PPM_O_*).
const O_ACCMODE = 3;
const OPEN_FLAGS: ReadonlyArray<readonly [number, string, number]> = [
  [0o100, 'O_CREAT', 1 << 2],
  [0o200, 'O_EXCL', 1 << 5],
  [0o1000, 'O_TRUNC', 1 << 8],
  [0o2000, 'O_APPEND', 1 << 3],
  [0o4000, 'O_NONBLOCK', 1 << 6],
  [0o4010000, 'O_SYNC', 1 << 7],
  [0o10000, 'O_DSYNC', 1 << 4],
  [0o40000, 'O_DIRECT', 1 << 9],
  [0o100000, 'O_LARGEFILE', 1 << 11],
  [0o20200000, 'O_TMPFILE', 1 << 13],
  [0o200000, 'O_DIRECTORY', 1 << 10],
  [0o400000, 'O_NOFOLLOW', 0],
  [0o1000000, 'O_NOATIME', 0],
  [0o2000000, 'O_CLOEXEC', 1 << 12],
  [0o10000000, 'O_PATH', 0],
];
const O_DIRECTORY = 0o200000;

const openNames = new Map<number, string>();

/**
 * Open flags as Falco renders them: the access mode first (`O_RDONLY`, `O_WRONLY`, `O_RDWR`),
 * then the other flags (`O_RDWR|O_CREAT|O_CLOEXEC`).
 */
export function openFlagNames(flags: number): string {
  let text = openNames.get(flags);
  if (text !== undefined) return text;
  const mode = flags & O_ACCMODE;
  const names = [mode === 0 ? 'O_RDONLY' : mode === 1 ? 'O_WRONLY' : 'O_RDWR'];
  let rest = flags & ~O_ACCMODE;
  for (const [bits, name] of OPEN_FLAGS) {
    if ((rest & bits) === bits) {
      names.push(name);
      rest &= ~bits;
    }
  }
  text = names.join('|');
  if (openNames.size < 4096) openNames.set(flags, text);
  return text;
}

const openBits = new Map<number, number>();

/** Open flags as libsinsp's portable PPM_O_* bits (`evt.rawarg.flags`). */
export function openFlagBits(flags: number): number {
  let bits = openBits.get(flags);
  if (bits !== undefined) return bits;
  const mode = flags & O_ACCMODE;
  bits = mode === 0 ? 1 : mode === 1 ? 2 : 3;
  let rest = flags & ~O_ACCMODE;
  for (const [linux, , ppm] of OPEN_FLAGS) {
    if ((rest & linux) === linux) {
      bits |= ppm;
      rest &= ~linux;
    }
  }
  if (openBits.size < 4096) openBits.set(flags, bits);
  return bits;
}

/** Whether open flags ask for a directory (Falco types such a descriptor `d`). */
export function opensDirectory(flags: number): boolean {
  return (flags & O_DIRECTORY) !== 0;
}

const MODE_BITS: FlagTable = [
  [0o4000, 'S_ISUID'],
  [0o2000, 'S_ISGID'],
  [0o1000, 'S_ISVTX'],
  [0o400, 'S_IRUSR'],
  [0o200, 'S_IWUSR'],
  [0o100, 'S_IXUSR'],
  [0o40, 'S_IRGRP'],
  [0o20, 'S_IWGRP'],
  [0o10, 'S_IXGRP'],
  [0o4, 'S_IROTH'],
  [0o2, 'S_IWOTH'],
  [0o1, 'S_IXOTH'],
];
const modeBitNames = renderer(MODE_BITS);

/** A file mode as octal (`0644`): how Falco shows the mode of open(2). */
export function octalMode(mode: number): string {
  const bits = mode & 0o7777;
  return bits === 0 ? '0' : '0' + bits.toString(8);
}

/**
 * A permission mode as Falco shows it for chmod and mkdir: octal, then the bits' names
 * (`04755(S_ISUID|S_IRUSR|...)`), so that both `parseInt` and `contains S_ISUID` work on it.
 */
export function modeNames(mode: number): string {
  const bits = mode & 0o7777;
  return bits === 0 ? '0' : `${octalMode(bits)}(${modeBitNames(bits)})`;
}

/** Linux capability names by bit number. */
const CAPABILITIES = (
  'CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID ' +
  'CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW ' +
  'CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT ' +
  'CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD ' +
  'CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG ' +
  'CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE'
).split(' ');

const capabilityText = new Map<bigint, string>();

/** A capability set (a 64-bit mask) as the names of its capabilities joined by spaces. */
export function capabilityNames(mask: bigint): string {
  let text = capabilityText.get(mask);
  if (text !== undefined) return text;
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(CAPABILITIES[bit] ?? `CAP_${bit}`);
  }
  text = names.join(' ');
  if (capabilityText.size < 1024) capabilityText.set(mask, text);
  return text;
}

const PTRACE_REQUESTS: ReadonlyMap<number, string> = new Map([
  [0, 'PTRACE_TRACEME'],
  [1, 'PTRACE_PEEKTEXT'],
  [2, 'PTRACE_PEEKDATA'],
  [3, 'PTRACE_PEEKUSR'],
  [4, 'PTRACE_POKETEXT'],
  [5, 'PTRACE_POKEDATA'],
  [6, 'PTRACE_POKEUSR'],
  [7, 'PTRACE_CONT'],
  [8, 'PTRACE_KILL'],
  [9, 'PTRACE_SINGLESTEP'],
  [12, 'PTRACE_GETREGS'],
  [13, 'PTRACE_SETREGS'],
  [14, 'PTRACE_GETFPREGS'],
  [15, 'PTRACE_SETFPREGS'],
  [16, 'PTRACE_ATTACH'],
  [17, 'PTRACE_DETACH'],
  [18, 'PTRACE_GETFPXREGS'],
  [19, 'PTRACE_SETFPXREGS'],
  [24, 'PTRACE_SYSCALL'],
  [0x4200, 'PTRACE_SETOPTIONS'],
  [0x4201, 'PTRACE_GETEVENTMSG'],
  [0x4202, 'PTRACE_GETSIGINFO'],
  [0x4203, 'PTRACE_SETSIGINFO'],
  [0x4204, 'PTRACE_GETREGSET'],
  [0x4205, 'PTRACE_SETREGSET'],
  [0x4206, 'PTRACE_SEIZE'],
  [0x4207, 'PTRACE_INTERRUPT'],
  [0x4208, 'PTRACE_LISTEN'],
  [0x4209, 'PTRACE_PEEKSIGINFO'],
]);

/** A ptrace request's name (`PTRACE_ATTACH`), or its number. */
export function ptraceRequestName(request: number): string {
  return PTRACE_REQUESTS.get(request) ?? String(request);
}

const SOCKET_FAMILIES: ReadonlyMap<number, string> = new Map([
  [0, 'AF_UNSPEC'],
  [1, 'AF_UNIX'],
  [2, 'AF_INET'],
  [3, 'AF_AX25'],
  [4, 'AF_IPX'],
  [5, 'AF_APPLETALK'],
  [9, 'AF_X25'],
  [10, 'AF_INET6'],
  [15, 'AF_KEY'],
  [16, 'AF_NETLINK'],
  [17, 'AF_PACKET'],
  [29, 'AF_CAN'],
  [31, 'AF_BLUETOOTH'],
  [38, 'AF_ALG'],
  [40, 'AF_VSOCK'],
  [44, 'AF_XDP'],
]);

/** A socket domain's name (`AF_PACKET`), or its number. */
export function socketFamilyName(family: number): string {
  return SOCKET_FAMILIES.get(family) ?? String(family);
}

const SOCKET_TYPES: ReadonlyMap<number, string> = new Map([
  [1, 'SOCK_STREAM'],
  [2, 'SOCK_DGRAM'],
  [3, 'SOCK_RAW'],
  [4, 'SOCK_RDM'],
  [5, 'SOCK_SEQPACKET'],
  [6, 'SOCK_DCCP'],
  [10, 'SOCK_PACKET'],
]);

/** A socket type with its creation flags (`SOCK_STREAM|SOCK_CLOEXEC`). */
export function socketTypeName(type: number): string {
  const names = [SOCKET_TYPES.get(type & 0xf) ?? String(type & 0xf)];
  if (type & 0o4000) names.push('SOCK_NONBLOCK');
  if (type & 0o2000000) names.push('SOCK_CLOEXEC');
  return names.join('|');
}

const IP_PROTOCOLS: ReadonlyMap<number, string> = new Map([
  [6, 'tcp'],
  [17, 'udp'],
  [1, 'icmp'],
  [58, 'icmp'],
  [255, 'raw'],
]);

/** `fd.l4proto` of an IP socket: tcp, udp, icmp or raw. */
export function l4protoName(proto: number, socketType: number): string | undefined {
  const name = IP_PROTOCOLS.get(proto);
  if (name !== undefined) return name;
  if (socketType === 3) return 'raw';
  return undefined;
}

/** Namespace and clone flags (setns nstype, unshare flags). */
export const namespaceFlagNames = renderer([
  [0x20000, 'CLONE_NEWNS'],
  [0x2000000, 'CLONE_NEWCGROUP'],
  [0x4000000, 'CLONE_NEWUTS'],
  [0x8000000, 'CLONE_NEWIPC'],
  [0x10000000, 'CLONE_NEWUSER'],
  [0x20000000, 'CLONE_NEWPID'],
  [0x40000000, 'CLONE_NEWNET'],
  [0x80, 'CLONE_NEWTIME'],
  [0x200, 'CLONE_FS'],
  [0x400, 'CLONE_FILES'],
  [0x40000, 'CLONE_SYSVSEM'],
]);

const BPF_COMMANDS = (
  'BPF_MAP_CREATE BPF_MAP_LOOKUP_ELEM BPF_MAP_UPDATE_ELEM BPF_MAP_DELETE_ELEM BPF_MAP_GET_NEXT_KEY ' +
  'BPF_PROG_LOAD BPF_OBJ_PIN BPF_OBJ_GET BPF_PROG_ATTACH BPF_PROG_DETACH BPF_PROG_TEST_RUN ' +
  'BPF_PROG_GET_NEXT_ID BPF_MAP_GET_NEXT_ID BPF_PROG_GET_FD_BY_ID BPF_MAP_GET_FD_BY_ID ' +
  'BPF_OBJ_GET_INFO_BY_FD BPF_PROG_QUERY BPF_RAW_TRACEPOINT_OPEN BPF_BTF_LOAD BPF_BTF_GET_FD_BY_ID ' +
  'BPF_TASK_FD_QUERY BPF_MAP_LOOKUP_AND_DELETE_ELEM BPF_MAP_FREEZE BPF_BTF_GET_NEXT_ID ' +
  'BPF_MAP_LOOKUP_BATCH BPF_MAP_LOOKUP_AND_DELETE_BATCH BPF_MAP_UPDATE_BATCH BPF_MAP_DELETE_BATCH ' +
  'BPF_LINK_CREATE BPF_LINK_UPDATE BPF_LINK_GET_FD_BY_ID BPF_LINK_GET_NEXT_ID BPF_ENABLE_STATS ' +
  'BPF_ITER_CREATE BPF_LINK_DETACH BPF_PROG_BIND_MAP BPF_TOKEN_CREATE'
).split(' ');

/** A bpf(2) command's name (`BPF_PROG_LOAD`), or its number. */
export function bpfCommandName(cmd: number): string {
  return BPF_COMMANDS[cmd] ?? String(cmd);
}

/** mount(2) flags. */
export const mountFlagNames = renderer([
  [1, 'MS_RDONLY'],
  [2, 'MS_NOSUID'],
  [4, 'MS_NODEV'],
  [8, 'MS_NOEXEC'],
  [16, 'MS_SYNCHRONOUS'],
  [32, 'MS_REMOUNT'],
  [64, 'MS_MANDLOCK'],
  [128, 'MS_DIRSYNC'],
  [1024, 'MS_NOATIME'],
  [2048, 'MS_NODIRATIME'],
  [4096, 'MS_BIND'],
  [8192, 'MS_MOVE'],
  [16384, 'MS_REC'],
  [32768, 'MS_SILENT'],
  [1 << 16, 'MS_POSIXACL'],
  [1 << 17, 'MS_UNBINDABLE'],
  [1 << 18, 'MS_PRIVATE'],
  [1 << 19, 'MS_SLAVE'],
  [1 << 20, 'MS_SHARED'],
  [1 << 21, 'MS_RELATIME'],
  [1 << 22, 'MS_KERNMOUNT'],
  [1 << 23, 'MS_I_VERSION'],
  [1 << 24, 'MS_STRICTATIME'],
  [1 << 25, 'MS_LAZYTIME'],
]);

/** umount2(2) flags. */
export const umountFlagNames = renderer([
  [1, 'MNT_FORCE'],
  [2, 'MNT_DETACH'],
  [4, 'MNT_EXPIRE'],
  [8, 'UMOUNT_NOFOLLOW'],
]);

/** memfd_create(2) flags. */
export const memfdFlagNames = renderer([
  [1, 'MFD_CLOEXEC'],
  [2, 'MFD_ALLOW_SEALING'],
  [4, 'MFD_HUGETLB'],
  [8, 'MFD_NOEXEC_SEAL'],
  [16, 'MFD_EXEC'],
]);

/** The *at(2) flags (unlinkat, linkat, fchmodat). */
export const atFlagNames = renderer([
  [0x100, 'AT_SYMLINK_NOFOLLOW'],
  [0x200, 'AT_REMOVEDIR'],
  [0x400, 'AT_SYMLINK_FOLLOW'],
  [0x800, 'AT_NO_AUTOMOUNT'],
  [0x1000, 'AT_EMPTY_PATH'],
]);

/** renameat2(2) flags. */
export const renameFlagNames = renderer([
  [1, 'RENAME_NOREPLACE'],
  [2, 'RENAME_EXCHANGE'],
  [4, 'RENAME_WHITEOUT'],
]);

/** accept4(2)/dup3(2) flags. */
export const descriptorFlagNames = renderer([
  [0o4000, 'SOCK_NONBLOCK'],
  [0o2000000, 'O_CLOEXEC'],
]);

/** Exec flags (Falco's PPM_EXE_*), as `evt.arg.flags` of execve shows them. */
export const execFlagNames = renderer([
  [1, 'EXE_WRITABLE'],
  [2, 'EXE_UPPER_LAYER'],
  [4, 'EXE_FROM_MEMFD'],
  [8, 'EXE_LOWER_LAYER'],
]);
