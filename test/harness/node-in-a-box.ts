/**
 * A Kubernetes-style node on this machine for tests: containerd with its CRI plugin, runc, a CNI
 * bridge and a busybox image built on the spot. No kubelet and no registry: tests create pods
 * through the CRI API, as the kubelet would, and get real containers, cgroups, network
 * namespaces and CRI metadata, which is exactly what the agent sees on a real node.
 *
 * Needs root and the Debian packages in {@link PRIVILEGED_PACKAGES}; use `requirePrivileged`
 * in the suite's `before()` first. Everything lives under `/tmp/vigil-niab-<name>`, the network
 * is a bridge of its own on a private /24 with no route off the machine, and `stop()` removes
 * every trace (also run before set-up, to clean up after a crashed run). `net.ipv4.ip_forward` is
 * left alone (the CNI plugin's gateway mode, which switches it on, is not used) and, should
 * anything change it all the same, restored by the last instance to stop.
 *
 * Pods run busybox-static, whose `wget -T` crashes: use `timeout 5 wget ...`. Pods have no DNS.
 *
 * @example
 * const node = await startNodeInABox();
 * try {
 *   const pod = await node.runPod({ name: 'web', namespace: 'shop', labels: { app: 'web' } });
 *   const { stdout } = await pod.exec(['cat', '/etc/hostname']); // 'web\n'
 * } finally {
 *   await node.stop();
 * }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCriClient, type CriClient } from '../../agent/state/cri/cri-client.js';
import type { CriContainerConfig, CriPodSandboxConfig } from '../../agent/state/cri/cri-messages.js';
import { APP_IMAGE, PAUSE_IMAGE, buildBusyboxImageArchive } from './busybox-image.js';
import { PRIVILEGED_PACKAGES, privilegedReason } from './privileged.js';
import { isAlive, run, waitGone } from './processes.js';
import { cniConflist, containerdConfig, instanceLayout, type InstanceLayout } from './runtime-config.js';
import { cgroupDirs, leftovers, recordIpForward, teardownInstance } from './teardown.js';

export { PRIVILEGED_PACKAGES };

/** Options of {@link startNodeInABox}. */
export interface NodeInABoxOptions {
  /**
   * The instance's name (1-10 lowercase letters or digits); default `vigil`. Concurrent test
   * processes on one machine must use different names; a name in use by a live process is refused.
   */
  readonly name?: string;
  /** How long to wait for containerd to answer, in milliseconds. Default 20 000. */
  readonly startTimeoutMs?: number;
}

/** What a test asks for in {@link NodeInABox.runPod}. */
export interface PodSpec {
  /** The pod's name; also its hostname. */
  readonly name: string;
  /** The pod's namespace. */
  readonly namespace: string;
  /** The pod's UID; default a random UUID. */
  readonly uid?: string;
  /** The pod's labels. The kubelet's `io.kubernetes.pod.*` labels are added as a kubelet would. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The pod's annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** The container's name; default `main`. */
  readonly containerName?: string;
  /** The container's full command line; default sleeping forever. The image has busybox's applets in /bin. */
  readonly command?: readonly string[];
  /** Environment variables of the container. */
  readonly env?: Readonly<Record<string, string>>;
}

/** The outcome of a command run in a container. */
export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running pod of one container, with what tests need to look at it from the host. */
export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** The container's name in the pod. */
  readonly containerName: string;
  /** The sandbox's id (the pause container's id). */
  readonly sandboxId: string;
  /** The container's id (64 hex digits). */
  readonly containerId: string;
  /** The host pid of the container's first process. */
  readonly pid: number;
  /** The pod's IPv4 address on the instance's bridge. */
  readonly ip: string;
  /** The pod's network namespace (a bind mount valid for the pod's lifetime): `nsenter --net=PATH`. */
  readonly netnsPath: string;
  /** The container's cgroup path relative to each hierarchy's root, as runc was given it. */
  readonly cgroupPath: string;
  /** The pod-level cgroup the container's cgroup is in. */
  readonly podCgroupPath: string;
  /**
   * Runs `argv` inside the container through CRI ExecSync (so in the container's namespaces and
   * cgroup, a child of its shim, as `kubectl exec` would) and waits for it.
   */
  exec(argv: readonly string[], options?: { readonly timeoutSeconds?: number }): Promise<ExecResult>;
  /** Stops and removes the pod and its pod-level cgroup. Idempotent. */
  stop(): Promise<void>;
}

/** A running node-in-a-box instance. */
export interface NodeInABox {
  /** The instance's name. */
  readonly name: string;
  /** containerd's socket, which serves the CRI API (what the agent would be pointed at). */
  readonly criSocket: string;
  /** A CRI client on {@link criSocket}, shared by the harness; do not close it. */
  readonly cri: CriClient;
  /** The app image pods run by default. */
  readonly image: string;
  /** The CNI bridge's name. */
  readonly bridge: string;
  /** The pods' /24. */
  readonly subnet: string;
  /** The bridge's address: the host as the pods reach it. */
  readonly gateway: string;
  /** Where the instance's files are (containerd.log is there while it runs). */
  readonly baseDir: string;
  /** Creates and starts a pod of one container and waits until it runs. */
  runPod(spec: PodSpec): Promise<Pod>;
  /** Stops every pod, the runtime, and removes everything the instance made. Idempotent. */
  stop(): Promise<void>;
  /** What of the instance is left on the machine; empty after {@link stop}. */
  leftovers(): string[];
}

