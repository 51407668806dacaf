/**
 * Which container a process is in, from the text of its `/proc/PID/cgroup`.
 *
 * Container runtimes name a container's cgroup after its id. Under the systemd cgroup driver the
 * id sits in a scope unit (`cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`,
 * `libpod-<id>.scope`); under the cgroupfs driver it is a path component of its own
 * (`/kubepods/besteffort/pod<uid>/<id>`, `/docker/<id>`, sometimes `crio-<id>`). The same rules
 * read cgroup v1 lines (`4:memory:/path`) and the v2 line (`0::/path`).
 *
 * Runtime helpers that run beside a container but are not in it (`crio-conmon-<id>.scope`,
 * `libpod-conmon-<id>.scope`) do not count as the container.
 */

// One path component naming a container: an optional runtime prefix, 64 hex digits, and an
// optional `.scope` suffix. `conmon` units fail to match because hex must follow the prefix.
const CONTAINER_COMPONENT = /^(?:(?:cri-containerd|crio|docker|libpod)-)?([0-9a-f]{64})(?:\.scope)?$/;

/**
 * The id of the container a cgroup path belongs to, or undefined for a path outside any
 * container. The component nearest the leaf wins, so a container nested in another (Docker in
 * Docker, a sub-cgroup a container made for itself) is reported as the innermost one.
 *
 * @example containerIdFromCgroupPath('/kubepods/besteffort/pod1f0c.../3b8e...a1') // '3b8e...a1'
 */
export function containerIdFromCgroupPath(path: string): string | undefined {
  const components = path.split('/');
  for (let i = components.length - 1; i >= 0; i--) {
    const match = CONTAINER_COMPONENT.exec(components[i] ?? '');
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/**
 * The id (64 lowercase hex digits) of the container a process is in, from the whole text of its
 * `/proc/PID/cgroup`, or undefined when the process is in none (a host process). Lines are read
 * in order and the first that names a container decides; a runtime puts all of a container's
 * controllers in the same place, so they agree.
 *
 * @example
 * containerIdFromCgroup('0::/system.slice/cri-containerd-3b8e...a1.scope\n') // '3b8e...a1'
 */
export function containerIdFromCgroup(procCgroupText: string): string | undefined {
  for (const line of procCgroupText.split('\n')) {
    // hierarchy-id:controllers:path; the path itself may contain colons.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const id = containerIdFromCgroupPath(line.slice(second + 1).trimEnd());
    if (id !== undefined) return id;
  }
  return undefined;
}
