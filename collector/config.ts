/**
 * The collector's configuration: defaults < YAML file (`--config`) < `VIGIL_*` environment <
 * flags, validated once into a frozen object (see core/config-schema.ts).
 */
import { join } from 'node:path';
import { bytes, duration, int, obj, resolveConfig, str, type ConfigLayers } from '../core/config-schema.js';
import { collectorTlsPaths } from './certs/certificate-directory.js';
import { outputListSchema } from './outputs/registry.js';
import { responseDefaults, responseSchema } from './response/response-config.js';

/** The schema of the collector's configuration file; every key is documented in collector.example.yaml. */
export const collectorConfigSchema = obj({
  data_dir: str({ nonEmpty: true }),
  grpc: obj({ listen: str({ nonEmpty: true }), max_message_bytes: bytes(64 * 1024) }),
  tls: obj({ ca: str(), cert: str(), key: str() }),
  http: obj({ listen: str({ nonEmpty: true }), max_body_bytes: bytes(1024) }),
  retention: obj({ max_age: duration(), max_bytes: bytes(1 << 20), interval: duration() }),
  outputs: outputListSchema,
  feed: obj({ max_client_bytes: bytes(64 * 1024) }),
  commands: obj({ timeout: duration() }),
  log: obj({ level: str({ oneOf: ['debug', 'info', 'warn', 'error'] }) }),
  heartbeat: obj({ stale_after: duration() }),
  limits: obj({ max_batch_alerts: int(1, 100_000) }),
  response: responseSchema,
  baselines: obj({
    max_profiles: int(1, 1_000_000),
    max_profiles_on_connect: int(1, 1_000_000),
    push_interval: duration(),
    /** A profile no delta or edit updated for this long is deleted; 0 keeps profiles for ever. */
    max_idle: duration(),
  }),
});

/** The collector's validated configuration. */
export type CollectorConfig = ReturnType<typeof collectorConfigSchema.parse>;

/** Built-in defaults. TLS paths default to `<data_dir>/certs` (as `vigil certs init` writes them). */
export function collectorDefaults(): Record<string, unknown> {
  return {
    data_dir: '/var/lib/vigil/collector',
    grpc: { listen: '0.0.0.0:7443', max_message_bytes: '4MiB' },
    tls: { ca: '', cert: '', key: '' },
    http: { listen: '0.0.0.0:8080', max_body_bytes: '1MiB' },
    retention: { max_age: '30d', max_bytes: '10GiB', interval: '5m' },
    outputs: [],
    feed: { max_client_bytes: '1MiB' },
    commands: { timeout: '10s' },
    log: { level: 'info' },
    heartbeat: { stale_after: '90s' },
    limits: { max_batch_alerts: 1000 },
    response: responseDefaults,
    baselines: { max_profiles: 10_000, max_profiles_on_connect: 1000, push_interval: '1s', max_idle: '30d' },
  };
}

/** Environment variables the collector reads, and the key each one sets. */
export const collectorEnvironment: readonly { variable: string; path: readonly string[] }[] = [
  { variable: 'VIGIL_DATA_DIR', path: ['data_dir'] },
  { variable: 'VIGIL_GRPC_LISTEN', path: ['grpc', 'listen'] },
  { variable: 'VIGIL_HTTP_LISTEN', path: ['http', 'listen'] },
  { variable: 'VIGIL_TLS_CA', path: ['tls', 'ca'] },
  { variable: 'VIGIL_TLS_CERT', path: ['tls', 'cert'] },
  { variable: 'VIGIL_TLS_KEY', path: ['tls', 'key'] },
  { variable: 'VIGIL_RETENTION_MAX_AGE', path: ['retention', 'max_age'] },
  { variable: 'VIGIL_RETENTION_MAX_BYTES', path: ['retention', 'max_bytes'] },
  { variable: 'VIGIL_LOG_LEVEL', path: ['log', 'level'] },
];

/** Resolves the collector's configuration from its layers. Throws ConfigError on a bad value. */
export function loadCollectorConfig(
  file: ConfigLayers['file'],
  env: Readonly<Record<string, string | undefined>>,
  flags: ConfigLayers['flags'],
): CollectorConfig {
  const envLayer = collectorEnvironment.flatMap((e) => {
    const value = env[e.variable];
    return value === undefined ? [] : [{ variable: e.variable, path: e.path, value }];
  });
  return resolveConfig(collectorConfigSchema, {
    defaults: collectorDefaults(),
    ...(file !== undefined ? { file } : {}),
    env: envLayer,
    ...(flags !== undefined ? { flags } : {}),
  });
}

/** The store's file under the data directory. */
export function storePath(config: CollectorConfig): string {
  return join(config.data_dir, 'collector.db');
}

/** The TLS files: configured paths, or `<data_dir>/certs/collector/` as `vigil certs init` lays them out. */
export function tlsPaths(config: CollectorConfig): { ca: string; cert: string; key: string } {
  const fallback = collectorTlsPaths(join(config.data_dir, 'certs'));
  return {
    ca: config.tls.ca !== '' ? config.tls.ca : fallback.ca,
    cert: config.tls.cert !== '' ? config.tls.cert : fallback.cert,
    key: config.tls.key !== '' ? config.tls.key : fallback.key,
  };
}
