/**
 * Complete teardown of a node-in-a-box instance, whether it stopped cleanly or crashed, and the
 * check that nothing of it is left.
 *
 * containerd 1.6 leaves things outside its configured directories: shims that ignore SIGTERM and
 * write no pid file, container processes (re-parented to PID 1 once their shim dies), cgroups
 * (the pod-level ones are never removed by CRI), rootfs and netns mounts, the CNI bridge, CNI
 * result-cache entries under /var/lib/cni and shim sockets under /run/containerd/s. Everything
 * here is found by what ties it to this instance (its socket path, state directory, cgroup root,
 * network and bridge names), never by process name alone, so other instances and a system
 * containerd are left alone.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, listProcesses, run, signal, waitGone } from './processes.js';
import { INSTANCE_DIR_PREFIX, type InstanceLayout } from './runtime-config.js';

const CNI_RESULTS_DIR = '/var/lib/cni/results';
// containerd's CRI plugin runs its own loopback network beside ours, cached under this name.
const CRI_LOOPBACK_NETWORK = 'cni-loopback';
const SHIM_SOCKET_DIR = '/run/containerd/s';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
/**
 * `net.ipv4.ip_forward` as it was before the first of the running instances started. The CNI
 * bridge plugin in gateway mode switches forwarding on machine-wide; the harness avoids that mode,
 * but records the value once, shared by every instance, and the last instance to stop restores it.
 */
const IP_FORWARD_RECORD = '/tmp/vigil-niab.ip_forward';
const CRI_NAMESPACE = 'k8s.io';

interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly root: string;
}

// mountinfo escapes space, tab, newline and backslash as octal.
const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

function mounts(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const fields = line.split(' ');
      const sep = fields.indexOf('-');
      return {
        root: unescapeMount(fields[3] ?? ''),
        mountPoint: unescapeMount(fields[4] ?? ''),
        fsType: fields[sep + 1] ?? '',
      };
    });
}

function mountsUnder(dir: string): string[] {
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

/** The mount points of every cgroup hierarchy (each v1 controller's, and v2's). */
export function cgroupHierarchies(): string[] {
  return mounts()
    .filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.root === '/')
    .map((m) => m.mountPoint);
}

/** The instance's cgroup directory in every mounted cgroup hierarchy. */
export function cgroupDirs(layout: InstanceLayout): string[] {
  return cgroupHierarchies().map((h) => join(h, layout.cgroupRoot));
}

/** `dir` and every cgroup below it, deepest first. */
function cgroupTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...cgroupTree(join(dir, entry.name)));
  }
  out.push(dir);
  return out;
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Processes inside the instance's cgroups (the containers' and the sandboxes'). */
function cgroupPids(layout: InstanceLayout): number[] {
  const pids = new Set<number>();
  for (const dir of cgroupDirs(layout)) {
    for (const cg of cgroupTree(dir)) for (const pid of readPids(join(cg, 'cgroup.procs'))) pids.add(pid);
  }
  return [...pids].filter(isAlive);
}

function containerdPid(layout: InstanceLayout): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(layout.containerdPidPath, 'utf8').trim());
  } catch {
    return undefined;
  }
  // The pid may have been reused since a crash: only ours if it runs our config.
  const proc = listProcesses().find((p) => p.pid === pid);
  return proc?.argv.includes(layout.configPath) === true ? pid : undefined;
}

