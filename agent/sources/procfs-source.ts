/**
 * The `procfs` source: process and connection activity seen by polling, with no privileges and
 * no kernel instrumentation — the fallback where eBPF is unavailable, and a way to try Vigil on
 * any Linux machine.
 *
 * Every interval (default 1 s) it lists `/proc` and compares with the previous look:
 * - a new process -> `evt.type=execve` with `proc.*` read from `/proc/PID/{stat,status,cmdline,
 *   exe,cwd,loginuid}`, `container.id` from `/proc/PID/cgroup`, and the parent's `proc.pname`,
 *   `proc.pexepath`, `proc.pcmdline` when the parent is known;
 * - a process whose name changed under the same pid and start time exec'd in place -> `execve`;
 * - a process gone (or its pid reused: a different start time) -> `evt.type=procexit`;
 * - a new established network connection (from `systeminformation`'s `networkConnections`) ->
 *   `evt.type=connect`, or `accept` when its local port is one something listens on, with the
 *   `fd.*` fields of both ends and the owning process's `proc.*` fields.
 * Every event carries `evt.sampled: true`: it was seen by looking, not traced, so anything that
 * lived less than an interval is missed and `evt.rawtime` is when it was seen. Kernel threads
 * are not reported. The first look only learns what already runs (`existing: emit` reports it).
 *
 * Limits: the process and connection tables hold what exists at the last look, capped by
 * `maxProcesses` and `maxConnections`; stored command lines are cut at 4 KiB. Connections are
 * those of the agent's network namespace (the node's, for a DaemonSet with `hostNetwork`); pod
 * network namespaces are not entered. `systeminformation` runs `netstat` (or `ss`) on each look.
 *
 * The target (`procfs:/host/proc`) is the proc root to read, for an agent that sees the host's
 * /proc mounted elsewhere; options: `intervalMs`, `connections` (default true), `existing`
 * (`skip` | `emit`), `maxProcesses`, `maxConnections`.
 */
import { open, readdir, readlink } from 'node:fs/promises';
import { networkConnections } from 'systeminformation';
import type { Event } from '../../core/event.js';
import type { EventSource, SourceFactory, SourceSink, SourceSpec, SourceStats } from './source.js';
import { containerIdFromCgroup } from '../state/cgroup-container-id.js';
import { deferred } from './byte-input.js';
import { put, putConnection, putContainerId, loginUid, plainIp, type Fields } from './field-mapping.js';
import { MalformedCounter } from './malformed-counter.js';
import { SourceOptions } from './source-options.js';
import { asError } from './stream-source.js';

/** One socket as `systeminformation` lists it. */
export interface ConnectionEntry {
  readonly protocol: string;
  readonly localAddress: string;
  readonly localPort: string | number;
  readonly peerAddress: string;
  readonly peerPort: string | number;
  readonly state: string;
  readonly pid: number | null;
  readonly process?: string;
}

/** Lists the current sockets; `systeminformation.networkConnections` by default. */
export type ConnectionLister = () => Promise<readonly ConnectionEntry[]>;

