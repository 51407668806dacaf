/**
 * A fake Kubernetes API server for tests: no API server runs on the build machines, so the
 * collector's Kubernetes layer (and `kubectl` itself) talk to this one instead. It speaks the
 * real REST protocol for the two resources Vigil uses, on http or https:
 *
 * - discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/networking.k8s.io`,
 *   `/apis/networking.k8s.io/v1` (legacy documents; kubectl falls back to them from aggregated
 *   discovery). `/openapi/v3` serves an index and, per group-version, a minimal document naming
 *   each write's query parameters: kubectl's default `--validate=strict` looks there for
 *   `fieldValidation` and then leaves validation to the server. `/openapi/v2` answers 404. With
 *   `openapi: false` both answer 404: `kubectl get` still works, `kubectl create` then refuses
 *   ("failed to download openapi") unless given `--validate=false`.
 * - `fieldValidation` on writes: `Strict` answers 400 for unknown fields, `Warn` (the default)
 *   sends a `Warning` header, `Ignore` ignores them. Known fields are listed for NetworkPolicy
 *   and object metadata in full; a pod's spec and status are not checked for unknown fields.
 * - pods: get, list, patch. networkpolicies: get, list, create, patch, delete. Lists take
 *   `labelSelector` (`k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (..)`, `k notin (..)`),
 *   `fieldSelector` (`metadata.name`, `metadata.namespace`), `limit` and `continue`; `dryRun=All`
 *   is honoured. Patches are JSON merge patches (RFC 7386); a strategic merge patch is applied
 *   as one, which is exact for labels and annotations (what `kubectl label`/`annotate` send).
 * - every change bumps a server-wide resourceVersion; a patch naming a stale
 *   `metadata.resourceVersion` (or another uid), or a delete with stale preconditions, answers
 *   409 Conflict. A duplicate create answers 409 AlreadyExists, a missing object 404 NotFound,
 *   all as `Status` objects shaped like the real server's.
 * - every stored object and every write is validated against the official schemas
 *   (`kubernetes-models`) plus the label, annotation and name rules the schemas do not carry;
 *   a violation answers 422 Invalid with the messages and one cause per field. A create body is
 *   validated as the object it is; a patch is validated as the object it produces (as the real
 *   server does: a patch alone is not a whole object). Patches may not change a pod's spec, or
 *   any object's name, namespace or creationTimestamp (422).
 * - `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` gets a `Table` (as `kubectl get`
 *   asks), unless the server was started with `tables: false` (then plain JSON, which is the
 *   fallback kubectl also handles).
 * - authentication: `Authorization: Bearer <token>`, or (https) a client certificate signed by
 *   the fake's CA (user = its CN); anything else is 401. `/version` and health are open.
 *
 * Tests seed and inspect state directly (`addPod`, `updatePod`, `getPod`, `networkPolicies`),
 * inject one-off failures (`failNext`) or races (`beforeNext`), and read the request log.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Pod } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  createCertificateAuthority,
  issueAgentCertificate,
  issueCollectorCertificate,
  type PemPair,
} from '../../collector/certs/certificate-authority.js';

/** Options of {@link startFakeKubeApiServer}. */
export interface FakeKubeApiServerOptions {
  /** Serve https with a fresh CA (exposed as `caPem`); default false (http). */
  readonly tls?: boolean;
  /** The accepted bearer token (default: a random one). */
  readonly token?: string;
  /** Answer `as=Table` requests with a Table (default true). */
  readonly tables?: boolean;
  /**
   * Serve the OpenAPI v3 index and a minimal document per group-version, naming the query
   * parameters of each write (default true). kubectl's default `--validate=strict` looks there
   * for `fieldValidation`; without it (404) `kubectl create` refuses to run unless given
   * `--validate=false`.
   */
  readonly openapi?: boolean;
}

/** One request the fake answered. */
export interface FakeKubeRequestRecord {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  /** The query string without `?` ('' when none). */
  readonly query: string;
  readonly status: number;
  readonly contentType?: string;
  readonly accept?: string;
  /** The parsed JSON body, when there was one. */
  readonly body?: unknown;
}

/** A running fake API server. */
export interface FakeKubeApiServer {
  /** Base URL, e.g. `https://127.0.0.1:34567`. */
  readonly url: string;
  /** The CA that signed the server certificate (https only). */
  readonly caPem?: string;
  /** The bearer token currently accepted. */
  readonly token: string;
  /** Accepts `token` from now on instead of the old one (a rotation). */
  setToken(token: string): void;
  /** A client certificate the fake accepts as user `user` (https only). */
  issueClientCertificate(user: string): PemPair;
  /** Stores a pod (namespace default `default`), validated; throws on an invalid one. */
  addPod(manifest: object): void;
  /** Changes a stored pod as a controller would (resourceVersion bumped, validated). */
  updatePod(ns: string, name: string, change: (pod: FakeKubeObject) => void): void;
  /** Removes a stored pod; false when there was none. */
  deletePod(ns: string, name: string): boolean;
  /** A copy of the stored pod. */
  getPod(ns: string, name: string): FakeKubeObject | undefined;
  /** Stores a NetworkPolicy as if created by someone else, validated. */
  addNetworkPolicy(manifest: object): void;
  /** Copies of the stored NetworkPolicies, in `ns` or everywhere. */
  networkPolicies(ns?: string): FakeKubeObject[];
  /** The requests answered so far (the last 10,000), oldest first. */
  requests(): FakeKubeRequestRecord[];
  /** Forgets the request log. */
  clearRequests(): void;
  /**
   * The next request with `method` whose path starts with `pathPrefix` answers `status` with a
   * Status of the matching reason (and `message`, or a realistic one), without being processed.
   */
  failNext(method: string, pathPrefix: string, status: number, message?: string): void;
  /** Runs `action` just before the next matching request is processed (to stage a race). */
  beforeNext(method: string, pathPrefix: string, action: () => void): void;
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;

/** The metadata fields the fake reads and writes. */
export interface FakeObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** A stored object (pod or NetworkPolicy) as the fake keeps and returns it. */
export interface FakeKubeObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata: FakeObjectMeta;
  spec?: Obj;
  status?: Obj;
  [field: string]: unknown;
}

