/**
 * Reading and checking Vigil's Kubernetes manifests (deploy/kubernetes) and the Helm chart's
 * output (deploy/helm/vigil) for the tests in this folder.
 *
 * - {@link validateSchema}: every built-in kind against the official OpenAPI schemas shipped in
 *   kubernetes-models 4.x (the model class is picked by apiVersion and kind); cert-manager's kinds
 *   are not in kubernetes-models, so {@link validateCertManager} checks them structurally against
 *   the fields of cert-manager.io/v1 we use.
 * - {@link agentProblems}, {@link collectorProblems}, {@link rbacProblems}: our own security
 *   checks, each returning what is wrong (empty when all is well), so a test can also show that
 *   every check catches what it is meant to.
 * - {@link documentedPrivileges}: the capability and host-path tables of deploy/README.md, which
 *   the checks compare the DaemonSet with.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { helmBinary } from '../support/k8s-tools.js';
import { projectRoot } from '../support/shared.js';

/** One Kubernetes object, and where it came from (for messages). */
export interface Manifest {
  readonly source: string;
  readonly doc: Record<string, unknown>;
}

export const kubernetesDir = join(projectRoot, 'deploy', 'kubernetes');
export const chartDir = join(projectRoot, 'deploy', 'helm', 'vigil');

// ---- small accessors over untyped YAML ----

/** The object at `v`, or an empty one. */
export function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
/** The array at `v`, or an empty one. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** Walks `path` (dot-separated keys) from `v`. */
export function at(v: unknown, path: string): unknown {
  let cur: unknown = v;
  for (const key of path.split('.')) cur = obj(cur)[key];
  return cur;
}
export const kindOf = (m: Manifest): string => String(m.doc['kind']);
export const nameOf = (m: Manifest): string => String(at(m.doc, 'metadata.name'));
/** A value for a message: strings as they are, anything else as JSON. */
const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const label = (m: Manifest): string => `${m.source}: ${kindOf(m)}/${nameOf(m)}`;

/** Parses every document of a YAML stream; a document that fails to parse throws with the source. */
export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`${source}: ${d.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = d.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value))
      throw new Error(`${source}: a document is not an object`);
    out.push({ source, doc: value as Record<string, unknown> });
  }
  return out;
}

/** The plain manifests: every *.yaml of deploy/kubernetes and of its cert-manager/ folder. */
export function plainManifests(): Manifest[] {
  const files = [
    ...readdirSync(kubernetesDir)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(kubernetesDir, f)),
    ...readdirSync(join(kubernetesDir, 'cert-manager'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(kubernetesDir, 'cert-manager', f)),
  ].sort();
  return files.flatMap((f) => parseManifests(readFileSync(f, 'utf8'), f.slice(projectRoot.length + 1)));
}

/** Runs helm with `args`; throws with helm's stderr on failure. */
export function helm(args: readonly string[]): string {
  try {
    return execFileSync(helmBinary(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}`, { cause: err });
  }
}

/** `helm template` of the chart with `values` (a values file's content), in namespace `vigil`. */
export function renderChart(values: Record<string, unknown>, caseName: string): Manifest[] {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-helm-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const text = helm(['template', 'vigil', chartDir, '--namespace', 'vigil', '--values', file]);
    return parseManifests(text, `helm template (${caseName})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- schema validation ----

type ModelClass = new (data: Record<string, unknown>) => { validate(): void };

/**
 * The kubernetes-models class for `apiVersion`/`kind`: `v1` -> kubernetes-models/v1/KIND,
 * `GROUP/VERSION` -> kubernetes-models/GROUP/VERSION/KIND. Undefined when there is none.
 */
export async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  if (!/^[A-Za-z0-9.]+(\/[A-Za-z0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return undefined;
  try {
    const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
    const cls = mod[kind];
    return typeof cls === 'function' ? (cls as ModelClass) : undefined;
  } catch {
    return undefined;
  }
}

/** API groups whose kinds are custom resources, validated by {@link validateCertManager}. */
export const CERT_MANAGER_API = 'cert-manager.io/v1';

/**
 * The fields of `doc` its schema does not know. The schemas kubernetes-models ships are compiled
 * validators that accept unknown properties (the API server's non-strict decoding drops them), so
 * a misspelt field (`hostPid`) would pass unseen. The validator is therefore also run over a
 * proxy that records which properties it reads: a compiled validator reads every property its
 * schema declares, so a property never read is one the schema does not have. Objects the
 * validator enumerates (maps such as labels, free-form fields) accept any key.
 */
export function unknownFields(validate: (this: unknown) => void, doc: Record<string, unknown>): string[] {
  const read = new Map<object, Set<string>>();
  const enumerated = new Set<object>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const existing = proxies.get(value);
    if (existing !== undefined) return existing;
    const proxy = new Proxy(value, {
      get(t, key, receiver) {
        if (typeof key === 'string') {
          let keys = read.get(t);
          if (keys === undefined) read.set(t, (keys = new Set()));
          keys.add(key);
        }
        return wrap(Reflect.get(t, key, receiver));
      },
      ownKeys(t) {
        enumerated.add(t);
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  try {
    validate.call(wrap(doc));
  } catch {
    // Schema errors are reported by validateSchema; only the reads matter here.
  }
  const unknown: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}/${i}`));
    } else if (value !== null && typeof value === 'object') {
      const keys = read.get(value) ?? new Set<string>();
      for (const [k, v] of Object.entries(value)) {
        if (!enumerated.has(value) && !keys.has(k)) unknown.push(`${path}/${k}`);
        walk(v, `${path}/${k}`);
      }
    }
  };
  walk(doc, '');
  return unknown;
}

