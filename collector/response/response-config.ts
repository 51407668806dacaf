/**
 * The `response:` section of the collector's configuration: the Kubernetes connection, the
 * namespaces never touched, and the response policies, each matching alerts and saying what to
 * do (quarantine the pod, or only notify), with a dry-run switch and a rate limit. In the spirit
 * of Falco Talon's rules; see deploy/collector.example.yaml for a commented example.
 *
 * Off unless configured: no policies, no Kubernetes layer. The quarantine API works regardless
 * (on the node layer alone without Kubernetes).
 */
import {
  bool,
  ConfigError,
  duration,
  int,
  list,
  mergeLayers,
  obj,
  str,
  type OriginLookup,
  type Schema,
} from '../../core/config-schema.js';
import { parsePriority, priorityNames, type Priority } from '../../core/priority.js';
import { responseActions } from './response-actions.js';

/** What alerts a policy matches; every criterion given must hold, absent ones match anything. */
export interface PolicyMatch {
  /** Rule names, exactly; the alert's rule must be one of them. */
  readonly rules?: readonly string[];
  /** The alert's priority must be at or above (as severe or more) this. */
  readonly priority?: Priority;
  /** The alert must carry every one of these tags. */
  readonly tags?: readonly string[];
  readonly kind?: 'signature' | 'anomaly';
  /** The alert's anomaly score must be at least this (alerts without a score do not match). */
  readonly minScore?: number;
  /** Output fields (`k8s.ns.name`, `container.image.repository`, ...) and the values accepted for each. */
  readonly outputFields?: Readonly<Record<string, readonly string[]>>;
}

/** One response policy. */
export interface ResponsePolicy {
  readonly name: string;
  readonly match: PolicyMatch;
  /** A registered action (response-actions.ts): `quarantine` the alert's pod, or only `notify`. */
  readonly action: string;
  /** Record what would happen, do nothing. */
  readonly dryRun: boolean;
  /** At most `max` actions per `perMs` window; matches over it are recorded as rate-limited. */
  readonly rateLimit: { readonly max: number; readonly perMs: number };
  readonly cutEstablished: boolean;
  readonly freeze: boolean;
}

/** How the collector reaches the Kubernetes API (off: no Kubernetes layer). */
export type KubernetesSettings =
  | { readonly mode: 'off' }
  | { readonly mode: 'in-cluster' }
  | { readonly mode: 'kubeconfig'; readonly kubeconfig: string; readonly context: string }
  | { readonly mode: 'url'; readonly server: string; readonly tokenFile: string; readonly caFile: string };

/** The validated `response:` section. */
export interface ResponseConfig {
  readonly neverNamespaces: readonly string[];
  readonly kubernetes: KubernetesSettings;
  readonly policies: readonly ResponsePolicy[];
}

/** Defaults of the `response:` section. */
export const responseDefaults = {
  never_namespaces: ['kube-system'],
  kubernetes: { mode: 'off', kubeconfig: '', context: '', server: '', token_file: '', ca_file: '' },
  policies: [],
} as const;

/** Defaults of one policy's optional keys. */
export const policyDefaults = {
  action: 'quarantine',
  dry_run: false,
  rate_limit: { max: 5, per: '10m' },
  cut_established: true,
  freeze: false,
} as const;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the key is required)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'number' || typeof value === 'boolean' ? `${typeof value} ${value}` : typeof value;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const MATCH_KEYS = ['rules', 'priority', 'tags', 'kind', 'min_score', 'output_fields'] as const;

const matchSchema: Schema<PolicyMatch> = {
  expected: `a mapping with some of the keys ${MATCH_KEYS.join(', ')}`,
  parse(value, path, origin) {
    const at = (k: string | number, ...more: (string | number)[]): (string | number)[] => [
      ...path,
      k,
      ...more,
    ];
    const fail = (p: (string | number)[], expected: string, v: unknown): never => {
      throw new ConfigError(p.join('.'), origin(p), expected, describe(v));
    };
    if (!isMap(value)) fail([...path], this.expected, value);
    const m = value as Record<string, unknown>;
    for (const k of Object.keys(m)) {
      if (!(MATCH_KEYS as readonly string[]).includes(k)) {
        throw new ConfigError(
          at(k).join('.'),
          origin(at(k)),
          `one of the keys ${MATCH_KEYS.join(', ')}`,
          `unknown key "${k}"`,
        );
      }
    }
    const present = MATCH_KEYS.filter((k) => m[k] !== undefined && m[k] !== null);
    if (present.length === 0) {
      fail(
        [...path],
        `at least one criterion (${MATCH_KEYS.join(', ')}): a policy matching every alert is refused`,
        value,
      );
    }
    const strings = list(str({ nonEmpty: true }));
    const out: {
      rules?: string[];
      priority?: Priority;
      tags?: string[];
      kind?: 'signature' | 'anomaly';
      minScore?: number;
      outputFields?: Record<string, string[]>;
    } = {};
    if (present.includes('rules')) out.rules = strings.parse(m['rules'], at('rules'), origin);
    if (present.includes('tags')) out.tags = strings.parse(m['tags'], at('tags'), origin);
    if (present.includes('priority')) {
      const p = typeof m['priority'] === 'string' ? parsePriority(m['priority'].trim()) : undefined;
      if (p === undefined) {
        fail(
          at('priority'),
          `a priority (${priorityNames()
            .map((n) => n.toLowerCase())
            .join(', ')})`,
          m['priority'],
        );
      }
      out.priority = p as Priority;
    }
    if (present.includes('kind')) {
      out.kind = str({ oneOf: ['signature', 'anomaly'] }).parse(m['kind'], at('kind'), origin) as
        'signature' | 'anomaly';
    }
    if (present.includes('min_score')) {
      const raw = m['min_score'];
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1)
        fail(at('min_score'), 'a number from 0 to 1', raw);
      out.minScore = n as number;
    }
    if (present.includes('output_fields')) {
      const f = m['output_fields'];
      if (!isMap(f) || Object.keys(f).length === 0) {
        fail(at('output_fields'), 'a mapping of output fields to a value or a list of values', f);
      }
      const fields: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
        const values = Array.isArray(v) ? v : [v];
        if (
          values.length === 0 ||
          values.some((x) => typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')
        ) {
          fail(at('output_fields', k), 'a value or a list of values', v);
        }
        fields[k] = values.map((x) => String(x));
      }
      out.outputFields = fields;
    }
    return Object.freeze(out);
  },
};

