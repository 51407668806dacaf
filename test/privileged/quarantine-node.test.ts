/**
 * Issue 7's node layer with real pods (privileged): a collector and an agent in this process
 * joined by the real mutual-TLS link; pods of the containerd harness on its private bridge; the
 * host (the bridge's gateway address) as the other end. Commands go through
 * `collector.ingest.sendCommand`, the way the collector's quarantine service sends them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../agent/enforce/cgroup-freezer.js';
import type { Pod } from '../harness/node-in-a-box.js';
import { requirePrivileged } from '../harness/privileged.js';
import { httpGet, startQuarantineRig, type QuarantineRig } from '../support/quarantine-rig.js';

const POD_HTTP = 8080;
const POD_ECHO = 9000;

function podTable(pod: Pod): string {
  try {
    return execFileSync(
      'nsenter',
      [`--net=${pod.netnsPath}`, 'nft', 'list', 'table', 'inet', 'vigil_quarantine'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch {
    return '';
  }
}

const hostRuleset = (): string => execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });

/** A long-lived TCP connection from the host to the pod's echo service. */
async function echoConnection(
  ip: string,
): Promise<{ roundTrip(text: string, ms?: number): Promise<string>; close(): void }> {
  const socket = net.connect(POD_ECHO, ip);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = '';
  socket.setEncoding('utf8').on('data', (d: string) => (buffer += d));
  return {
    async roundTrip(text, ms = 1500) {
      buffer = '';
      socket.write(text + '\n');
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (buffer.includes(text)) return 'ok';
        await new Promise((r) => setTimeout(r, 20));
      }
      return 'timeout';
    },
    close: () => socket.destroy(),
  };
}

