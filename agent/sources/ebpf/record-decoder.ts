/**
 * Turns the kernel sensor's binary records (see `wire-format.ts`) into {@link Event}s keyed by
 * Falco field names, the way Falco's own syscall source would describe the same activity:
 * every event is a syscall exit (`evt.dir` `<`) with `evt.res` (`SUCCESS` or the errno's name)
 * and `evt.rawres`, the process (`proc.pid`, `thread.tid`, `proc.ppid`, `proc.vpid`,
 * `proc.name`, `user.uid`, `user.loginuid`, `group.gid`), its container (`container.id`,
 * `container.full_id`, from the cgroup id) and what the syscall acted on:
 * - process: `clone`/`fork`/`vfork`/`clone3` (the child's own view: result 0), `execve` and
 *   `execveat` (`proc.exe`, `proc.exepath`, `proc.args`, `proc.cmdline`, `proc.cwd`,
 *   `proc.tty`, `proc.env`, capabilities, `proc.is_exe_*`; a failed exec has its errno),
 *   `procexit`;
 * - files: the open family (`fd.name` made absolute, `fd.nameraw` as passed, `evt.arg.flags`
 *   as `O_RDONLY|O_CLOEXEC`, `evt.arg.mode`, `fd.typechar` `f` or `d`), `unlink*`, `rmdir`,
 *   `mkdir*`, `chmod`/`fchmod*` (`evt.arg.mode` with `S_ISUID`...), `rename*`, `link*`,
 *   `symlink*` (`evt.arg.*` paths made absolute, `evt.rawarg.*` as passed, `fs.path.*`);
 * - network: `connect`, `accept`, `accept4`, `listen`, `sendto`/`sendmsg` (datagrams to a new
 *   destination), `socket`: `fd.name`, `fd.cip`/`fd.sip`/`fd.lip`/`fd.rip` and ports,
 *   `fd.l4proto`, `fd.sockfamily`, `fd.type`/`fd.typechar`; Unix sockets by path;
 * - `dup*` (what the new descriptor is), `ptrace`, `setuid`, `setgid`, `setns`, `unshare`,
 *   `bpf`, `init_module`, `finit_module`, `memfd_create`, `mount`, `umount2`.
 *
 * Strings keep every byte: valid UTF-8 decodes as usual, other bytes as lone surrogates
 * (`byte-text.ts`). Argument lists cut at the sensor's limits are marked
 * `evt.arg.args_truncated: true`.
 *
 * Work per record is kept small: the payload is read in place, string offsets are found in one
 * pass into reused arrays, names and flag renderings are cached, and one object is allocated per
 * event (the sink may keep events, so they are never reused).
 */
import type { Event } from '../../../core/event.js';
import { MalformedReasons, type DecoderFactory } from '../decoder.js';
import { createLengthPrefixedDecoder } from '../length-prefixed-decoder.js';
import { plainIp, type Fields } from '../field-mapping.js';
import { bytesToText } from './byte-text.js';
import {
  atFlagNames,
  bpfCommandName,
  capabilityNames,
  descriptorFlagNames,
  execFlagNames,
  l4protoName,
  memfdFlagNames,
  modeNames,
  mountFlagNames,
  namespaceFlagNames,
  octalMode,
  openFlagBits,
  openFlagNames,
  opensDirectory,
  ptraceRequestName,
  renameFlagNames,
  resultName,
  socketFamilyName,
  socketTypeName,
  umountFlagNames,
} from './falco-names.js';
import {
  CLONE_SYSCALLS,
  CloneNum,
  DupNum,
  EventFlag,
  EventHeader,
  ExecFlag,
  ExecNum,
  ExecStr,
  ExitNum,
  FdKind,
  FORMAT_VERSION,
  HeaderRecord,
  OpenNum,
  PairNum,
  PathNum,
  RecordType,
  SockNum,
  SocketNum,
  StatsRecord,
  STR_LEN_MASK,
  STR_TRUNCATED,
} from './wire-format.js';

/** What the sensor said about itself in its stream's first record. */
export interface SensorHeader {
  readonly version: number;
  readonly sensorPid: number;
  /** Add to a record's boot-clock timestamp to get nanoseconds since the epoch. */
  readonly bootToEpochNs: bigint;
  readonly ringBytes: number;
  readonly argvMax: number;
  readonly argLen: number;
  readonly envBytes: number;
  /** `KIND:MOUNTPOINT` of the cgroup hierarchy cgroup ids refer to. */
  readonly cgroupHierarchy: string;
  /** The event types it traces. */
  readonly events: readonly string[];
}