const CONTAINERD_STOP_TIMEOUT_S = 0; // busybox sleep ignores SIGTERM as PID 1; kill at once

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function claim(layout: InstanceLayout): void {
  try {
    const owner = Number(readFileSync(layout.ownerPidPath, 'utf8').trim());
    if (owner !== process.pid && isAlive(owner)) {
      throw new Error(
        `node-in-a-box instance "${layout.name}" is in use by pid ${owner}; choose another name`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function checkSubnetFree(layout: InstanceLayout): Promise<void> {
  const prefix = layout.subnet.slice(0, layout.subnet.lastIndexOf('.') + 1);
  const routes = (await run('ip', ['-o', '-4', 'route', 'show', 'table', 'all'])).stdout;
  const clash = routes.split('\n').find((r) => r.includes(prefix) && !r.includes(` dev ${layout.bridge} `));
  if (clash !== undefined) {
    throw new Error(
      `node-in-a-box: ${layout.subnet} is already routed on this machine (${clash.trim()}); choose another name`,
    );
  }
}

async function createBridge(layout: InstanceLayout): Promise<void> {
  // Made here, with the gateway address, so the CNI bridge plugin need not run in gateway mode,
  // which would switch on net.ipv4.ip_forward for the whole machine; it only attaches pods.
  await run('ip', ['link', 'add', 'name', layout.bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${layout.gateway}/24`, 'dev', layout.bridge]);
  await run('ip', ['link', 'set', layout.bridge, 'up']);
}

async function waitForRuntime(
  cri: CriClient,
  child: ChildProcess,
  layout: InstanceLayout,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `containerd exited (${child.exitCode ?? child.signalCode}) during start-up:\n${tail(layout.logPath)}`,
      );
    }
    try {
      await cri.version({ deadlineMs: 1000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`containerd did not answer CRI within ${timeoutMs} ms:\n${tail(layout.logPath)}`, {
          cause: err,
        });
      }
      await sleep(50);
    }
  }
}

/**
 * What an instance named `name` has left on the machine (processes, mounts, cgroups, bridge,
 * caches, its directory); empty when it is fully torn down. `sandboxIds` adds the shim sockets
 * and cache entries of those sandboxes to the search, for when the instance's directory is gone.
 */
export function nodeInABoxLeftovers(name: string, sandboxIds: readonly string[] = []): string[] {
  return leftovers(instanceLayout(name), { sandboxIds });
}

/** Starts a node-in-a-box instance; see the module comment. Rejects with the reason when it cannot. */
export async function startNodeInABox(options: NodeInABoxOptions = {}): Promise<NodeInABox> {
  const reason = privilegedReason();
  if (reason !== undefined) throw new Error(`node-in-a-box cannot run here: ${reason}`);
  const layout = instanceLayout(options.name ?? 'vigil');
  claim(layout);
  await teardownInstance(layout);
  await checkSubnetFree(layout);

  await mkdir(layout.baseDir, { recursive: true });
  await writeFile(layout.ownerPidPath, String(process.pid));
  recordIpForward(layout);
  for (const dir of [layout.cniConfDir, layout.podLogDir, layout.ipamDir, layout.runcRoot])
    await mkdir(dir, { recursive: true });

  let child: ChildProcess | undefined;
  let cri: CriClient | undefined;
  try {
    await createBridge(layout);
    await writeFile(layout.configPath, containerdConfig(layout, PAUSE_IMAGE));
    await writeFile(join(layout.cniConfDir, '10-vigil.conflist'), cniConflist(layout));
    const archive = await buildBusyboxImageArchive(join(layout.baseDir, 'image'));

    const log = openSync(layout.logPath, 'a');
    try {
      child = spawn('containerd', ['--config', layout.configPath], { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const { pid } = child;
    if (pid === undefined) throw new Error('containerd did not start');
    await writeFile(layout.containerdPidPath, String(pid));
    cri = createCriClient(layout.socket);
    await waitForRuntime(cri, child, layout, options.startTimeoutMs ?? 20_000);
    await run(
      'ctr',
      ['--address', layout.socket, '-n', 'k8s.io', 'images', 'import', '--all-platforms', archive],
      60_000,
    );
  } catch (err) {
    cri?.close();
    await teardownInstance(layout).catch(() => undefined);
    throw err;
  }
  return makeNode(layout, cri, child);
}

function makeNode(layout: InstanceLayout, cri: CriClient, child: ChildProcess): NodeInABox {
  const pods = new Set<Pod>();
  const sandboxIds: string[] = [];
  let stopping: Promise<void> | undefined;

  async function runPod(spec: PodSpec): Promise<Pod> {
    if (stopping !== undefined) throw new Error('node-in-a-box is stopped');
    const uid = spec.uid ?? randomUUID();
    const containerName = spec.containerName ?? 'main';
    const podCgroupPath = `${layout.cgroupRoot}/kubepods/besteffort/pod${uid}`;
    const logDirectory = join(layout.podLogDir, `${spec.namespace}_${spec.name}_${uid}`);
    await mkdir(join(logDirectory, containerName), { recursive: true });
    const kubeletLabels = {
      'io.kubernetes.pod.name': spec.name,
      'io.kubernetes.pod.namespace': spec.namespace,
      'io.kubernetes.pod.uid': uid,
    };
    const namespaceOptions = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;
    const sandboxConfig: CriPodSandboxConfig = {
      metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
      hostname: spec.name,
      logDirectory,
      labels: { ...spec.labels, ...kubeletLabels },
      annotations: { ...spec.annotations },
      linux: { cgroupParent: podCgroupPath, securityContext: { namespaceOptions } },
    };
    const containerConfig: CriContainerConfig = {
      metadata: { name: containerName, attempt: 0 },
      image: { image: APP_IMAGE },
      command: spec.command ?? ['/bin/sleep', '2147483647'],
      envs: Object.entries(spec.env ?? {}).map(([key, value]) => ({ key, value })),
      labels: { ...kubeletLabels, 'io.kubernetes.container.name': containerName },
      annotations: { ...spec.annotations },
      logPath: `${containerName}/0.log`,
      linux: { securityContext: { namespaceOptions } },
    };

    const sandboxId = await cri.runPodSandbox(sandboxConfig);
    sandboxIds.push(sandboxId);
    const removeSandbox = async (): Promise<void> => {
      await cri.stopPodSandbox(sandboxId).catch(() => undefined);
      await cri.removePodSandbox(sandboxId).catch(() => undefined);
      for (const dir of cgroupDirs(layout)) {
        const podDir = join(dir, podCgroupPath.slice(layout.cgroupRoot.length));
        if (existsSync(podDir)) {
          try {
            rmdirSync(podDir);
          } catch {
            // Busy a moment longer; the node's teardown removes it.
          }
        }
      }
    };

    let pod: Pod;
    try {
      const containerId = await cri.createContainer(sandboxId, containerConfig, sandboxConfig);
      await cri.startContainer(containerId);
      const status = await cri.containerStatus(containerId, true);
      const info = JSON.parse(status.info['info'] ?? '{}') as {
        pid?: number;
        runtimeSpec?: { linux?: { cgroupsPath?: string } };
      };
      const sandbox = await cri.podSandboxStatus(sandboxId, true);
      const sandboxInfo = JSON.parse(sandbox.info['info'] ?? '{}') as {
        runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
      };
      const pid = info.pid;
      const cgroupPath = info.runtimeSpec?.linux?.cgroupsPath;
      const ip = sandbox.status?.network?.ip;
      const netnsPath = sandboxInfo.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
      if (
        pid === undefined ||
        pid <= 0 ||
        cgroupPath === undefined ||
        ip === undefined ||
        ip === '' ||
        netnsPath === undefined
      ) {
        throw new Error(
          `pod ${spec.namespace}/${spec.name}: the runtime did not report ${JSON.stringify({ pid, cgroupPath, ip, netnsPath })}`,
        );
      }

      let stopped: Promise<void> | undefined;
      pod = {
        name: spec.name,
        namespace: spec.namespace,
        uid,
        containerName,
        sandboxId,
        containerId,
        pid,
        ip,
        netnsPath,
        cgroupPath,
        podCgroupPath,
        async exec(argv, execOptions) {
          const res = await cri.execSync(containerId, argv, execOptions?.timeoutSeconds ?? 10);
          return {
            exitCode: res.exitCode,
            stdout: res.stdout.toString('utf8'),
            stderr: res.stderr.toString('utf8'),
          };
        },
        stop() {
          stopped ??= (async () => {
            await cri.stopContainer(containerId, CONTAINERD_STOP_TIMEOUT_S).catch(() => undefined);
            await removeSandbox();
            await waitGone([pid], 5000);
            pods.delete(pod);
          })();
          return stopped;
        },
      };
    } catch (err) {
      await removeSandbox();
      throw new Error(
        `node-in-a-box: running pod ${spec.namespace}/${spec.name} failed:\n${tail(layout.logPath, 8)}`,
        { cause: err },
      );
    }
    pods.add(pod);
    return pod;
  }

  return {
    name: layout.name,
    criSocket: layout.socket,
    cri,
    image: APP_IMAGE,
    bridge: layout.bridge,
    subnet: layout.subnet,
    gateway: layout.gateway,
    baseDir: layout.baseDir,
    runPod,
    stop() {
      stopping ??= (async () => {
        try {
          await Promise.all([...pods].map((p) => p.stop()));
        } finally {
          cri.close();
          await teardownInstance(layout);
          if (child.pid !== undefined) await waitGone([child.pid], 5000);
        }
      })();
      return stopping;
    },
    leftovers: () => leftovers(layout, { sandboxIds }),
  };
}