/** `obj` seen as an object (an empty one when it is not). */
function asObj(obj: unknown): Obj {
  return typeof obj === 'object' && obj !== null && !Array.isArray(obj) ? (obj as Obj) : {};
}

/** `obj` seen as a Kubernetes object, with `metadata` always present. */
function asKube(obj: unknown): FakeKubeObject {
  const o = asObj(obj) as FakeKubeObject;
  if (typeof o.metadata !== 'object' || o.metadata === null) o.metadata = {};
  return o;
}

/** A Kubernetes Status failure, as the API server answers it. */
class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
  ) {
    super(message);
  }

  body(): Obj {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details !== undefined && { details: this.details }),
      code: this.code,
    };
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

// ---- known fields, for fieldValidation (Strict / Warn / Ignore) ----

/** The fields an object may have: 'any' stops checking; `[shape]` is a list of shape. */
type Shape = 'any' | { readonly [field: string]: Shape } | readonly [Shape];

const objectMetaShape: Shape = Object.fromEntries(
  [
    'name',
    'generateName',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'labels',
    'annotations',
    'ownerReferences',
    'finalizers',
    'managedFields',
    'selfLink',
  ].map((f) => [f, 'any' as const]),
);
const labelSelectorShape: Shape = {
  matchLabels: 'any',
  matchExpressions: [{ key: 'any', operator: 'any', values: 'any' }],
};
const peerShape: Shape = {
  podSelector: labelSelectorShape,
  namespaceSelector: labelSelectorShape,
  ipBlock: { cidr: 'any', except: 'any' },
};
const portShape: Shape = { protocol: 'any', port: 'any', endPort: 'any' };
/** A pod's spec and status are too large to list here; their fields are not checked. */
const podShape: Shape = {
  apiVersion: 'any',
  kind: 'any',
  metadata: objectMetaShape,
  spec: 'any',
  status: 'any',
};
const networkPolicyShape: Shape = {
  apiVersion: 'any',
  kind: 'any',
  metadata: objectMetaShape,
  spec: {
    podSelector: labelSelectorShape,
    policyTypes: 'any',
    ingress: [{ from: [peerShape], ports: [portShape] }],
    egress: [{ to: [peerShape], ports: [portShape] }],
  },
  status: 'any',
};

/** The dotted paths of fields in `value` that `shape` does not know. */
function unknownFields(value: unknown, shape: Shape, at = ''): string[] {
  if (shape === 'any' || value === null || typeof value !== 'object') return [];
  if (Array.isArray(shape)) {
    return Array.isArray(value)
      ? value.flatMap((v, i) => unknownFields(v, shape[0] as Shape, `${at}[${i}]`))
      : [];
  }
  if (Array.isArray(value)) return [];
  const known = shape as { readonly [field: string]: Shape };
  return Object.entries(value as Obj).flatMap(([k, v]) => {
    const path = at === '' ? k : `${at}.${k}`;
    const sub = known[k];
    return sub === undefined ? [path] : unknownFields(v, sub, path);
  });
}

/** What the fake knows about one resource type. */
interface ResourceType {
  readonly plural: string;
  readonly singular: string;
  /** The fields the fake knows, for fieldValidation. */
  readonly shape: Shape;
  readonly kind: string;
  readonly listKind: string;
  readonly group: string;
  readonly version: string;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  readonly categories: readonly string[];
  /** Schema validation; throws the validator's error. */
  validate(obj: FakeKubeObject): void;
  /** Table columns and the cells of one object. */
  readonly columns: readonly {
    name: string;
    type: string;
    format: string;
    description: string;
    priority: number;
  }[];
  cells(obj: FakeKubeObject, nowMs: number): unknown[];
}

const podType: ResourceType = {
  plural: 'pods',
  singular: 'pod',
  shape: podShape,
  kind: 'Pod',
  listKind: 'PodList',
  group: '',
  version: 'v1',
  shortNames: ['po'],
  verbs: ['get', 'list', 'patch'],
  categories: ['all'],
  // The models' constructors type their input as a well-formed object; validate() is what checks it.
  validate: (obj) => new Pod(structuredClone(obj) as never).validate(),
  columns: [
    col('Name', 'string', 'name', 'Name must be unique within a namespace.'),
    col('Ready', 'string', '', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', '', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', '', 'The number of times the containers in this pod have been restarted.'),
    col('Age', 'string', '', 'The time since the object was created.'),
    col('IP', 'string', '', 'The IP address assigned to this pod.', 1),
    col('Node', 'string', '', 'The name of the node the pod is assigned to.', 1),
  ],
  cells(pod, nowMs) {
    const status = pod.status ?? {};
    const spec = pod.spec ?? {};
    const statuses = (status['containerStatuses'] ?? []) as Obj[];
    const containers = (spec['containers'] ?? []) as Obj[];
    const ready = statuses.filter((s) => s['ready'] === true).length;
    const restarts = statuses.reduce(
      (n, s) => n + (typeof s['restartCount'] === 'number' ? s['restartCount'] : 0),
      0,
    );
    return [
      pod.metadata.name,
      `${ready}/${containers.length}`,
      pod.metadata.deletionTimestamp !== undefined ? 'Terminating' : (status['phase'] ?? 'Pending'),
      String(restarts),
      age(pod, nowMs),
      status['podIP'] ?? '<none>',
      spec['nodeName'] ?? '<none>',
    ];
  },
};

