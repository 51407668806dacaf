/**
 * Real pods on this machine: the harness runs a labelled pod through containerd's CRI, and the
 * agent's pieces are checked against it — the cgroup parser finds the container id in the
 * container's /proc/PID/cgroup, the resolver finds the pod through the real CRI socket — then the
 * teardown is checked to leave nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { containerIdFromCgroup } from '../../agent/state/cgroup-container-id.js';
import { createCriClient, type CriClient } from '../../agent/state/cri/cri-client.js';
import { createPodMetadataResolver } from '../../agent/state/cri/pod-metadata-resolver.js';
import { nodeInABoxLeftovers, startNodeInABox, type NodeInABox, type Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import { isAlive, listProcesses, run } from '../harness/processes.js';
import { cgroupHierarchies, readIpForward } from '../harness/teardown.js';

describe('node-in-a-box (privileged: real containerd, runc, CNI)', function () {
  this.timeout(60_000);
  let node: NodeInABox | undefined;
  let pod: Pod;
  let agentCri: CriClient | undefined;
  let ipForwardBefore: string;

  before(async function () {
    requirePrivileged(this);
    ipForwardBefore = readIpForward();
    node = await startNodeInABox({ name: 'niabtest' });
    pod = await node.runPod({
      name: 'shop-web-7d4b9c',
      namespace: 'shop',
      labels: { app: 'web', tier: 'front' },
      annotations: { 'vigil.test/purpose': 'harness' },
      containerName: 'web',
    });
  });

  after(async () => {
    agentCri?.close();
    await node?.stop();
  });

  it('runs the container in the pod cgroup, and /proc/PID/cgroup yields its id', () => {
    assert.match(pod.containerId, /^[0-9a-f]{64}$/);
    const text = readFileSync(`/proc/${pod.pid}/cgroup`, 'utf8');
    assert.equal(containerIdFromCgroup(text), pod.containerId);
    assert.ok(text.includes(`/pod${pod.uid}/${pod.containerId}`), text);
    assert.equal(pod.cgroupPath, `${pod.podCgroupPath}/${pod.containerId}`);
    // The host's own processes are in no container.
    assert.equal(containerIdFromCgroup(readFileSync('/proc/self/cgroup', 'utf8')), undefined);
  });

  it('resolves the pod through the real CRI socket, as the agent will', async () => {
    assert.ok(node !== undefined);
    agentCri = createCriClient(node.criSocket, { deadlineMs: 5000 });
    const version = await agentCri.version();
    assert.equal(version.runtimeName, 'containerd');
    assert.equal(version.runtimeApiVersion, 'v1');

    const pods = createPodMetadataResolver(agentCri);
    const id = containerIdFromCgroup(readFileSync(`/proc/${pod.pid}/cgroup`, 'utf8'));
    assert.ok(id !== undefined);
    const meta = await pods.resolve(id);
    assert.ok(meta !== undefined, 'the resolver knows the container');
    assert.equal(meta.podName, 'shop-web-7d4b9c');
    assert.equal(meta.namespace, 'shop');
    assert.equal(meta.podUid, pod.uid);
    assert.deepEqual(meta.labels, { app: 'web', tier: 'front' });
    assert.equal(meta.containerName, 'web');
    assert.equal(meta.image, node.image);
    assert.match(meta.imageId ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(meta.sandboxId, pod.sandboxId);
    const startedMs = Number((meta.startedAt ?? 0n) / 1_000_000n);
    assert.ok(Math.abs(Date.now() - startedMs) < 60_000, `started at ${startedMs}`);

    // The sandbox's pause container is not a workload container, and costs no further refresh.
    const refreshes = pods.stats().refreshes;
    assert.equal(await pods.resolve(pod.sandboxId), undefined);
    assert.equal(pods.stats().refreshes, refreshes);
  });

  it('gives the pod its own network namespace and an address on the bridge', async () => {
    assert.ok(node !== undefined);
    assert.notEqual(readlinkSync(`/proc/${pod.pid}/ns/net`), readlinkSync('/proc/self/ns/net'));
    const subnetPrefix = node.subnet.slice(0, node.subnet.lastIndexOf('.') + 1);
    assert.ok(pod.ip.startsWith(subnetPrefix), `${pod.ip} in ${node.subnet}`);

    // Seen from inside: eth0 has the address, and no default route leads off the machine.
    const addr = await pod.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    assert.equal(addr.exitCode, 0, addr.stderr);
    assert.ok(addr.stdout.includes(`inet ${pod.ip}/24`), addr.stdout);
    const routes = await pod.exec(['ip', 'route']);
    assert.doesNotMatch(routes.stdout, /default/);

    // The same namespace through netnsPath, from the host.
    const viaPath = await run('nsenter', [
      `--net=${pod.netnsPath}`,
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'dev',
      'eth0',
    ]);
    assert.ok(viaPath.stdout.includes(`inet ${pod.ip}/24`), viaPath.stdout);

    // No forwarding was switched on for the pod: it reaches the host and nothing beyond.
    assert.equal(readIpForward(), ipForwardBefore, 'net.ipv4.ip_forward untouched');

    // Pod and host reach each other over the bridge: the pod fetches from a server on the gateway.
    const server = createServer((_req, res) => res.end('hello from the host'));
    await new Promise<void>((resolve) => server.listen(0, node?.gateway, resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const fetched = await pod.exec([
        'timeout',
        '5',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${node.gateway}:${port}/`,
      ]);
      assert.equal(fetched.stdout, 'hello from the host', fetched.stderr);
    } finally {
      server.close();
    }
  });

  it('runs commands in the container with exec', async () => {
    const res = await pod.exec(['sh', '-c', 'echo "$(hostname) $(cat /proc/1/comm)"; echo err >&2; exit 3']);
    assert.equal(res.exitCode, 3);
    assert.equal(res.stdout, 'shop-web-7d4b9c sleep\n');
    assert.equal(res.stderr, 'err\n');
  });

  it('a stopped pod leaves no process and no pod cgroup', async () => {
    assert.ok(node !== undefined);
    const second = await node.runPod({ name: 'short-lived', namespace: 'shop' });
    assert.notEqual(second.ip, pod.ip);
    await second.stop();
    assert.ok(!isAlive(second.pid));
    for (const hierarchy of cgroupHierarchies()) {
      assert.ok(!existsSync(join(hierarchy, second.podCgroupPath)), `pod cgroup removed from ${hierarchy}`);
    }
    assert.deepEqual(await node.cri.listPodSandbox({ id: second.sandboxId }), []);
  });

  it('stop() leaves no shims, processes, mounts, cgroups, bridge or caches behind', async () => {
    assert.ok(node !== undefined);
    const started = Date.now();
    await node.stop();
    console.log(`      teardown took ${Date.now() - started} ms`);
    assert.deepEqual(node.leftovers(), []);
    assert.ok(!existsSync(`/sys/class/net/${node.bridge}`));
    assert.equal(readIpForward(), ipForwardBefore, 'net.ipv4.ip_forward as it was');
    const socket = node.criSocket;
    assert.deepEqual(
      listProcesses().filter((p) => p.argv.includes(socket)),
      [],
    );
  });
});

describe('node-in-a-box after a crash (privileged)', function () {
  this.timeout(60_000);

  before(function () {
    requirePrivileged(this);
  });

  it('a new start cleans up what a killed test process left running', async () => {
    // A test process that starts a node, runs a pod, and dies without stopping anything.
    const harness = new URL('../harness/node-in-a-box.js', import.meta.url).href;
    const script = `
      import { startNodeInABox } from ${JSON.stringify(harness)};
      const node = await startNodeInABox({ name: 'niabcrash' });
      const pod = await node.runPod({ name: 'orphan', namespace: 'crash' });
      process.stdout.write(JSON.stringify({ sandboxId: pod.sandboxId, pid: pod.pid }) + '\\n', () => process.kill(process.pid, 'SIGKILL'));
    `;
    const crashed = await new Promise<{ sandboxId: string; pid: number }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('exit', (_code, sig) => {
        try {
          assert.equal(sig, 'SIGKILL', out);
          resolve(JSON.parse(out) as { sandboxId: string; pid: number });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    const left = nodeInABoxLeftovers('niabcrash', [crashed.sandboxId]);
    assert.ok(isAlive(crashed.pid), 'the orphaned container still runs');
    for (const what of [
      'containerd pid',
      'shim pid',
      'container process pid',
      'mount ',
      'cgroup ',
      'bridge ',
      'CNI cache ',
      'shim socket ',
    ]) {
      assert.ok(
        left.some((l) => l.startsWith(what)),
        `expected a leftover "${what}..." in ${left.join('; ')}`,
      );
    }

    const node = await startNodeInABox({ name: 'niabcrash' });
    try {
      assert.ok(!isAlive(crashed.pid), 'the orphan is gone');
      const pod = await node.runPod({ name: 'fresh', namespace: 'crash' });
      assert.equal((await pod.exec(['true'])).exitCode, 0);
    } finally {
      await node.stop();
    }
    assert.deepEqual(nodeInABoxLeftovers('niabcrash', [crashed.sandboxId]), []);
  });
});
