/**
 * A node under quarantine test (root only): the containerd harness, a real collector and a real
 * agent in this process joined by the mutual-TLS link, and the HTTP helpers to probe a pod's
 * network from the host side of the harness's bridge. Used by
 * test/privileged/quarantine-node.test.ts and test/bench/quarantine-apply.ts.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { readRuleFile, startAgent, type Agent } from '../../agent/agent.js';
import { loadAgentConfig } from '../../agent/config.js';
import { startCollector, type Collector } from '../../collector/collector.js';
import { loadCollectorConfig } from '../../collector/config.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { Command, CommandResult, QuarantineAction } from '../../proto/link-messages.js';
import { startNodeInABox, type NodeInABox } from '../harness/node-in-a-box.js';
import { createTestPki } from './link-pki.js';

/** The rig; see the module comment. */
export interface QuarantineRig {
  readonly node: NodeInABox;
  readonly nodeName: string;
  readonly collector: Collector;
  /** The current agent (replaced by {@link restartAgent}). */
  agent(): Agent;
  /** Stops the agent (keeping its data directory). */
  stopAgent(): Promise<void>;
  /** Starts the agent again on the same data directory and waits until it is connected. */
  restartAgent(): Promise<Agent>;
  /** Sends a command over the link and returns the agent's result and the round trip in ms. */
  send(action: Command['action'], id?: string): Promise<{ result: CommandResult; ms: number }>;
  /** A quarantine action for `pod` (namespace/name) with defaults. */
  quarantineOf(
    pod: { namespace: string; name: string; uid: string },
    over?: Partial<QuarantineAction>,
  ): QuarantineAction;
  readonly work: string;
  stop(): Promise<void>;
}

let commandSeq = 0;

/**
 * Starts the rig in `work` with node-in-a-box instance `name`; `reconcileInterval` is the
 * agent's `enforce.reconcile_interval` (default 0: only at start).
 */
export async function startQuarantineRig(
  name: string,
  work: string,
  options: { readonly reconcileInterval?: string } = {},
): Promise<QuarantineRig> {
  mkdirSync(work, { recursive: true });
  const logFile = join(work, 'log.jsonl');
  const logger: Logger = createLogger({
    write: (l) => appendFileSync(logFile, l + '\n'),
    now: Date.now,
    level: 'debug',
  });
  const node = await startNodeInABox({ name });
  const nodeName = `${name}-node`;
  const pki = createTestPki();
  const certs = join(work, 'certs');
  mkdirSync(certs, { recursive: true });
  const put = (file: string, text: string): string => {
    writeFileSync(join(certs, file), text);
    return join(certs, file);
  };
  const agentTls = pki.agent(nodeName);
  const files = {
    ca: put('ca.crt', pki.collector.ca),
    cert: put('collector.crt', pki.collector.cert),
    key: put('collector.key', pki.collector.key),
    agentCert: put('agent.crt', agentTls.cert),
    agentKey: put('agent.key', agentTls.key),
  };
  const flag = (path: string[], value: unknown): { flag: string; path: string[]; value: unknown } => ({
    flag: `--${path.join('.')}`,
    path,
    value,
  });
  let collector: Collector | undefined;
  let agent: Agent | undefined;
  try {
    collector = await startCollector(
      loadCollectorConfig(undefined, {}, [
        flag(['data_dir'], join(work, 'collector')),
        flag(['grpc', 'listen'], '127.0.0.1:0'),
        flag(['http', 'listen'], '127.0.0.1:0'),
        flag(['tls', 'ca'], files.ca),
        flag(['tls', 'cert'], files.cert),
        flag(['tls', 'key'], files.key),
      ]),
      { logger: logger.child({ process: 'collector' }), version: 'test' },
    );
    const rules = join(work, 'rules.yaml');
    writeFileSync(
      rules,
      '- rule: Nothing\n  desc: never\n  condition: evt.type = execve and proc.name = vigil-never\n  output: never\n  priority: DEBUG\n',
    );
    const agentConfig = loadAgentConfig(undefined, {}, [
      flag(['node'], nodeName),
      flag(['data_dir'], join(work, 'agent')),
      flag(['sources'], []),
      flag(['rules'], [rules]),
      flag(['outputs'], ['none']),
      flag(['cri', 'socket'], node.criSocket),
      flag(['http', 'listen'], 'none'),
      flag(['collector', 'address'], `127.0.0.1:${collector.grpcPort}`),
      flag(['collector', 'ca'], files.ca),
      flag(['collector', 'cert'], files.agentCert),
      flag(['collector', 'key'], files.agentKey),
      flag(['collector', 'server_name'], 'localhost'),
      flag(['enforce', 'reconcile_interval'], options.reconcileInterval ?? '0s'),
    ]);
    const c = collector;
    const start = async (): Promise<Agent> => {
      const a = await startAgent(agentConfig, {
        logger: logger.child({ process: 'agent' }),
        readRules: (paths) => paths.map(readRuleFile),
        watchRules: false,
        version: 'test',
      });
      const deadline = Date.now() + 15_000;
      while (!c.ingest.connectedNodes().includes(nodeName)) {
        if (Date.now() > deadline) throw new Error(`the agent did not connect (see ${logFile})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return a;
    };
    agent = await start();
    return {
      node,
      nodeName,
      collector: c,
      work,
      agent: () => {
        if (agent === undefined) throw new Error('the agent is stopped');
        return agent;
      },
      async stopAgent() {
        await agent?.stop();
        agent = undefined;
        const deadline = Date.now() + 10_000;
        while (c.ingest.connectedNodes().includes(nodeName) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      async restartAgent() {
        agent = await start();
        return agent;
      },
      async send(action, id) {
        const started = performance.now();
        const result = await c.ingest.sendCommand(
          nodeName,
          { id: id ?? `cmd-${++commandSeq}`, action },
          { timeoutMs: 20_000 },
        );
        return { result, ms: performance.now() - started };
      },
      quarantineOf(pod, over = {}) {
        return {
          type: 'quarantine',
          quarantineId: `q-${++commandSeq}`,
          namespace: pod.namespace,
          pod: pod.name,
          podUid: pod.uid,
          cutEstablished: true,
          freeze: false,
          reason: 'test',
          ...over,
        };
      },
      async stop() {
        await agent?.stop();
        await c.stop();
        await node.stop();
      },
    };
  } catch (err) {
    await agent?.stop().catch(() => undefined);
    await collector?.stop().catch(() => undefined);
    await node.stop();
    throw err;
  }
}

/** GET `url` with a deadline: the status code, or 'timeout' / the error code. */
export function httpGet(url: string, timeoutMs = 1500, localAddress?: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(
      url,
      { timeout: timeoutMs, ...(localAddress !== undefined ? { localAddress } : {}) },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve('timeout');
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
