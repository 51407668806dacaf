/**
 * `vigil collector`: the central service.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCollector } from '../../collector/collector.js';
import { collectorEnvironment, loadCollectorConfig } from '../../collector/config.js';
import type { CliIO, Command } from '../command.js';
import { daemonLogger, resolveDaemonConfig, type FlagLayer } from '../daemon-config.js';
import { version } from '../version.js';

const usage = `Usage: vigil collector [--config FILE] [options]

Runs the collector: accepts agents over gRPC with mutual TLS (each agent's node name must match
its client certificate), stores alerts in SQLite (idempotently by id), passes new alerts to the
outputs (webhook, Slack, syslog, Falco-compatible HTTP, file) and to the live feed, and serves
the HTTP API (bearer tokens: 'vigil tokens create'), a Falco http_output ingest endpoint at
POST /api/v1/falco, /metrics, /healthz and /readyz. Logs are JSON lines on stderr.

Configuration: defaults < YAML file (--config; see deploy/collector.example.yaml) < VIGIL_*
environment < flags.

Options:
  --config FILE          YAML configuration file
  --data-dir DIR         where the database (and, by default, certs/) live (default /var/lib/vigil/collector)
  --grpc-listen H:P      where agents connect (default 0.0.0.0:7443)
  --http-listen H:P      the API, live feed and metrics (default 0.0.0.0:8080)
  --tls-dir DIR          the collector's certificate folder (ca.crt, tls.crt, tls.key), as
                         'vigil certs init' writes it (default DATA_DIR/certs/collector)
  --log-level LEVEL      debug | info | warn | error

Environment: ${collectorEnvironment.map((e) => e.variable).join(', ')}.
Signals: SIGINT/SIGTERM stop cleanly.`;

export const collectorCommand: Command = {
  name: 'collector',
  summary: 'run the central collector (gRPC ingest, store, API, live feed, outputs)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const { values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        'grpc-listen': { type: 'string' },
        'http-listen': { type: 'string' },
        'tls-dir': { type: 'string' },
        'log-level': { type: 'string' },
      },
      allowPositionals: false,
    });
    const flags: FlagLayer[] = [];
    const flag = (name: string, path: string[], value: unknown): void => {
      if (value !== undefined) flags.push({ flag: `--${name}`, path, value });
    };
    flag('data-dir', ['data_dir'], values['data-dir']);
    flag('grpc-listen', ['grpc', 'listen'], values['grpc-listen']);
    flag('http-listen', ['http', 'listen'], values['http-listen']);
    flag('log-level', ['log', 'level'], values['log-level']);
    if (values['tls-dir'] !== undefined) {
      flag('tls-dir', ['tls', 'ca'], join(values['tls-dir'], 'ca.crt'));
      flag('tls-dir', ['tls', 'cert'], join(values['tls-dir'], 'tls.crt'));
      flag('tls-dir', ['tls', 'key'], join(values['tls-dir'], 'tls.key'));
    }
    const config = resolveDaemonConfig('collector', values.config, flags, io, loadCollectorConfig);
    if (config === undefined) return 2;
    const logger = daemonLogger(io, config.log.level);
    const collector = await startCollector(config, { logger, version });
    const why = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    logger.info('stopping', { component: 'collector', reason: why });
    await collector.stop();
    return 0;
  },
};