const networkPolicyType: ResourceType = {
  plural: 'networkpolicies',
  singular: 'networkpolicy',
  shape: networkPolicyShape,
  kind: 'NetworkPolicy',
  listKind: 'NetworkPolicyList',
  group: 'networking.k8s.io',
  version: 'v1',
  shortNames: ['netpol'],
  verbs: ['create', 'delete', 'get', 'list', 'patch'],
  categories: [],
  validate: (obj) => new NetworkPolicy(structuredClone(obj) as never).validate(),
  columns: [
    col('Name', 'string', 'name', 'Name must be unique within a namespace.'),
    col('Pod-Selector', 'string', '', 'Selects the pods to which this NetworkPolicy object applies.'),
    col('Age', 'string', '', 'The time since the object was created.'),
  ],
  cells: (np, nowMs) => [np.metadata.name, formatSelector(asObj(np.spec?.['podSelector'])), age(np, nowMs)],
};

function col(name: string, type: string, format: string, description: string, priority = 0) {
  return { name, type, format, description, priority };
}

function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** `pods` or `networkpolicies.networking.k8s.io`, as the real server names them in messages. */
function qualified(t: ResourceType): string {
  return t.group === '' ? t.plural : `${t.plural}.${t.group}`;
}

/** kubectl's short human durations (`45s`, `3m12s`, `5h`, `12d`). */
function age(obj: FakeKubeObject, nowMs: number): string {
  const created = Date.parse(obj.metadata.creationTimestamp ?? '');
  if (Number.isNaN(created)) return '<unknown>';
  const s = Math.max(0, Math.floor((nowMs - created) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return `${d}d${h % 24}h`;
  if (d < 730) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

function formatSelector(sel: Obj): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries((sel['matchLabels'] ?? {}) as Record<string, string>))
    parts.push(`${k}=${v}`);
  for (const e of (sel['matchExpressions'] ?? []) as Obj[]) {
    const values = ((e['values'] ?? []) as string[]).join(',');
    switch (e['operator']) {
      case 'Exists':
        parts.push(String(e['key']));
        break;
      case 'DoesNotExist':
        parts.push(`!${String(e['key'])}`);
        break;
      case 'In':
        parts.push(`${String(e['key'])} in (${values})`);
        break;
      default:
        parts.push(`${String(e['key'])} notin (${values})`);
    }
  }
  return parts.length === 0 ? '<none>' : parts.join(',');
}

// ---- selectors ----

/** One parsed requirement of a label selector. */
interface Requirement {
  readonly key: string;
  readonly op: 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin';
  readonly values: readonly string[];
}

/** Parses a label selector (the string form); throws a 400 StatusError naming what is wrong. */
function parseLabelSelector(selector: string): Requirement[] {
  const reqs: Requirement[] = [];
  let rest = selector.trim();
  const bad = (why: string): never => {
    throw new StatusError(
      400,
      'BadRequest',
      `unable to parse requirement: ${why} in label selector ${JSON.stringify(selector)}`,
    );
  };
  while (rest !== '') {
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s,=!()]+)\s*(,|$)/.exec(rest)) !== null) {
      reqs.push({ key: checkKey(m[1]!, bad), op: '!exists', values: [] });
    } else if ((m = /^([^\s,=!()]+)\s+(in|notin)\s*\(([^)]*)\)\s*(,|$)/.exec(rest)) !== null) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      if (values.length === 0) bad(`${m[2]} needs at least one value`);
      for (const v of values) checkValue(v, bad);
      reqs.push({ key: checkKey(m[1]!, bad), op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^\s,=!()]+)\s*(==|=|!=)\s*([^\s,=!()]*)\s*(,|$)/.exec(rest)) !== null) {
      reqs.push({
        key: checkKey(m[1]!, bad),
        op: m[2] === '!=' ? '!=' : '=',
        values: [checkValue(m[3]!, bad)],
      });
    } else if ((m = /^([^\s,=!()]+)\s*(,|$)/.exec(rest)) !== null) {
      reqs.push({ key: checkKey(m[1]!, bad), op: 'exists', values: [] });
    } else {
      bad(`cannot read ${JSON.stringify(rest)}`);
    }
    rest = rest.slice(m![0].length).trim();
    if (m![0].trimEnd().endsWith(',') && rest === '') bad('trailing comma');
  }
  return reqs;
}

function checkKey(key: string, bad: (why: string) => never): string {
  const why = labelKeyProblem(key);
  return why === undefined ? key : bad(`invalid label key ${JSON.stringify(key)}: ${why}`);
}

function checkValue(value: string, bad: (why: string) => never): string {
  const why = labelValueProblem(value);
  return why === undefined ? value : bad(`invalid label value ${JSON.stringify(value)}: ${why}`);
}

function matchesLabels(labels: Record<string, string>, reqs: readonly Requirement[]): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case '!exists':
        return v === undefined;
      case '=':
        return v === r.values[0];
      case '!=':
        return v !== r.values[0];
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
    }
  });
}

/** Parses a field selector over metadata.name / metadata.namespace into a predicate. */
function parseFieldSelector(selector: string): (obj: FakeKubeObject) => boolean {
  const tests: ((obj: FakeKubeObject) => boolean)[] = [];
  for (const part of selector.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (m === null)
      throw new StatusError(400, 'BadRequest', `invalid selector: '${selector}'; can't understand '${part}'`);
    const field = m[1]!;
    if (field !== 'metadata.name' && field !== 'metadata.namespace') {
      throw new StatusError(400, 'BadRequest', `field label not supported: ${field}`);
    }
    const key = field === 'metadata.name' ? 'name' : 'namespace';
    const want = m[3]!;
    const negate = m[2] === '!=';
    tests.push((obj) => (obj.metadata[key] === want) !== negate);
  }
  return (obj) => tests.every((f) => f(obj));
}