/** Cumulative per-event-type counters from a stats record. */
export interface SensorCounters {
  /** Boot-clock nanoseconds of the reading. */
  readonly ts: bigint;
  /** Event type name (the record type's, e.g. `clone` for all four fork-like calls) -> counts. */
  readonly byType: ReadonlyMap<string, { readonly sent: number; readonly lost: number }>;
}

/** Finds the container of a cgroup id (see `cgroup-containers.ts`). */
export interface ContainerLookup {
  /** A 64-hex container id, `''` for the host, undefined when unknown. */
  containerOf(cgroupId: number, pid: number): string | undefined;
}

/** Options of {@link SensorRecordDecoder}. */
export interface SensorRecordDecoderOptions {
  /** Container ids by cgroup id; without it events carry no `container.*` field. */
  readonly containers?: (header: SensorHeader) => ContainerLookup | undefined;
  /** Called with each stream's header record. */
  readonly onHeader?: (header: SensorHeader) => void;
  /** Called with each stats record. */
  readonly onStats?: (counters: SensorCounters) => void;
}

const RECORD_NAMES = new Map<number, string>(
  Object.entries(RecordType).map(([name, id]) => [id, name] as const),
);

/** The reason token of records that carry no event (header, stats): consumed, not malformed. */
export const CONTROL_RECORD = 'control-record';

/** Unset login uid as the kernel stores it; Falco shows -1. */
const LOGINUID_UNSET = 0xffffffff;
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const MAX_STRINGS = 8192;
const COMM_CACHE_MAX = 65536;

/** Little-endian u32 at `at`, read by index: cheaper than Buffer's checked readers here. */
function u32(p: Buffer, at: number): number {
  return (
    ((p[at] as number) | ((p[at + 1] as number) << 8) | ((p[at + 2] as number) << 16)) +
    (p[at + 3] as number) * 0x1000000
  );
}

/** Little-endian i32 at `at`. */
function i32(p: Buffer, at: number): number {
  return (
    (p[at] as number) |
    ((p[at + 1] as number) << 8) |
    ((p[at + 2] as number) << 16) |
    ((p[at + 3] as number) << 24)
  );
}

/** A per-process name cache entry: the comm's bytes (four words) and its decoded name. */
interface CommEntry {
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  name: string;
}

/**
 * Decodes one stream's records. Keeps per-stream state: the header (clock offset), the string
 * offsets of the record at hand, and the names of processes.
 */
export class SensorRecordDecoder {
  private header: SensorHeader | undefined;
  private bootToEpoch = 0n;
  private containers: ContainerLookup | undefined;
  private num = 0;
  // String k of the current record: bytes [strStart[k], strStart[k] + strLen[k]).
  private readonly strStart = new Int32Array(MAX_STRINGS);
  private readonly strLen = new Int32Array(MAX_STRINGS);
  private readonly strCut = new Uint8Array(MAX_STRINGS);
  private nstr = 0;
  private numsAt = 0;
  private readonly comms = new Map<number, CommEntry>();

  constructor(private readonly options: SensorRecordDecoderOptions = {}) {}

  /** The stream's header, once read. */
  get streamHeader(): SensorHeader | undefined {
    return this.header;
  }

  /**
   * One record's payload: an event, {@link CONTROL_RECORD} for a header or stats record, or a
   * malformed reason. `p` is only read during the call.
   */
  decode(p: Buffer): Event | string {
    if (p.length < 2) return MalformedReasons.badRecord;
    const type = p.readUInt16LE(0);
    if (type === RecordType.header) return this.readHeader(p);
    if (type === RecordType.stats) return this.readStats(p);
    if (this.header === undefined) return 'no-header';
    if (p.length < EventHeader.size || !this.scan(p)) return MalformedReasons.badRecord;
    const fields = this.common(p, type);
    if (fields === undefined) return MalformedReasons.unknownKind;
    return { fields };
  }

  // --- control records -------------------------------------------------------------------

