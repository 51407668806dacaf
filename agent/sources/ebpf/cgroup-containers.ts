/**
 * Which container a kernel event came from, from the cgroup id the sensor records.
 *
 * A cgroup id is the inode number of the cgroup's directory in the cgroup file system, in the
 * hierarchy the sensor's header names (the unified v2 one, or a v1 controller's). The id is
 * turned into a path, and the path into a container id by the agent's own parser
 * ({@link containerIdFromCgroupPath}); results are cached by id, so the file system is only
 * consulted the first time a cgroup shows up:
 * 1. `/proc/PID/cgroup` of the event's process names its cgroup path; the path's directory is
 *    checked to have that inode (the process may have moved, or gone and its pid been reused);
 * 2. failing that, the hierarchy is walked and every directory's id is learnt, which also
 *    answers the cgroups that show up next. Walks are spaced by at least `rescanIntervalMs`, and
 *    by twenty times what the last walk took, so that they never take more than a twentieth of
 *    the time however large the hierarchy.
 * An id neither finds is remembered as unknown for `negativeTtlMs`, but only once a walk has
 * failed to find it: a process that is gone says nothing about its cgroup, and the next event
 * of the same cgroup (from a process still alive) may find it. /proc reads per unknown id are
 * limited to `procReadsPerId` per `rescanIntervalMs`. A new container's first events come from
 * short-lived runtime processes (runc's), so retrying quickly matters.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { containerIdFromCgroupPath } from '../../state/cgroup-container-id.js';

/** The hierarchy cgroup ids refer to, as the sensor's header names it (`pids:/sys/fs/cgroup/pids`). */
export interface CgroupHierarchy {
  /** `unified` (cgroup v2), a v1 controller's name, or `none` (no cgroup file system). */
  readonly kind: string;
  /** Where the hierarchy is mounted. */
  readonly mount: string;
}

/** Parses the sensor header's `KIND:MOUNTPOINT`. */
export function parseCgroupHierarchy(label: string): CgroupHierarchy {
  const colon = label.indexOf(':');
  return colon < 0
    ? { kind: label, mount: '' }
    : { kind: label.slice(0, colon), mount: label.slice(colon + 1) };
}

/** The file system operations the resolver uses; injectable for tests. */
export interface CgroupFs {
  /** A small file's text, or undefined when it cannot be read. */
  readText(path: string): string | undefined;
  /** A directory's inode number, or undefined. */
  inode(path: string): number | undefined;
  /** The subdirectory names of a directory (empty when it cannot be read). */
  subdirectories(path: string): string[];
}

/** The real file system. */
export const nodeCgroupFs: CgroupFs = {
  readText(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  inode(path) {
    try {
      return statSync(path).ino;
    } catch {
      return undefined;
    }
  },
  subdirectories(path) {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return [];
    }
  },
};

/** Options of {@link CgroupContainers}. */
export interface CgroupContainersOptions {
  readonly fs?: CgroupFs;
  /** Where /proc is (default `/proc`). */
  readonly procRoot?: string;
  /** Milliseconds clock; default `Date.now`. */
  readonly now?: () => number;
  /** Least time between two walks of the hierarchy, ms (default 20). */
  readonly rescanIntervalMs?: number;
  /** How long an id a walk did not find stays unknown before it is looked up again, ms (default 500). */
  readonly negativeTtlMs?: number;
  /** Most /proc reads for one unknown id per `rescanIntervalMs` (default 8). */
  readonly procReadsPerId?: number;
  /** Most cgroup ids cached (default 16384); the cache starts over beyond it. */
  readonly maxEntries?: number;
  /** Most directories one walk visits (default 50000). */
  readonly maxWalk?: number;
}

/** Resolves cgroup ids to container ids; see the module comment. */
export class CgroupContainers {
  private readonly fs: CgroupFs;
  private readonly procRoot: string;
  private readonly now: () => number;
  private readonly rescanIntervalMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly maxWalk: number;
  /** Id -> container id ('' for none: the host). */
  private readonly known = new Map<number, string>();
  /** Id -> when a walk last did not find it. */
  private readonly unknown = new Map<number, number>();
  /** Id -> /proc reads for it in the current window, and when the window started. */
  private readonly attempts = new Map<number, { count: number; since: number }>();
  private readonly procReadsPerId: number;
  private lastWalk = Number.NEGATIVE_INFINITY;
  /** Least time until the next walk: the interval, or twenty times the last walk's cost. */
  private walkGap = 0;
  private lookups = 0;
  private walks = 0;

