/**
 * The agent's process table: what it knows about every process on the node, learnt from the
 * event stream (and, when live, from /proc), so that rules can ask about a process's ancestors
 * (`proc.aname[2]`, `proc.pcmdline`) and container although an event names only its own pid.
 *
 * What teaches it:
 * - `clone`/`fork`/`vfork`/`clone3` exits. The child's own exit (result 0, `proc.pid` the child,
 *   `proc.ppid` its parent) is authoritative. The parent's exit (result: the child's pid) creates
 *   the child early, except when the result cannot be trusted as a host pid: a new thread
 *   (`CLONE_THREAD`), or a caller inside a pid namespace (its result is the child's pid in that
 *   namespace; the child's own event will follow).
 * - `execve`/`execveat` exits that succeeded: the new program's name, exe, exepath, args,
 *   cmdline, and whatever else the event carries.
 * - `procexit` of a process's main thread: the process is marked exited, and leaves the table
 *   after a grace period so that late events (other CPUs' buffers) still resolve.
 * - Any other event naming a pid not yet known (the agent started after it did, or its clone was
 *   lost): an entry from the event's own `proc.*` fields, and a placeholder for its parent from
 *   `proc.pname`/`proc.pcmdline`/`proc.pexe`/`proc.pexepath`. When live (a {@link ProcReader} is
 *   given), a missing process or parent is read from /proc instead (and further ancestors when
 *   an ancestry walk reaches them), at most once per pid within the negative cache's lifetime and
 *   within a budget of reads per second, so a flood of unknown pids cannot hammer /proc.
 *
 * Bounded: at most `maxEntries` processes. When full, exited processes go first (oldest exit
 * first, even inside their grace period), then the least recently seen. Every `observe` is O(1):
 * one map lookup, a move to the front of an intrusive recency list, and at most a few expiries.
 *
 * Ancestry follows each entry's parent pid, guarding against pid reuse (a parent that started
 * after its child is not its parent), cycles (each walk marks what it visited) and depth (at most
 * {@link MAX_ANCESTRY_DEPTH} steps). An entry keeps a link to the parent object it resolved, so
 * an orphan still finds its dead parent after the parent left the table; an entry that leaves
 * the table drops its own link, so what links retain stays bounded by the table's size.
 */
import type { Event } from '../../core/event.js';
import type { ProcReader, ProcSnapshot } from './proc-reader.js';

/** The most ancestor steps any walk takes (`proc.aname[N]` with N above it is undefined). */
export const MAX_ANCESTRY_DEPTH = 64;

/** What the table knows about one process. Undefined fields are unknown. */
export interface ProcessInfo {
  /** The process id (thread group id), as seen from the host. */
  readonly pid: number;
  /** The thread id last seen for the process's main thread events (normally `pid`). */
  readonly tid: number | undefined;
  /** The parent's pid. */
  readonly ppid: number | undefined;
  /** The kernel's name for it (comm): `proc.name`. */
  readonly name: string | undefined;
  /** argv[0]: `proc.exe`. */
  readonly exe: string | undefined;
  /** The executable's full path: `proc.exepath`. */
  readonly exepath: string | undefined;
  /** argv[1..] joined with spaces: `proc.args`. */
  readonly args: string | undefined;
  /** `proc.cmdline`: the name followed by the arguments. */
  readonly cmdline: string | undefined;
  /** The working directory: `proc.cwd`. */
  readonly cwd: string | undefined;
  /** The effective user id: `user.uid`. */
  readonly uid: number | undefined;
  /** The user's name: `user.name`. */
  readonly userName: string | undefined;
  /** The audit user id, -1 when unset: `user.loginuid`. */
  readonly loginuid: number | undefined;
  /** The controlling terminal's device number, 0 for none: `proc.tty`. */
  readonly tty: number | undefined;
  /** When the process started, in nanoseconds since the epoch. */
  readonly startTime: number | undefined;
  /** The container's id (full where known, else as the source wrote it), or `host`. */
  readonly containerId: string | undefined;
  /** The pid in the process's own pid namespace: `proc.vpid`. */
  readonly vpid: number | undefined;
  /** Whether the process has exited (it stays a while, for late events and its orphans). */
  readonly exited: boolean;
  /** When an event last named the process, by the table's clock (milliseconds). */
  readonly lastSeen: number;
}