  private readHeader(p: Buffer): string {
    if (p.length < HeaderRecord.size) return MalformedReasons.badRecord;
    const version = p.readUInt16LE(HeaderRecord.version);
    if (version !== FORMAT_VERSION) return `bad-version`;
    let at = HeaderRecord.size;
    const strings: string[] = [];
    for (let i = 0; i < 2; i++) {
      if (at + 2 > p.length) return MalformedReasons.badRecord;
      const len = p.readUInt16LE(at) & STR_LEN_MASK;
      if (at + 2 + len > p.length) return MalformedReasons.badRecord;
      strings.push(p.toString('utf8', at + 2, at + 2 + len));
      at += 2 + len;
    }
    const header: SensorHeader = {
      version,
      sensorPid: p.readUInt32LE(HeaderRecord.sensorPid),
      bootToEpochNs: p.readBigUInt64LE(HeaderRecord.bootToEpochNs),
      ringBytes: p.readUInt32LE(HeaderRecord.ringBytes),
      argvMax: p.readUInt32LE(HeaderRecord.argvMax),
      argLen: p.readUInt32LE(HeaderRecord.argLen),
      envBytes: p.readUInt32LE(HeaderRecord.envBytes),
      cgroupHierarchy: strings[0] ?? '',
      events: (strings[1] ?? '').split(',').filter((e) => e !== ''),
    };
    this.header = header;
    this.bootToEpoch = header.bootToEpochNs;
    this.containers = this.options.containers?.(header);
    this.options.onHeader?.(header);
    return CONTROL_RECORD;
  }

  private readStats(p: Buffer): string {
    if (p.length < StatsRecord.size) return MalformedReasons.badRecord;
    const count = p.readUInt16LE(StatsRecord.count);
    if (p.length < StatsRecord.size + count * StatsRecord.entrySize) return MalformedReasons.badRecord;
    const byType = new Map<string, { sent: number; lost: number }>();
    for (let i = 0; i < count; i++) {
      const at = StatsRecord.size + i * StatsRecord.entrySize;
      const name = RECORD_NAMES.get(p.readUInt16LE(at)) ?? `type-${p.readUInt16LE(at)}`;
      byType.set(name, { sent: Number(p.readBigUInt64LE(at + 8)), lost: Number(p.readBigUInt64LE(at + 16)) });
    }
    this.options.onStats?.({ ts: p.readBigUInt64LE(StatsRecord.ts), byType });
    return CONTROL_RECORD;
  }

  // --- event records -----------------------------------------------------------------------

  /** Finds the numbers and the strings of an event record; false when it overruns. */
  private scan(p: Buffer): boolean {
    const nnum = p[EventHeader.nnum] as number;
    const nstr = (p[EventHeader.nstr] as number) | ((p[EventHeader.nstr + 1] as number) << 8);
    if (nstr > MAX_STRINGS) return false;
    this.numsAt = EventHeader.size;
    let at = EventHeader.size + nnum * 8;
    if (at > p.length) return false;
    for (let k = 0; k < nstr; k++) {
      if (at + 2 > p.length) return false;
      const h = (p[at] as number) | ((p[at + 1] as number) << 8);
      const len = h & STR_LEN_MASK;
      at += 2;
      if (at + len > p.length) return false;
      this.strStart[k] = at;
      this.strLen[k] = len;
      this.strCut[k] = (h & STR_TRUNCATED) !== 0 ? 1 : 0;
      at += len;
    }
    this.nstr = nstr;
    return true;
  }

  /** Number `i` as a signed 32-bit value (descriptors, flags, small counts). */
  private int(p: Buffer, i: number): number {
    return i32(p, this.numsAt + i * 8);
  }

  /** Number `i` as an unsigned value (exact up to 2^53). */
  private u64(p: Buffer, i: number): number {
    const at = this.numsAt + i * 8;
    return u32(p, at) + u32(p, at + 4) * 0x100000000;
  }

  private str(p: Buffer, k: number): string {
    if (k >= this.nstr) return '';
    const start = this.strStart[k] as number;
    return bytesToText(p, start, start + (this.strLen[k] as number));
  }

  /** The process name: the comm, decoded once per process and name. */
  private procName(p: Buffer, pid: number): string {
    const at = EventHeader.comm;
    const w0 = i32(p, at);
    const w1 = i32(p, at + 4);
    const w2 = i32(p, at + 8);
    const w3 = i32(p, at + 12);
    const hit = this.comms.get(pid);
    if (hit !== undefined && hit.w0 === w0 && hit.w1 === w1 && hit.w2 === w2 && hit.w3 === w3)
      return hit.name;
    let end = at;
    while (end < at + EventHeader.commLength && p[end] !== 0) end++;
    const name = bytesToText(p, at, end);
    if (this.comms.size >= COMM_CACHE_MAX) this.comms.clear();
    this.comms.set(pid, { w0, w1, w2, w3, name });
    return name;
  }

