/**
 * Finds a pod on this node through the container runtime (CRI): its ready sandbox by namespace
 * and name (and uid, when the command gives one), and a process of it whose /proc entries lead to
 * the pod's network namespace and cgroup.
 *
 * The process is the sandbox's own (containerd and CRI-O report its pid in the verbose
 * PodSandboxStatus), or else the first running container's. Its /proc/PID/cgroup must name the
 * pod's uid, which guards against a pid reused between the runtime's answer and our use.
 */
import { readFileSync } from 'node:fs';
import type { CriClient } from '../state/cri/cri-client.js';
import type { CriPodSandbox } from '../state/cri/cri-messages.js';
import { isPodCgroupName, unifiedCgroupPath } from './cgroup-freezer.js';

/** A pod found on this node. */
export interface LocatedPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly sandboxId: string;
  /** A process of the pod (the sandbox's when the runtime tells it). */
  readonly pid: number;
  /** `/proc/PID/ns/net`. */
  readonly netnsPath: string;
}

/** The result of a lookup: found, or why not. */
export type PodLookup =
  | { readonly found: true; readonly pod: LocatedPod }
  | {
      readonly found: false;
      readonly reason: string;
      /** True when a ready pod of that name has another uid: the quarantined one is surely gone. */
      readonly replaced?: boolean;
    };

/** Finds pods on this node. */
export interface PodLocator {
  /** Rejects only when the runtime cannot be asked (it is down, or the lookup itself failed). */
  locate(namespace: string, name: string, uid?: string): Promise<PodLookup>;
  /**
   * Whether `pod.pid` is still a process of the pod. Checked after opening its namespace: then
   * the open namespace is surely the pod's, whatever happens to the pid afterwards.
   */
  confirm(pod: LocatedPod): boolean;
}

interface VerboseInfo {
  readonly pid?: unknown;
}

function pidFromInfo(info: Readonly<Record<string, string>>): number | undefined {
  const text = info['info'];
  if (text === undefined) return undefined;
  try {
    const pid = (JSON.parse(text) as VerboseInfo).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function belongsToPod(pid: number, uid: string): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const unified = unifiedCgroupPath(text);
    const paths =
      unified !== undefined && unified !== '/'
        ? [unified]
        : text.split('\n').map((l) => l.split(':')[2] ?? '');
    return paths.some((p) => p.split('/').some((part) => isPodCgroupName(part, uid)));
  } catch {
    return false;
  }
}

/** Creates a locator asking the runtime behind `cri`. */
export function createPodLocator(cri: CriClient): PodLocator {
  async function processOf(sandbox: CriPodSandbox, uid: string): Promise<number | undefined> {
    const status = await cri.podSandboxStatus(sandbox.id, true);
    const candidates: number[] = [];
    const own = pidFromInfo(status.info);
    if (own !== undefined) candidates.push(own);
    if (candidates.length === 0) {
      const containers = await cri.listContainers({
        podSandboxId: sandbox.id,
        state: { state: 'CONTAINER_RUNNING' },
      });
      for (const c of containers.slice(0, 8)) {
        const pid = pidFromInfo((await cri.containerStatus(c.id, true)).info);
        if (pid !== undefined) candidates.push(pid);
      }
    }
    return candidates.find((pid) => belongsToPod(pid, uid));
  }

  return {
    confirm: (pod) => belongsToPod(pod.pid, pod.uid),
    async locate(namespace, name, uid) {
      const ready = await cri.listPodSandbox({ state: { state: 'SANDBOX_READY' } });
      const sameName = ready
        .filter((s) => s.metadata?.namespace === namespace && s.metadata.name === name)
        .sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0));
      const sandbox = sameName[0];
      if (sandbox === undefined)
        return { found: false, reason: `no running pod ${namespace}/${name} on this node` };
      const podUid = sandbox.metadata?.uid ?? '';
      if (uid !== undefined && uid !== '' && podUid !== uid) {
        return {
          found: false,
          reason: `pod ${namespace}/${name} on this node has uid ${podUid}, not ${uid} (the pod was replaced)`,
          replaced: true,
        };
      }
      const pid = await processOf(sandbox, podUid);
      if (pid === undefined) {
        return { found: false, reason: `pod ${namespace}/${name} has no running process the agent can see` };
      }
      return {
        found: true,
        pod: { namespace, name, uid: podUid, sandboxId: sandbox.id, pid, netnsPath: `/proc/${pid}/ns/net` },
      };
    },
  };
}
