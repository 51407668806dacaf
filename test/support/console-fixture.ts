/**
 * A real collector for the console's browser test and benchmark: certificates made by `vigil
 * certs`' code, a temporary data directory (or a given one), HTTP and gRPC on free ports of
 * 127.0.0.1, the Kubernetes layer pointed at a given (fake) API server, and tokens of each role.
 * Plus Chromium: Debian's, driven by playwright-core — never a downloaded browser.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { initCertificateDirectory } from '../../collector/certs/certificate-directory.js';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { startCollector, type Collector } from '../../collector/collector.js';
import { loadCollectorConfig } from '../../collector/config.js';
import { createLogger } from '../../core/log.js';
import {
  emptyProfile,
  encodeProfile,
  observationDelta,
  type ProfileItemKind,
} from '../../core/baseline/profile.js';
import { Registry } from 'prom-client';
import { createBaselineService } from '../../collector/baseline/baseline-service.js';
import { openProfileStore } from '../../collector/baseline/profile-store.js';
import { openCollectorDatabase } from '../../collector/store/database.js';

/** Where Debian installs Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** Chromium's flags for a headless run in a container, with nothing fetched from the network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Debian's Chromium (playwright gives it a fresh temporary profile directory). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** A running collector for console tests. */
export interface ConsoleCollector {
  readonly collector: Collector;
  /** `http://127.0.0.1:PORT` */
  readonly base: string;
  readonly token: { readonly admin: string; readonly responder: string; readonly viewer: string };
  /** The collector's log lines. */
  readonly logs: string[];
  stop(): Promise<void>;
}

/** Options of {@link startConsoleCollector}. */
export interface ConsoleCollectorOptions {
  /** The data directory to use (kept); default a temporary one (removed at stop). */
  readonly dataDir?: string;
  /** The Kubernetes API server for the quarantine's Kubernetes layer (default: none). */
  readonly kube?: { readonly url: string; readonly token: string };
  /** The HTTP port (default: a free one). */
  readonly httpPort?: number;
  /** Profiles learned before the collector starts, as agents' deltas would bring them. */
  readonly profiles?: readonly SeedProfile[];
}

/** What one agent observed of one workload. */
export interface SeedProfile {
  /** `profileKeyOf(workload, image)`: `namespace/Kind/name/container|image`. */
  readonly key: string;
  readonly node: string;
  /** How long it watched the workload. */
  readonly activityMs: number;
  readonly items: readonly { readonly kind: ProfileItemKind; readonly value: string }[];
}

/**
 * Merges `profiles` into the database at `dbPath` through the collector's own baseline service
 * (as if agents had sent them), with no agent connected.
 */
function seedProfiles(dbPath: string, profiles: readonly SeedProfile[]): void {
  const database = openCollectorDatabase({ path: dbPath });
  try {
    const service = createBaselineService({
      store: openProfileStore({ database }),
      link: {
        onBaselineDelta: () => undefined,
        onAgentEvent: () => undefined,
        sendBaseline: () => false,
        connectedNodes: () => [],
      },
      registry: new Registry(),
      logger: createLogger({ write: () => undefined, now: Date.now }),
      timers: false,
    });
    const t = Date.now();
    for (const p of profiles) {
      const observed = p.items.map((i) => ({ ...i, firstSeenMs: t - p.activityMs, lastSeenMs: t - 60_000 }));
      const delta = observationDelta(emptyProfile(p.key), p.node, p.activityMs, observed, 0);
      const outcome = service.acceptDelta(p.node, { workloadKey: p.key, delta: encodeProfile(delta) });
      if (outcome.result === 'rejected') throw new Error(`seeding profile ${p.key}: ${outcome.detail}`);
    }
    service.stop();
  } finally {
    database.close();
  }
}

/** Starts a collector with the console, as `vigil collector` would. */
export async function startConsoleCollector(
  options: ConsoleCollectorOptions = {},
): Promise<ConsoleCollector> {
  const work = mkdtempSync(join(tmpdir(), 'vigil-console-e2e-'));
  const certs = join(work, 'certs');
  initCertificateDirectory(certs, defaultCollectorNames('vigil'));
  const lines = [
    `data_dir: ${JSON.stringify(options.dataDir ?? join(work, 'data'))}`,
    'grpc: { listen: "127.0.0.1:0" }',
    `http: { listen: "127.0.0.1:${options.httpPort ?? 0}" }`,
    `tls: { ca: ${JSON.stringify(join(certs, 'collector', 'ca.crt'))}, cert: ${JSON.stringify(join(certs, 'collector', 'tls.crt'))}, key: ${JSON.stringify(join(certs, 'collector', 'tls.key'))} }`,
    'commands: { timeout: 2s }',
  ];
  if (options.kube !== undefined) {
    const tokenFile = join(work, 'kube.token');
    writeFileSync(tokenFile, options.kube.token, { mode: 0o600 });
    lines.push(
      'response:',
      '  kubernetes:',
      '    mode: url',
      `    server: ${JSON.stringify(options.kube.url)}`,
      `    token_file: ${JSON.stringify(tokenFile)}`,
    );
  }
  const config = loadCollectorConfig({ name: 'console-test.yaml', text: lines.join('\n') + '\n' }, {}, []);
  if (options.profiles !== undefined) {
    mkdirSync(config.data_dir, { recursive: true });
    seedProfiles(join(config.data_dir, 'collector.db'), options.profiles);
  }
  const logs: string[] = [];
  const logger = createLogger({ write: (line) => logs.push(line), level: 'info', now: Date.now });
  const collector = await startCollector(config, { logger, version: 'test' });
  const make = (role: 'admin' | 'responder' | 'viewer'): string => {
    // A kept data directory has this fixture's earlier tokens: name the new ones apart.
    const suffix = options.dataDir === undefined ? '' : `-${Date.now().toString(36)}`;
    const made = collector.tokens.create({ name: `console-${role}${suffix}`, role });
    if (!made.ok) throw new Error(`creating the ${role} token: ${made.reason}`);
    return made.token;
  };
  return {
    collector,
    base: `http://127.0.0.1:${collector.httpAddress.port}`,
    token: { admin: make('admin'), responder: make('responder'), viewer: make('viewer') },
    logs,
    async stop() {
      await collector.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