// ---- metadata rules the OpenAPI schemas do not carry ----

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return 'prefix part must be a lowercase RFC 1123 subdomain';
  }
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)";
  }
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!NAME_PART.test(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

interface Cause {
  readonly field: string;
  readonly message: string;
  readonly reason: string;
}

function metadataCauses(obj: FakeKubeObject): Cause[] {
  const causes: Cause[] = [];
  const meta = obj.metadata as Obj;
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') {
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueRequired',
      message: 'Required value: name or generateName is required',
    });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
    });
  }
  const ns = meta['namespace'];
  if (typeof ns === 'string' && (ns.length > 63 || !DNS_LABEL.test(ns))) {
    causes.push({
      field: 'metadata.namespace',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(ns)}`,
    });
  }
  for (const [k, v] of Object.entries((meta['labels'] ?? {}) as Obj)) {
    const kp = labelKeyProblem(k);
    if (kp !== undefined)
      causes.push({
        field: 'metadata.labels',
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(k)}: ${kp}`,
      });
    if (typeof v === 'string') {
      const vp = labelValueProblem(v);
      if (vp !== undefined)
        causes.push({
          field: 'metadata.labels',
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(v)}: ${vp}`,
        });
    }
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries((meta['annotations'] ?? {}) as Obj)) {
    const kp = labelKeyProblem(k);
    if (kp !== undefined)
      causes.push({
        field: 'metadata.annotations',
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(k)}: ${kp}`,
      });
    annotationBytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
  }
  if (annotationBytes > 256 * 1024) {
    causes.push({
      field: 'metadata.annotations',
      reason: 'FieldValueTooLong',
      message: 'Too long: must have at most 262144 bytes',
    });
  }
  return causes;
}

/** Schema causes from kubernetes-models' validator (ajv errors with instancePath). */
function schemaCauses(t: ResourceType, obj: FakeKubeObject): Cause[] {
  try {
    t.validate(obj);
    return [];
  } catch (err) {
    const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (!Array.isArray(errors) || errors.length === 0) {
      return [{ field: '<root>', reason: 'FieldValueInvalid', message: (err as Error).message }];
    }
    return errors.map((e) => ({
      field: (e.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || '<root>',
      reason: 'FieldValueInvalid',
      message: e.message ?? 'invalid',
    }));
  }
}

/** A 422 Invalid for `obj` when it breaks the schema or the metadata rules. */
function invalidError(t: ResourceType, obj: FakeKubeObject): StatusError | undefined {
  const causes = [...schemaCauses(t, obj), ...metadataCauses(obj)];
  if (causes.length === 0) return undefined;
  const name = typeof obj.metadata.name === 'string' ? obj.metadata.name : '';
  const kindName = t.group === '' ? t.kind : `${t.kind}.${t.group}`;
  const list = causes.map((c) => `${c.field}: ${c.message}`);
  return new StatusError(
    422,
    'Invalid',
    `${kindName} ${JSON.stringify(name)} is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`,
    { name, group: t.group, kind: t.kind, causes },
  );
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const result: Obj =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function hasDirective(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some(hasDirective);
  return Object.entries(v as Obj).some(([k, x]) => k.startsWith('$') || hasDirective(x));
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Obj)[k])]),
    );
  }
  return v;
}

/** Go's omitempty on maps: an emptied labels/annotations map disappears. */
function tidyMetadata(obj: FakeKubeObject): void {
  const meta = obj.metadata;
  for (const k of ['labels', 'annotations']) {
    const v = meta[k];
    if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) delete meta[k];
  }
}

// ---- OpenAPI v3: only what kubectl reads to learn that the server validates fields ----

function openapiHash(t: ResourceType): string {
  return Buffer.from(`${apiVersionOf(t)}:${t.verbs.join(',')}`)
    .toString('hex')
    .slice(0, 32)
    .toUpperCase();
}

/** The paths and operations of `t`, with the query parameters each write takes. */
function openapiDocument(t: ResourceType): Obj {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const base = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  const param = (name: string, description: string): Obj => ({
    name,
    in: 'query',
    description,
    schema: { type: 'string', uniqueItems: true },
  });
  const writeParams = [
    param('dryRun', 'When present, indicates that modifications should not be persisted.'),
    param('fieldManager', 'A name associated with the actor or entity that is making these changes.'),
    param('fieldValidation', 'Ignore, Warn or Strict: what to do with unknown or duplicate fields.'),
  ];
  const op = (action: string, parameters: Obj[]): Obj => ({
    operationId: `${action}Namespaced${t.kind}`,
    parameters,
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  });
  const collection: Obj = { get: op('list', []) };
  const item: Obj = { get: op('get', []) };
  if (t.verbs.includes('create')) collection['post'] = op('post', writeParams);
  if (t.verbs.includes('patch'))
    item['patch'] = op('patch', [...writeParams, param('force', 'Force apply.')]);
  if (t.verbs.includes('delete')) item['delete'] = op('delete', [param('dryRun', 'Do not persist.')]);
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (vigil fake)', version: 'v1.32.0' },
    paths: {
      [`${base}/namespaces/{namespace}/${t.plural}`]: collection,
      [`${base}/namespaces/{namespace}/${t.plural}/{name}`]: item,
    },
  };
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const MAX_LOG = 10_000;

/**
 * Starts a fake API server on 127.0.0.1 (a free port); see the module comment.
 *
 * @example
 * const api = await startFakeKubeApiServer({ tls: true });
 * api.addPod({ metadata: { name: 'web-0', namespace: 'shop' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });
 * const kube = createKubeClient({ mode: 'url', server: api.url, token: api.token, caPem: api.caPem });
 */