/** Options of a {@link ProcfsSource}. */
export interface ProcfsSourceOptions {
  /** Where proc is mounted (default `/proc`). */
  readonly procRoot?: string;
  /** Milliseconds between looks (default 1000). */
  readonly intervalMs?: number;
  /** Also report new network connections (default true). */
  readonly connections?: boolean;
  /** Report what already runs at the first look (`emit`) or only learn it (`skip`, default). */
  readonly existing?: 'skip' | 'emit';
  /** Most processes tracked (default 16384); beyond it new processes are not reported. */
  readonly maxProcesses?: number;
  /** Most connections tracked (default 16384). */
  readonly maxConnections?: number;
  /** Socket lister; the default runs `systeminformation`. */
  readonly listConnections?: ConnectionLister;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** Longest command line read and kept per process. */
const MAX_CMDLINE_BYTES = 4096;
/** Longest status/cgroup/loginuid text read. */
const MAX_SMALL_FILE_BYTES = 16384;
/** Files read at once while scanning. */
const READ_CONCURRENCY = 32;
/** The kernel thread flag of /proc/PID/stat's `flags`. */
const PF_KTHREAD = 0x00200000;

/** What the first lines of /proc/PID/stat say about a process. */
interface StatLine {
  readonly comm: string;
  readonly ppid: number;
  readonly session: number;
  readonly tty: number;
  readonly kernelThread: boolean;
  /** Clock ticks after boot; with the pid, identifies one process across pid reuse. */
  readonly startTime: string;
}

/** A process as last seen. */
interface ProcessEntry {
  readonly pid: number;
  readonly stat: StatLine;
  /** The event fields describing the process itself (no parent, no evt.*). */
  readonly fields: Fields;
}

/**
 * Parses /proc/PID/stat. The name sits in parentheses and may itself contain spaces and
 * parentheses, so the fields after it are found from the last `)`.
 */
export function parseProcStat(textLine: string): StatLine | undefined {
  const open = textLine.indexOf('(');
  const close = textLine.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = textLine.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const ppid = Number(rest[1]);
  const session = Number(rest[3]);
  const tty = Number(rest[4]);
  const flags = Number(rest[6]);
  const startTime = rest[19];
  if (!Number.isInteger(ppid) || !Number.isInteger(flags) || startTime === undefined) return undefined;
  return {
    comm: textLine.slice(open + 1, close),
    ppid,
    session,
    tty,
    kernelThread: (flags & PF_KTHREAD) !== 0,
    startTime,
  };
}

/**
 * Polls /proc (and the socket table) and reports what changed as sampled events.
 *
 * @example
 *   const source = new ProcfsSource({ intervalMs: 1000 });
 *   await source.start(sink); // learns what runs now, then reports changes every second
 */
export class ProcfsSource implements EventSource {
  readonly name = 'procfs';
  readonly fidelity = 'sampled' as const;
  private readonly root: string;
  private readonly intervalMs: number;
  private readonly watchConnections: boolean;
  private readonly emitExisting: boolean;
  private readonly maxProcesses: number;
  private readonly maxConnections: number;
  private readonly listConnections: ConnectionLister;
  private readonly now: () => number;

  private sink: SourceSink | undefined;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The look in progress; looks never overlap. */
  private running: Promise<void> = Promise.resolve();
  private readonly finished = deferred();

  private processes = new Map<number, ProcessEntry>();
  private connections = new Set<string>();
  private events = 0;
  private looks = 0;
  private bytesRead = 0;
  private lastLookSeconds: number | undefined;
  private readonly malformed = new MalformedCounter();
  /** Conditions already reported, so a persisting one is noticed once. */
  private readonly noticed = new Set<string>();

  constructor(options: ProcfsSourceOptions = {}) {
    this.root = options.procRoot ?? '/proc';
    this.intervalMs = options.intervalMs ?? 1000;
    this.watchConnections = options.connections ?? true;
    this.emitExisting = options.existing === 'emit';
    this.maxProcesses = options.maxProcesses ?? 16384;
    this.maxConnections = options.maxConnections ?? 16384;
    this.listConnections = options.listConnections ?? networkConnections;
    this.now = options.now ?? Date.now;
  }

  start(sink: SourceSink): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('source procfs was stopped'));
    if (this.startPromise !== undefined) {
      if (sink !== this.sink)
        return Promise.reject(new Error('source procfs is already started with another sink'));
      return this.startPromise;
    }
    this.sink = sink;
    this.startPromise = (async () => {
      const st = await readdir(this.root).catch((err: unknown) => {
        throw new Error(`cannot read ${this.root}: ${asError(err).message}`, { cause: err });
      });
      if (!st.includes('self')) throw new Error(`${this.root} does not look like a proc file system`);
      await this.pollNow();
      this.schedule();
    })();
    this.startPromise.catch((err: unknown) => {
      this.stopped = true;
      this.finished.reject(asError(err));
    });
    return this.startPromise;
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  stop(): Promise<void> {
    if (this.stopPromise !== undefined) return this.stopPromise;
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopPromise = (async () => {
      await this.startPromise?.catch(() => {});
      await this.running;
      this.processes.clear();
      this.connections.clear();
      this.finished.resolve();
    })();
    return this.stopPromise;
  }

  stats(): SourceStats {
    return {
      events: this.events,
      malformed: this.malformed.total,
      malformedByReason: this.malformed.snapshot(),
      bytes: this.bytesRead,
      // Events are stamped when seen; how long the last look took is how late they can be.
      lagSeconds: this.lastLookSeconds,
    };
  }

  /** Processes currently tracked (for status and tests). */
  get trackedProcesses(): number {
    return this.processes.size;
  }