  private common(p: Buffer, type: number): Fields | undefined {
    const pid = u32(p, EventHeader.pid);
    // The result as a number: the low word, plus the (signed) high word's weight.
    const res = u32(p, EventHeader.res) + i32(p, EventHeader.res + 4) * 0x100000000;
    const loginuid = u32(p, EventHeader.loginuid);
    const cgroupId = u32(p, EventHeader.cgroup) + u32(p, EventHeader.cgroup + 4) * 0x100000000;
    const name = this.procName(p, pid);
    const f: Fields = {
      'evt.type': RECORD_NAMES.get(type),
      'evt.dir': '<',
      'evt.num': ++this.num,
      'evt.rawtime': p.readBigUInt64LE(EventHeader.ts) + this.bootToEpoch,
      'evt.res': resultName(res),
      'evt.rawres': res,
      'proc.pid': pid,
      'thread.tid': u32(p, EventHeader.tid),
      'proc.ppid': u32(p, EventHeader.ppid),
      'proc.vpid': u32(p, EventHeader.vpid),
      'proc.name': name,
      'user.uid': u32(p, EventHeader.uid),
      'group.gid': u32(p, EventHeader.gid),
      'user.loginuid': loginuid === LOGINUID_UNSET ? -1 : loginuid,
    };
    const container = this.containers?.containerOf(cgroupId, pid);
    if (container !== undefined) {
      if (container === '') f['container.id'] = 'host';
      else {
        f['container.id'] = container.slice(0, 12);
        f['container.full_id'] = container;
      }
    }
    switch (type) {
      case RecordType.clone:
        this.clone(p, f);
        break;
      case RecordType.execve:
      case RecordType.execveat:
        this.exec(p, f, res);
        break;
      case RecordType.procexit:
        this.procexit(p, f, pid);
        break;
      case RecordType.open:
      case RecordType.openat:
      case RecordType.openat2:
      case RecordType.creat:
        this.open(p, f, type, res);
        break;
      case RecordType.connect:
      case RecordType.sendto:
      case RecordType.sendmsg:
        this.socketTuple(p, f, SockNum.fd, 0, 'client');
        if (type === RecordType.connect) f['fd.num'] = this.int(p, SockNum.fd);
        else {
          f['fd.num'] = this.int(p, SockNum.fd);
          f['fd.connected'] = false;
          f['fd.name_changed'] = true;
          f['evt.arg.size'] = res;
        }
        break;
      case RecordType.accept:
      case RecordType.accept4:
        this.socketTuple(p, f, SockNum.fd, 0, 'server');
        f['fd.num'] = res >= 0 ? res : this.int(p, SockNum.fd);
        if (type === RecordType.accept4) f['evt.arg.flags'] = descriptorFlagNames(this.int(p, SockNum.extra));
        break;
      case RecordType.listen:
        this.socketTuple(p, f, SockNum.fd, 0, 'listen');
        f['fd.num'] = this.int(p, SockNum.fd);
        f['evt.arg.backlog'] = this.int(p, SockNum.extra);
        break;
      case RecordType.socket:
        this.socket(p, f, res);
        break;
      case RecordType.dup:
      case RecordType.dup2:
      case RecordType.dup3:
        this.dup(p, f, type, res);
        break;
      case RecordType.unlink:
      case RecordType.unlinkat:
      case RecordType.rmdir:
      case RecordType.mkdir:
      case RecordType.mkdirat:
      case RecordType.chmod:
      case RecordType.fchmod:
      case RecordType.fchmodat:
        this.pathEvent(p, f, type);
        break;
      case RecordType.rename:
      case RecordType.renameat:
      case RecordType.renameat2:
      case RecordType.link:
      case RecordType.linkat:
      case RecordType.symlink:
      case RecordType.symlinkat:
        this.pairEvent(p, f, type);
        break;
      case RecordType.ptrace:
        f['evt.arg.request'] = ptraceRequestName(this.int(p, 0));
        f['evt.rawarg.request'] = this.int(p, 0);
        f['evt.arg.pid'] = this.int(p, 1);
        break;
      case RecordType.setuid:
        f['evt.arg.uid'] = this.int(p, 0) >>> 0;
        break;
      case RecordType.setgid:
        f['evt.arg.gid'] = this.int(p, 0) >>> 0;
        break;
      case RecordType.setns:
        f['evt.arg.fd'] = this.int(p, 0);
        f['evt.arg.nstype'] = namespaceFlagNames(this.int(p, 1));
        f['evt.rawarg.nstype'] = this.int(p, 1);
        break;
      case RecordType.unshare:
        f['evt.arg.flags'] = namespaceFlagNames(this.int(p, 0));
        f['evt.rawarg.flags'] = this.int(p, 0);
        break;
      case RecordType.bpf:
        f['evt.arg.cmd'] = bpfCommandName(this.int(p, 0));
        f['evt.rawarg.cmd'] = this.int(p, 0);
        f['evt.arg.res_or_fd'] = res;
        break;
      case RecordType.init_module:
        f['evt.arg.length'] = this.u64(p, 0);
        f['evt.arg.uargs'] = this.str(p, 0);
        break;
      case RecordType.finit_module:
        f['evt.arg.fd'] = this.int(p, 0);
        f['evt.arg.flags'] = this.int(p, 1);
        f['evt.arg.uargs'] = this.str(p, 0);
        break;
      case RecordType.memfd_create:
        f['evt.arg.name'] = this.str(p, 0);
        f['evt.arg.flags'] = memfdFlagNames(this.int(p, 0));
        f['evt.rawarg.flags'] = this.int(p, 0);
        f['fd.num'] = res;
        break;
      case RecordType.mount: {
        let flags = this.int(p, 0) >>> 0;
        // mount(2) flags may carry the historic magic number in their upper half.
        if (flags >>> 16 === 0xc0ed) flags &= 0xffff;
        f['evt.arg.dev'] = this.str(p, 0);
        f['evt.arg.dir'] = this.str(p, 1);
        f['evt.arg.type'] = this.str(p, 2);
        f['evt.arg.flags'] = mountFlagNames(flags);
        f['evt.rawarg.flags'] = flags;
        break;
      }
      case RecordType.umount2:
        f['evt.arg.name'] = this.str(p, 0);
        f['evt.arg.flags'] = umountFlagNames(this.int(p, 0));
        f['evt.rawarg.flags'] = this.int(p, 0);
        break;
      default:
        return undefined;
    }
    return f;
  }

