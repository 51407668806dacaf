/**
 * Cluster-wide baselines end to end: a real collector (`startCollector`: SQLite file, gRPC ingest
 * with mutual TLS, HTTP API) and agents on several nodes with certificates made by `vigil certs`'
 * code. Two agents send deltas for the same workload; both receive the merged profile; a third
 * that connects later receives it too; an operator's lock through the API reaches all three.
 *
 * Twice: with hand-driven link clients (exact bytes, a collector restart), and with real
 * `vigil agent` processes learning from events of the same image on two nodes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  decodeProfile,
  profileHas,
  profileStatus,
  summarizeProfile,
  type ProfileSummary,
} from '../../core/baseline/profile.js';
import { createLogger } from '../../core/log.js';
import { projectRoot } from '../../test/support/shared.js';
import { defaultCollectorNames } from '../certs/certificate-authority.js';
import {
  agentTlsPaths,
  collectorTlsPaths,
  initCertificateDirectory,
  issueAgentFiles,
  readTlsMaterial,
} from '../certs/certificate-directory.js';
import { startCollector, type Collector } from '../collector.js';
import { loadCollectorConfig } from '../config.js';
import { keyFor, LinkClient, metricValue, observedBytes } from './baseline-harness.test.js';

const KEY = keyFor('checkout', 'shop', 'registry.example/checkout:2.3');

describe('cluster-wide baselines (e2e: real collector, agents over gRPC with mTLS)', function () {
  this.timeout(60_000);
  let work: string;
  let certs: string;
  let collector: Collector | undefined;
  const clients: LinkClient[] = [];
  const logLines: string[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-cluster-baselines-'));
    certs = join(work, 'data', 'certs');
    initCertificateDirectory(certs, defaultCollectorNames('vigil'));
    for (const node of ['node-a', 'node-b', 'node-c', 'node-d']) issueAgentFiles(certs, node);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await collector?.stop();
    collector = undefined;
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  async function startTheCollector(dataDir = join(work, 'data')): Promise<Collector> {
    const tls = collectorTlsPaths(certs);
    const config = loadCollectorConfig(
      {
        name: 'e2e.yaml',
        text: [
          `data_dir: ${JSON.stringify(dataDir)}`,
          `tls: { ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)} }`,
          'grpc: { listen: "127.0.0.1:0" }',
          'http: { listen: "127.0.0.1:0" }',
          'baselines: { max_profiles: 100, max_profiles_on_connect: 50, push_interval: 500ms }',
        ].join('\n'),
      },
      {},
      undefined,
    );
    const logger = createLogger({ write: (l) => logLines.push(l), now: Date.now, level: 'debug' });
    return startCollector(config, { logger, version: 'e2e' });
  }

  async function agent(c: Collector, node: string): Promise<LinkClient> {
    const client = await LinkClient.connect(c.grpcPort, readTlsMaterial(agentTlsPaths(certs, node)), node);
    clients.push(client);
    return client;
  }

  async function api(
    c: Collector,
    method: string,
    path: string,
    token: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`http://127.0.0.1:${c.httpAddress.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    return {
      status: res.status,
      body: res.headers.get('content-type')?.includes('json')
        ? (JSON.parse(text) as Record<string, unknown>)
        : { text },
    };
  }

  it('merges deltas from two agents, sends the merged profile to both and to a later agent, and keeps it', async () => {
    collector = await startTheCollector();
    const responder = collector.tokens.create({ name: 'ops', role: 'responder' });
    const viewer = collector.tokens.create({ name: 'console', role: 'viewer' });
    assert.ok(responder.ok && viewer.ok);

    const a = await agent(collector, 'node-a');
    const b = await agent(collector, 'node-b');
    // Bad bytes first: refused and counted, and the stream carries on.
    a.sendDelta(KEY, Uint8Array.from([0x56, 0x47, 0x50, 0x46, 9, 9]));
    a.sendDelta(
      KEY,
      observedBytes(KEY, 'node-a', [
        ['exec', '/app/checkout'],
        ['user', 'app'],
      ]),
    );
    b.sendDelta(
      KEY,
      observedBytes(KEY, 'node-b', [
        ['exec', '/app/checkout'],
        ['connect', 'tcp 10.0.0.7:5432'],
      ]),
    );

    const complete = (c: LinkClient): boolean => {
      const p = c.latest(KEY);
      return (
        p !== undefined &&
        profileHas(p, 'exec', '/app/checkout') &&
        profileHas(p, 'user', 'app') &&
        profileHas(p, 'connect', 'tcp 10.0.0.7:5432')
      );
    };
    for (const c of [a, b]) await c.waitFor(() => complete(c), 'the merged profile');
    assert.deepEqual(summarizeProfile(a.latest(KEY)!).nodes, ['node-a', 'node-b']);
    assert.deepEqual(
      Uint8Array.from(a.baselines().at(-1)!.profile),
      Uint8Array.from(b.baselines().at(-1)!.profile),
      'both agents hold the same merged profile',
    );

    // A pod rescheduled to node-c: the agent there is sent the profile when it connects.
    const c = await agent(collector, 'node-c');
    await c.waitFor(() => complete(c), 'the merged profile on connect');

    // The operator locks it through the API; every agent is sent the locked profile.
    const shown = await api(collector, 'GET', `/api/v1/profiles/${encodeURIComponent(KEY)}`, viewer.token);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body['nodes'], ['node-a', 'node-b']);
    const locked = await api(
      collector,
      'POST',
      `/api/v1/profiles/${encodeURIComponent(KEY)}/lock`,
      responder.token,
    );
    assert.equal(locked.status, 200);
    assert.equal(locked.body['status'], 'locked');
    for (const x of [a, b, c]) {
      await x.waitFor(
        () => x.latest(KEY) !== undefined && profileStatus(x.latest(KEY)!) === 'locked',
        'the lock',
      );
    }

    const metrics = (await api(collector, 'GET', '/metrics', viewer.token)).body['text'] as string;
    assert.match(metrics, /^vigil_collector_baseline_profiles 1$/m);
    assert.match(metrics, /^vigil_collector_baseline_deltas_rejected_total\{reason="undecodable"\} 1$/m);
    assert.match(metrics, /^vigil_collector_baseline_deltas_received_total\{result="merged"\} 2$/m);
    assert.match(
      metrics,
      /^vigil_collector_baseline_updates_sent_total\{reason="connect",result="sent"\} 1$/m,
    );

    // A restart keeps the profile: an agent connecting afterwards is sent the locked one.
    for (const x of clients.splice(0)) x.close();
    await collector.stop();
    collector = await startTheCollector();
    const d = await agent(collector, 'node-d');
    await d.waitFor(() => d.latest(KEY) !== undefined, 'the stored profile after a restart');
    assert.equal(profileStatus(d.latest(KEY)!), 'locked');
    assert.ok(complete(d));
  });
  it('merges what real `vigil agent`s learn on two nodes and sends it to every agent, a late one too', async () => {
    const dir = join(work, 'agents');
    collector = await startTheCollector(join(dir, 'collector'));
    const responder = collector.tokens.create({ name: 'ops-agents', role: 'responder' });
    const viewer = collector.tokens.create({ name: 'console-agents', role: 'viewer' });
    assert.ok(responder.ok && viewer.ok);
    const image = 'registry.example/shop/cart:1.4';
    const execs = (node: string, containerId: string, paths: string[]): string =>
      paths
        .map((path, i) =>
          JSON.stringify({
            'evt.num': i + 1,
            'evt.type': 'execve',
            'evt.dir': '<',
            'evt.rawtime': String(BigInt(Date.now() + i) * 1_000_000n),
            'proc.pid': 4000 + i,
            'proc.exepath': path,
            'proc.name': path.split('/').pop(),
            'proc.pexepath': '/bin/sh',
            'user.name': 'app',
            'container.id': containerId,
            'container.image': image,
            'evt.hostname': node,
          }),
        )
        .join('\n') + '\n';
    const a = startAgentProcess(
      dir,
      'node-a',
      collector.grpcPort,
      execs('node-a', 'a1a1a1a1a1a1', ['/app/cart', '/app/only-a']),
    );
    const b = startAgentProcess(
      dir,
      'node-b',
      collector.grpcPort,
      execs('node-b', 'b2b2b2b2b2b2', ['/app/cart', '/app/only-b']),
    );
    const agents = [a, b];
    try {
      // The collector merges what both learnt into one profile of the image.
      const listed = async (): Promise<(ProfileSummary & { itemCount: number })[]> =>
        (await api(collector!, 'GET', '/api/v1/profiles', viewer.token)).body[
          'profiles'
        ] as (ProfileSummary & {
          itemCount: number;
        })[];
      let profile: ProfileSummary | undefined;
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = (await listed()).find((p) => p.image === image);
        if (found !== undefined && found.nodes.length === 2) {
          profile = (
            await api(collector, 'GET', `/api/v1/profiles/${encodeURIComponent(found.key)}`, viewer.token)
          ).body as unknown as ProfileSummary;
          if (
            profile.items.some((i) => i.value === '/app/only-b') &&
            profile.items.some((i) => i.value === '/app/only-a')
          )
            break;
        }
        if (Date.now() > deadline)
          throw new Error(`no merged profile of ${image}; agent logs:\n${a.tail()}\n${b.tail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const key = profile.key;
      assert.deepEqual(profile.nodes, ['node-a', 'node-b']);
      assert.deepEqual(
        profile.items.filter((i) => i.kind === 'exec').map((i) => i.value),
        ['/app/cart', '/app/only-a', '/app/only-b'],
      );

      // A third agent, with nothing of its own, is sent it on connecting; then the operator
      // locks it, and every agent applies the lock.
      const sentOnConnect = async (): Promise<number> =>
        metricValue(collector!.registry, 'vigil_collector_baseline_updates_sent_total', {
          reason: 'connect',
          result: 'sent',
        });
      const before = await sentOnConnect();
      const c = startAgentProcess(dir, 'node-c', collector.grpcPort, '');
      agents.push(c);
      await c.waitFor('the connect', () => c.logs.some((l) => l['msg'] === 'connected to the collector'));
      const until = Date.now() + 10_000;
      while ((await sentOnConnect()) === before && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(await sentOnConnect(), before + 1, 'node-c was sent the stored profile on connecting');
      const locked = await api(
        collector,
        'POST',
        `/api/v1/profiles/${encodeURIComponent(key)}/lock`,
        responder.token,
      );
      assert.equal(locked.status, 200);
      for (const agent of agents) {
        await agent.waitFor('the lock from the collector', () =>
          agent.logs.some(
            (l) =>
              l['msg'] === 'profile life cycle changed by the collector' &&
              l['profile'] === key &&
              l['status'] === 'locked',
          ),
        );
      }
      // What each agent holds (written to its store when it stops) is the merged profile.
      for (const agent of agents) {
        await agent.stop();
        const db = new Database(join(agent.dataDir, 'baselines.db'), { readonly: true });
        try {
          const row = db.prepare('SELECT bytes FROM profiles WHERE key = ?').get(key) as
            { bytes: Buffer } | undefined;
          assert.ok(row !== undefined, `${agent.node} holds the profile`);
          const held = decodeProfile(row.bytes);
          assert.equal(profileStatus(held), 'locked', agent.node);
          for (const path of ['/app/cart', '/app/only-a', '/app/only-b']) {
            assert.ok(profileHas(held, 'exec', path), `${agent.node} holds ${path}`);
          }
        } finally {
          db.close();
        }
      }
    } finally {
      await Promise.all(agents.map((x) => x.stop()));
    }
  });
});

/** The `vigil` CLI beside this test in the same build output (dist/ or a private build dir). */
const VIGIL_CLI = fileURLToPath(new URL('../../cli/vigil.js', import.meta.url));

