/**
 * Test support for the baseline tests (named `.test.ts` so that it stays test code; it declares
 * no tests itself): a link client that speaks the real agent protocol over gRPC with mutual TLS,
 * profile deltas as agents make them, and metric reading.
 */
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import {
  decodeProfile,
  emptyProfile,
  encodeProfile,
  observationDelta,
  type Profile,
  type ProfileItemKind,
} from '../../core/baseline/profile.js';
import { agentLinkService, type OutgoingAgentMessage } from '../../proto/agent-link-service.js';
import {
  LINK_PROTOCOL_VERSION,
  type BaselineUpdate,
  type ReceivedCollectorMessage,
} from '../../proto/link-messages.js';

/** TLS material of an agent (test/support/link-pki.ts and certificate-directory.ts both give it). */
export interface ClientTls {
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

const asBuffer = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v) : v);

/** One agent's stream, driven by hand: Hello, deltas out, whatever the collector sends in. */
export class LinkClient {
  readonly received: ReceivedCollectorMessage[] = [];
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<OutgoingAgentMessage, ReceivedCollectorMessage>;
  private waiters: (() => void)[] = [];

  constructor(
    port: number,
    tls: ClientTls,
    readonly node: string,
  ) {
    this.client = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(asBuffer(tls.ca), asBuffer(tls.key), asBuffer(tls.cert)),
    );
    const m = agentLinkService().Connect;
    this.call = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    this.call.on('data', (msg: ReceivedCollectorMessage) => {
      this.received.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('error', () => undefined);
  }

  /** Opens a stream for `node` (an agent that takes baselines, by default) and waits for the Welcome. */
  static async connect(
    port: number,
    tls: ClientTls,
    node: string,
    capabilities: readonly string[] = ['baselines'],
  ): Promise<LinkClient> {
    const c = new LinkClient(port, tls, node);
    c.call.write({
      type: 'hello',
      hello: {
        node,
        agentVersion: 'baseline-test',
        protocolVersion: LINK_PROTOCOL_VERSION,
        capabilities,
        host: { hostname: node, os: '', kernel: '', arch: '', cpus: 0, memoryBytes: 0, source: 'test' },
      },
    });
    await c.waitFor(() => c.received.some((m) => m.type === 'welcome'), 'the welcome');
    return c;
  }

  sendDelta(workloadKey: string, delta: Uint8Array): void {
    this.call.write({ type: 'baseline-delta', delta: { workloadKey, delta } });
  }

  /** The baseline updates received so far, in order. */
  baselines(): BaselineUpdate[] {
    return this.received.flatMap((m) => (m.type === 'baseline' ? [m.baseline] : []));
  }

  /** The last profile received for `key`, decoded; undefined when none came. */
  latest(key: string): Profile | undefined {
    const update = this.baselines()
      .filter((b) => b.workloadKey === key)
      .at(-1);
    return update === undefined ? undefined : decodeProfile(update.profile);
  }

  /** Waits until `check` holds (re-checked on every message). */
  async waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.node}: no ${what} within ${timeoutMs} ms; received ${this.received.map((m) => m.type).join(', ')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** A profile key in the `profileKeyOf` shape. */
export function keyFor(name: string, namespace = 'shop', image = 'registry.example/app:1.0'): string {
  return `${namespace}/Deployment/${name}/app|${image}`;
}

/** A delta as an agent sends it: what `node` observed of `key` (learning, epoch 0). */
export function observed(
  key: string,
  node: string,
  items: readonly (readonly [ProfileItemKind, string])[],
  atMs = 1_700_000_000_000,
  activityMs = 60_000,
): Profile {
  return observationDelta(
    emptyProfile(key),
    node,
    activityMs,
    items.map(([kind, value]) => ({ kind, value, firstSeenMs: atMs, lastSeenMs: atMs })),
    0,
  );
}

/** {@link observed}, encoded. */
export function observedBytes(...args: Parameters<typeof observed>): Uint8Array {
  return encodeProfile(observed(...args));
}

/** A metric's value with the given labels (0 when it has none yet). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Waits until `check` holds, polling. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