  private clone(p: Buffer, f: Fields): void {
    f['evt.type'] = CLONE_SYSCALLS[this.int(p, CloneNum.syscall)] ?? 'clone';
    f['evt.arg.ptid'] = this.int(p, CloneNum.callerTid);
    f['proc.tty'] = this.int(p, CloneNum.tty) >>> 0;
  }

  private exec(p: Buffer, f: Fields, res: number): void {
    const argc = this.int(p, ExecNum.argc);
    const filename = this.str(p, ExecStr.filename);
    const argv: string[] = [];
    for (let k = 0; k < argc; k++) argv.push(this.str(p, ExecStr.fixed + k));
    const args = argv.slice(1).join(' ');
    const flags = this.int(p, ExecNum.flags);
    f['evt.arg.filename'] = filename;
    f['evt.arg.exe'] = argv[0] ?? filename;
    f['evt.arg.args'] = args;
    f['evt.arg.flags'] = execFlagNames(flags);
    f['evt.rawarg.flags'] = flags;
    f['proc.cwd'] = this.str(p, ExecStr.cwd);
    f['proc.tty'] = this.int(p, ExecNum.tty) >>> 0;
    if ((p.readUInt16LE(EventHeader.flags) & EventFlag.argvTruncated) !== 0)
      f['evt.arg.args_truncated'] = true;
    // A failed exec leaves the caller running its old program: the proc.* fields describe it,
    // and only evt.arg.* say what it tried to run.
    if (res < 0) return;

    // proc.name stays the comm, at most 15 bytes (`containerd-shim` for containerd-shim-runc-v2),
    // as in Falco: upstream rule lists name processes that way.
    const name = f['proc.name'] as string;
    const exepath = this.str(p, ExecStr.exepath);
    const sid = this.int(p, ExecNum.sid);
    const pgid = this.int(p, ExecNum.pgid);
    const vpid = f['proc.vpid'] as number;
    f['proc.exe'] = argv[0] ?? filename;
    f['proc.args'] = args;
    f['proc.cmdline'] = args === '' ? name : `${name} ${args}`;
    f['proc.cmdnargs'] = argc;
    if (exepath !== '') f['proc.exepath'] = exepath;
    f['proc.is_sid_leader'] = sid === vpid;
    f['proc.is_vpgid_leader'] = pgid === vpid;
    f['proc.is_exe_writable'] = (flags & ExecFlag.writable) !== 0;
    f['proc.is_exe_upper_layer'] = (flags & ExecFlag.upperLayer) !== 0;
    f['proc.is_exe_lower_layer'] = (flags & ExecFlag.lowerLayer) !== 0;
    f['proc.is_exe_from_memfd'] = (flags & ExecFlag.fromMemfd) !== 0;
    f['proc.exe_ino'] = this.u64(p, ExecNum.exeIno);
    f['thread.cap_permitted'] = capabilityNames(p.readBigUInt64LE(this.numsAt + ExecNum.capPermitted * 8));
    f['thread.cap_effective'] = capabilityNames(p.readBigUInt64LE(this.numsAt + ExecNum.capEffective * 8));
    f['thread.cap_inheritable'] = capabilityNames(
      p.readBigUInt64LE(this.numsAt + ExecNum.capInheritable * 8),
    );
    const env: string[] = [];
    for (let k = ExecStr.fixed + argc; k < this.nstr; k++) env.push(this.str(p, k));
    if (env.length > 0) f['proc.env'] = env.join(' ');
  }