/** Options of {@link ProcessTable}. */
export interface ProcessTableOptions {
  /** Most processes kept. Default 65,536. */
  readonly maxEntries?: number;
  /** How long an exited process stays, in milliseconds, when there is room. Default 5,000. */
  readonly exitGraceMs?: number;
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
  /** Reads /proc: makes the table "live". Absent when replaying recorded events. */
  readonly procReader?: ProcReader;
  /** Most /proc reads per second (a burst of one second's worth is allowed). Default 500. */
  readonly procReadsPerSecond?: number;
  /** How long a pid /proc did not have is not asked about again, in milliseconds. Default 30,000. */
  readonly negativeTtlMs?: number;
  /** Most pids remembered as missing from /proc. Default 4,096. */
  readonly maxNegativeEntries?: number;
}

/** Counters for metrics. */
export interface ProcessTableStats {
  /** Processes in the table. */
  readonly size: number;
  /** Processes pushed out because the table was full. */
  readonly evicted: number;
  /** Exited processes removed after their grace period. */
  readonly expired: number;
  /** /proc reads made (successful or not). */
  readonly procReads: number;
  /** /proc reads that found no such process. */
  readonly procMisses: number;
  /** /proc reads not made: the pid was in the negative cache, or the budget was spent. */
  readonly procSkipped: number;
}

// A parent must have started before its child; start times from /proc have 10 ms resolution
// and those from events nanosecond resolution, so allow for the coarser one twice.
const START_TOLERANCE_NS = 20e6;

// At most this many expired entries are removed per observe: keeps each call O(1) while still
// outpacing exits (at most one per event).
const EXPIRIES_PER_OBSERVE = 4;

// PPM_CL_* flag bits, as Falco-vocabulary sources deliver `evt.rawarg.flags` of clone.
const PPM_CL_CLONE_PARENT = 1 << 8;
const PPM_CL_CLONE_THREAD = 1 << 13;

/** One process. Fields are mutable inside this module only; callers see {@link ProcessInfo}. */
class ProcessEntry implements ProcessInfo {
  tid: number | undefined = undefined;
  ppid: number | undefined = undefined;
  name: string | undefined = undefined;
  exe: string | undefined = undefined;
  exepath: string | undefined = undefined;
  args: string | undefined = undefined;
  cmdlineText: string | undefined = undefined;
  cwd: string | undefined = undefined;
  uid: number | undefined = undefined;
  userName: string | undefined = undefined;
  loginuid: number | undefined = undefined;
  tty: number | undefined = undefined;
  startTime: number | undefined = undefined;
  containerId: string | undefined = undefined;
  vpid: number | undefined = undefined;
  exited = false;
  exitedAt = 0;
  lastSeen: number;
  /** Only a placeholder (a parent named by its child's event): fill it from the first real event. */
  placeholder = false;
  /** The container id was looked up in /proc already (found or not). */
  containerChecked = false;
  /** The container id came from the parent at fork; a live table re-reads it (the child may have moved cgroup). */
  containerInherited = false;
  /** The parent object last resolved; kept so an orphan still finds its exited parent. */
  parent: ProcessEntry | undefined = undefined;
  /** Left the table; still reachable only through its children's `parent` links. */
  removed = false;
  /** The id of the last ancestry walk that visited this entry (cycle guard). */
  walkMark = 0;
  // Recency list: `newer` toward the most recently seen end.
  newer: ProcessEntry | undefined = undefined;
  older: ProcessEntry | undefined = undefined;
  // Exited list, in order of exit.
  exitNext: ProcessEntry | undefined = undefined;
  exitPrev: ProcessEntry | undefined = undefined;
  inExitList = false;

  constructor(
    readonly pid: number,
    now: number,
  ) {
    this.lastSeen = now;
  }

  get cmdline(): string | undefined {
    if (this.cmdlineText !== undefined) return this.cmdlineText;
    if (this.name === undefined) return undefined;
    // As libsinsp builds it: the name, then the arguments.
    return this.args === undefined || this.args === '' ? this.name : `${this.name} ${this.args}`;
  }
}

type Fields = Readonly<Record<string, unknown>>;

