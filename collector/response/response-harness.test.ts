/**
 * A real response for tests: a temporary collector database with the SQLite store, the real
 * ingest server (mutual TLS on 127.0.0.1), the real response on top, and agents driven by the
 * test over real gRPC streams, answering commands as the test says. The node side itself (the
 * nftables cut) is covered by test/e2e/quarantine-flow.test.ts with a real agent and a real pod.
 * (Named `.test.ts` so that it stays test code; it declares no tests itself.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { agentLinkService, type OutgoingAgentMessage } from '../../proto/agent-link-service.js';
import {
  LINK_PROTOCOL_VERSION,
  type Command,
  type CommandResult,
  type QuarantineReport,
  type ReceivedCollectorMessage,
} from '../../proto/link-messages.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../../test/support/fake-kube-apiserver.js';
import { createTestPki, type TestPki } from '../../test/support/link-pki.js';
import { startIngestServer, type IngestServer } from '../ingest/ingest-server.js';
import { openCollectorDatabase, type CollectorDatabase } from '../store/database.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { CollectorStore } from '../store/store.js';
import { createKubeClient, createKubeQuarantineLayer } from './kube/index.js';
import type { KubeLayer } from './quarantine-service.js';
import { responseSchema, type ResponseConfig } from './response-config.js';
import { startResponse, type Response } from './response.js';

/** How a test agent answers a command. */
export type CommandAnswer = (command: Command) => Omit<CommandResult, 'commandId'> | 'ignore';

/** An agent on a real link stream whose answers the test scripts. */
export class ScriptedAgent {
  /** Every command received, in order. */
  readonly commands: Command[] = [];
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<OutgoingAgentMessage, ReceivedCollectorMessage>;
  private welcomed: Promise<void>;

  constructor(
    port: number,
    pki: TestPki,
    readonly node: string,
    public answer: CommandAnswer,
    /** What the Hello reports holding; undefined: not reported (an older agent). */
    quarantines?: QuarantineReport,
  ) {
    const tls = pki.agent(node);
    this.client = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert)),
    );
    const m = agentLinkService().Connect;
    this.call = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    this.call.on('error', () => undefined);
    this.welcomed = new Promise((resolve) => {
      this.call.on('data', (msg: ReceivedCollectorMessage) => {
        if (msg.type === 'welcome') resolve();
        if (msg.type !== 'command') return;
        const { id, action } = msg.command;
        if (action.type === 'unsupported') {
          this.call.write({
            type: 'command-result',
            result: { commandId: id, outcome: 'failed', detail: 'unsupported' },
          });
          return;
        }
        const command: Command = { id, action };
        this.commands.push(command);
        const a = this.answer(command);
        if (a === 'ignore') return;
        this.call.write({ type: 'command-result', result: { commandId: id, ...a } });
      });
    });
    this.call.write({
      type: 'hello',
      hello: {
        node,
        agentVersion: 'test',
        protocolVersion: LINK_PROTOCOL_VERSION,
        capabilities: ['nftables'],
        host: { hostname: node, os: '', kernel: '', arch: '', cpus: 0, memoryBytes: 0, source: '' },
        ...(quarantines !== undefined && { quarantines }),
      },
    });
  }

  /** Resolves once the collector welcomed the agent. */
  ready(): Promise<void> {
    return this.welcomed;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** An agent that has exactly the pods named `namespace/pod`, and keeps what it applied. */
export function podHolder(pods: readonly string[]): CommandAnswer {
  const applied = new Set<string>();
  return (command) => {
    const a = command.action;
    const key = `${a.namespace}/${a.pod}`;
    if (!pods.includes(key)) return { outcome: 'not-on-this-node', detail: `no pod ${key} here` };
    if (a.type === 'quarantine') {
      if (applied.has(a.quarantineId)) return { outcome: 'already-applied', detail: 'table present' };
      applied.add(a.quarantineId);
      return { outcome: 'applied', detail: `cut ${key}` };
    }
    applied.delete(a.quarantineId);
    return { outcome: 'released', detail: `table removed from ${key}` };
  };
}

/** A running response with its parts. */
export interface ResponseHarness {
  readonly response: Response;
  readonly ingest: IngestServer;
  readonly store: CollectorStore;
  readonly db: CollectorDatabase;
  readonly registry: Registry;
  readonly pki: TestPki;
  readonly clock: { now: number };
  readonly logs: Record<string, unknown>[];
  /**
   * Connects an agent for `node` answering with `answer`, and waits for its welcome; its Hello
   * reports `quarantines` as held when given.
   */
  agent(node: string, answer: CommandAnswer, quarantines?: QuarantineReport): Promise<ScriptedAgent>;
  /** Stores alerts and passes them to the policies, as the collector does. */
  accept(alerts: readonly Alert[]): void;
  close(): Promise<void>;
}

/** Parses a `response:` section as the collector's configuration would. */
export function responseConfig(section: Record<string, unknown> = {}): ResponseConfig {
  const merged = {
    never_namespaces: ['kube-system'],
    kubernetes: { mode: 'off', kubeconfig: '', context: '', server: '', token_file: '', ca_file: '' },
    policies: [],
    ...section,
  };
  return responseSchema.parse(merged, ['response'], () => ({ source: 'test' }));
}

let sharedPki: TestPki | undefined;

/** Starts a response harness. */
export async function startResponseHarness(
  options: {
    config?: ResponseConfig;
    kube?: KubeLayer;
    commandTimeoutMs?: number;
    retryIntervalMs?: number;
  } = {},
): Promise<ResponseHarness> {
  sharedPki ??= createTestPki();
  const pki = sharedPki;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-response-'));
  const db = openCollectorDatabase({ path: join(dir, 'collector.db') });
  const store = openSqliteStore({ database: db });
  const registry = new Registry();
  const clock = { now: Date.UTC(2024, 4, 1, 12, 0) };
  const now = (): number => clock.now;
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
    now,
    level: 'debug',
  });
  // eslint-disable-next-line prefer-const -- assigned once the ingest server exists; used by its callback.
  let response: Response | undefined;
  const ingest = await startIngestServer({
    listen: '127.0.0.1:0',
    tls: pki.collector,
    store,
    onAlertsStored: (alerts) => response?.onAlertsStored(alerts),
    logger,
    registry,
    now,
  });
  response = startResponse({
    config: options.config ?? responseConfig(),
    database: db,
    alerts: store,
    link: ingest,
    registry,
    logger,
    now,
    commandTimeoutMs: options.commandTimeoutMs ?? 2000,
    ...(options.retryIntervalMs !== undefined && { retryIntervalMs: options.retryIntervalMs }),
    ...(options.kube !== undefined && { kube: options.kube }),
  });
  const agents: ScriptedAgent[] = [];
  const r = response;
  return {
    response: r,
    ingest,
    store,
    db,
    registry,
    pki,
    clock,
    logs,
    async agent(node, answer, quarantines) {
      const a = new ScriptedAgent(ingest.port, pki, node, answer, quarantines);
      agents.push(a);
      await a.ready();
      return a;
    },
    accept(alerts) {
      const fresh = alerts.filter((a) => store.getAlert(a.id) === undefined);
      store.insertAlerts(alerts, clock.now);
      r.onAlertsStored(fresh);
    },
    async close() {
      for (const a of agents) a.close();
      await ingest.close({ graceMs: 100 });
      await r.close();
      store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An alert about `namespace/pod`, with what a test overrides. */
export function podAlert(id: string, namespace: string, pod: string, extra: Partial<Alert> = {}): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Terminal shell in container',
    priority: 'Warning',
    output: `12:00:00.000000000: Warning shell in ${namespace}/${pod}`,
    output_fields: { 'k8s.ns.name': namespace, 'k8s.pod.name': pod, 'proc.name': 'bash' },
    source: 'syscall',
    tags: ['container', 'shell', 'mitre_execution'],
    hostname: 'node-1',
    id,
    kind: 'signature',
    node: 'node-1',
    workload: { namespace, pod, image: 'registry.example/shop/web:1.4.2', container: 'web' },
    ...extra,
  };
}