  private procexit(p: Buffer, f: Fields, pid: number): void {
    const code = this.int(p, ExitNum.code);
    f['evt.arg.status'] = code;
    f['evt.arg.ret'] = code >> 8;
    f['evt.arg.sig'] = code & 0x7f;
    f['evt.arg.core'] = (code & 0x80) !== 0 ? 1 : 0;
    this.comms.delete(pid);
  }

  private open(p: Buffer, f: Fields, type: number, res: number): void {
    const flags = type === RecordType.creat ? 0o1101 : this.int(p, OpenNum.flags);
    const mode = this.int(p, OpenNum.mode) & 0o7777;
    const raw = this.str(p, 0);
    const name = absolutePath(raw, this.str(p, 1));
    const dir = opensDirectory(flags);
    const access = flags & 3;
    f['fd.num'] = res >= 0 ? res : -1;
    f['fd.name'] = name;
    f['fd.nameraw'] = raw;
    f['fd.typechar'] = dir ? 'd' : 'f';
    f['fd.type'] = dir ? 'directory' : 'file';
    // What the rules ask of every open, worked out once here rather than by each rule from the
    // rendered flags: libsinsp's directory and file name, and the open's intent.
    const slash = name.lastIndexOf('/');
    if (dir) f['fd.directory'] = name;
    else if (name !== '') {
      f['fd.directory'] = slash <= 0 ? '/' : slash < name.length - 1 ? name.slice(0, slash) : name;
      f['fd.filename'] = slash >= 0 && slash < name.length - 1 ? name.slice(slash + 1) : name;
    }
    f['evt.is_open_read'] = access === 0 || access === 2;
    f['evt.is_open_write'] = access === 1 || access === 2;
    f['evt.is_open_exec'] = (flags & (0o100 | 0o20000000)) !== 0 && (mode & 0o111) !== 0;
    f['evt.arg.fd'] = res;
    f['evt.arg.name'] = name;
    f['evt.rawarg.name'] = raw;
    f['evt.arg.flags'] = openFlagNames(flags);
    f['evt.rawarg.flags'] = openFlagBits(flags);
    f['evt.arg.mode'] = octalMode(mode);
    f['evt.rawarg.mode'] = mode;
    if (type === RecordType.openat || type === RecordType.openat2)
      f['evt.arg.dirfd'] = this.int(p, OpenNum.dirfd);
    if (type === RecordType.openat2) f['evt.arg.resolve'] = this.int(p, OpenNum.resolve);
  }

  /**
   * The socket tuple at nums[base..] and strs[strBase..]: local and remote ends, placed as
   * client and server by the role of the caller (a connecting client, an accepting server, a
   * listening server).
   */
  private socketTuple(
    p: Buffer,
    f: Fields,
    base: number,
    strBase: number,
    role: 'client' | 'server' | 'listen',
  ): void {
    const family = this.int(p, base + SockNum.family);
    const sotype = this.int(p, base + SockNum.type);
    if (family === AF_UNIX) {
      const path = this.str(p, strBase + (role === 'client' ? 1 : 0));
      f['fd.type'] = 'unix';
      f['fd.typechar'] = 'u';
      f['fd.sockfamily'] = 'unix';
      // An abstract address starts with a NUL; a path one may end with its terminator.
      const nul = path.indexOf('\0', 1);
      f['fd.name'] = path.startsWith('\0') ? `@${path.slice(1)}` : nul < 0 ? path : path.slice(0, nul);
      return;
    }
    if (family !== AF_INET && family !== AF_INET6) {
      if (family !== 0) f['fd.sockfamily'] = socketFamilyName(family);
      return;
    }
    const lip = ipText(p, this.strStart[strBase] as number, this.strLen[strBase] as number);
    const rip = ipText(p, this.strStart[strBase + 1] as number, this.strLen[strBase + 1] as number);
    const lport = this.int(p, base + SockNum.lport);
    const rport = this.int(p, base + SockNum.rport);
    const v6 = family === AF_INET6 && !(lip ?? rip ?? '').includes('.');
    f['fd.type'] = v6 ? 'ipv6' : 'ipv4';
    f['fd.typechar'] = v6 ? '6' : '4';
    f['fd.sockfamily'] = 'ip';
    const proto = l4protoName(this.int(p, base + SockNum.proto), sotype);
    if (proto !== undefined) f['fd.l4proto'] = proto;
    if (lip !== undefined) f['fd.lip'] = lip;
    f['fd.lport'] = lport;
    if (role === 'listen') {
      if (lip !== undefined) {
        f['fd.sip'] = lip;
        f['fd.name'] = `${lip}:${lport}`;
      }
      f['fd.sport'] = lport;
      return;
    }
    if (rip !== undefined) f['fd.rip'] = rip;
    f['fd.rport'] = rport;
    const [cip, cport, sip, sport] = role === 'client' ? [lip, lport, rip, rport] : [rip, rport, lip, lport];
    if (cip !== undefined) f['fd.cip'] = cip;
    f['fd.cport'] = cport;
    if (sip !== undefined) f['fd.sip'] = sip;
    f['fd.sport'] = sport;
    if (cip !== undefined && sip !== undefined) f['fd.name'] = `${cip}:${cport}->${sip}:${sport}`;
  }