/** An integer from a number, a bigint or a decimal string; undefined otherwise. */
function toInt(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

/** The leading integer of a rendered argument such as `17498(curl)` or `-2(ENOENT)`. */
function leadingInt(value: unknown): number | undefined {
  if (typeof value !== 'string') return toInt(value);
  const match = /^-?\d+/.exec(value);
  return match === null ? undefined : Number(match[0]);
}

function toStr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The value of `key` in sysdig's rendered argument list (`res=0 exe=cat args=...`). */
function renderedArg(text: string, key: string): string | undefined {
  let at: number;
  if (text.startsWith(key + '=')) at = 0;
  else {
    const found = text.indexOf(' ' + key + '=');
    if (found < 0) return undefined;
    at = found + 1;
  }
  const start = at + key.length + 1;
  const end = text.indexOf(' ', start);
  return text.slice(start, end < 0 ? text.length : end);
}

/**
 * A syscall argument, from whichever form the source wrote: `evt.rawarg.NAME`, `evt.arg.NAME`
 * (bracketed or dotted), else sysdig's rendered `evt.args` text.
 */
function eventArg(f: Fields, name: string): unknown {
  for (const key of [`evt.rawarg.${name}`, `evt.rawarg[${name}]`, `evt.arg.${name}`, `evt.arg[${name}]`]) {
    const v = f[key];
    if (v !== undefined && v !== null) return v;
  }
  const text = f['evt.args'];
  return typeof text === 'string' ? renderedArg(text, name) : undefined;
}

/** The syscall's numeric result: `evt.rawres`, else the `res` argument. */
function rawResult(f: Fields): number | undefined {
  const raw = toInt(f['evt.rawres']);
  if (raw !== undefined) return raw;
  const res = f['evt.res'];
  if (typeof res === 'number') return res;
  return leadingInt(eventArg(f, 'res'));
}

/** Whether a syscall exit event reports success; unknown counts as success. */
function succeeded(f: Fields): boolean {
  const res = f['evt.res'];
  if (typeof res === 'string' && res !== '') return res === 'SUCCESS' || /^\d+$/.test(res);
  const raw = rawResult(f);
  return raw === undefined || raw >= 0;
}

function isExit(f: Fields): boolean {
  const dir = f['evt.dir'];
  return dir === '<' || (dir === undefined && rawResult(f) !== undefined);
}

/**
 * Clone flags of interest, or undefined when the event does not carry them. A rendered value
 * (`47619(CLONE_FILES|...|CLONE_THREAD)`) is read by name; a bare number as PPM_CL_* bits.
 */
function cloneFlags(f: Fields): { thread: boolean; parent: boolean } | undefined {
  const flags = eventArg(f, 'flags');
  if (typeof flags === 'string' && flags.includes('(')) {
    return { thread: flags.includes('CLONE_THREAD'), parent: /CLONE_PARENT(?![_A-Z])/.test(flags) };
  }
  const bits = leadingInt(flags);
  if (bits === undefined) return undefined;
  return { thread: (bits & PPM_CL_CLONE_THREAD) !== 0, parent: (bits & PPM_CL_CLONE_PARENT) !== 0 };
}

/** The event's time in nanoseconds since the epoch, when it carries one. */
function eventTime(f: Fields): number | undefined {
  const t = f['evt.rawtime'];
  if (typeof t === 'number') return t;
  if (typeof t === 'bigint') return Number(t);
  return undefined;
}

function isHostId(id: string | undefined): boolean {
  return id === undefined || id === '' || id === 'host';
}

/**
 * The process table. Feed it every event with {@link observe}; ask it with {@link get},
 * {@link parent}, {@link ancestor} and {@link ancestors}.
 *
 * @example
 * const table = new ProcessTable({ procReader: createProcReader() });
 * for (const evt of events) table.observe(evt);
 * table.ancestor(table.get(pid)!, 2)?.name; // proc.aname[2]
 */
export class ProcessTable {
  private readonly entries = new Map<number, ProcessEntry>();
  private readonly maxEntries: number;
  private readonly exitGraceMs: number;
  private readonly now: () => number;
  private readonly reader: ProcReader | undefined;
  private readonly readsPerMs: number;
  private readonly readBurst: number;
  private readonly negativeTtlMs: number;
  private readonly maxNegative: number;
  // Pid -> when /proc last did not have it; insertion order is age order.
  private readonly negative = new Map<number, number>();
  private readTokens: number;
  private readTokensAt = Number.NEGATIVE_INFINITY;
  private mostRecent: ProcessEntry | undefined;
  private leastRecent: ProcessEntry | undefined;
  private exitHead: ProcessEntry | undefined;
  private exitTail: ProcessEntry | undefined;
  private walkId = 0;
  private evicted = 0;
  private expired = 0;
  private procReads = 0;
  private procMisses = 0;
  private procSkipped = 0;

  constructor(options: ProcessTableOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 65_536);
    this.exitGraceMs = Math.max(0, options.exitGraceMs ?? 5_000);
    this.now = options.now ?? Date.now;
    this.reader = options.procReader;
    const perSecond = Math.max(1, options.procReadsPerSecond ?? 500);
    this.readsPerMs = perSecond / 1000;
    this.readBurst = perSecond;
    this.readTokens = perSecond;
    this.negativeTtlMs = options.negativeTtlMs ?? 30_000;
    this.maxNegative = Math.max(1, options.maxNegativeEntries ?? 4_096);
  }

  /** Processes in the table. */
  get size(): number {
    return this.entries.size;
  }

  /** Whether the table reads /proc for processes the events have not described. */
  get live(): boolean {
    return this.reader !== undefined;
  }

  /** Counters for metrics. */
  stats(): ProcessTableStats {
    return {
      size: this.entries.size,
      evicted: this.evicted,
      expired: this.expired,
      procReads: this.procReads,
      procMisses: this.procMisses,
      procSkipped: this.procSkipped,
    };
  }

  /** Learns from one event (see the module comment for what each kind teaches). */
  observe(evt: Event): void {
    const f = evt.fields;
    const now = this.now();
    if (this.exitHead !== undefined) this.expire(now);
    const pid = toInt(f['proc.pid']);
    if (pid === undefined || pid < 0) return;
    const entry = this.entries.get(pid);
    const type = f['evt.type'];
    switch (type) {
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork':
        if (isExit(f)) return this.onClone(pid, entry, f, now);
        break;
      case 'execve':
      case 'execveat':
        if (isExit(f) && succeeded(f)) return this.onExec(pid, entry, f, now);
        break;
      case 'procexit':
        return this.onExit(pid, entry, f, now);
      default:
        break;
    }
    this.seen(pid, entry, f, now);
  }

  /** The process `pid`, if the table knows it. Never reads /proc. */
  get(pid: number): ProcessInfo | undefined {
    return this.entries.get(pid);
  }

  /**
   * The process `pid`; when live and the table does not know it, read from /proc (subject to
   * the negative cache and the read budget).
   */
  lookup(pid: number): ProcessInfo | undefined {
    return this.entries.get(pid) ?? this.fillFromProc(pid, this.now());
  }

  /** The parent of `proc` (`proc.pname` and friends), or undefined when unknown. */
  parent(proc: ProcessInfo): ProcessInfo | undefined {
    const entry = this.own(proc);
    return entry === undefined ? undefined : this.parentOf(entry);
  }

  /**
   * The `n`th ancestor of `proc`: `proc` itself for 0, its parent for 1 (`proc.aname[N]`,
   * `proc.apid[N]`). Undefined when unknown, past {@link MAX_ANCESTRY_DEPTH}, or when the
   * parent links loop.
   */
  ancestor(proc: ProcessInfo, n: number): ProcessInfo | undefined {
    if (!Number.isInteger(n) || n < 0 || n > MAX_ANCESTRY_DEPTH) return undefined;
    let entry = this.own(proc);
    if (entry === undefined) return undefined;
    const mark = ++this.walkId;
    entry.walkMark = mark;
    for (let i = 0; i < n; i++) {
      const next: ProcessEntry | undefined = this.parentOf(entry);
      if (next === undefined || next.walkMark === mark) return undefined;
      next.walkMark = mark;
      entry = next;
    }
    return entry;
  }

  /**
   * Every known ancestor of `proc` from its parent upward (`proc.aname` without index), at most
   * {@link MAX_ANCESTRY_DEPTH}, stopping at the first unknown one or where the links loop.
   */
  ancestors(proc: ProcessInfo): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    let entry = this.own(proc);
    if (entry === undefined) return out;
    const mark = ++this.walkId;
    entry.walkMark = mark;
    while (out.length < MAX_ANCESTRY_DEPTH) {
      const next: ProcessEntry | undefined = this.parentOf(entry);
      if (next === undefined || next.walkMark === mark) break;
      next.walkMark = mark;
      out.push(next);
      entry = next;
    }
    return out;
  }

  /**
   * The container id of `proc` (full where known; `host` for none). When the events did not say
   * and the table is live, read once from /proc/PID/cgroup.
   */
  containerId(proc: ProcessInfo): string | undefined {
    const entry = this.own(proc);
    if (entry === undefined) return proc.containerId;
    if (this.reader === undefined || entry.containerChecked) return entry.containerId;
    if (entry.containerId !== undefined && !entry.containerInherited) return entry.containerId;
    entry.containerChecked = true;
    if (entry.exited || !this.takeReadToken(this.now())) return entry.containerId;
    this.procReads++;
    const read = this.reader.containerId(entry.pid);
    if (read !== undefined || !entry.containerInherited) entry.containerId = read;
    entry.containerInherited = false;
    return entry.containerId;
  }

  // --- events --------------------------------------------------------------------------------

  private onClone(pid: number, entry: ProcessEntry | undefined, f: Fields, now: number): void {
    const res = rawResult(f);
    if (res === undefined || res < 0) {
      this.seen(pid, entry, f, now);
      return;
    }
    if (res === 0) {
      const tid = toInt(f['thread.tid']);
      // A new thread of an existing process is not a new process.
      if (tid !== undefined && tid !== pid) this.seen(pid, entry, f, now);
      else this.onChildStart(pid, tid, entry, f, now);
      return;
    }

    // The parent's side: `res` is the child's id, in the caller's pid namespace.
    const caller = this.seen(pid, entry, f, now);
    const flags = cloneFlags(f);
    if (flags === undefined || flags.thread || this.inPidNamespace(caller, f)) return;
    const ppid = flags.parent ? caller.ppid : pid;
    const existing = this.entries.get(res);
    // The child's own event came first: it said everything already.
    if (existing !== undefined && !existing.exited && existing.ppid === ppid) return;
    const child = new ProcessEntry(res, now);
    inherit(child, caller);
    child.ppid = ppid;
    child.tid = res;
    child.startTime = eventTime(f);
    if (ppid === pid) child.parent = caller;
    this.insert(child);
  }

  private onChildStart(
    pid: number,
    tid: number | undefined,
    entry: ProcessEntry | undefined,
    f: Fields,
    now: number,
  ): void {
    const ppid = toInt(f['proc.ppid']);
    const start = eventTime(f);
    let child = entry;
    // Keep the entry the parent's side made for this very child; replace anything else (a
    // previous process that had this pid).
    const sameChild =
      child !== undefined &&
      !child.exited &&
      child.ppid === ppid &&
      (start === undefined ||
        child.startTime === undefined ||
        Math.abs(child.startTime - start) < START_TOLERANCE_NS);
    if (child === undefined || !sameChild) {
      child = new ProcessEntry(pid, now);
      const parent = ppid === undefined ? undefined : this.entries.get(ppid);
      // fork copies the parent's state; the event's own fields, read next, are better still.
      if (parent !== undefined) {
        inherit(child, parent);
        child.parent = parent;
      }
      this.insert(child);
    } else {
      this.touch(child, now);
    }
    child.ppid = ppid ?? child.ppid;
    child.tid = tid ?? child.tid;
    child.startTime = start ?? child.startTime;
    applyFields(child, f);
    this.ensureParent(child, f, now);
  }

  private onExec(pid: number, entry: ProcessEntry | undefined, f: Fields, now: number): void {
    if (entry === undefined || entry.exited) {
      this.reveal(pid, f, now);
      return;
    }
    this.touch(entry, now);
    // The old program's identity no longer holds; what the event does not say is unknown.
    entry.exe = undefined;
    entry.exepath = undefined;
    entry.args = undefined;
    entry.cmdlineText = undefined;
    const comm = toStr(eventArg(f, 'comm'));
    if (comm !== undefined) entry.name = comm;
    const exe = toStr(eventArg(f, 'exe'));
    if (exe !== undefined) entry.exe = exe;
    applyFields(entry, f);
    entry.tid = toInt(f['thread.tid']) ?? entry.tid;
    entry.placeholder = false;
    const ppid = toInt(f['proc.ppid']);
    if (ppid !== undefined && ppid > 0 && ppid !== entry.ppid) {
      entry.ppid = ppid;
      entry.parent = undefined;
      this.ensureParent(entry, f, now);
    }
  }

  private onExit(pid: number, entry: ProcessEntry | undefined, f: Fields, now: number): void {
    if (entry === undefined) return;
    const tid = toInt(f['thread.tid']);
    this.touch(entry, now);
    // Another thread ending leaves the process running.
    if (tid !== undefined && tid !== pid) return;
    if (entry.exited) return;
    entry.exited = true;
    entry.exitedAt = now;
    this.appendExited(entry);
  }

  /** Any event of `pid`: create the entry when new, else refresh it. Returns the entry. */
  private seen(pid: number, entry: ProcessEntry | undefined, f: Fields, now: number): ProcessEntry {
    if (entry === undefined) return this.reveal(pid, f, now);
    const ppid = toInt(f['proc.ppid']);
    const tid = toInt(f['thread.tid']);
    // Threads may name themselves (prctl): only the main thread's name is the process's.
    const name = tid === undefined || tid === pid ? f['proc.name'] : undefined;
    const renamed = typeof name === 'string' && name !== entry.name;
    if (entry.exited && (renamed || (ppid !== undefined && ppid > 0 && ppid !== entry.ppid))) {
      // Events of another program under an exited process's pid: its pid was reused.
      return this.reveal(pid, f, now);
    }
    this.touch(entry, now);
    if (entry.placeholder || renamed) {
      // A placeholder's first real event, or an exec the table did not see.
      applyFields(entry, f);
      entry.placeholder = false;
    }
    if (ppid !== undefined && ppid > 0 && ppid !== entry.ppid) {
      // First news of its parent (a placeholder), a reparenting, or the table had it wrong.
      entry.ppid = ppid;
      entry.parent = undefined;
      this.ensureParent(entry, f, now);
    }
    return entry;
  }

  /** A process the table did not know: from the event, else /proc; then its parent. */
  private reveal(pid: number, f: Fields, now: number): ProcessEntry {
    const entry = new ProcessEntry(pid, now);
    applyFields(entry, f);
    const ppid = toInt(f['proc.ppid']);
    if (ppid !== undefined && ppid > 0) entry.ppid = ppid;
    entry.tid = toInt(f['thread.tid']);
    if (entry.tid !== pid) entry.tid = undefined;
    if (entry.name === undefined && this.reader !== undefined) {
      const snap = this.readProc(pid, now);
      if (snap !== undefined) fromSnapshot(entry, snap);
    }
    this.insert(entry);
    this.ensureParent(entry, f, now);
    return entry;
  }

  /** Makes sure the parent of a new entry is known: from /proc when live, else from the event. */
  private ensureParent(entry: ProcessEntry, f: Fields, now: number): void {
    const ppid = entry.ppid;
    if (ppid === undefined || ppid <= 0 || ppid === entry.pid) return;
    const parent = this.entries.get(ppid);
    if (parent !== undefined) {
      // Its child is active: keep it from looking idle.
      this.touch(parent, now);
      // Linked now, so that the child finds it even after it has left the table.
      if (plausibleParent(parent, entry)) entry.parent = parent;
      return;
    }
    const filled = this.fillFromProc(ppid, now);
    if (filled !== undefined) {
      if (plausibleParent(filled, entry)) entry.parent = filled;
      return;
    }
    const pname = toStr(f['proc.pname']);
    if (pname === undefined) return;
    const placeholder = new ProcessEntry(ppid, now);
    placeholder.placeholder = true;
    placeholder.name = pname;
    placeholder.cmdlineText = toStr(f['proc.pcmdline']);
    placeholder.exe = toStr(f['proc.pexe']);
    placeholder.exepath = toStr(f['proc.pexepath']);
    // Its container stays unknown: a container's first process has its parent (the runtime's
    // shim) on the host, so the child's container says nothing about the parent's.
    this.insert(placeholder);
    entry.parent = placeholder;
  }

  // --- ancestry ------------------------------------------------------------------------------

  private own(proc: ProcessInfo): ProcessEntry | undefined {
    return proc instanceof ProcessEntry ? proc : this.entries.get(proc.pid);
  }

  private parentOf(entry: ProcessEntry): ProcessEntry | undefined {
    const ppid = entry.ppid;
    if (ppid === undefined || ppid <= 0 || ppid === entry.pid) return undefined;
    const linked = entry.parent;
    // A linked entry still in the table is the table's entry for that pid.
    if (linked !== undefined && !linked.removed && linked.pid === ppid) return linked;
    const current = this.entries.get(ppid);
    if (current !== undefined && plausibleParent(current, entry)) {
      entry.parent = current;
      return current;
    }
    // Gone from the table (or its pid reused): the object resolved earlier is still the parent.
    if (linked !== undefined && linked.pid === ppid) return linked;
    if (current === undefined && this.reader !== undefined) {
      const filled = this.fillFromProc(ppid, this.now());
      if (filled !== undefined && plausibleParent(filled, entry)) {
        entry.parent = filled;
        return filled;
      }
    }
    return undefined;
  }

  // --- /proc ---------------------------------------------------------------------------------

  private fillFromProc(pid: number, now: number): ProcessEntry | undefined {
    if (this.reader === undefined || pid <= 0) return undefined;
    const snap = this.readProc(pid, now);
    if (snap === undefined) return undefined;
    const entry = new ProcessEntry(pid, now);
    fromSnapshot(entry, snap);
    entry.containerChecked = true;
    this.insert(entry);
    return entry;
  }

  private readProc(pid: number, now: number): ProcSnapshot | undefined {
    const reader = this.reader;
    if (reader === undefined) return undefined;
    const missingSince = this.negative.get(pid);
    if (missingSince !== undefined && now - missingSince < this.negativeTtlMs) {
      this.procSkipped++;
      return undefined;
    }
    if (!this.takeReadToken(now)) {
      this.procSkipped++;
      return undefined;
    }
    this.procReads++;
    const snap = reader.read(pid);
    if (snap === undefined) {
      this.procMisses++;
      this.negative.delete(pid);
      this.negative.set(pid, now);
      if (this.negative.size > this.maxNegative) {
        const oldest = this.negative.keys().next();
        if (oldest.done !== true) this.negative.delete(oldest.value);
      }
      return undefined;
    }
    this.negative.delete(pid);
    return snap;
  }

  private takeReadToken(now: number): boolean {
    if (now > this.readTokensAt) {
      const refill = Number.isFinite(this.readTokensAt)
        ? (now - this.readTokensAt) * this.readsPerMs
        : this.readBurst;
      this.readTokens = Math.min(this.readBurst, this.readTokens + refill);
      this.readTokensAt = now;
    }
    if (this.readTokens < 1) return false;
    this.readTokens -= 1;
    return true;
  }

  // --- bookkeeping ---------------------------------------------------------------------------

  private insert(entry: ProcessEntry): void {
    const old = this.entries.get(entry.pid);
    if (old !== undefined) this.remove(old);
    this.entries.set(entry.pid, entry);
    this.linkMostRecent(entry);
    if (this.entries.size > this.maxEntries) {
      const victim = this.exitHead ?? this.leastRecent;
      if (victim !== undefined && victim !== entry) {
        this.remove(victim);
        this.evicted++;
      }
    }
  }

  private remove(entry: ProcessEntry): void {
    if (this.entries.get(entry.pid) === entry) this.entries.delete(entry.pid);
    this.unlinkRecency(entry);
    if (entry.inExitList) this.unlinkExited(entry);
    entry.removed = true;
    // Only direct children may keep a removed entry alive, never a chain of them.
    entry.parent = undefined;
  }

  private expire(now: number): void {
    for (let i = 0; i < EXPIRIES_PER_OBSERVE; i++) {
      const head = this.exitHead;
      if (head === undefined || now - head.exitedAt < this.exitGraceMs) return;
      this.remove(head);
      this.expired++;
    }
  }

  private touch(entry: ProcessEntry, now: number): void {
    entry.lastSeen = now;
    if (this.mostRecent === entry) return;
    this.unlinkRecency(entry);
    this.linkMostRecent(entry);
  }

  private linkMostRecent(entry: ProcessEntry): void {
    entry.older = this.mostRecent;
    entry.newer = undefined;
    if (this.mostRecent !== undefined) this.mostRecent.newer = entry;
    this.mostRecent = entry;
    this.leastRecent ??= entry;
  }

  private unlinkRecency(entry: ProcessEntry): void {
    const { newer, older } = entry;
    if (newer !== undefined) newer.older = older;
    else if (this.mostRecent === entry) this.mostRecent = older;
    if (older !== undefined) older.newer = newer;
    else if (this.leastRecent === entry) this.leastRecent = newer;
    entry.newer = undefined;
    entry.older = undefined;
  }

  private appendExited(entry: ProcessEntry): void {
    entry.inExitList = true;
    entry.exitPrev = this.exitTail;
    entry.exitNext = undefined;
    if (this.exitTail !== undefined) this.exitTail.exitNext = entry;
    else this.exitHead = entry;
    this.exitTail = entry;
  }

  private unlinkExited(entry: ProcessEntry): void {
    const { exitPrev, exitNext } = entry;
    if (exitPrev !== undefined) exitPrev.exitNext = exitNext;
    else this.exitHead = exitNext;
    if (exitNext !== undefined) exitNext.exitPrev = exitPrev;
    else this.exitTail = exitPrev;
    entry.exitPrev = undefined;
    entry.exitNext = undefined;
    entry.inExitList = false;
  }

  /** Whether the caller of a clone sits in a pid namespace, so its result is not a host pid. */
  private inPidNamespace(caller: ProcessEntry, f: Fields): boolean {
    const vpid = toInt(f['proc.vpid']) ?? leadingInt(eventArg(f, 'vpid')) ?? caller.vpid;
    if (vpid !== undefined) return vpid !== caller.pid;
    // Unknown: a process in a container almost always has its own pid namespace.
    const container = toStr(f['container.id']) ?? caller.containerId;
    return !isHostId(container);
  }
}