/** A harness with the real Kubernetes layer against a fake API server, per test (see {@link withKubeHarness}). */
export interface KubeHarness {
  readonly kube: FakeKubeApiServer;
  readonly h: ResponseHarness;
  /** A pod of namespace shop on `node`, to add to the fake. */
  readonly pod: (name: string, node: string, uid: string) => object;
  /** The pod's quarantine label, if any. */
  readonly label: (name: string) => string | undefined;
  /** The NetworkPolicies of namespace shop. */
  readonly policyNames: () => string[];
  /** Closes this test's harness and starts another against the same fake, with these timings. */
  readonly restart: (timing: { commandTimeoutMs: number; retryIntervalMs?: number }) => Promise<void>;
}

/**
 * Registers beforeEach/afterEach hooks in the calling suite that start a fresh fake API server
 * and a response harness using the real Kubernetes client and layer against it, and close both;
 * the returned object reads the current ones.
 */
export function withKubeHarness(): KubeHarness {
  let kube: FakeKubeApiServer | undefined;
  let h: ResponseHarness | undefined;
  const current = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the Kubernetes harness runs only inside a test');
    return v;
  };
  const start = (
    server: FakeKubeApiServer,
    timing: { commandTimeoutMs: number; retryIntervalMs?: number },
  ): Promise<ResponseHarness> =>
    startResponseHarness({
      kube: createKubeQuarantineLayer(
        createKubeClient({ mode: 'url', server: server.url, token: server.token }),
      ),
      ...timing,
    });
  beforeEach(async () => {
    kube = await startFakeKubeApiServer();
    h = await start(kube, { commandTimeoutMs: 500 });
  });
  afterEach(async () => {
    await h?.close();
    await kube?.close();
    h = undefined;
    kube = undefined;
  });
  return {
    get kube() {
      return current(kube);
    },
    get h() {
      return current(h);
    },
    pod: (name, node, uid) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'shop', uid, labels: { app: 'web' } },
      spec: { nodeName: node, containers: [{ name: 'web', image: 'registry.example/shop/web:1.4.2' }] },
    }),
    label: (name) => current(kube).getPod('shop', name)?.metadata.labels?.['vigil.dev/quarantine'],
    policyNames: () =>
      current(kube)
        .networkPolicies('shop')
        .map((p) => p.metadata.name ?? ''),
    async restart(timing) {
      await current(h).close();
      h = await start(current(kube), timing);
    },
  };
}