  /**
   * Takes one look now (after any look in progress) and reports what changed. The timer calls
   * this; tests call it instead of waiting for the timer.
   */
  pollNow(): Promise<void> {
    const next = this.running.then(() => this.look());
    this.running = next.catch((err: unknown) => this.notice('look failed', { err: asError(err).message }));
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollNow().then(() => this.schedule());
    }, this.intervalMs);
  }

  private async look(): Promise<void> {
    if (this.stopped) return;
    const began = this.now();
    const first = this.looks === 0;
    this.looks++;
    const report = !first || this.emitExisting;
    await this.lookAtProcesses(report);
    // Processes first, then sockets: `netstat`, run for the socket list, has exited by the next
    // process look, so the source does not report its own helper.
    if (this.watchConnections && !this.stopped) await this.lookAtConnections(report);
    this.lastLookSeconds = Math.max(0, (this.now() - began) / 1000);
  }

  private async lookAtProcesses(report: boolean): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      this.noticeOnce('readdir', `cannot list ${this.root}`, { err: asError(err).message });
      return;
    }
    const pids: number[] = [];
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c >= 0x30 && c <= 0x39) pids.push(Number(name));
    }

    // 1. Read every process's stat line: who is alive, and is it still what we knew?
    const alive = new Map<number, StatLine>();
    await forEachLimited(pids, READ_CONCURRENCY, async (pid) => {
      const statText = await this.read(`${this.root}/${pid}/stat`, 1024);
      if (statText === undefined) return; // exited while we looked
      const stat = parseProcStat(statText);
      if (stat === undefined) this.reportMalformed('bad-stat', `${this.root}/${pid}/stat`);
      else if (!stat.kernelThread) alive.set(pid, stat);
    });

    // 2. Sort them out. Known processes keep their places in a full table before new ones get
    // any, so a full table does not turn live processes into exits and back.
    const previous = this.processes;
    const next = new Map<number, ProcessEntry>();
    const exited = new Map<number, ProcessEntry>();
    const fresh: [number, StatLine][] = [];
    for (const [pid, stat] of alive) {
      const prev = previous.get(pid);
      if (prev !== undefined && prev.stat.startTime === stat.startTime && prev.stat.comm === stat.comm) {
        if (next.size < this.maxProcesses) next.set(pid, prev);
        continue;
      }
      // Another start time under the same pid: the old process exited and the pid was reused.
      if (prev !== undefined && prev.stat.startTime !== stat.startTime) exited.set(pid, prev);
      fresh.push([pid, stat]);
    }
    for (const [pid, prev] of previous) if (!alive.has(pid)) exited.set(pid, prev);
    const room = Math.max(0, this.maxProcesses - next.size);
    if (fresh.length > room) {
      this.noticeOnce('max-processes', 'process table full; new processes not reported', {
        maxProcesses: this.maxProcesses,
      });
      fresh.length = room;
    }

    // 3. Read the details of what is new (or exec'd in place).
    const started: ProcessEntry[] = [];
    await forEachLimited(fresh, READ_CONCURRENCY, async ([pid, stat]) => {
      const entry = await this.readProcess(pid, stat);
      next.set(pid, entry);
      started.push(entry);
    });
    this.processes = next;
    if (!report || this.stopped) return;

    const rawtime = BigInt(Math.round(this.now())) * 1_000_000n;
    for (const entry of exited.values()) this.emit(this.processEvent(entry, 'procexit', rawtime, previous));
    // Parents before children: a child cannot have started before its parent.
    started.sort((a, b) => compareStart(a.stat.startTime, b.stat.startTime) || a.pid - b.pid);
    for (const entry of started) this.emit(this.processEvent(entry, 'execve', rawtime, next));
  }

  /** Reads everything the events say about one process. A file that cannot be read is skipped. */
  private async readProcess(pid: number, stat: StatLine): Promise<ProcessEntry> {
    const dir = `${this.root}/${pid}`;
    const [status, cmdline, exe, cwd, loginuid, cgroup] = await Promise.all([
      this.read(`${dir}/status`, MAX_SMALL_FILE_BYTES),
      this.read(`${dir}/cmdline`, MAX_CMDLINE_BYTES),
      readlink(`${dir}/exe`).catch(() => undefined),
      readlink(`${dir}/cwd`).catch(() => undefined),
      this.read(`${dir}/loginuid`, 64),
      this.read(`${dir}/cgroup`, MAX_SMALL_FILE_BYTES),
    ]);
    const fields: Fields = {
      'proc.pid': pid,
      'thread.tid': pid,
      'proc.ppid': stat.ppid,
      'proc.name': stat.comm,
      'proc.sid': stat.session,
      'proc.tty': stat.tty,
    };
    if (status !== undefined) {
      const s = parseStatus(status);
      put(fields, 'user.uid', s.uid);
      put(fields, 'group.gid', s.gid);
      put(fields, 'proc.vpid', s.vpid);
    }
    if (cmdline !== undefined && cmdline !== '') {
      const argv = cmdline.split('\0');
      if (argv[argv.length - 1] === '') argv.pop();
      put(fields, 'proc.exe', argv[0]);
      const args = argv.slice(1).join(' ');
      fields['proc.args'] = args;
      fields['proc.cmdline'] = args === '' ? stat.comm : `${stat.comm} ${args}`;
    } else {
      fields['proc.args'] = '';
      fields['proc.cmdline'] = stat.comm;
    }
    if (exe !== undefined) fields['proc.exepath'] = exe.endsWith(' (deleted)') ? exe.slice(0, -10) : exe;
    put(fields, 'proc.cwd', cwd);
    if (loginuid !== undefined) put(fields, 'user.loginuid', loginUid(loginuid.trim()));
    if (cgroup !== undefined) putContainerId(fields, containerIdFromCgroup(cgroup));
    return { pid, stat, fields };
  }

  /** An execve or procexit event for `entry`, with its parent from `table`. */
  private processEvent(
    entry: ProcessEntry,
    type: 'execve' | 'procexit',
    rawtime: bigint,
    table: ReadonlyMap<number, ProcessEntry>,
  ): Event {
    const fields: Fields = {
      'evt.type': type,
      'evt.dir': type === 'execve' ? '<' : '>',
      'evt.rawtime': rawtime,
      'evt.sampled': true,
      ...entry.fields,
    };
    if (type === 'execve') {
      fields['evt.rawres'] = 0;
      fields['evt.res'] = 'SUCCESS';
    }
    const parent = table.get(entry.stat.ppid);
    if (parent !== undefined) {
      fields['proc.pname'] = parent.stat.comm;
      put(fields, 'proc.pexepath', parent.fields['proc.exepath']);
      put(fields, 'proc.pcmdline', parent.fields['proc.cmdline']);
    }
    return { fields };
  }

  private async lookAtConnections(report: boolean): Promise<void> {
    let list: readonly ConnectionEntry[];
    try {
      list = await this.listConnections();
    } catch (err) {
      this.noticeOnce('connections', 'cannot list network connections', { err: asError(err).message });
      return;
    }
    if (this.stopped) return;
    const listening = new Set<string>();
    for (const c of list) {
      if (c.state === 'LISTEN') listening.add(`${l4proto(c.protocol)}|${String(c.localPort)}`);
    }
    const next = new Set<string>();
    const rawtime = BigInt(Math.round(this.now())) * 1_000_000n;
    let overflow = false;
    for (const c of list) {
      const proto = l4proto(c.protocol);
      if (proto === undefined || c.state === 'LISTEN') continue;
      const lport = Number(c.localPort);
      const rport = Number(c.peerPort);
      const local = plainIp(c.localAddress);
      const remote = plainIp(c.peerAddress);
      if (!isPeer(remote) || !Number.isInteger(lport) || !(rport > 0)) continue;
      const key = `${proto}|${local}|${lport}|${remote}|${rport}`;
      if (next.has(key)) continue;
      if (next.size >= this.maxConnections) {
        overflow = true;
        break;
      }
      next.add(key);
      if (!report || this.connections.has(key)) continue;
      const inbound = listening.has(`${proto}|${lport}`);
      this.emit(this.connectionEvent(c, proto, inbound, local, lport, remote, rport, rawtime));
    }
    this.connections = next;
    if (overflow) {
      this.noticeOnce('max-connections', 'connection table full; new connections not reported', {
        maxConnections: this.maxConnections,
      });
    }
  }

  private connectionEvent(
    c: ConnectionEntry,
    proto: string,
    inbound: boolean,
    local: string,
    lport: number,
    remote: string,
    rport: number,
    rawtime: bigint,
  ): Event {
    const fields: Fields = {
      'evt.type': inbound ? 'accept' : 'connect',
      'evt.dir': '<',
      'evt.rawtime': rawtime,
      'evt.sampled': true,
    };
    // A connection still being set up is what a non-blocking connect() reports as EINPROGRESS;
    // anything further along succeeded (for accept, 0 stands for "some descriptor").
    if (c.state === 'SYN_SENT') {
      fields['evt.rawres'] = -115;
      fields['evt.res'] = 'EINPROGRESS';
    } else {
      fields['evt.rawres'] = 0;
      fields['evt.res'] = 'SUCCESS';
    }
    putConnection(
      fields,
      inbound
        ? { cip: remote, cport: rport, sip: local, sport: lport, l4proto: proto }
        : { cip: local, cport: lport, sip: remote, sport: rport, l4proto: proto },
    );
    fields['fd.lip'] = local;
    fields['fd.lport'] = lport;
    fields['fd.rip'] = remote;
    fields['fd.rport'] = rport;
    const entry = c.pid === null ? undefined : this.processes.get(c.pid);
    if (entry !== undefined) {
      Object.assign(fields, entry.fields);
      const parent = this.processes.get(entry.stat.ppid);
      if (parent !== undefined) fields['proc.pname'] = parent.stat.comm;
    } else if (c.pid !== null) {
      fields['proc.pid'] = c.pid;
      if (c.process !== undefined && c.process !== '') fields['proc.name'] = c.process;
    }
    return { fields };
  }

  /** Reads the head of a proc file, counting what was read. */
  private async read(path: string, max: number): Promise<string | undefined> {
    const text = await readHead(path, max);
    if (text !== undefined) this.bytesRead += text.length;
    return text;
  }

  private emit(evt: Event): void {
    if (this.stopped) return;
    this.events++;
    this.sink?.event(evt);
  }

  private reportMalformed(reason: string, detail: string): void {
    if (this.stopped) return;
    this.malformed.count(reason);
    this.sink?.malformed(reason, detail);
  }

  private notice(message: string, fields?: Record<string, unknown>): void {
    if (!this.stopped) this.sink?.notice(message, { source: this.name, ...fields });
  }

  private noticeOnce(key: string, message: string, fields: Record<string, unknown>): void {
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    this.notice(message, fields);
  }
}