/** A `vigil agent` process for one node. */
interface AgentProcess {
  readonly node: string;
  readonly dataDir: string;
  readonly logs: Record<string, unknown>[];
  waitFor(what: string, check: () => boolean, ms?: number): Promise<void>;
  tail(): string;
  stop(): Promise<void>;
}

/**
 * Starts `vigil agent` for `node`: its events come from a JSON-lines file holding `events`, it
 * ships to the collector on `grpcPort` with the node's certificates from `vigil certs`, and it
 * keeps learning (the learning period is long) with no container runtime and no enforcement.
 */
function startAgentProcess(dir: string, node: string, grpcPort: number, events: string): AgentProcess {
  const dataDir = join(dir, node);
  mkdirSync(dataDir, { recursive: true });
  const input = join(dataDir, 'events.jsonl');
  writeFileSync(input, events);
  const tls = agentTlsPaths(join(dir, '..', 'data', 'certs'), node);
  const config = join(dataDir, 'agent.yaml');
  writeFileSync(
    config,
    [
      `node: ${node}`,
      `data_dir: ${JSON.stringify(dataDir)}`,
      `sources: [${JSON.stringify(`jsonl:${input}`)}]`,
      `rules: [${JSON.stringify(join(projectRoot, 'rules', 'vigil-rules.yaml'))}]`,
      'outputs: [none]',
      'http: { listen: none }',
      `cri: { socket: ${JSON.stringify(join(dataDir, 'no-runtime.sock'))} }`,
      `collector: { address: "127.0.0.1:${grpcPort}", ca: ${JSON.stringify(tls.ca)}, cert: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)} }`,
      'enforce: { enabled: false }',
      'baseline: { learning_period: 1h }',
    ].join('\n'),
  );
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [VIGIL_CLI, 'agent', '--config', config],
    {
      stdio: 'pipe',
    },
  );
  const logs: Record<string, unknown>[] = [];
  let rest = '';
  const waiters = new Set<() => void>();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) {
      if (p === '') continue;
      try {
        logs.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        logs.push({ raw: p });
      }
    }
    waiters.forEach((w) => w());
  });
  child.stdout.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail = (): string =>
    logs
      .slice(-10)
      .map((l) => JSON.stringify(l))
      .join('\n');
  return {
    node,
    dataDir,
    logs,
    tail,
    waitFor(what, check, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const poll = (): void => {
          if (!check()) return;
          clearTimeout(timer);
          waiters.delete(poll);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(poll);
          reject(new Error(`${node}: no ${what} within ${ms} ms; last logs:\n${tail()}`));
        }, ms);
        waiters.add(poll);
        poll();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
