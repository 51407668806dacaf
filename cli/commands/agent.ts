/**
 * `vigil agent`: the node daemon.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../../agent/agent.js';
import { agentEnvironment, loadAgentConfig } from '../../agent/config.js';
import { describeSources } from '../../agent/sources/registry.js';
import type { CliIO, Command } from '../command.js';
import { daemonLogger, resolveDaemonConfig, type FlagLayer } from '../daemon-config.js';
import { readRuleSources } from '../rule-files.js';
import { version } from '../version.js';

const usage = `Usage: vigil agent [--config FILE] [options]

Runs the node agent: reads events from its sources, keeps process and pod state, evaluates
Falco-format rules, learns a profile of each workload and raises anomaly alerts once it is locked
(baseline: keys), writes every alert to a durable spool (SQLite) and to the local outputs, and
serves Prometheus metrics with /healthz and /readyz. It carries out the collector's quarantine
commands: cuts a pod's network (nftables in the pod's network namespace) and can freeze it
(cgroup v2), remembering them across restarts (enforce: keys). Logs are JSON lines on stderr.

Configuration comes from built-in defaults, then the YAML file (--config; see
deploy/agent.example.yaml), then VIGIL_* environment variables, then flags.

Options:
  --config FILE          YAML configuration file
  --node NAME            this node's name (default: $NODE_NAME or the host name)
  --source NAME:TARGET   an event source (repeatable; default procfs:)
  --rules FILE|DIR       rule files, loaded in order (repeatable; default: Vigil's rules/vigil-rules.yaml)
  --output SPEC          stdout | file:PATH | none (repeatable; default stdout)
  --data-dir DIR         where the spool, learnt profiles and active quarantines live
                         (default /var/lib/vigil/agent)
  --listen HOST:PORT     metrics and health endpoint (default 127.0.0.1:9376; none to disable)
  --cri-socket PATH      container runtime socket (default: the first of containerd, CRI-O found)
  --collector HOST:PORT  ship alerts to this collector over gRPC with mutual TLS
  --tls-dir DIR          this node's certificate folder (ca.crt, tls.crt, tls.key), as
                         'vigil certs agent' writes it
  --rule-matching MODE   first | all (default first)
  --min-priority LEVEL   ignore rules below this priority
  --no-follow            read file sources once instead of following them like tail -F
  --exit-when-done       exit once every source has delivered all it will (finite inputs)
  --log-level LEVEL      debug | info | warn | error (default info)

Sources:
${describeSources()}

Environment: ${agentEnvironment.map((e) => e.variable).join(', ')}.
Signals: SIGHUP reloads the rules (they are also reloaded when a rule file changes; a ruleset
that fails to load is refused and the last good one kept); SIGINT/SIGTERM stop cleanly.`;

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the node agent (sources, state, rules, spool, metrics)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        node: { type: 'string' },
        source: { type: 'string', multiple: true },
        rules: { type: 'string', multiple: true },
        output: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        listen: { type: 'string' },
        'cri-socket': { type: 'string' },
        collector: { type: 'string' },
        'tls-dir': { type: 'string' },
        'rule-matching': { type: 'string' },
        'min-priority': { type: 'string' },
        'no-follow': { type: 'boolean' },
        'exit-when-done': { type: 'boolean', default: false },
        'log-level': { type: 'string' },
      },
      allowPositionals: false,
    });
    void positionals;
    const flags: FlagLayer[] = [];
    const flag = (name: string, path: string[], value: unknown): void => {
      if (value !== undefined) flags.push({ flag: `--${name}`, path, value });
    };
    flag('node', ['node'], values.node);
    flag('source', ['sources'], values.source);
    flag('rules', ['rules'], values.rules);
    flag('output', ['outputs'], values.output);
    flag('data-dir', ['data_dir'], values['data-dir']);
    flag('listen', ['http', 'listen'], values.listen);
    flag('cri-socket', ['cri', 'socket'], values['cri-socket']);
    flag('collector', ['collector', 'address'], values.collector);
    if (values['tls-dir'] !== undefined) {
      flag('tls-dir', ['collector', 'ca'], join(values['tls-dir'], 'ca.crt'));
      flag('tls-dir', ['collector', 'cert'], join(values['tls-dir'], 'tls.crt'));
      flag('tls-dir', ['collector', 'key'], join(values['tls-dir'], 'tls.key'));
    }
    flag('rule-matching', ['rule_matching'], values['rule-matching']);
    flag('min-priority', ['min_priority'], values['min-priority']?.toLowerCase());
    flag('no-follow', ['source_options', 'follow'], values['no-follow'] === true ? false : undefined);
    flag('log-level', ['log', 'level'], values['log-level']);

    const config = resolveDaemonConfig('agent', values.config, flags, io, loadAgentConfig);
    if (config === undefined) return 2;
    const logger = daemonLogger(io, config.log.level);
    const agent = await startAgent(config, { logger, readRules: (paths) => readRuleSources(paths), version });
    if (agent.httpAddress !== undefined) {
      logger.info('metrics and health endpoint listening', {
        component: 'agent',
        url: `http://${agent.httpAddress.host.includes(':') ? `[${agent.httpAddress.host}]` : agent.httpAddress.host}:${agent.httpAddress.port}/metrics`,
      });
    }

    const onHup = (): void => void agent.reloadRules('SIGHUP');
    process.on('SIGHUP', onHup);
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
      if (values['exit-when-done']) void agent.sourcesDone().then(() => resolve('sources done'));
    });
    const why = await stopped;
    logger.info('stopping', { component: 'agent', reason: why });
    process.off('SIGHUP', onHup);
    await agent.stop();
    return 0;
  },
};