function plausibleParent(parent: ProcessEntry, child: ProcessEntry): boolean {
  return (
    parent.startTime === undefined ||
    child.startTime === undefined ||
    parent.startTime <= child.startTime + START_TOLERANCE_NS
  );
}

/** What a child of fork starts with: its parent's program, user, terminal and container. */
function inherit(child: ProcessEntry, parent: ProcessEntry): void {
  child.name = parent.name;
  child.exe = parent.exe;
  child.exepath = parent.exepath;
  child.args = parent.args;
  child.cmdlineText = parent.cmdlineText;
  child.cwd = parent.cwd;
  child.uid = parent.uid;
  child.userName = parent.userName;
  child.loginuid = parent.loginuid;
  child.tty = parent.tty;
  child.containerId = parent.containerId;
  // Not `containerChecked`: a runtime's child (runc init) moves into the container's cgroup after
  // fork, so a live table must look at the child's own cgroup once.
  child.containerInherited = parent.containerId !== undefined;
}

/** Copies what the event says about its process; fields it does not carry stay as they were. */
function applyFields(entry: ProcessEntry, f: Fields): void {
  const name = toStr(f['proc.name']);
  if (name !== undefined) entry.name = name;
  const exe = toStr(f['proc.exe']);
  if (exe !== undefined) entry.exe = exe;
  const exepath = toStr(f['proc.exepath']);
  if (exepath !== undefined) entry.exepath = exepath;
  const cmdline = toStr(f['proc.cmdline']);
  if (cmdline !== undefined) entry.cmdlineText = cmdline;
  const args = toStr(f['proc.args']);
  if (args !== undefined) entry.args = args;
  else if (cmdline !== undefined && entry.name !== undefined) {
    // proc.cmdline is the name, a space, and the arguments.
    if (cmdline === entry.name) entry.args = '';
    else if (cmdline.startsWith(entry.name + ' ')) entry.args = cmdline.slice(entry.name.length + 1);
  }
  const cwd = toStr(f['proc.cwd']);
  if (cwd !== undefined) entry.cwd = cwd;
  const uid = toInt(f['user.uid']);
  if (uid !== undefined) entry.uid = uid;
  const user = toStr(f['user.name']);
  if (user !== undefined) entry.userName = user;
  const loginuid = toInt(f['user.loginuid']);
  if (loginuid !== undefined) entry.loginuid = loginuid;
  const tty = toInt(f['proc.tty']);
  if (tty !== undefined) entry.tty = tty;
  const vpid = toInt(f['proc.vpid']);
  if (vpid !== undefined) entry.vpid = vpid;
  const fullId = toStr(f['container.full_id']);
  const id = toStr(f['container.id']);
  if (fullId !== undefined && fullId !== '') entry.containerId = fullId;
  // Keep a full id over the 12-character form of the same id.
  else if (id !== undefined && id !== '' && entry.containerId?.startsWith(id) !== true)
    entry.containerId = id;
}

function fromSnapshot(entry: ProcessEntry, snap: ProcSnapshot): void {
  entry.ppid = snap.ppid > 0 ? snap.ppid : undefined;
  entry.name = snap.name;
  entry.exe = snap.exe;
  entry.args = snap.args;
  entry.exepath = snap.exepath;
  entry.cwd = snap.cwd;
  entry.uid = snap.uid;
  entry.loginuid = snap.loginuid;
  entry.tty = snap.tty;
  entry.startTime = snap.startTime;
  entry.containerId = snap.containerId;
  entry.vpid = snap.vpid;
  entry.tid = snap.pid;
  entry.placeholder = false;
}