export async function startFakeKubeApiServer(
  options: FakeKubeApiServerOptions = {},
): Promise<FakeKubeApiServer> {
  const tls = options.tls === true;
  const tables = options.tables !== false;
  const openapi = options.openapi !== false;
  let token = options.token ?? randomBytes(24).toString('base64url');
  let revision = 1000;
  const nextRevision = (): string => String(++revision);
  const stores = new Map<ResourceType, Map<string, FakeKubeObject>>([
    [podType, new Map()],
    [networkPolicyType, new Map()],
  ]);
  const log: FakeKubeRequestRecord[] = [];
  const injected: { method: string; prefix: string; status: number; message?: string }[] = [];
  const hooks: { method: string; prefix: string; action: () => void }[] = [];

  let ca: PemPair | undefined;
  let server: Server;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res);
  };
  if (tls) {
    ca = createCertificateAuthority({ commonName: 'fake-kube-apiserver CA' });
    const leaf = issueCollectorCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    server = createHttpsServer(
      { key: leaf.keyPem, cert: leaf.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
      handler,
    );
  } else {
    server = createHttpServer(handler);
  }
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  // ---- storage ----

  function store(t: ResourceType): Map<string, FakeKubeObject> {
    return stores.get(t)!;
  }

  /** Fills the fields the server owns on create. */
  function prepareNew(t: ResourceType, manifest: unknown, namespace: string): FakeKubeObject {
    const obj = asKube(structuredClone(manifest));
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    const meta = obj.metadata;
    if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string') {
      meta.name = `${meta.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
    }
    meta.namespace = namespace;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date(Math.floor(Date.now() / 1000) * 1000)
      .toISOString()
      .replace('.000Z', 'Z');
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    if (t === networkPolicyType) meta.generation = 1;
    tidyMetadata(obj);
    return obj;
  }

  function seed(t: ResourceType, manifest: object): void {
    const m = asKube(structuredClone(manifest));
    const ns = m.metadata.namespace ?? 'default';
    const obj = prepareNew(t, m, ns);
    if (m.metadata.uid !== undefined) obj.metadata.uid = m.metadata.uid;
    if (m.metadata.creationTimestamp !== undefined)
      obj.metadata.creationTimestamp = m.metadata.creationTimestamp;
    if (m.status !== undefined) obj.status = m.status;
    const invalid = invalidError(t, obj);
    if (invalid !== undefined) throw new Error(`fake API server: cannot add ${t.kind}: ${invalid.message}`);
    const key = `${ns}/${obj.metadata.name ?? ''}`;
    if (store(t).has(key)) throw new Error(`fake API server: ${t.kind} ${key} exists already`);
    obj.metadata.resourceVersion = nextRevision();
    store(t).set(key, obj);
  }

  // ---- HTTP ----

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES)
        throw new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  function authenticate(req: IncomingMessage): string | undefined {
    const auth = req.headers.authorization;
    if (auth !== undefined && auth === `Bearer ${token}`) return 'fake-admin';
    if (tls) {
      const socket = req.socket as TLSSocket;
      if (socket.authorized) {
        const cn = socket.getPeerCertificate().subject?.CN;
        if (typeof cn === 'string' && cn !== '') return cn;
      }
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const u = new URL(req.url ?? '/', 'http://fake');
    const path = u.pathname.replace(/\/+$/, '') || '/';
    let parsedBody: unknown;
    const record = (status: number): void => {
      log.push({
        method,
        path,
        query: u.search.replace(/^\?/, ''),
        status,
        ...(req.headers['content-type'] !== undefined && { contentType: req.headers['content-type'] }),
        ...(req.headers.accept !== undefined && { accept: req.headers.accept }),
        ...(parsedBody !== undefined && { body: parsedBody }),
      });
      if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG);
    };
    const send = (status: number, body: unknown): void => {
      record(status);
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          parsedBody = JSON.parse(raw.toString('utf8'));
        } catch {
          parsedBody = raw.toString('utf8');
          const ct = req.headers['content-type'] ?? '';
          if (!/yaml/.test(ct))
            throw new StatusError(400, 'BadRequest', `the body of the request was not valid JSON`);
          throw new StatusError(
            415,
            'UnsupportedMediaType',
            `the fake API server takes JSON bodies, not ${ct}`,
          );
        }
      }
      const open = ['/version', '/healthz', '/livez', '/readyz'].includes(path);
      const user = open ? 'system:anonymous' : authenticate(req);
      if (user === undefined) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      const hook = hooks.findIndex((h) => h.method === method && path.startsWith(h.prefix));
      if (hook >= 0) hooks.splice(hook, 1)[0]!.action();
      const inject = injected.findIndex((f) => f.method === method && path.startsWith(f.prefix));
      if (inject >= 0) {
        const f = injected.splice(inject, 1)[0]!;
        throw injectedError(f.status, f.message, method, path, user);
      }
      const warnings: string[] = [];
      const [status, body] = route(method, path, u.searchParams, parsedBody, req, warnings);
      if (warnings.length > 0) {
        res.setHeader(
          'warning',
          warnings.map((w) => `299 - ${JSON.stringify(w)}`),
        );
      }
      send(status, body);
    } catch (err) {
      if (err instanceof StatusError) {
        send(err.code, err.body());
      } else {
        send(
          500,
          new StatusError(
            500,
            'InternalError',
            `fake API server: ${(err as Error).stack ?? String(err)}`,
          ).body(),
        );
      }
    }
  }

  function injectedError(
    status: number,
    message: string | undefined,
    method: string,
    path: string,
    user: string,
  ): StatusError {
    const reason = REASONS[status] ?? 'Unknown';
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?/.exec(path);
    const group = m?.[1] ?? '';
    const resource = m?.[3] ?? 'resource';
    const name = m?.[4] ?? '';
    const verb =
      { GET: name === '' ? 'list' : 'get', PATCH: 'patch', POST: 'create', DELETE: 'delete', PUT: 'update' }[
        method
      ] ?? method.toLowerCase();
    const res = group === '' ? resource : `${resource}.${group}`;
    const text =
      message ??
      (status === 403
        ? `${res} "${name}" is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${m?.[2] ?? ''}"`
        : status === 409
          ? `Operation cannot be fulfilled on ${res} "${name}": the object has been modified; please apply your changes to the latest version and try again`
          : status === 500
            ? 'Internal error occurred: etcdserver: request timed out'
            : `injected ${status} ${reason}`);
    return new StatusError(status, reason, text, { name, group, kind: resource });
  }

  function route(
    method: string,
    path: string,
    q: URLSearchParams,
    body: unknown,
    req: IncomingMessage,
    warnings: string[],
  ): [number, unknown] {
    if (path === '/version') {
      requireGet(method);
      return [
        200,
        {
          major: '1',
          minor: '32',
          gitVersion: 'v1.32.0-vigil-fake',
          gitCommit: '0000000000000000000000000000000000000000',
          gitTreeState: 'clean',
          buildDate: '2026-01-01T00:00:00Z',
          goVersion: 'go1.23.0',
          compiler: 'gc',
          platform: 'linux/amd64',
        },
      ];
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') return [200, 'ok'];
    if (path === '/openapi/v3' && openapi) {
      requireGet(method);
      return [
        200,
        {
          paths: Object.fromEntries(
            [podType, networkPolicyType].map((t) => {
              const gv = t.group === '' ? 'api/v1' : `apis/${t.group}/${t.version}`;
              return [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${openapiHash(t)}` }];
            }),
          ),
        },
      ];
    }
    const oa = /^\/openapi\/v3\/(api\/v1|apis\/networking\.k8s\.io\/v1)$/.exec(path);
    if (oa !== null && openapi) {
      requireGet(method);
      return [200, openapiDocument(oa[1] === 'api/v1' ? podType : networkPolicyType)];
    }
    if (path === '/api') {
      requireGet(method);
      return [
        200,
        {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }],
        },
      ];
    }
    if (path === '/apis') {
      requireGet(method);
      return [200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [networkingGroup()] }];
    }
    if (path === '/apis/networking.k8s.io') {
      requireGet(method);
      return [200, { kind: 'APIGroup', apiVersion: 'v1', ...networkingGroup() }];
    }
    if (path === '/api/v1') {
      requireGet(method);
      return [200, resourceList('v1', [podType])];
    }
    if (path === '/apis/networking.k8s.io/v1') {
      requireGet(method);
      return [200, resourceList('networking.k8s.io/v1', [networkPolicyType])];
    }
    const m =
      /^\/api\/v1(?:\/namespaces\/([^/]+))?\/(pods)(?:\/([^/]+))?$/.exec(path) ??
      /^\/apis\/networking\.k8s\.io\/v1(?:\/namespaces\/([^/]+))?\/(networkpolicies)(?:\/([^/]+))?$/.exec(
        path,
      );
    if (m === null)
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const t = m[2] === 'pods' ? podType : networkPolicyType;
    const ns = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    const name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    const dryRun = q.getAll('dryRun').includes('All');
    const table = wantsTable(req.headers.accept);
    if (name === undefined) {
      if (method === 'GET') {
        if (q.get('watch') === 'true' || q.get('watch') === '1') {
          throw new StatusError(405, 'MethodNotAllowed', 'the fake API server does not support watch');
        }
        return [200, list(t, ns, q, table)];
      }
      if (method === 'POST' && ns !== undefined && t.verbs.includes('create')) {
        checkFields(t, body, q.get('fieldValidation'), warnings);
        return create(t, ns, body, dryRun);
      }
      throw methodNotAllowed(method, t);
    }
    if (ns === undefined)
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    if (method === 'GET') {
      const obj = getOrNotFound(t, ns, name);
      return [200, table ? toTable(t, [obj], String(revision), q) : obj];
    }
    if (method === 'PATCH') {
      checkFields(t, body, q.get('fieldValidation'), warnings);
      return [200, patch(t, ns, name, body, req.headers['content-type'] ?? '', dryRun)];
    }
    if (method === 'DELETE' && t.verbs.includes('delete')) return [200, remove(t, ns, name, body, dryRun)];
    throw methodNotAllowed(method, t);
  }

  /** fieldValidation: Strict refuses unknown fields, Warn (the default) warns, Ignore ignores. */
  function checkFields(t: ResourceType, body: unknown, mode: string | null, warnings: string[]): void {
    const m = mode ?? 'Warn';
    if (m !== 'Strict' && m !== 'Warn' && m !== 'Ignore') {
      throw new StatusError(
        400,
        'BadRequest',
        `fieldValidation must be Ignore, Warn or Strict, not ${JSON.stringify(m)}`,
      );
    }
    if (m === 'Ignore') return;
    const unknown = unknownFields(body, t.shape).map((f) => `unknown field ${JSON.stringify(f)}`);
    if (unknown.length === 0) return;
    if (m === 'Strict')
      throw new StatusError(400, 'BadRequest', `strict decoding error: ${unknown.join(', ')}`);
    warnings.push(...unknown);
  }

  function requireGet(method: string): void {
    if (method !== 'GET')
      throw new StatusError(
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource`,
      );
  }

  function methodNotAllowed(method: string, t: ResourceType): StatusError {
    return new StatusError(
      405,
      'MethodNotAllowed',
      `the fake API server does not allow ${method} on ${qualified(t)} (it serves ${t.verbs.join(', ')})`,
    );
  }

  function networkingGroup(): Obj {
    const v = { groupVersion: 'networking.k8s.io/v1', version: 'v1' };
    return { name: 'networking.k8s.io', versions: [v], preferredVersion: v };
  }

  function resourceList(groupVersion: string, types: ResourceType[]): Obj {
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: types.map((t) => ({
        name: t.plural,
        singularName: t.singular,
        namespaced: true,
        kind: t.kind,
        verbs: [...t.verbs],
        shortNames: [...t.shortNames],
        ...(t.categories.length > 0 && { categories: [...t.categories] }),
        storageVersionHash: Buffer.from(`${groupVersion}/${t.plural}`).toString('base64').slice(0, 11),
      })),
    };
  }

  function wantsTable(accept: string | undefined): boolean {
    if (accept === undefined) return false;
    const parts = accept.split(',').map((p) => p.trim());
    const table = parts.some((p) => /as=Table/.test(p) && /g=meta\.k8s\.io/.test(p) && /v=v1(;|$)/.test(p));
    if (table && tables) return true;
    const json = parts.some(
      (p) => /^(application\/json|\*\/\*)(\s*;\s*q=[\d.]+)?$/.test(p) || /^application\/json$/.test(p),
    );
    if (table && !json) {
      throw new StatusError(
        406,
        'NotAcceptable',
        `only the following media types are accepted: application/json`,
      );
    }
    return false;
  }

  function toTable(
    t: ResourceType,
    items: FakeKubeObject[],
    resourceVersion: string,
    q: URLSearchParams,
    continueToken?: string,
  ): Obj {
    const include = q.get('includeObject') ?? 'Metadata';
    const now = Date.now();
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion, ...(continueToken !== undefined && { continue: continueToken }) },
      columnDefinitions: t.columns,
      rows: items.map((obj) => ({
        cells: t.cells(obj, now),
        ...(include === 'Object' && { object: obj }),
        ...(include === 'Metadata' && {
          object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
        }),
      })),
    };
  }

  function list(t: ResourceType, ns: string | undefined, q: URLSearchParams, table: boolean): Obj {
    const labelSel = parseLabelSelector(q.get('labelSelector') ?? '');
    const fieldSel = parseFieldSelector(q.get('fieldSelector') ?? '');
    const all = [...store(t).entries()]
      .filter(([key]) => ns === undefined || key.startsWith(`${ns}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => obj)
      .filter((obj) => matchesLabels(obj.metadata.labels ?? {}, labelSel) && fieldSel(obj));
    let start = 0;
    const cont = q.get('continue');
    if (cont !== null && cont !== '') {
      const parsed = Number(Buffer.from(cont, 'base64url').toString('utf8'));
      if (!Number.isInteger(parsed) || parsed < 0)
        throw new StatusError(400, 'BadRequest', `invalid continue token ${JSON.stringify(cont)}`);
      start = parsed;
    }
    const limitRaw = q.get('limit');
    const limit = limitRaw === null || limitRaw === '' || limitRaw === '0' ? Infinity : Number(limitRaw);
    if (!(limit > 0))
      throw new StatusError(
        400,
        'BadRequest',
        `limit must be a positive integer, not ${JSON.stringify(limitRaw)}`,
      );
    const page = all.slice(start, start + limit);
    const more = start + page.length < all.length;
    const rv = String(revision);
    const token = more ? Buffer.from(String(start + page.length)).toString('base64url') : undefined;
    if (table) return toTable(t, page, rv, q, token);
    return {
      kind: t.listKind,
      apiVersion: apiVersionOf(t),
      metadata: {
        resourceVersion: rv,
        ...(token !== undefined && { continue: token, remainingItemCount: all.length - start - page.length }),
      },
      items: structuredClone(page),
    };
  }

  function notFound(t: ResourceType, name: string): StatusError {
    return new StatusError(404, 'NotFound', `${qualified(t)} "${name}" not found`, {
      name,
      group: t.group,
      kind: t.plural,
    });
  }

  function getOrNotFound(t: ResourceType, ns: string, name: string): FakeKubeObject {
    const obj = store(t).get(`${ns}/${name}`);
    if (obj === undefined) throw notFound(t, name);
    return structuredClone(obj);
  }

  function create(t: ResourceType, ns: string, body: unknown, dryRun: boolean): [number, unknown] {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new StatusError(400, 'BadRequest', `the body of a create must be a ${t.kind} object`);
    }
    const b = asKube(structuredClone(body));
    if (b['kind'] !== t.kind || b['apiVersion'] !== apiVersionOf(t)) {
      throw new StatusError(
        400,
        'BadRequest',
        `the API version in the data (${String(b['apiVersion'])}) and kind (${String(b['kind'])}) do not match ${apiVersionOf(t)} ${t.kind} of the request`,
      );
    }
    const bodyNs = b.metadata.namespace;
    if (bodyNs !== undefined && bodyNs !== ns) {
      throw new StatusError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const obj = prepareNew(t, b, ns);
    delete obj.status;
    const invalid = invalidError(t, obj);
    if (invalid !== undefined) throw invalid;
    const name = obj.metadata.name ?? '';
    const key = `${ns}/${name}`;
    if (store(t).has(key)) {
      throw new StatusError(409, 'AlreadyExists', `${qualified(t)} "${name}" already exists`, {
        name,
        group: t.group,
        kind: t.plural,
      });
    }
    if (dryRun) return [201, obj];
    obj.metadata.resourceVersion = nextRevision();
    store(t).set(key, obj);
    return [201, structuredClone(obj)];
  }

  function patch(
    t: ResourceType,
    ns: string,
    name: string,
    body: unknown,
    contentType: string,
    dryRun: boolean,
  ): FakeKubeObject {
    const type = contentType.split(';')[0]!.trim();
    if (type === 'application/json-patch+json' || type === 'application/apply-patch+yaml') {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        `the fake API server supports merge patches only (application/merge-patch+json, application/strategic-merge-patch+json), not ${type}`,
      );
    }
    if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        `the body of a PATCH must be a patch, not ${type || 'untyped'}`,
      );
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new StatusError(400, 'BadRequest', 'the patch must be a JSON object');
    }
    if (type === 'application/strategic-merge-patch+json' && hasDirective(body)) {
      throw new StatusError(
        400,
        'BadRequest',
        'the fake API server applies strategic merge patches as merge patches: $-directives are not supported',
      );
    }
    const key = `${ns}/${name}`;
    const current = store(t).get(key);
    if (current === undefined) throw notFound(t, name);
    const pm = asObj((body as Obj)['metadata']);
    if (
      typeof pm['resourceVersion'] === 'string' &&
      pm['resourceVersion'] !== current.metadata.resourceVersion
    ) {
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: t.group, kind: t.plural },
      );
    }
    if (typeof pm['uid'] === 'string' && pm['uid'] !== current.metadata.uid) {
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(t)} "${name}": Precondition failed: UID in precondition: ${pm['uid']}, UID in object meta: ${current.metadata.uid ?? ''}`,
        { name, group: t.group, kind: t.plural },
      );
    }
    const next = asKube(mergePatch(current, body));
    tidyMetadata(next);
    if (next.kind !== t.kind || next.apiVersion !== apiVersionOf(t)) {
      throw new StatusError(400, 'BadRequest', 'a patch may not change apiVersion or kind');
    }
    const immutable: Cause[] = [];
    for (const f of ['name', 'namespace', 'creationTimestamp']) {
      if (next.metadata[f] !== current.metadata[f]) {
        immutable.push({
          field: `metadata.${f}`,
          reason: 'FieldValueInvalid',
          message: 'Invalid value: field is immutable',
        });
      }
    }
    if (t === podType && !deepEqual(next.spec, current.spec)) {
      immutable.push({
        field: 'spec',
        reason: 'FieldValueForbidden',
        message: 'Forbidden: pod updates may not change fields other than metadata in this fake API server',
      });
    }
    if (immutable.length > 0) {
      throw new StatusError(
        422,
        'Invalid',
        `${t.kind} ${JSON.stringify(name)} is invalid: ${immutable.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
        { name, group: t.group, kind: t.kind, causes: immutable },
      );
    }
    // The status is not written through the main resource.
    if (current.status !== undefined) next.status = current.status;
    else delete next.status;
    next.metadata.uid = current.metadata.uid;
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    const invalid = invalidError(t, next);
    if (invalid !== undefined) throw invalid;
    if (deepEqual(next, current)) return structuredClone(current); // a no-op does not bump the version
    if (t === networkPolicyType && !deepEqual(next.spec, current.spec)) {
      next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    }
    if (dryRun) return next;
    next.metadata.resourceVersion = nextRevision();
    store(t).set(key, next);
    return structuredClone(next);
  }

  function remove(t: ResourceType, ns: string, name: string, body: unknown, dryRun: boolean): Obj {
    const key = `${ns}/${name}`;
    const current = store(t).get(key);
    if (current === undefined) throw notFound(t, name);
    const pre = asObj(asObj(body)['preconditions']);
    if (typeof pre['uid'] === 'string' && pre['uid'] !== current.metadata.uid) {
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(t)} "${name}": Precondition failed: UID in precondition: ${pre['uid']}, UID in object meta: ${current.metadata.uid ?? ''}`,
        { name, group: t.group, kind: t.plural },
      );
    }
    if (
      typeof pre['resourceVersion'] === 'string' &&
      pre['resourceVersion'] !== current.metadata.resourceVersion
    ) {
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(t)} "${name}": Precondition failed: ResourceVersion in precondition: ${pre['resourceVersion']}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`,
        { name, group: t.group, kind: t.plural },
      );
    }
    if (!dryRun) {
      store(t).delete(key);
      nextRevision();
    }
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, group: t.group, kind: t.plural, uid: current.metadata.uid },
    };
  }

  return {
    url,
    ...(ca !== undefined && { caPem: ca.certPem }),
    get token() {
      return token;
    },
    setToken(next) {
      token = next;
    },
    issueClientCertificate(user) {
      if (ca === undefined) throw new Error('fake API server: client certificates need tls: true');
      return issueAgentCertificate(ca, { node: user });
    },
    addPod: (manifest) => seed(podType, manifest),
    updatePod(ns, name, change) {
      const key = `${ns}/${name}`;
      const current = store(podType).get(key);
      if (current === undefined) throw new Error(`fake API server: no pod ${key}`);
      const next = structuredClone(current);
      change(next);
      tidyMetadata(next);
      const invalid = invalidError(podType, next);
      if (invalid !== undefined)
        throw new Error(`fake API server: cannot update pod ${key}: ${invalid.message}`);
      next.metadata.resourceVersion = nextRevision();
      store(podType).set(key, next);
    },
    deletePod(ns, name) {
      const gone = store(podType).delete(`${ns}/${name}`);
      if (gone) nextRevision();
      return gone;
    },
    getPod(ns, name) {
      const obj = store(podType).get(`${ns}/${name}`);
      return obj === undefined ? undefined : structuredClone(obj);
    },
    addNetworkPolicy: (manifest) => seed(networkPolicyType, manifest),
    networkPolicies(ns) {
      return [...store(networkPolicyType).values()]
        .filter((o) => ns === undefined || o.metadata.namespace === ns)
        .map((o) => structuredClone(o));
    },
    requests: () => [...log],
    clearRequests() {
      log.length = 0;
    },
    failNext(method, pathPrefix, status, message) {
      injected.push({
        method: method.toUpperCase(),
        prefix: pathPrefix,
        status,
        ...(message !== undefined && { message }),
      });
    },
    beforeNext(method, pathPrefix, action) {
      hooks.push({ method: method.toUpperCase(), prefix: pathPrefix, action });
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