const policyShape = obj({
  name: str({ nonEmpty: true }),
  match: matchSchema,
  action: str({ oneOf: responseActions.map((a) => a.name) }),
  dry_run: bool(),
  rate_limit: obj({ max: int(1, 1_000_000), per: duration() }),
  cut_established: bool(),
  freeze: bool(),
});

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The list of policies: names unique and usable in metrics and the audit log. */
export const policyListSchema: Schema<readonly ResponsePolicy[]> = {
  expected: 'a list of response policies (each with name, match and action)',
  parse(value, path, origin) {
    if (!Array.isArray(value))
      throw new ConfigError(path.join('.'), origin(path), this.expected, describe(value));
    const seen = new Map<string, number>();
    return Object.freeze(
      value.map((entry: unknown, i): ResponsePolicy => {
        const p = [...path, i];
        const merged = mergeLayers(policyDefaults, entry);
        const parsed = policyShape.parse(merged, p, origin);
        if (!POLICY_NAME.test(parsed.name)) {
          throw new ConfigError(
            [...p, 'name'].join('.'),
            origin([...p, 'name']),
            'a name of letters, digits, . _ - (up to 64)',
            JSON.stringify(parsed.name),
          );
        }
        const earlier = seen.get(parsed.name);
        if (earlier !== undefined) {
          throw new ConfigError(
            [...p, 'name'].join('.'),
            origin([...p, 'name']),
            `a name not used by another policy (entry ${earlier} is also "${parsed.name}")`,
            JSON.stringify(parsed.name),
          );
        }
        seen.set(parsed.name, i);
        if (parsed.rate_limit.per <= 0) {
          throw new ConfigError(
            [...p, 'rate_limit', 'per'].join('.'),
            origin([...p, 'rate_limit', 'per']),
            'a duration above 0',
            String(parsed.rate_limit.per),
          );
        }
        return Object.freeze({
          name: parsed.name,
          match: parsed.match,
          action: parsed.action,
          dryRun: parsed.dry_run,
          rateLimit: Object.freeze({ max: parsed.rate_limit.max, perMs: parsed.rate_limit.per }),
          cutEstablished: parsed.cut_established,
          freeze: parsed.freeze,
        });
      }),
    );
  },
};

const kubernetesShape = obj({
  mode: str({ oneOf: ['off', 'in-cluster', 'kubeconfig', 'url'] }),
  kubeconfig: str(),
  context: str(),
  server: str(),
  token_file: str(),
  ca_file: str(),
});

/** The `response:` section's schema (for collector/config.ts). */
export const responseSchema: Schema<ResponseConfig> = {
  expected: 'a mapping with keys never_namespaces, kubernetes, policies',
  parse(value, path, origin: OriginLookup) {
    const parsed = obj({
      never_namespaces: list(str({ nonEmpty: true })),
      kubernetes: kubernetesShape,
      policies: policyListSchema,
    }).parse(value, path, origin);
    const k = parsed.kubernetes;
    let kubernetes: KubernetesSettings;
    switch (k.mode) {
      case 'in-cluster':
        kubernetes = { mode: 'in-cluster' };
        break;
      case 'kubeconfig':
        kubernetes = { mode: 'kubeconfig', kubeconfig: k.kubeconfig, context: k.context };
        break;
      case 'url':
        if (!/^https?:\/\/./.test(k.server)) {
          const p = [...path, 'kubernetes', 'server'];
          throw new ConfigError(
            p.join('.'),
            origin(p),
            'the API server URL (http:// or https://) for mode url',
            describe(k.server),
          );
        }
        kubernetes = { mode: 'url', server: k.server, tokenFile: k.token_file, caFile: k.ca_file };
        break;
      default:
        kubernetes = { mode: 'off' };
    }
    return Object.freeze({
      neverNamespaces: Object.freeze([...parsed.never_namespaces]),
      kubernetes,
      policies: parsed.policies,
    });
  },
};