describe('quarantine on the node (privileged: real pods, agent and collector over the link)', function () {
  this.timeout(180_000);
  let rig: QuarantineRig | undefined;
  let work: string;
  let web: Pod;
  let hostServer: http.Server;
  let ticks = 0;
  let tickServer: net.Server;
  let cgroup2: string;

  /** The pod fetching from the host's HTTP server: exit code 0 when it worked. */
  const podToHost = async (pod: Pod): Promise<number> =>
    (
      await pod.exec(
        ['timeout', '3', 'wget', '-q', '-O', '-', `http://${rig?.node.gateway}:${port(hostServer)}/`],
        { timeoutSeconds: 10 },
      )
    ).exitCode;
  const hostToPod = (pod: Pod): Promise<number | string> => httpGet(`http://${pod.ip}:${POD_HTTP}/hostname`);
  const tickSockets = new Set<net.Socket>();
  const port = (s: net.Server | http.Server): number => (s.address() as net.AddressInfo).port;

  before(async function () {
    requirePrivileged(this, ['nft', 'nsenter', 'conntrack']);
    work = mkdtempSync(join(tmpdir(), 'vigil-quarantine-node-'));
    rig = await startQuarantineRig('quarnode', join(work, 'rig'), { reconcileInterval: '500ms' });
    cgroup2 = findCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8')) ?? '';
    hostServer = http.createServer((_req, res) => res.end('host says hi\n'));
    await new Promise<void>((r) => hostServer.listen(0, rig?.node.gateway, r));
    tickServer = net.createServer((s) => {
      tickSockets.add(s);
      s.on('close', () => tickSockets.delete(s));
      s.on('error', () => undefined);
      s.setEncoding('utf8').on('data', (d: string) => (ticks += d.split('tick').length - 1));
    });
    await new Promise<void>((r) => tickServer.listen(0, rig?.node.gateway, r));
    web = await rig.node.runPod({
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web' },
      // httpd daemonizes; a loop counts in /tmp/beat (to see a freeze); nc echoes in the foreground.
      command: [
        'sh',
        '-c',
        `httpd -p ${POD_HTTP} -h /etc; (i=0; while true; do i=$((i+1)); echo $i > /tmp/beat; sleep 0.1; done) & nc -ll -p ${POD_ECHO} -e cat`,
      ],
    });
    const deadline = Date.now() + 10_000;
    while ((await hostToPod(web)) !== 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
  });

  after(async () => {
    // Connections from the pod may still be open on the host side (a quarantined pod's end can
    // vanish without a FIN): end them too, or they keep the test process alive.
    hostServer?.closeAllConnections();
    hostServer?.close();
    for (const s of tickSockets) s.destroy();
    tickServer?.close();
    await rig?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('reports nftables and cgroup-freeze in its Hello', () => {
    const agent = rig?.collector.store.listAgents().find((a) => a.node === rig?.nodeName);
    assert.ok(agent !== undefined);
    assert.ok(agent.capabilities.includes('nftables'), JSON.stringify(agent.capabilities));
    assert.ok(agent.capabilities.includes('cgroup-freeze'), JSON.stringify(agent.capabilities));
  });

  it('cuts new and existing connections both ways, leaves the host alone, and releases', async () => {
    assert.ok(rig !== undefined);
    const hostBefore = hostRuleset();
    assert.equal(await hostToPod(web), 200, 'host -> pod before');
    assert.equal(await podToHost(web), 0, 'pod -> host before');
    const echo = await echoConnection(web.ip);
    assert.equal(await echo.roundTrip('before'), 'ok');
    // A pod -> host connection streaming ticks, open across the quarantine.
    void web
      .exec(
        [
          'sh',
          '-c',
          `while true; do echo tick; sleep 0.1; done | nc ${rig.node.gateway} ${port(tickServer)}`,
        ],
        {
          timeoutSeconds: 60,
        },
      )
      .catch(() => undefined);
    const t0 = Date.now();
    while (ticks < 5 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ticks >= 5, 'ticks flow before');

    const q = rig.quarantineOf(web);
    const { result } = await rig.send(q);
    assert.equal(result.outcome, 'applied', result.detail);
    assert.match(podTable(web), new RegExp(`comment "vigil quarantine ${q.quarantineId}"`));

    assert.equal(await hostToPod(web), 'timeout', 'host -> pod during');
    assert.notEqual(await podToHost(web), 0, 'pod -> host during');
    assert.equal(await echo.roundTrip('during'), 'timeout', 'the existing host -> pod connection');
    const ticksAtCut = ticks;
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(
      ticks - ticksAtCut <= 1,
      `the existing pod -> host connection carried ${ticks - ticksAtCut} ticks`,
    );
    assert.equal(hostRuleset(), hostBefore, "the host's own ruleset is untouched");
    assert.match(await rig.agent().metrics.registry.metrics(), /^vigil_agent_quarantines_active 1$/m);

    const again = await rig.send(q);
    assert.equal(again.result.outcome, 'already-applied');

    const released = await rig.send({
      type: 'release',
      quarantineId: q.quarantineId,
      namespace: 'shop',
      pod: 'web',
    });
    assert.equal(released.result.outcome, 'released', released.result.detail);
    assert.equal(podTable(web), '');
    assert.equal(await hostToPod(web), 200, 'host -> pod after');
    assert.equal(await podToHost(web), 0, 'pod -> host after');
    const metrics = await rig.agent().metrics.registry.metrics();
    assert.match(metrics, /^vigil_agent_quarantines_active 0$/m);
    assert.match(
      metrics,
      /^vigil_agent_enforce_commands_total\{action="quarantine",outcome="already-applied"\} 1$/m,
    );
    assert.match(metrics, /^vigil_agent_enforce_apply_duration_seconds_count [1-9]/m);
    const fresh = await echoConnection(web.ip);
    assert.equal(await fresh.roundTrip('after'), 'ok');
    fresh.close();
    echo.close();
    assert.equal(hostRuleset(), hostBefore);
  });

  it('keeps existing connections when asked (cutEstablished: false) and refuses new ones', async () => {
    assert.ok(rig !== undefined);
    const echo = await echoConnection(web.ip);
    assert.equal(await echo.roundTrip('before'), 'ok');
    const q = rig.quarantineOf(web, { cutEstablished: false });
    const { result } = await rig.send(q);
    assert.equal(result.outcome, 'applied', result.detail);
    assert.match(result.detail, /established connection\(s\) kept/);
    assert.equal(await echo.roundTrip('kept'), 'ok');
    assert.equal(await hostToPod(web), 'timeout');
    assert.notEqual(await podToHost(web), 0);
    assert.equal(await echo.roundTrip('still kept'), 'ok');
    const released = await rig.send({
      type: 'release',
      quarantineId: q.quarantineId,
      namespace: 'shop',
      pod: 'web',
    });
    assert.equal(released.result.outcome, 'released');
    echo.close();
  });

  it('freezes the pod and thaws it on release', async () => {
    assert.ok(rig !== undefined);
    const events = join(cgroup2, web.podCgroupPath, 'cgroup.events');
    assert.ok(existsSync(events), events);
    const q = rig.quarantineOf(web, { freeze: true });
    const { result } = await rig.send(q);
    assert.equal(result.outcome, 'applied', result.detail);
    assert.match(result.detail, /pod frozen/);
    assert.match(readFileSync(events, 'utf8'), /^frozen 1$/m);
    const beat = (): string => readFileSync(`/proc/${web.pid}/root/tmp/beat`, 'utf8');
    const frozenBeat = beat();
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(beat(), frozenBeat, "the pod's counting loop stands still");
    const released = await rig.send({
      type: 'release',
      quarantineId: q.quarantineId,
      namespace: 'shop',
      pod: 'web',
    });
    assert.equal(released.result.outcome, 'released', released.result.detail);
    assert.match(released.result.detail, /pod thawed/);
    assert.match(readFileSync(events, 'utf8'), /^frozen 0$/m);
    await new Promise((r) => setTimeout(r, 500));
    assert.notEqual(beat(), frozenBeat, "the pod's counting loop runs again");
    assert.equal((await web.exec(['true'])).exitCode, 0);
    assert.equal(await hostToPod(web), 200);
  });

  it('re-applies an active quarantine when the agent comes back', async () => {
    assert.ok(rig !== undefined);
    const q = rig.quarantineOf(web);
    assert.equal((await rig.send(q)).result.outcome, 'applied');
    await rig.stopAgent();
    // While the agent is down, someone removes the table by hand.
    execFileSync('nsenter', [`--net=${web.netnsPath}`, 'nft', 'delete', 'table', 'inet', 'vigil_quarantine']);
    assert.equal(podTable(web), '');
    assert.equal(await hostToPod(web), 200);
    const agent = await rig.restartAgent();
    assert.deepEqual(await agent.enforcement?.reapply(), {
      reapplied: 1,
      alreadyInPlace: 0,
      podsGone: 0,
      failed: 0,
    });
    assert.match(podTable(web), new RegExp(`vigil quarantine ${q.quarantineId}`));
    assert.equal(await hostToPod(web), 'timeout');
    const released = await rig.send({
      type: 'release',
      quarantineId: q.quarantineId,
      namespace: 'shop',
      pod: 'web',
    });
    assert.equal(released.result.outcome, 'released');
    assert.equal(await hostToPod(web), 200);
  });

  it('puts back a quarantine whose rules disappear while the agent runs (periodic check)', async () => {
    assert.ok(rig !== undefined);
    const q = rig.quarantineOf(web);
    assert.equal((await rig.send(q)).result.outcome, 'applied');
    execFileSync('nsenter', [`--net=${web.netnsPath}`, 'nft', 'delete', 'table', 'inet', 'vigil_quarantine']);
    const deadline = Date.now() + 5000;
    while (podTable(web) === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(podTable(web), new RegExp(`vigil quarantine ${q.quarantineId}`));
    assert.equal(await hostToPod(web), 'timeout');
    assert.equal(
      (await rig.send({ type: 'release', quarantineId: q.quarantineId, namespace: 'shop', pod: 'web' }))
        .result.outcome,
      'released',
    );
    await new Promise((r) => setTimeout(r, 1200)); // two periodic checks: nothing comes back
    assert.equal(podTable(web), '');
  });

  it('answers not-on-this-node for a pod elsewhere and for a replaced pod (another uid)', async () => {
    assert.ok(rig !== undefined);
    const elsewhere = await rig.send(rig.quarantineOf({ namespace: 'shop', name: 'not-here', uid: '' }));
    assert.equal(elsewhere.result.outcome, 'not-on-this-node');
    const replaced = await rig.send(
      rig.quarantineOf({ ...web, uid: '11111111-2222-3333-4444-555555555555' }),
    );
    assert.equal(replaced.result.outcome, 'not-on-this-node');
    assert.match(replaced.result.detail, /the pod was replaced/);
    assert.equal(podTable(web), '');
  });

  it('a pod -> pod connection on the bridge is cut too', async () => {
    assert.ok(rig !== undefined);
    const client = await rig.node.runPod({ name: 'client', namespace: 'shop' });
    const fetch = async (): Promise<number> =>
      (
        await client.exec(
          ['timeout', '3', 'wget', '-q', '-O', '-', `http://${web.ip}:${POD_HTTP}/hostname`],
          { timeoutSeconds: 10 },
        )
      ).exitCode;
    assert.equal(await fetch(), 0);
    const q = rig.quarantineOf(web);
    assert.equal((await rig.send(q)).result.outcome, 'applied');
    assert.notEqual(await fetch(), 0);
    assert.equal(
      (await rig.send({ type: 'release', quarantineId: q.quarantineId, namespace: 'shop', pod: 'web' }))
        .result.outcome,
      'released',
    );
    assert.equal(await fetch(), 0);
    await client.stop();
  });
});
