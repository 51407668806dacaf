/**
 * Reads what the kernel says about one process from `/proc/PID`: the agent's fallback when the
 * event stream has not told it about a process (one started before the agent, or whose
 * clone/exec events were lost).
 *
 * Files read, and what each gives:
 * - `stat`: name (comm), parent pid, controlling tty, start time;
 * - `status`: effective uid and the pid as seen from the process's own pid namespace (`NSpid`);
 * - `cmdline`: argv (`exe` is argv[0], `args` the rest joined with spaces, as Falco shows them);
 * - `exe`, `cwd`: symbolic links to the executable and the working directory;
 * - `loginuid`: the audit user id;
 * - `cgroup`: the container the process is in (see {@link containerIdFromCgroup}).
 *
 * Only `stat` is required (a process without one is gone); every other file may be unreadable
 * (another user's process when not root, a kernel thread) and leaves its fields undefined.
 * Reads are synchronous: /proc lives in memory and never waits for a disk, and the process
 * table calls this rarely and under a rate limit.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { containerIdFromCgroup } from './cgroup-container-id.js';

/** What `/proc/PID` says about a process, in the units the process table keeps. */
export interface ProcSnapshot {
  readonly pid: number;
  /** The parent's pid (0 for the roots of the process tree). */
  readonly ppid: number;
  /** The kernel's name for the process (comm, at most 15 characters). */
  readonly name: string;
  /** argv[0]; empty for kernel threads, which have no command line. */
  readonly exe: string;
  /** argv[1..] joined with single spaces. */
  readonly args: string;
  /** The executable's path (the target of `exe`), undefined when unreadable. */
  readonly exepath: string | undefined;
  /** The working directory, undefined when unreadable. */
  readonly cwd: string | undefined;
  /** The effective user id, undefined when `status` was unreadable. */
  readonly uid: number | undefined;
  /** The audit user id; -1 when unset (the kernel's 4294967295), as Falco shows it. */
  readonly loginuid: number | undefined;
  /** The controlling terminal's device number; 0 when there is none. */
  readonly tty: number;
  /** When the process started, in nanoseconds since the epoch (10 ms resolution). */
  readonly startTime: number | undefined;
  /** The container's full id, `host` for a process in none, undefined when `cgroup` was unreadable. */
  readonly containerId: string | undefined;
  /** The pid in the process's own pid namespace (equal to `pid` outside containers). */
  readonly vpid: number | undefined;
}

/** Reads `/proc/PID`; the process table's only window on the live system. */
export interface ProcReader {
  /** Everything known about `pid`, or undefined when the process does not exist (any more). */
  read(pid: number): ProcSnapshot | undefined;
  /** Just the container id of `pid` (`host` when in none), or undefined when unreadable. */
  containerId(pid: number): string | undefined;
}

/** Options of {@link createProcReader}. */
export interface ProcReaderOptions {
  /** Where procfs is mounted. Default `/proc`; tests point it at a tree of their own. */
  readonly root?: string;
  /**
   * The kernel's USER_HZ, the unit of the start time in `stat`. Default 100, its value on every
   * architecture Linux supports today.
   */
  readonly clockTicksPerSecond?: number;
}

// Unset loginuid as the kernel writes it ((uid_t)-1).
const UNSET_UID = 4294967295;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function intOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number.parseInt(text, 10);
  return Number.isFinite(n) ? n : undefined;
}

/** The fields of `/proc/PID/stat` the table uses. */
interface StatFields {
  readonly name: string;
  readonly ppid: number;
  readonly tty: number;
  readonly startTicks: number;
}

/**
 * Parses `/proc/PID/stat`. The name sits in parentheses and may itself contain spaces and
 * parentheses, so it ends at the last `)`; the fields after it are space-separated.
 */
export function parseProcStat(text: string): StatFields | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): field N of proc(5) is rest[N - 3].
  const ppid = intOrUndefined(rest[1]);
  const tty = intOrUndefined(rest[4]);
  const startTicks = intOrUndefined(rest[19]);
  if (ppid === undefined || tty === undefined || startTicks === undefined) return undefined;
  return { name: text.slice(open + 1, close), ppid, tty, startTicks };
}

/** The effective uid and the innermost-namespace pid from `/proc/PID/status`. */
export function parseProcStatus(text: string): { uid: number | undefined; vpid: number | undefined } {
  let uid: number | undefined;
  let vpid: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('Uid:')) {
      // Real, effective, saved, filesystem: Falco's user.uid is the effective one.
      uid = intOrUndefined(line.slice(4).trim().split(/\s+/)[1]);
    } else if (line.startsWith('NSpid:')) {
      const ids = line.slice(6).trim().split(/\s+/);
      vpid = intOrUndefined(ids[ids.length - 1]);
    }
  }
  return { uid, vpid };
}

/** Splits `/proc/PID/cmdline` (NUL-terminated arguments) into argv[0] and the rest. */
export function parseProcCmdline(text: string): { exe: string; args: string } {
  const argv = text.split('\0');
  // The last argument is NUL-terminated, leaving an empty string at the end.
  if (argv.length > 0 && argv[argv.length - 1] === '') argv.pop();
  return { exe: argv[0] ?? '', args: argv.slice(1).join(' ') };
}

// The kernel appends this to the `exe` link of a process whose executable was removed.
const DELETED_SUFFIX = ' (deleted)';

/** Creates a {@link ProcReader} over the procfs at `options.root` (default `/proc`). */
export function createProcReader(options: ProcReaderOptions = {}): ProcReader {
  const root = options.root ?? '/proc';
  const ticks = options.clockTicksPerSecond ?? 100;
  // Boot time, read once: start times in `stat` count clock ticks since boot.
  let bootNs: number | undefined;
  let bootRead = false;

  function bootTimeNs(): number | undefined {
    if (!bootRead) {
      bootRead = true;
      const match = /^btime (\d+)$/m.exec(readText(join(root, 'stat')) ?? '');
      bootNs = match?.[1] === undefined ? undefined : Number(match[1]) * 1e9;
    }
    return bootNs;
  }

  function containerId(pid: number): string | undefined {
    const text = readText(join(root, String(pid), 'cgroup'));
    return text === undefined ? undefined : (containerIdFromCgroup(text) ?? 'host');
  }

  return {
    read(pid) {
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      const dir = join(root, String(pid));
      const statText = readText(join(dir, 'stat'));
      const stat = statText === undefined ? undefined : parseProcStat(statText);
      if (stat === undefined) return undefined;
      const status = parseProcStatus(readText(join(dir, 'status')) ?? '');
      const cmdline = parseProcCmdline(readText(join(dir, 'cmdline')) ?? '');
      const exeLink = readLink(join(dir, 'exe'));
      const loginuid = intOrUndefined(readText(join(dir, 'loginuid')));
      const boot = bootTimeNs();
      return {
        pid,
        ppid: stat.ppid,
        name: stat.name,
        exe: cmdline.exe,
        args: cmdline.args,
        exepath:
          exeLink?.endsWith(DELETED_SUFFIX) === true ? exeLink.slice(0, -DELETED_SUFFIX.length) : exeLink,
        cwd: readLink(join(dir, 'cwd')),
        uid: status.uid,
        loginuid: loginuid === UNSET_UID ? -1 : loginuid,
        tty: stat.tty,
        startTime: boot === undefined ? undefined : boot + (stat.startTicks * 1e9) / ticks,
        containerId: containerId(pid),
        vpid: status.vpid,
      };
    },
    containerId(pid) {
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      return containerId(pid);
    },
  };
}