/** The instance's shims: started with its socket as `-address`, or working in its state dir. */
function shimPids(layout: InstanceLayout): number[] {
  return listProcesses()
    .filter(
      (p) =>
        (p.argv[0]?.includes('containerd-shim') === true && p.argv.includes(layout.socket)) ||
        (p.cwd !== undefined && p.cwd.startsWith(layout.stateDir + '/')),
    )
    .map((p) => p.pid);
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Ids of the tasks (one per pod sandbox shim) and sandboxes the instance's directories know. */
function sandboxIdsOnDisk(layout: InstanceLayout): string[] {
  return [
    ...new Set([
      ...list(join(layout.stateDir, 'io.containerd.runtime.v2.task', CRI_NAMESPACE)),
      ...list(join(layout.rootDir, 'io.containerd.grpc.v1.cri', 'sandboxes')),
    ]),
  ];
}

// containerd names a shim's socket by hashing its own address, the namespace and the task id.
function shimSocket(layout: InstanceLayout, id: string): string {
  return join(
    SHIM_SOCKET_DIR,
    createHash('sha256')
      .update(join(layout.socket, CRI_NAMESPACE, id))
      .digest('hex'),
  );
}

/** The instance's CNI result-cache entries: its network's, and CRI's loopback ones of its sandboxes. */
function cniCacheEntries(layout: InstanceLayout, sandboxIds: readonly string[]): string[] {
  const loopback = new Set(sandboxIds.map((id) => `${CRI_LOOPBACK_NETWORK}-${id}-lo`));
  return list(CNI_RESULTS_DIR)
    .filter((f) => f.startsWith(layout.networkName + '-') || loopback.has(f))
    .map((f) => join(CNI_RESULTS_DIR, f));
}

/** Names of the other instances whose owning test process is alive. */
function otherLiveInstances(layout: InstanceLayout): string[] {
  const prefix = INSTANCE_DIR_PREFIX.slice(INSTANCE_DIR_PREFIX.lastIndexOf('/') + 1);
  const parent = INSTANCE_DIR_PREFIX.slice(0, INSTANCE_DIR_PREFIX.lastIndexOf('/'));
  return list(parent)
    .filter((entry) => entry.startsWith(prefix) && entry !== prefix + layout.name)
    .filter((entry) => {
      try {
        return isAlive(Number(readFileSync(join(parent, entry, 'owner.pid'), 'utf8').trim()));
      } catch {
        return false;
      }
    })
    .map((entry) => entry.slice(prefix.length));
}

/**
 * Records `net.ipv4.ip_forward` before the instance sets up any pod, unless an instance that is
 * still running recorded it first (its value is the machine's original one).
 */
export function recordIpForward(layout: InstanceLayout): void {
  if (existsSync(IP_FORWARD_RECORD) && otherLiveInstances(layout).length > 0) return;
  writeFileSync(IP_FORWARD_RECORD, readIpForward());
}

function bridgeExists(layout: InstanceLayout): boolean {
  return existsSync(join('/sys/class/net', layout.bridge));
}

function writeIfPossible(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // Not every hierarchy has every control file.
  }
}

/** Reads `net.ipv4.ip_forward` ('0' or '1'). */
export function readIpForward(): string {
  return readFileSync(IP_FORWARD, 'utf8').trim();
}

/**
 * Removes everything the instance `layout` may have left, in an order where each step cannot be
 * undone by the next: the runtime, the shims, the containers, mounts, cgroups, the bridge, the
 * caches, then the directory; and, if no other instance is running, restores `ip_forward`. Safe to call when nothing is there. Throws, listing
 * what is left, when something could not be removed.
 */