/** `tcp`/`udp` from netstat's protocol column (`tcp6`, `udp`), or undefined for others. */
function l4proto(protocol: string): string | undefined {
  if (protocol.startsWith('tcp')) return 'tcp';
  if (protocol.startsWith('udp')) return 'udp';
  return undefined;
}

/** Whether an address names a real peer (not a wildcard of an unconnected socket). */
function isPeer(address: string): boolean {
  return address !== '' && address !== '*' && address !== '0.0.0.0' && address !== '::';
}

/** Orders /proc start times (decimal clock ticks, possibly beyond 2^53) numerically. */
function compareStart(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Effective uid and gid, and the pid in the innermost pid namespace, from /proc/PID/status. */
function parseStatus(status: string): { uid?: number; gid?: number; vpid?: number } {
  const out: { uid?: number; gid?: number; vpid?: number } = {};
  for (const line of status.split('\n')) {
    if (line.startsWith('Uid:')) out.uid = Number(line.slice(4).trim().split(/\s+/)[1]);
    else if (line.startsWith('Gid:')) out.gid = Number(line.slice(4).trim().split(/\s+/)[1]);
    else if (line.startsWith('NSpid:')) {
      const ids = line.slice(6).trim().split(/\s+/);
      out.vpid = Number(ids[ids.length - 1]);
    }
  }
  for (const k of ['uid', 'gid', 'vpid'] as const) if (!Number.isInteger(out[k])) delete out[k];
  return out;
}

/** Reads at most `max` bytes of a (proc) file as text; undefined when it cannot be read. */
async function readHead(path: string, max: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
    const buf = Buffer.allocUnsafe(max);
    let have = 0;
    // Proc files may return less than asked per read; read until full or end.
    while (have < max) {
      const { bytesRead } = await handle.read(buf, have, max - have, null);
      if (bytesRead === 0) break;
      have += bytesRead;
    }
    return buf.toString('utf8', 0, have);
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Creates a procfs source from a registry spec (`procfs` or `procfs:/host/proc`). */
export function createProcfsSource(spec: SourceSpec, extra: Partial<ProcfsSourceOptions> = {}): ProcfsSource {
  const o = new SourceOptions('procfs', spec.options);
  const options: ProcfsSourceOptions = {
    procRoot: spec.target === '' ? '/proc' : spec.target,
    intervalMs: o.number('intervalMs', 1000, { min: 50, max: 3_600_000, integer: true }),
    connections: o.boolean('connections', true),
    existing: o.choice('existing', 'skip', ['skip', 'emit'] as const),
    maxProcesses: o.number('maxProcesses', 16384, { min: 1, max: 4_194_304, integer: true }),
    maxConnections: o.number('maxConnections', 16384, { min: 1, max: 1_048_576, integer: true }),
    ...extra,
  };
  o.finish();
  return new ProcfsSource(options);
}

/** Registry entry of the `procfs` source. */
export const procfsSourceFactory: SourceFactory = {
  name: 'procfs',
  description: 'polls /proc and the socket table for new processes, exits and connections (sampled)',
  example: 'procfs:/proc',
  create: (spec) => createProcfsSource(spec),
};
