/**
 * The agent's configuration: defaults < YAML file (`--config`) < `VIGIL_*` environment < flags,
 * validated once into a frozen object (see core/config-schema.ts for the rules).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bool,
  bytes,
  duration,
  int,
  list,
  obj,
  resolveConfig,
  str,
  ConfigError,
  type ConfigLayers,
  type Schema,
} from '../core/config-schema.js';
import { priorityNames } from '../core/priority.js';

const priorities = priorityNames().map((p) => p.toLowerCase());

/** A number from 0 to 1 (a score); strings are accepted (environment variables and flags are text). */
function fraction(): Schema<number> {
  const expected = 'a number from 0 to 1';
  return {
    expected,
    parse(value, path, origin) {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1) {
        throw new ConfigError(path.join('.'), origin(path), expected, JSON.stringify(value) ?? String(value));
      }
      return n;
    },
  };
}

/** The schema of the agent's configuration file; every key is documented in agent.example.yaml. */
export const agentConfigSchema = obj({
  node: str({ nonEmpty: true }),
  data_dir: str({ nonEmpty: true }),
  sources: list(str({ nonEmpty: true })),
  source_options: obj({
    follow: bool(),
    procfs_interval: duration(),
  }),
  rules: list(str({ nonEmpty: true })),
  rule_matching: str({ oneOf: ['first', 'all'] }),
  min_priority: str({ oneOf: [...priorities, 'info'] }),
  outputs: list(str({ nonEmpty: true })),
  spool: obj({ max_alerts: int(1), max_bytes: bytes(64 * 1024) }),
  process_table: obj({ max_entries: int(1024) }),
  cri: obj({ socket: str(), timeout: duration() }),
  http: obj({ listen: str() }),
  collector: obj({ address: str(), ca: str(), cert: str(), key: str(), server_name: str() }),
  enforce: obj({
    enabled: bool(),
    nft: str(),
    nsenter: str(),
    conntrack: str(),
    timeout: duration(),
    reconcile_interval: duration(),
  }),
  log: obj({ level: str({ oneOf: ['debug', 'info', 'warn', 'error'] }) }),
  baseline: obj({
    enabled: bool(),
    learning_period: duration(),
    grace_period: duration(),
    threshold: fraction(),
    max_alerts_per_minute: int(0),
    max_profiles: int(1),
    profile_host: bool(),
    sequences: bool(),
  }),
});

/** The agent's validated configuration. */
export type AgentConfig = ReturnType<typeof agentConfigSchema.parse>;

/** Vigil's own ruleset, shipped with the package (rules/vigil-rules.yaml). */
export const DEFAULT_RULES_FILE = fileURLToPath(new URL('../../rules/vigil-rules.yaml', import.meta.url));

/** Built-in defaults: a working agent on a node with no configuration at all. */
export function agentDefaults(): Record<string, unknown> {
  return {
    node: process.env['NODE_NAME'] ?? hostname(),
    data_dir: '/var/lib/vigil/agent',
    sources: ['procfs:'],
    source_options: { follow: true, procfs_interval: '1s' },
    rules: [DEFAULT_RULES_FILE],
    rule_matching: 'first',
    min_priority: 'debug',
    outputs: ['stdout'],
    spool: { max_alerts: 100_000, max_bytes: '64MiB' },
    process_table: { max_entries: 65_536 },
    cri: { socket: '', timeout: '2s' },
    http: { listen: '127.0.0.1:9376' },
    collector: { address: '', ca: '', cert: '', key: '', server_name: '' },
    enforce: {
      enabled: true,
      nft: 'nft',
      nsenter: 'nsenter',
      conntrack: 'conntrack',
      timeout: '5s',
      reconcile_interval: '30s',
    },
    log: { level: 'info' },
    baseline: {
      enabled: true,
      learning_period: '1h',
      grace_period: '0s',
      threshold: 0.7,
      max_alerts_per_minute: 10,
      max_profiles: 512,
      profile_host: false,
      sequences: true,
    },
  };
}

/** Environment variables the agent reads, and the key each one sets. */
export const agentEnvironment: readonly { variable: string; path: readonly string[] }[] = [
  { variable: 'VIGIL_NODE', path: ['node'] },
  { variable: 'VIGIL_DATA_DIR', path: ['data_dir'] },
  { variable: 'VIGIL_SOURCES', path: ['sources'] },
  { variable: 'VIGIL_RULES', path: ['rules'] },
  { variable: 'VIGIL_RULE_MATCHING', path: ['rule_matching'] },
  { variable: 'VIGIL_MIN_PRIORITY', path: ['min_priority'] },
  { variable: 'VIGIL_OUTPUTS', path: ['outputs'] },
  { variable: 'VIGIL_SPOOL_MAX_ALERTS', path: ['spool', 'max_alerts'] },
  { variable: 'VIGIL_SPOOL_MAX_BYTES', path: ['spool', 'max_bytes'] },
  { variable: 'VIGIL_CRI_SOCKET', path: ['cri', 'socket'] },
  { variable: 'VIGIL_HTTP_LISTEN', path: ['http', 'listen'] },
  { variable: 'VIGIL_COLLECTOR', path: ['collector', 'address'] },
  { variable: 'VIGIL_COLLECTOR_CA', path: ['collector', 'ca'] },
  { variable: 'VIGIL_COLLECTOR_CERT', path: ['collector', 'cert'] },
  { variable: 'VIGIL_COLLECTOR_KEY', path: ['collector', 'key'] },
  { variable: 'VIGIL_ENFORCE', path: ['enforce', 'enabled'] },
  { variable: 'VIGIL_LOG_LEVEL', path: ['log', 'level'] },
  { variable: 'VIGIL_BASELINE', path: ['baseline', 'enabled'] },
  { variable: 'VIGIL_BASELINE_LEARNING_PERIOD', path: ['baseline', 'learning_period'] },
  { variable: 'VIGIL_BASELINE_THRESHOLD', path: ['baseline', 'threshold'] },
];

/** Resolves the agent's configuration from its layers. Throws ConfigError on a bad value. */
export function loadAgentConfig(
  file: ConfigLayers['file'],
  env: Readonly<Record<string, string | undefined>>,
  flags: ConfigLayers['flags'],
): AgentConfig {
  const envLayer = agentEnvironment.flatMap((e) => {
    const value = env[e.variable];
    return value === undefined ? [] : [{ variable: e.variable, path: e.path, value }];
  });
  return resolveConfig(agentConfigSchema, {
    defaults: agentDefaults(),
    ...(file !== undefined ? { file } : {}),
    env: envLayer,
    ...(flags !== undefined ? { flags } : {}),
  });
}

/** Where the agent keeps its spool under its data directory. */
export function spoolPath(config: AgentConfig): string {
  return join(config.data_dir, 'spool.db');
}

/** Where the agent remembers its active quarantines (beside the spool). */
export function quarantineDbPath(config: AgentConfig): string {
  return join(config.data_dir, 'quarantines.db');
}

/** Where the agent keeps its learnt profiles (beside the spool). */
export function baselineDbPath(config: AgentConfig): string {
  return join(config.data_dir, 'baselines.db');
}