  private socket(p: Buffer, f: Fields, res: number): void {
    const domain = this.int(p, SocketNum.domain);
    const type = this.int(p, SocketNum.type);
    f['fd.num'] = res;
    f['evt.arg.domain'] = socketFamilyName(domain);
    f['evt.rawarg.domain'] = domain;
    f['evt.arg.type'] = socketTypeName(type);
    f['evt.rawarg.type'] = type;
    f['evt.arg.proto'] = this.int(p, SocketNum.protocol);
    f['fd.sockfamily'] =
      domain === AF_INET || domain === AF_INET6
        ? 'ip'
        : domain === AF_UNIX
          ? 'unix'
          : socketFamilyName(domain);
    if (domain === AF_INET || domain === AF_INET6 || domain === AF_UNIX) {
      f['fd.type'] = domain === AF_INET ? 'ipv4' : domain === AF_INET6 ? 'ipv6' : 'unix';
      f['fd.typechar'] = domain === AF_INET ? '4' : domain === AF_INET6 ? '6' : 'u';
    }
  }

  private dup(p: Buffer, f: Fields, type: number, res: number): void {
    f['fd.num'] = res;
    f['evt.arg.oldfd'] = this.int(p, DupNum.oldfd);
    if (type !== RecordType.dup) f['evt.arg.newfd'] = this.int(p, DupNum.newfd);
    if (type === RecordType.dup3) f['evt.arg.flags'] = descriptorFlagNames(this.int(p, DupNum.flags));
    switch (this.int(p, DupNum.fdKind)) {
      case FdKind.socket:
        // A socket made by accept is the server's end, by connect the client's: a dup cannot
        // tell, so the local end is taken as the client (most redirections are of clients).
        this.socketTuple(p, f, DupNum.tuple, 0, 'client');
        break;
      case FdKind.file:
        f['fd.type'] = 'file';
        f['fd.typechar'] = 'f';
        f['fd.name'] = this.str(p, 2);
        break;
      case FdKind.directory:
        f['fd.type'] = 'directory';
        f['fd.typechar'] = 'd';
        f['fd.name'] = this.str(p, 2);
        break;
      case FdKind.pipe:
        f['fd.type'] = 'pipe';
        f['fd.typechar'] = 'p';
        break;
      default:
        break;
    }
  }

  private pathEvent(p: Buffer, f: Fields, type: number): void {
    const raw = this.str(p, 0);
    const path = type === RecordType.fchmod ? raw : absolutePath(raw, this.str(p, 1));
    const arg = this.int(p, PathNum.arg);
    f['fs.path.name'] = path;
    f['fs.path.nameraw'] = raw;
    switch (type) {
      case RecordType.unlink:
      case RecordType.rmdir:
        f['evt.arg.path'] = path;
        f['evt.rawarg.path'] = raw;
        break;
      case RecordType.unlinkat:
        f['evt.arg.dirfd'] = this.int(p, PathNum.dirfd);
        f['evt.arg.name'] = path;
        f['evt.rawarg.name'] = raw;
        f['evt.arg.flags'] = atFlagNames(arg);
        break;
      case RecordType.mkdir:
      case RecordType.mkdirat:
        if (type === RecordType.mkdirat) f['evt.arg.dirfd'] = this.int(p, PathNum.dirfd);
        f['evt.arg.path'] = path;
        f['evt.rawarg.path'] = raw;
        f['evt.arg.mode'] = modeNames(arg);
        f['evt.rawarg.mode'] = arg & 0o7777;
        break;
      case RecordType.fchmod:
        f['evt.arg.fd'] = this.int(p, PathNum.dirfd);
        f['fd.num'] = this.int(p, PathNum.dirfd);
        f['fd.name'] = path;
        f['evt.arg.mode'] = modeNames(arg);
        f['evt.rawarg.mode'] = arg & 0o7777;
        break;
      default:
        // chmod, fchmodat
        if (type === RecordType.fchmodat) f['evt.arg.dirfd'] = this.int(p, PathNum.dirfd);
        f['evt.arg.filename'] = path;
        f['evt.rawarg.filename'] = raw;
        f['evt.arg.mode'] = modeNames(arg);
        f['evt.rawarg.mode'] = arg & 0o7777;
    }
  }

