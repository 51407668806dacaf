/**
 * The whole quarantine path on this machine (root only), for test/e2e/quarantine-flow.test.ts
 * and test/bench/quarantine.ts: the containerd harness with real pods; the fake Kubernetes API
 * server (http, URL mode) holding the same pods with their node; a real collector configured
 * with a `response:` section that points at the fake; and a real agent (procfs source, CRI,
 * enforcement) joined to the collector by the mutual-TLS link, optionally through a TCP relay
 * the test controls (tcp-relay.ts). Collector and agent run in this process; everything else is
 * real.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { readRuleFile, startAgent, type Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config.js';
import { startCollector, type Collector } from '../../collector/collector.js';
import { loadCollectorConfig } from '../../collector/config.js';
import { createLogger, type Logger } from '../../core/log.js';
import { startNodeInABox, type NodeInABox, type Pod, type PodSpec } from '../harness/node-in-a-box.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './fake-kube-apiserver.js';
import { createTestPki } from './link-pki.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';

const run = promisify(execFile);

/** The port every rig pod serves HTTP on (busybox httpd). */
export const POD_HTTP_PORT = 8080;

/** The rig; see the module comment. */
export interface ResponseNode {
  readonly node: NodeInABox;
  /** The node's name, as the agent's certificate and the fake's pods say it. */
  readonly nodeName: string;
  readonly collector: Collector;
  readonly agent: Agent;
  /** Undefined when started with `kube: false`. */
  readonly kube: FakeKubeApiServer | undefined;
  /** The relay the agent's link goes through; undefined unless started with `relay: true`. */
  readonly relay: TcpRelay | undefined;
  /** `http://127.0.0.1:PORT` of the collector's API. */
  readonly api: string;
  /** Tokens of each role. */
  readonly tokens: { readonly viewer: string; readonly responder: string; readonly admin: string };
  /** Where the logs of collector and agent go (JSON lines). */
  readonly logFile: string;
  /** Runs a pod serving HTTP on {@link POD_HTTP_PORT}, registers it in the fake, and waits until it answers. */
  runPod(spec: Omit<PodSpec, 'command'> & { readonly extraCommand?: string }): Promise<Pod>;
  stop(): Promise<void>;
}

/** The quarantine table in the pod's network namespace (nft's listing), or '' when there is none. */
export async function podQuarantineTable(pod: Pod): Promise<string> {
  try {
    const { stdout } = await run('nsenter', [
      `--net=${pod.netnsPath}`,
      'nft',
      'list',
      'table',
      'inet',
      'vigil_quarantine',
    ]);
    return stdout;
  } catch {
    return '';
  }
}