export async function teardownInstance(layout: InstanceLayout): Promise<void> {
  // 1. containerd: SIGTERM lets it close its sockets; it exits in well under a second.
  const runtime = containerdPid(layout);
  if (runtime !== undefined) {
    signal(runtime, 'SIGTERM');
    if (!(await waitGone([runtime], 5000))) {
      signal(runtime, 'SIGKILL');
      await waitGone([runtime], 5000);
    }
  }

  // 2. Shims ignore SIGTERM; note the sandboxes first, while the directories that list them exist.
  const sandboxIds = sandboxIdsOnDisk(layout);
  const sockets = sandboxIds.map((id) => shimSocket(layout, id));
  const shims = shimPids(layout);
  for (const pid of shims) signal(pid, 'SIGKILL');
  await waitGone(shims, 5000);

  // 3. Containers outlive their shims: thaw (a frozen task cannot die), then kill until empty.
  for (const dir of cgroupDirs(layout)) {
    for (const cg of cgroupTree(dir)) {
      writeIfPossible(join(cg, 'freezer.state'), 'THAWED');
      writeIfPossible(join(cg, 'cgroup.freeze'), '0');
    }
  }
  const killDeadline = Date.now() + 5000;
  for (
    let pids = cgroupPids(layout);
    pids.length > 0 && Date.now() < killDeadline;
    pids = cgroupPids(layout)
  ) {
    for (const pid of pids) signal(pid, 'SIGKILL');
    await waitGone(pids, 1000);
  }

  // 4. Mounts (rootfs overlays, sandbox /dev/shm, netns bind mounts), deepest first.
  for (const mountPoint of mountsUnder(layout.baseDir).sort((a, b) => b.length - a.length)) {
    await run('umount', ['-l', mountPoint]).catch(() => undefined);
  }

  // 5. cgroups, deepest first; a cgroup whose last task just died can be briefly busy.
  for (const dir of cgroupDirs(layout)) {
    for (const cg of cgroupTree(dir)) {
      for (let attempt = 0; attempt < 20 && existsSync(cg); attempt++) {
        try {
          rmdirSync(cg);
        } catch {
          await sleep(50);
        }
      }
    }
  }

  // 6. The network: the bridge, the CNI result cache, forwarding as it was.
  if (bridgeExists(layout)) await run('ip', ['link', 'del', layout.bridge]).catch(() => undefined);
  for (const entry of cniCacheEntries(layout, sandboxIds)) rmSync(entry, { force: true });
  if (existsSync(IP_FORWARD_RECORD) && otherLiveInstances(layout).length === 0) {
    const saved = readFileSync(IP_FORWARD_RECORD, 'utf8').trim();
    if ((saved === '0' || saved === '1') && readIpForward() !== saved) writeFileSync(IP_FORWARD, saved);
    rmSync(IP_FORWARD_RECORD, { force: true });
  }

  // 7. Shim sockets, then the directory (only once nothing is mounted inside it).
  for (const socket of sockets) rmSync(socket, { force: true });
  const left = leftovers(layout, { ignoreBaseDir: true, sandboxIds });
  if (left.length > 0) throw new Error(`node-in-a-box teardown of ${layout.name} left: ${left.join('; ')}`);
  rmSync(layout.baseDir, { recursive: true, force: true });
}

/** Options of {@link leftovers}. */
export interface LeftoverOptions {
  /** Do not count the instance's directory itself (teardown checks before removing it). */
  readonly ignoreBaseDir?: boolean;
  /**
   * Sandbox ids whose shim sockets to look for, besides those the state directory still lists
   * (after a teardown it lists none: pass the ids of the pods that ran).
   */
  readonly sandboxIds?: readonly string[];
}

/**
 * What of the instance is still there: live processes (runtime, shims, containers), mounts,
 * cgroups, the bridge, CNI cache entries, shim sockets, an unrestored `ip_forward`, the directory.
 * Empty after a complete teardown.
 */
export function leftovers(layout: InstanceLayout, options: LeftoverOptions = {}): string[] {
  const out: string[] = [];
  const runtime = containerdPid(layout);
  if (runtime !== undefined) out.push(`containerd pid ${runtime}`);
  for (const pid of shimPids(layout)) out.push(`shim pid ${pid}`);
  for (const pid of cgroupPids(layout)) out.push(`container process pid ${pid}`);
  for (const m of mountsUnder(layout.baseDir)) out.push(`mount ${m}`);
  for (const dir of cgroupDirs(layout)) if (existsSync(dir)) out.push(`cgroup ${dir}`);
  if (bridgeExists(layout)) out.push(`bridge ${layout.bridge}`);
  const sandboxIds = [...new Set([...sandboxIdsOnDisk(layout), ...(options.sandboxIds ?? [])])];
  for (const entry of cniCacheEntries(layout, sandboxIds)) out.push(`CNI cache ${entry}`);
  for (const id of sandboxIds) {
    const socket = shimSocket(layout, id);
    if (existsSync(socket)) out.push(`shim socket ${socket}`);
  }
  if (existsSync(IP_FORWARD_RECORD) && otherLiveInstances(layout).length === 0) {
    out.push(`${IP_FORWARD_RECORD} (net.ipv4.ip_forward not restored)`);
  }
  if (options.ignoreBaseDir !== true && existsSync(layout.baseDir)) {
    out.push(
      `directory ${layout.baseDir}${statSync(layout.baseDir).isDirectory() ? '' : ' (not a directory)'}`,
    );
  }
  return out;
}