  private pairEvent(p: Buffer, f: Fields, type: number): void {
    const oldRaw = this.str(p, 0);
    const newRaw = this.str(p, 2);
    const newPath = absolutePath(newRaw, this.str(p, 3));
    const flags = this.int(p, PairNum.flags);
    const symlink = type === RecordType.symlink || type === RecordType.symlinkat;
    if (symlink) {
      // The target is the link's content: kept as written.
      f['evt.arg.target'] = oldRaw;
      f['evt.arg.linkpath'] = newPath;
      f['evt.rawarg.linkpath'] = newRaw;
      f['fs.path.target'] = oldRaw;
      f['fs.path.source'] = newPath;
      if (type === RecordType.symlinkat) f['evt.arg.linkdirfd'] = this.int(p, PairNum.newdirfd);
      return;
    }
    const oldPath = absolutePath(oldRaw, this.str(p, 1));
    f['evt.arg.oldpath'] = oldPath;
    f['evt.rawarg.oldpath'] = oldRaw;
    f['evt.arg.newpath'] = newPath;
    f['evt.rawarg.newpath'] = newRaw;
    f['fs.path.source'] = oldPath;
    f['fs.path.sourceraw'] = oldRaw;
    f['fs.path.target'] = newPath;
    f['fs.path.targetraw'] = newRaw;
    if (type === RecordType.renameat || type === RecordType.renameat2 || type === RecordType.linkat) {
      f['evt.arg.olddirfd'] = this.int(p, PairNum.olddirfd);
      f['evt.arg.newdirfd'] = this.int(p, PairNum.newdirfd);
    }
    if (type === RecordType.renameat2) f['evt.arg.flags'] = renameFlagNames(flags);
    if (type === RecordType.linkat) f['evt.arg.flags'] = atFlagNames(flags);
  }
}

/**
 * `raw` made absolute against `base` (the directory it was relative to) and normalized as
 * libsinsp does: `.` and `..` resolved, repeated and trailing slashes dropped. Symbolic links
 * are not followed: the path names what the process asked for.
 */
export function absolutePath(raw: string, base: string): string {
  if (raw === '') return raw;
  let path: string;
  if (raw.charCodeAt(0) === 47 || base === '') path = raw;
  else path = base.charCodeAt(base.length - 1) === 47 ? base + raw : `${base}/${raw}`;
  if (!needsNormalizing(path)) return path;
  const absolute = path.charCodeAt(0) === 47;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!absolute) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined === '' ? '.' : joined;
}

function needsNormalizing(path: string): boolean {
  if (path.charCodeAt(0) !== 47) return true;
  // `/.` finds `/./`, `/../` and a trailing `/.` or `/..` (and dot files: harmless, the slow
  // path keeps them).
  if (path.indexOf('//') >= 0 || path.indexOf('/.') >= 0) return true;
  return path.length > 1 && path.charCodeAt(path.length - 1) === 47;
}

/** An address string's text: 4 bytes dotted, 16 bytes as IPv6 (v4-mapped ones as IPv4). */
export function ipText(p: Buffer, at: number, len: number): string | undefined {
  if (len === 4) return `${p[at]}.${p[at + 1]}.${p[at + 2]}.${p[at + 3]}`;
  if (len !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(p.readUInt16BE(at + i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return plainIp(`::ffff:${p[at + 12]}.${p[at + 13]}.${p[at + 14]}.${p[at + 15]}`);
  }
  // RFC 5952: the longest run (of two or more) of zero groups becomes `::`.
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/**
 * A decoder factory for the sensor's stream: length-prefixed framing (the shared
 * `length-prefixed-decoder.ts`) around a {@link SensorRecordDecoder}. Header and stats records
 * are consumed (they reach `onHeader`/`onStats`), not reported as malformed.
 */
export function createSensorDecoder(options: SensorRecordDecoderOptions = {}): DecoderFactory {
  return (sink) => {
    const records = new SensorRecordDecoder(options);
    const framing = createLengthPrefixedDecoder((payload) => records.decode(payload));
    return framing({
      event: (evt) => sink.event(evt),
      malformed: (reason, detail) => {
        if (reason !== CONTROL_RECORD) sink.malformed(reason, detail);
      },
    });
  };
}