/** Opens a TCP connection to `ip:port`: 'open', or why not ('timeout', 'ECONNREFUSED', ...). */
export function tcpProbe(ip: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const done = (what: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Waits until `check` holds, polling every `everyMs`; throws naming `what` after `ms`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 20_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Options of {@link startResponseNode}. */
/**
 * Calls the collector's API at `base` + `path` with a bearer token: a GET, or a POST of `body`
 * as JSON. Returns the status and the parsed JSON answer.
 */
export async function collectorApi<T>(
  base: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export interface ResponseNodeOptions {
  /** node-in-a-box instance name (1-10 lowercase letters or digits). */
  readonly name: string;
  readonly work: string;
  /** The collector's `response.policies` (YAML-shaped objects). Default none. */
  readonly policies?: readonly Record<string, unknown>[];
  /** Rule file text for the agent (default: a rule that never fires). */
  readonly rules?: string;
  /** Event sources of the agent (default none: commands only). */
  readonly sources?: readonly string[];
  /** Use the fake Kubernetes API (default true). */
  readonly kube?: boolean;
  /** Link the agent to the collector through a {@link TcpRelay} the test controls (default false). */
  readonly relay?: boolean;
  /** Collector log level (default debug; the benchmark uses warn). */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** Starts the rig. */
export async function startResponseNode(options: ResponseNodeOptions): Promise<ResponseNode> {
  const { name, work } = options;
  mkdirSync(work, { recursive: true });
  const logFile = join(work, 'log.jsonl');
  const logger: Logger = createLogger({
    write: (l) => appendFileSync(logFile, l + '\n'),
    now: Date.now,
    level: options.logLevel ?? 'debug',
  });
  const nodeName = `${name}-node`;
  const pki = createTestPki();
  const files = join(work, 'files');
  mkdirSync(files, { recursive: true });
  const put = (file: string, text: string): string => {
    writeFileSync(join(files, file), text);
    return join(files, file);
  };
  const agentTls = pki.agent(nodeName);
  const ca = put('ca.crt', pki.collector.ca);
  const kube = options.kube === false ? undefined : await startFakeKubeApiServer();
  let node: NodeInABox | undefined;
  let collector: Collector | undefined;
  let agent: Agent | undefined;
  let relay: TcpRelay | undefined;
  try {
    node = await startNodeInABox({ name });
    const response = {
      never_namespaces: ['kube-system'],
      kubernetes:
        kube === undefined
          ? { mode: 'off' }
          : { mode: 'url', server: kube.url, token_file: put('kube-token', kube.token + '\n') },
      policies: options.policies ?? [],
    };
    const collectorYaml = stringify({
      data_dir: join(work, 'collector'),
      grpc: { listen: '127.0.0.1:0' },
      http: { listen: '127.0.0.1:0' },
      tls: {
        ca,
        cert: put('collector.crt', pki.collector.cert),
        key: put('collector.key', pki.collector.key),
      },
      log: { level: options.logLevel ?? 'debug' },
      response,
    });
    const collectorFile = put('collector.yaml', collectorYaml);
    collector = await startCollector(
      loadCollectorConfig({ name: collectorFile, text: collectorYaml }, {}, []),
      {
        logger: logger.child({ process: 'collector' }),
        version: 'test',
      },
    );
    const tokenOf = (role: 'viewer' | 'responder' | 'admin'): string => {
      const t = (collector as Collector).tokens.create({ name: `${role}-token`, role });
      if (!t.ok) throw new Error(`creating the ${role} token: ${t.reason}`);
      return t.token;
    };
    const tokens = { viewer: tokenOf('viewer'), responder: tokenOf('responder'), admin: tokenOf('admin') };
    const rules = put(
      'rules.yaml',
      options.rules ??
        '- rule: Nothing\n  desc: never\n  condition: evt.type = execve and proc.name = vigil-never\n  output: never\n  priority: DEBUG\n',
    );
    const flag = (path: string[], value: unknown): { flag: string; path: string[]; value: unknown } => ({
      flag: `--${path.join('.')}`,
      path,
      value,
    });
    if (options.relay === true) relay = await startTcpRelay(collector.grpcPort);
    const agentConfig = loadAgentConfig(undefined, {}, [
      flag(['node'], nodeName),
      flag(['data_dir'], join(work, 'agent')),
      flag(['sources'], [...(options.sources ?? [])]),
      flag(['rules'], [rules]),
      flag(['outputs'], ['none']),
      flag(['cri', 'socket'], node.criSocket),
      flag(['http', 'listen'], 'none'),
      flag(['collector', 'address'], `127.0.0.1:${relay?.port ?? collector.grpcPort}`),
      flag(['collector', 'ca'], ca),
      flag(['collector', 'cert'], put('agent.crt', agentTls.cert)),
      flag(['collector', 'key'], put('agent.key', agentTls.key)),
    ]);
    agent = await startAgent(agentConfig, {
      logger: logger.child({ process: 'agent' }),
      readRules: (paths) => paths.map(readRuleFile),
      watchRules: false,
      version: 'test',
    });
    const c = collector;
    await until(
      `the agent to connect (see ${logFile})`,
      () => c.ingest.connectedNodes().includes(nodeName),
      15_000,
    );
    const n = node;
    const a = agent;
    return {
      node: n,
      nodeName,
      collector: c,
      agent: a,
      kube,
      relay,
      api: `http://127.0.0.1:${c.httpAddress.port}`,
      tokens,
      logFile,
      async runPod(spec) {
        const pod = await n.runPod({
          ...spec,
          command: [
            'sh',
            '-c',
            `httpd -p ${POD_HTTP_PORT} -h /etc; ${spec.extraCommand ?? ''} exec sleep 2147483647`,
          ],
        });
        kube?.addPod({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, labels: { ...spec.labels } },
          spec: { nodeName, containers: [{ name: pod.containerName, image: n.image }] },
        });
        await until(
          `pod ${pod.namespace}/${pod.name} to serve HTTP`,
          async () => (await tcpProbe(pod.ip, POD_HTTP_PORT, 500)) === 'open',
          10_000,
          100,
        );
        return pod;
      },
      async stop() {
        await a.stop();
        await relay?.close();
        await c.stop();
        await n.stop();
        await kube?.close();
      },
    };
  } catch (err) {
    await agent?.stop().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    await collector?.stop().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await kube?.close().catch(() => undefined);
    throw err;
  }
}