  constructor(
    private readonly hierarchy: CgroupHierarchy,
    options: CgroupContainersOptions = {},
  ) {
    this.fs = options.fs ?? nodeCgroupFs;
    this.procRoot = options.procRoot ?? '/proc';
    this.now = options.now ?? Date.now;
    this.rescanIntervalMs = options.rescanIntervalMs ?? 20;
    this.negativeTtlMs = options.negativeTtlMs ?? 500;
    this.procReadsPerId = options.procReadsPerId ?? 8;
    this.maxEntries = options.maxEntries ?? 16384;
    this.maxWalk = options.maxWalk ?? 50000;
  }

  /** Lookups made (cache misses) and hierarchy walks, for tests and status. */
  get counters(): { lookups: number; walks: number; cached: number } {
    return { lookups: this.lookups, walks: this.walks, cached: this.known.size };
  }

  /**
   * The id (64 hex digits) of the container cgroup `id` belongs to, `''` for a cgroup of no
   * container, or undefined when the cgroup cannot be found. `pid` is a process that was in it.
   */
  containerOf(id: number, pid: number): string | undefined {
    const hit = this.known.get(id);
    if (hit !== undefined) return hit;
    if (this.hierarchy.kind === 'none' || this.hierarchy.mount === '') return undefined;
    const missed = this.unknown.get(id);
    const now = this.now();
    if (missed !== undefined && now - missed < this.negativeTtlMs) return undefined;
    this.lookups++;
    const found = this.fromProc(id, pid, now);
    if (found !== undefined) return found;
    if (now - this.lastWalk < Math.max(this.rescanIntervalMs, this.walkGap)) return undefined;
    const walked = this.fromWalk(id, now);
    if (walked === undefined) {
      if (this.unknown.size >= this.maxEntries) this.unknown.clear();
      this.unknown.set(id, now);
    }
    return walked;
  }

  private remember(id: number, path: string): string {
    if (this.known.size >= this.maxEntries) this.known.clear();
    const container = containerIdFromCgroupPath(path) ?? '';
    this.known.set(id, container);
    this.unknown.delete(id);
    return container;
  }

  /** The process's own cgroup line, checked against the id (a few tries per id and window). */
  private fromProc(id: number, pid: number, now: number): string | undefined {
    let tries = this.attempts.get(id);
    if (tries === undefined || now - tries.since >= this.rescanIntervalMs) {
      if (this.attempts.size >= this.maxEntries) this.attempts.clear();
      tries = { count: 0, since: now };
      this.attempts.set(id, tries);
    }
    if (tries.count >= this.procReadsPerId) return undefined;
    tries.count++;
    const text = this.fs.readText(`${this.procRoot}/${pid}/cgroup`);
    if (text === undefined) return undefined;
    const path = cgroupPathFor(text, this.hierarchy.kind);
    if (path === undefined) return undefined;
    if (this.fs.inode(join(this.hierarchy.mount, path)) !== id) return undefined;
    this.attempts.delete(id);
    return this.remember(id, path);
  }

  /** Learns every cgroup of the hierarchy (rate-limited), then answers from that. */
  private fromWalk(id: number, now: number): string | undefined {
    this.lastWalk = now;
    this.walks++;
    const root = this.hierarchy.mount;
    const queue: string[] = ['/'];
    for (let next = 0; next < queue.length && next < this.maxWalk; next++) {
      const rel = queue[next] as string;
      const dir = rel === '/' ? root : join(root, rel);
      const ino = this.fs.inode(dir);
      if (ino === undefined) continue;
      this.remember(ino, rel);
      for (const name of this.fs.subdirectories(dir)) queue.push(rel === '/' ? `/${name}` : `${rel}/${name}`);
    }
    this.walkGap = 20 * (this.now() - now);
    return this.known.get(id);
  }
}

/** The cgroup path of `kind` (`unified` or a v1 controller) in a /proc/PID/cgroup text. */
export function cgroupPathFor(procCgroupText: string, kind: string): string | undefined {
  for (const line of procCgroupText.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const matches = kind === 'unified' ? line.startsWith('0::') : controllers.split(',').includes(kind);
    if (matches) return line.slice(second + 1).trimEnd();
  }
  return undefined;
}
