/**
 * Freezing a pod with the cgroup v2 freezer: `cgroup.freeze` = 1 on the pod's cgroup stops every
 * process in it and in its children (all the pod's containers and its sandbox) until it is set
 * back to 0; `cgroup.events` says `frozen 1` once the kernel has stopped them all.
 *
 * The pod's cgroup is the parent of a pod process's cgroup as /proc/PID/cgroup shows it on the
 * unified hierarchy (`0::/kubepods/besteffort/pod<uid>/<container>` with the cgroupfs driver,
 * `0::/kubepods.slice/.../kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope` with
 * systemd's). Works on a pure v2 machine and on a hybrid one whose v2 hierarchy is mounted
 * beside the v1 controllers (e.g. /sys/fs/cgroup/unified). The agent must see the host's cgroup
 * namespace (a DaemonSet with hostPID and the host's /sys/fs/cgroup), as paths are read from
 * /proc/PID/cgroup.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where to find things; tests leave the defaults. */
export interface CgroupFreezerOptions {
  /** The mount table to search for the cgroup2 mount (default /proc/self/mountinfo). */
  readonly mountinfo?: string;
  /** How long to wait for `frozen 1` / `frozen 0` (default 5000 ms). */
  readonly timeoutMs?: number;
}

/** Freezes and thaws pods' cgroups. */
export interface PodFreezer {
  /** Why freezing cannot work here, or undefined when it can. */
  unavailableReason(): string | undefined;
  /** The pod's cgroup directory for a process of the pod; throws with the reason. */
  podCgroupOf(pid: number, podUid: string): string;
  /** Freezes the cgroup and waits until the kernel reports it frozen. */
  freeze(cgroupDir: string): Promise<void>;
  /** Thaws the cgroup and waits until the kernel reports it thawed. */
  thaw(cgroupDir: string): Promise<void>;
  /** Whether the cgroup is frozen (`cgroup.events` says `frozen 1`). */
  isFrozen(cgroupDir: string): boolean;
}

/** The cgroup2 mount point in a mountinfo text, or undefined. */
export function findCgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fsType !== 'cgroup2') continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    // Octal escapes (\040 for a space) as the kernel writes them.
    if (mountPoint !== undefined)
      return mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/** The unified-hierarchy path (`0::PATH`) in a /proc/PID/cgroup text, or undefined. */
export function unifiedCgroupPath(procCgroup: string): string | undefined {
  const line = procCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3);
}

/** True when the cgroup directory's name belongs to the pod `uid` (cgroupfs or systemd naming). */
export function isPodCgroupName(name: string, uid: string): boolean {
  return uid !== '' && (name.includes(`pod${uid}`) || name.includes(`pod${uid.replaceAll('-', '_')}`));
}

/** Creates the freezer. */
export function createPodFreezer(options: CgroupFreezerOptions = {}): PodFreezer {
  const timeoutMs = options.timeoutMs ?? 5000;
  let mount: string | undefined;
  let reason: string | undefined;
  try {
    mount = findCgroup2Mount(readFileSync(options.mountinfo ?? '/proc/self/mountinfo', 'utf8'));
    if (mount === undefined) reason = 'no cgroup2 hierarchy is mounted';
  } catch (err) {
    reason = `cannot read the mount table: ${(err as Error).message}`;
  }

  async function waitFrozen(dir: string, want: boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (isFrozen(dir) !== want) {
      if (Date.now() > deadline) {
        throw new Error(`${dir} did not become ${want ? 'frozen' : 'thawed'} within ${timeoutMs} ms`);
      }
      await sleep(10);
    }
  }

  function isFrozen(dir: string): boolean {
    const events = readFileSync(join(dir, 'cgroup.events'), 'utf8');
    return /^frozen 1$/m.test(events);
  }

  return {
    unavailableReason() {
      if (reason !== undefined) return reason;
      // The root cgroup has no cgroup.freeze; any child shows whether the kernel has the v2
      // freezer (5.2+). The agent's own cgroup is a child on every node that runs pods.
      const self = unifiedCgroupPath(readFileSync('/proc/self/cgroup', 'utf8'));
      const probe = self !== undefined && self !== '/' ? join(mount ?? '', self) : undefined;
      if (probe !== undefined && !existsSync(join(probe, 'cgroup.freeze')))
        return 'the kernel has no cgroup v2 freezer (cgroup.freeze; Linux 5.2+)';
      return undefined;
    },
    podCgroupOf(pid, podUid) {
      if (mount === undefined) throw new Error(`cannot freeze: ${reason ?? 'no cgroup2 mount'}`);
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      } catch (err) {
        throw new Error(`cannot read /proc/${pid}/cgroup: ${(err as Error).message}`, { cause: err });
      }
      const path = unifiedCgroupPath(text);
      if (path === undefined)
        throw new Error(`process ${pid} is in no cgroup v2 (no 0:: line in /proc/${pid}/cgroup)`);
      const pod = dirname(path);
      if (!isPodCgroupName(pod.slice(pod.lastIndexOf('/') + 1), podUid)) {
        throw new Error(`the parent of process ${pid}'s cgroup ${path} is not the cgroup of pod ${podUid}`);
      }
      const dir = join(mount, pod);
      if (!existsSync(join(dir, 'cgroup.freeze'))) throw new Error(`${dir} has no cgroup.freeze`);
      return dir;
    },
    async freeze(dir) {
      writeFileSync(join(dir, 'cgroup.freeze'), '1');
      await waitFrozen(dir, true);
    },
    async thaw(dir) {
      writeFileSync(join(dir, 'cgroup.freeze'), '0');
      await waitFrozen(dir, false);
    },
    isFrozen,
  };
}