/**
 * Validates `m` against its official schema and refuses fields the schema does not have; throws
 * naming the object and what is wrong.
 */
export async function validateSchema(m: Manifest): Promise<void> {
  const apiVersion = String(m.doc['apiVersion']);
  const kind = String(m.doc['kind']);
  const cls = await modelClass(apiVersion, kind);
  if (cls === undefined)
    throw new Error(`${label(m)}: kubernetes-models has no schema for ${apiVersion} ${kind}`);
  try {
    new cls(m.doc).validate();
  } catch (err) {
    throw new Error(`${label(m)} fails the ${apiVersion} ${kind} schema: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const { validate } = cls.prototype as { validate: (this: unknown) => void };
  const unknown = unknownFields(validate, structuredClone(m.doc));
  if (unknown.length > 0)
    throw new Error(
      `${label(m)}: fields the ${apiVersion} ${kind} schema does not have: ${unknown.join(', ')}`,
    );
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GO_DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const KEY_USAGES = new Set([
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
]);
// The fields of cert-manager.io/v1 Certificate and Issuer specs (cert-manager's API reference).
const CERTIFICATE_FIELDS = new Set([
  'secretName',
  'secretTemplate',
  'commonName',
  'literalSubject',
  'subject',
  'dnsNames',
  'uris',
  'ipAddresses',
  'emailAddresses',
  'otherNames',
  'duration',
  'renewBefore',
  'renewBeforePercentage',
  'isCA',
  'usages',
  'privateKey',
  'issuerRef',
  'keystores',
  'encodeUsagesInRequest',
  'revisionHistoryLimit',
  'additionalOutputFormats',
  'nameConstraints',
  'signatureAlgorithm',
]);
const ISSUER_TYPES = new Set(['selfSigned', 'ca', 'acme', 'vault', 'venafi']);

/**
 * Structural validation of cert-manager.io/v1 Issuer, ClusterIssuer and Certificate (their CRD
 * schemas are not in kubernetes-models). Returns the problems found.
 */
export function validateCertManager(m: Manifest): string[] {
  const problems: string[] = [];
  const p = (what: string): number => problems.push(`${label(m)}: ${what}`);
  const d = m.doc;
  if (d['apiVersion'] !== CERT_MANAGER_API) p(`apiVersion must be ${CERT_MANAGER_API}`);
  const name = at(d, 'metadata.name');
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name) || name.length > 253)
    p(`metadata.name ${JSON.stringify(name)} is not a DNS subdomain`);
  const spec = obj(d['spec']);
  const kind = d['kind'];
  if (kind === 'Issuer' || kind === 'ClusterIssuer') {
    if (kind === 'Issuer' && typeof at(d, 'metadata.namespace') !== 'string')
      p('an Issuer needs a namespace');
    const types = Object.keys(spec);
    if (types.length !== 1 || !ISSUER_TYPES.has(types[0] as string))
      p(`spec must have exactly one of ${[...ISSUER_TYPES].join(', ')}, has ${types.join(', ') || 'none'}`);
    if ('ca' in spec && typeof at(spec, 'ca.secretName') !== 'string')
      p('spec.ca.secretName must be a string');
    if ('selfSigned' in spec && (typeof spec['selfSigned'] !== 'object' || spec['selfSigned'] === null))
      p('spec.selfSigned must be an object');
  } else if (kind === 'Certificate') {
    for (const k of Object.keys(spec))
      if (!CERTIFICATE_FIELDS.has(k)) p(`spec.${k} is not a Certificate field`);
    if (typeof spec['secretName'] !== 'string' || !DNS_SUBDOMAIN.test(spec['secretName']))
      p('spec.secretName must be a DNS subdomain');
    const issuer = obj(spec['issuerRef']);
    if (typeof issuer['name'] !== 'string') p('spec.issuerRef.name is required');
    if (issuer['kind'] !== undefined && !['Issuer', 'ClusterIssuer'].includes(show(issuer['kind'])))
      p(`spec.issuerRef.kind ${show(issuer['kind'])} is not Issuer or ClusterIssuer`);
    for (const k of ['dnsNames', 'uris', 'ipAddresses', 'usages'])
      if (
        spec[k] !== undefined &&
        !(Array.isArray(spec[k]) && arr(spec[k]).every((x) => typeof x === 'string'))
      )
        p(`spec.${k} must be a list of strings`);
    for (const u of arr(spec['usages']))
      if (!KEY_USAGES.has(String(u))) p(`spec.usages: unknown usage ${String(u)}`);
    for (const k of ['duration', 'renewBefore'])
      if (spec[k] !== undefined && !GO_DURATION.test(show(spec[k]))) p(`spec.${k} is not a duration`);
    if (spec['isCA'] !== undefined && typeof spec['isCA'] !== 'boolean') p('spec.isCA must be a boolean');
    const key = obj(spec['privateKey']);
    if (key['algorithm'] !== undefined && !['RSA', 'ECDSA', 'Ed25519'].includes(show(key['algorithm'])))
      p(`spec.privateKey.algorithm ${show(key['algorithm'])} is unknown`);
    if (
      key['algorithm'] === 'ECDSA' &&
      key['size'] !== undefined &&
      ![256, 384, 521].includes(Number(key['size']))
    )
      p('spec.privateKey.size must be 256, 384 or 521 for ECDSA');
    if (
      spec['commonName'] === undefined &&
      arr(spec['dnsNames']).length + arr(spec['uris']).length + arr(spec['ipAddresses']).length === 0
    )
      p('a Certificate needs a commonName or at least one SAN');
    // Vigil's own rules: an agent's certificate names exactly one node, for client auth.
    const nodeUris = arr(spec['uris']).filter((u) => String(u).startsWith('urn:vigil:node:'));
    if (nodeUris.length > 1) p('an agent certificate must name exactly one node');
    if (nodeUris.length === 1) {
      const node = String(nodeUris[0]).slice('urn:vigil:node:'.length);
      if (!DNS_SUBDOMAIN.test(node)) p(`the node name ${node} is not a valid node name`);
      if (!arr(spec['usages']).includes('client auth')) p('an agent certificate needs the client auth usage');
    }
  } else {
    p(`unexpected cert-manager kind ${String(kind)}`);
  }
  return problems;
}

// ---- the documented privileges ----

/** The capability and host-path tables of deploy/README.md. */
export interface DocumentedPrivileges {
  /** Capability names without the CAP_ prefix. */
  readonly capabilities: readonly string[];
  /** Host paths the agent may mount, with the access documented ("read-only" or "read-write"). */
  readonly hostPaths: ReadonlyMap<string, string>;
}

function tableRows(text: string, marker: string): string[][] {
  const start = text.indexOf(`<!-- privileges:${marker} -->`);
  const end = text.indexOf('<!-- /privileges -->', start);
  if (start < 0 || end < 0) throw new Error(`deploy/README.md has no <!-- privileges:${marker} --> table`);
  return text
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s-|]+\|$/.test(l))
    .slice(1) // the header
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

/** Reads the privilege tables of deploy/README.md. */
export function documentedPrivileges(): DocumentedPrivileges {
  const text = readFileSync(join(projectRoot, 'deploy', 'README.md'), 'utf8');
  const tick = (cell: string | undefined): string => /`([^`]+)`/.exec(cell ?? '')?.[1] ?? '';
  const capabilities = tableRows(text, 'capabilities').map((r) => tick(r[0]).replace(/^CAP_/, ''));
  const hostPaths = new Map(
    tableRows(text, 'hostpaths').map((r) => [tick(r[0]), (r[2] ?? '').toLowerCase()]),
  );
  return { capabilities, hostPaths };
}

// ---- security checks ----

/** What the agent's pod is expected to have, for the features enabled. */
export interface AgentExpectation {
  readonly ebpf: boolean;
  readonly quarantine: boolean;
  /** The node's certificate comes from a host path (else from a per-node Secret). */
  readonly tlsFromHostPath: boolean;
}

/** The capabilities the enabled features use (deploy/README.md says why each). */
export function expectedAgentCapabilities(e: AgentExpectation): string[] {
  return [
    ...(e.ebpf ? ['BPF', 'PERFMON'] : []),
    'SYS_PTRACE',
    ...(e.quarantine ? ['NET_ADMIN', 'SYS_ADMIN'] : []),
  ];
}

const sorted = (xs: readonly unknown[]): string[] => xs.map(String).sort();

/** Everything wrong with an agent DaemonSet; empty when it asks for exactly what is documented. */
export function agentProblems(m: Manifest, e: AgentExpectation, documented: DocumentedPrivileges): string[] {
  const problems: string[] = [];
  const p = (what: string): number => problems.push(`${label(m)}: ${what}`);
  if (kindOf(m) !== 'DaemonSet') p('is not a DaemonSet');
  const pod = obj(at(m.doc, 'spec.template.spec'));
  if (pod['hostPID'] !== true) p('hostPID must be true (the host process table)');
  if (pod['hostNetwork'] === true) p('hostNetwork must not be set');
  if (pod['hostIPC'] === true) p('hostIPC must not be set');
  if (pod['automountServiceAccountToken'] !== false) p('automountServiceAccountToken must be false');
  if (at(pod, 'securityContext.seccompProfile.type') !== 'RuntimeDefault')
    p('the pod seccomp profile must be RuntimeDefault');
  const tolerations = arr(pod['tolerations']).map(obj);
  if (
    !tolerations.some(
      (t) => t['operator'] === 'Exists' && t['key'] === undefined && t['effect'] === undefined,
    )
  )
    p('tolerations must include { operator: Exists } (every taint)');
  if (arr(pod['initContainers']).length > 0 || arr(pod['ephemeralContainers']).length > 0)
    p('no init or ephemeral containers expected');
  const containers = arr(pod['containers']).map(obj);
  if (containers.length !== 1) p(`expected one container, found ${containers.length}`);
  const c = containers[0] ?? {};
  const sc = obj(c['securityContext']);
  if (sc['privileged'] !== false) p('securityContext.privileged must be false');
  if (sc['readOnlyRootFilesystem'] !== true) p('readOnlyRootFilesystem must be true');
  const drop = sorted(arr(at(sc, 'capabilities.drop')));
  if (drop.join() !== 'ALL') p(`capabilities.drop must be [ALL], is [${drop.join(', ')}]`);
  const add = sorted(arr(at(sc, 'capabilities.add')));
  const want = sorted(expectedAgentCapabilities(e));
  if (add.join() !== want.join()) p(`capabilities.add must be [${want.join(', ')}], is [${add.join(', ')}]`);
  const undocumented = add.filter((cap) => !documented.capabilities.includes(cap));
  if (undocumented.length > 0)
    p(`capabilities not documented in deploy/README.md: ${undocumented.join(', ')}`);
  const sysAdmin = add.includes('SYS_ADMIN');
  if (!sysAdmin && sc['allowPrivilegeEscalation'] !== false)
    p('allowPrivilegeEscalation must be false without CAP_SYS_ADMIN');
  if (sc['procMount'] !== undefined && sc['procMount'] !== 'Default') p('procMount must stay Default');
  for (const port of arr(c['ports']).map(obj)) if (port['hostPort'] !== undefined) p('no hostPort expected');
  const nodeName = arr(c['env'])
    .map(obj)
    .find((v) => v['name'] === 'NODE_NAME');
  if (at(nodeName, 'valueFrom.fieldRef.fieldPath') !== 'spec.nodeName')
    p('NODE_NAME must come from spec.nodeName');

  const mounts = new Map(arr(c['volumeMounts']).map((v) => [String(obj(v)['name']), obj(v)]));
  const hostPathVolumes = arr(pod['volumes'])
    .map(obj)
    .filter((v) => v['hostPath'] !== undefined);
  const wantPaths = new Set(['/var/lib/vigil/agent', '/run/containerd']);
  if (e.ebpf) wantPaths.add('/sys/kernel/tracing');
  if (e.ebpf || e.quarantine) wantPaths.add('/sys/fs/cgroup');
  if (e.tlsFromHostPath) wantPaths.add('/etc/vigil/agent-tls');
  const seen = new Set<string>();
  for (const v of hostPathVolumes) {
    const path = String(at(v, 'hostPath.path'));
    seen.add(path);
    const access = documented.hostPaths.get(path);
    if (access === undefined) {
      p(`hostPath ${path} is not documented in deploy/README.md`);
      continue;
    }
    const mount = mounts.get(String(v['name']));
    if (mount === undefined) {
      p(`hostPath volume ${String(v['name'])} is not mounted`);
      continue;
    }
    // cgroup: writable only for quarantine (cgroup.freeze); the rest as documented.
    const mustBeReadOnly = path === '/sys/fs/cgroup' ? !e.quarantine : access.startsWith('read-only');
    if (mustBeReadOnly && mount['readOnly'] !== true) p(`hostPath ${path} must be mounted read-only`);
    if (!mustBeReadOnly && mount['readOnly'] === true)
      p(`hostPath ${path} is read-only but must be writable`);
  }
  for (const path of wantPaths) if (!seen.has(path)) p(`hostPath ${path} is missing`);
  for (const path of seen) if (!wantPaths.has(path)) p(`hostPath ${path} is not needed here`);
  return problems;
}

/** Everything wrong with the collector's Deployment. */
export function collectorProblems(m: Manifest): string[] {
  const problems: string[] = [];
  const p = (what: string): number => problems.push(`${label(m)}: ${what}`);
  if (kindOf(m) !== 'Deployment') p('is not a Deployment');
  if (at(m.doc, 'spec.replicas') !== 1) p('replicas must be 1 (one SQLite store)');
  if (at(m.doc, 'spec.strategy.type') !== 'Recreate') p('strategy must be Recreate (never two writers)');
  const pod = obj(at(m.doc, 'spec.template.spec'));
  for (const k of ['hostPID', 'hostNetwork', 'hostIPC']) if (pod[k] === true) p(`${k} must not be set`);
  if (at(pod, 'securityContext.runAsNonRoot') !== true) p('the pod must set runAsNonRoot: true');
  const uid = at(pod, 'securityContext.runAsUser');
  if (typeof uid !== 'number' || uid === 0) p('the pod must run as a non-zero runAsUser');
  if (at(pod, 'securityContext.seccompProfile.type') !== 'RuntimeDefault')
    p('the pod seccomp profile must be RuntimeDefault');
  for (const v of arr(pod['volumes']).map(obj))
    if (v['hostPath'] !== undefined) p('no hostPath volume expected');
  for (const c of arr(pod['containers']).map(obj)) {
    const sc = obj(c['securityContext']);
    if (sc['allowPrivilegeEscalation'] !== false) p('allowPrivilegeEscalation must be false');
    if (sc['privileged'] === true) p('privileged must not be set');
    if (sc['readOnlyRootFilesystem'] !== true) p('readOnlyRootFilesystem must be true');
    if (sc['runAsNonRoot'] === false) p('runAsNonRoot must not be false');
    if (sorted(arr(at(sc, 'capabilities.drop'))).join() !== 'ALL') p('capabilities.drop must be [ALL]');
    if (arr(at(sc, 'capabilities.add')).length > 0) p('no capabilities may be added');
  }
  return problems;
}

/**
 * The collector's RBAC, exactly: `group/resource` (with `#name` for a rule limited by
 * resourceNames) -> verbs. test/deploy/rbac.test.ts derives it from the code's requests.
 */
export const COLLECTOR_RBAC: Readonly<Record<string, readonly string[]>> = {
  '/pods': ['get', 'list', 'patch'],
  'networking.k8s.io/networkpolicies': ['create'],
  'networking.k8s.io/networkpolicies#vigil-quarantine': ['get', 'patch', 'delete'],
};

/** The keys of {@link COLLECTOR_RBAC} a rule grants: `group/resource`, plus `#names` when limited. */
export function rbacRuleKeys(rule: Record<string, unknown>): string[] {
  const names = sorted(arr(rule['resourceNames']).map(String));
  const suffix = names.length > 0 ? `#${names.join(',')}` : '';
  return arr(rule['apiGroups']).flatMap((g) =>
    arr(rule['resources']).map((r) => `${String(g)}/${String(r)}${suffix}`),
  );
}

/** Everything wrong with the RBAC objects among `all` (`quarantine`: whether they are expected). */
export function rbacProblems(all: readonly Manifest[], quarantine: boolean): string[] {
  const problems: string[] = [];
  const roles = all.filter((m) => kindOf(m) === 'ClusterRole' || kindOf(m) === 'Role');
  const bindings = all.filter((m) => kindOf(m) === 'ClusterRoleBinding' || kindOf(m) === 'RoleBinding');
  if (!quarantine) {
    if (roles.length + bindings.length > 0) problems.push('no RBAC expected without quarantine');
    return problems;
  }
  if (roles.length !== 1) problems.push(`expected one ClusterRole, found ${roles.length}`);
  for (const role of roles) {
    if (kindOf(role) !== 'ClusterRole')
      problems.push(`${label(role)}: must be a ClusterRole (pods of any namespace)`);
    const granted: Record<string, string[]> = {};
    for (const rule of arr(role.doc['rules']).map(obj)) {
      if (arr(rule['nonResourceURLs']).length > 0)
        problems.push(`${label(role)}: no nonResourceURLs expected`);
      for (const key of rbacRuleKeys(rule))
        granted[key] = sorted([...(granted[key] ?? []), ...arr(rule['verbs']).map(String)]);
    }
    const want = Object.fromEntries(Object.entries(COLLECTOR_RBAC).map(([k, v]) => [k, sorted(v)]));
    if (JSON.stringify(Object.entries(granted).sort()) !== JSON.stringify(Object.entries(want).sort()))
      problems.push(
        `${label(role)}: grants ${JSON.stringify(granted)}, expected exactly ${JSON.stringify(want)}`,
      );
  }
  for (const b of bindings) {
    const subjects = arr(b.doc['subjects']).map(obj);
    if (
      subjects.length !== 1 ||
      !String(subjects[0]?.['name']).endsWith('-collector') ||
      subjects[0]?.['kind'] !== 'ServiceAccount'
    )
      problems.push(`${label(b)}: must bind the collector's ServiceAccount only`);
    if (at(b.doc, 'roleRef.name') !== (roles[0] !== undefined ? nameOf(roles[0]) : undefined))
      problems.push(`${label(b)}: must refer to the collector's ClusterRole`);
  }
  return problems;
}

/** True when every label of `selector` is on `labels`. */
export function selects(selector: unknown, labels: unknown): boolean {
  const want = obj(obj(selector)['matchLabels']);
  const have = obj(labels);
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => have[k] === v);
}

/** Everything wrong with the collector's NetworkPolicy among `all`. */
export function networkPolicyProblems(all: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const collector = all.find((m) => kindOf(m) === 'Deployment');
  const agent = all.find((m) => kindOf(m) === 'DaemonSet');
  const collectorLabels = at(collector?.doc, 'spec.template.metadata.labels');
  const agentLabels = at(agent?.doc, 'spec.template.metadata.labels');
  const policies = all.filter(
    (m) => kindOf(m) === 'NetworkPolicy' && selects(at(m.doc, 'spec.podSelector'), collectorLabels),
  );
  if (policies.length !== 1)
    return [`expected one NetworkPolicy selecting the collector, found ${policies.length}`];
  const np = policies[0] as Manifest;
  if (!arr(at(np.doc, 'spec.policyTypes')).includes('Ingress'))
    problems.push(`${label(np)}: must restrict Ingress`);
  const grpcPort = arr(at(collector?.doc, 'spec.template.spec.containers'))
    .flatMap((c) => arr(obj(c)['ports']).map(obj))
    .find((port) => port['name'] === 'grpc')?.['containerPort'];
  for (const rule of arr(at(np.doc, 'spec.ingress')).map(obj)) {
    const ports = arr(rule['ports']).map((x) => obj(x)['port']);
    if (ports.length === 0) problems.push(`${label(np)}: an ingress rule opens every port`);
    if (arr(rule['from']).length === 0) problems.push(`${label(np)}: an ingress rule admits every source`);
    if (ports.includes(grpcPort)) {
      const from = arr(rule['from']).map(obj);
      if (
        from.length !== 1 ||
        !selects(from[0]?.['podSelector'], agentLabels) ||
        from[0]?.['namespaceSelector'] !== undefined
      )
        problems.push(`${label(np)}: the gRPC port must admit the agents' pods only`);
    }
  }
  return problems;
}
