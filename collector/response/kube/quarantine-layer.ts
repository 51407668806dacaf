/**
 * The Kubernetes layer of a quarantine: the pod gets the label `vigil.dev/quarantine=<id>`, and
 * its namespace a NetworkPolicy `vigil-quarantine` that selects every pod carrying that label key
 * (operator Exists) and, naming both policy types with no rules, denies all their ingress and
 * egress. Only labelled pods are cut — never the siblings of the same ReplicaSet.
 *
 * One policy serves every quarantine in a namespace; each pod carries its own quarantine's id as
 * the label value. Ordering keeps concurrent quarantines and releases safe without locks:
 *
 * - quarantine labels the pod first and ensures the policy after;
 * - release removes the label, deletes the policy only when a list with labelSelector
 *   `vigil.dev/quarantine` finds no pod, then lists again and re-creates the policy if a pod was
 *   labelled meanwhile (a 404 on delete is fine: someone else removed it).
 *
 * Pod patches are JSON merge patches carrying the resourceVersion read just before, so a pod
 * changed in between answers 409 Conflict; the layer then reads it again and retries, a bounded
 * number of times. A pod whose uid differs from the one given is never touched.
 *
 * Expected outcomes are values ({@link KubeLayerResult}); API and transport failures become
 * `failed` with the API's Status message in `detail`. Nothing here throws except `getPod`.
 */
import { KubeApiError, type KubeClient } from './kube-client.js';

/** The label marking a quarantined pod; its value is the quarantine id. */
export const QUARANTINE_LABEL = 'vigil.dev/quarantine';
/** The annotation carrying the quarantine's reason, when annotating is on. */
export const QUARANTINE_REASON_ANNOTATION = 'vigil.dev/quarantine-reason';
/** The name of the deny-all NetworkPolicy in each namespace with quarantined pods. */
export const QUARANTINE_POLICY_NAME = 'vigil-quarantine';
/** The longest reason written into the annotation; longer ones are cut with an ellipsis. */
export const MAX_REASON_ANNOTATION_CHARS = 1024;
/** How many times a patch is retried after 409 Conflict before the layer gives up. */
export const MAX_CONFLICT_RETRIES = 5;

/** The pod fields the response service needs. */
export interface KubePod {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string | undefined;
  labels: Record<string, string>;
}

/** What one layer operation did. */
export interface KubeLayerResult {
  outcome: 'applied' | 'already-applied' | 'released' | 'not-found' | 'failed';
  /** A sentence for the audit trail and the console. */
  detail: string;
}

/** Parameters of {@link KubeQuarantineLayer.quarantine}. */
export interface KubeQuarantineParams {
  namespace: string;
  pod: string;
  /** Becomes the label value: at most 63 characters, alphanumerics with `-`, `_`, `.` inside. */
  quarantineId: string;
  reason: string;
  /** When given, a pod with another uid (a replacement of the same name) is left alone. */
  podUid?: string;
}

/** Parameters of {@link KubeQuarantineLayer.release}. */
export interface KubeReleaseParams {
  namespace: string;
  pod: string;
  quarantineId: string;
  /** When given, a pod with another uid is left alone. */
  podUid?: string;
}

/** Quarantine and release at the Kubernetes level; see the module comment. */
export interface KubeQuarantineLayer {
  /** The pod, or undefined when it does not exist. Throws on other API errors. */
  getPod(namespace: string, name: string): Promise<KubePod | undefined>;
  quarantine(p: KubeQuarantineParams): Promise<KubeLayerResult>;
  release(p: KubeReleaseParams): Promise<KubeLayerResult>;
}

/** Options of {@link createKubeQuarantineLayer}. */
export interface KubeQuarantineLayerOptions {
  /**
   * Also write the reason into the annotation `vigil.dev/quarantine-reason` (default false:
   * anyone who may read pods would read it).
   */
  annotateReason?: boolean;
}

/** The NetworkPolicy every namespace with quarantined pods gets. */
export function quarantinePolicy(namespace: string): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: QUARANTINE_POLICY_NAME,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'vigil' },
      annotations: {
        'vigil.dev/description': `Denies all traffic of pods labelled ${QUARANTINE_LABEL} (quarantined by Vigil)`,
      },
    },
    spec: quarantinePolicySpec(),
  };
}

function quarantinePolicySpec(): Record<string, unknown> {
  return {
    podSelector: { matchExpressions: [{ key: QUARANTINE_LABEL, operator: 'Exists' }] },
    policyTypes: ['Ingress', 'Egress'],
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why the parameters cannot name a pod and a label value, or undefined when they can. */
function badParams(p: { namespace: string; pod: string; quarantineId: string }): string | undefined {
  if (p.namespace.length > 63 || !DNS_LABEL.test(p.namespace)) {
    return `namespace ${JSON.stringify(p.namespace)} is not a valid namespace name`;
  }
  if (p.pod.length > 253 || !DNS_SUBDOMAIN.test(p.pod))
    return `pod ${JSON.stringify(p.pod)} is not a valid pod name`;
  if (p.quarantineId.length > 63 || !LABEL_VALUE.test(p.quarantineId)) {
    return (
      `quarantine id ${JSON.stringify(p.quarantineId)} cannot be a label value ` +
      '(1-63 characters: letters, digits, and -, _, . between them)'
    );
  }
  return undefined;
}

/** The reason as it goes into the annotation. */
export function reasonAnnotation(reason: string): string {
  const r = reason.trim();
  return r.length <= MAX_REASON_ANNOTATION_CHARS ? r : `${r.slice(0, MAX_REASON_ANNOTATION_CHARS - 1)}…`;
}

interface PodObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { nodeName?: string };
}

interface PolicyObject {
  metadata?: { resourceVersion?: string };
  spec?: Record<string, unknown>;
}

interface ListObject {
  items?: PodObject[];
}

const MERGE_PATCH = 'application/merge-patch+json';

function isStatus(err: unknown, code: number): boolean {
  return err instanceof KubeApiError && err.code === code;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when `spec` is exactly the deny-all spec (empty rule lists count as none). */
function isQuarantineSpec(spec: Record<string, unknown> | undefined): boolean {
  if (spec === undefined) return false;
  const selector = spec['podSelector'] as
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
      }
    | undefined;
  const exprs = selector?.matchExpressions ?? [];
  const labels = selector?.matchLabels ?? {};
  const types = [...((spec['policyTypes'] as string[] | undefined) ?? [])].sort();
  const none = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
  return (
    Object.keys(labels).length === 0 &&
    exprs.length === 1 &&
    exprs[0]?.key === QUARANTINE_LABEL &&
    exprs[0].operator === 'Exists' &&
    none(exprs[0].values) &&
    types.length === 2 &&
    types[0] === 'Egress' &&
    types[1] === 'Ingress' &&
    none(spec['ingress']) &&
    none(spec['egress'])
  );
}

/**
 * Creates the Kubernetes quarantine layer on `client`.
 *
 * @example
 * const layer = createKubeQuarantineLayer(createKubeClient({ mode: 'in-cluster' }));
 * await layer.quarantine({ namespace: 'shop', pod: 'web-0', quarantineId: 'q-7f3a', reason: 'reverse shell' });
 */
export function createKubeQuarantineLayer(
  client: KubeClient,
  options: KubeQuarantineLayerOptions = {},
): KubeQuarantineLayer {
  const annotate = options.annotateReason === true;
  const podPath = (ns: string, name: string): string =>
    `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
  const policyPath = (ns: string): string =>
    `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/networkpolicies/${QUARANTINE_POLICY_NAME}`;

  async function readPod(ns: string, name: string): Promise<PodObject | undefined> {
    try {
      return await client.request<PodObject>({ method: 'GET', path: podPath(ns, name) });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async function patchPod(ns: string, name: string, metadata: Record<string, unknown>): Promise<void> {
    await client.request({
      method: 'PATCH',
      path: podPath(ns, name),
      contentType: MERGE_PATCH,
      body: { metadata },
    });
  }

  /** A pod still carrying the label in `ns`, if any. */
  async function labelledPod(ns: string): Promise<string | undefined> {
    const list = await client.request<ListObject>({
      method: 'GET',
      path: `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
      query: { labelSelector: QUARANTINE_LABEL, limit: '1' },
    });
    return list.items?.[0]?.metadata?.name;
  }

  /** Makes sure the policy exists with the deny-all spec; says what it did. */
  async function ensurePolicy(ns: string): Promise<'existed' | 'created' | 'repaired'> {
    for (let attempt = 0; ; attempt++) {
      let existing: PolicyObject;
      try {
        existing = await client.request<PolicyObject>({ method: 'GET', path: policyPath(ns) });
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
        try {
          await client.request({
            method: 'POST',
            path: `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/networkpolicies`,
            body: quarantinePolicy(ns),
          });
          return 'created';
        } catch (createErr) {
          // Created by someone else since our read: check what they made.
          if (isStatus(createErr, 409) && attempt < MAX_CONFLICT_RETRIES) continue;
          throw createErr;
        }
      }
      if (isQuarantineSpec(existing.spec)) return 'existed';
      try {
        await client.request({
          method: 'PATCH',
          path: policyPath(ns),
          contentType: MERGE_PATCH,
          body: {
            metadata: { resourceVersion: existing.metadata?.resourceVersion },
            // null removes what a merge patch would otherwise keep beside our fields.
            spec: {
              podSelector: { matchLabels: null, ...(quarantinePolicySpec()['podSelector'] as object) },
              policyTypes: ['Ingress', 'Egress'],
              ingress: null,
              egress: null,
            },
          },
        });
        return 'repaired';
      } catch (err) {
        if ((isStatus(err, 409) || isStatus(err, 404)) && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }

  /**
   * Deletes the policy when no pod in `ns` carries the label, then checks again in case a pod was
   * labelled meanwhile (and re-creates it then). Says what it did.
   */
  async function cleanUpPolicy(ns: string): Promise<string> {
    const holder = await labelledPod(ns);
    if (holder !== undefined)
      return `NetworkPolicy ${ns}/${QUARANTINE_POLICY_NAME} kept: pod ${holder} is still quarantined`;
    let deleted: string;
    try {
      await client.request({ method: 'DELETE', path: policyPath(ns) });
      deleted = `NetworkPolicy ${ns}/${QUARANTINE_POLICY_NAME} deleted (no quarantined pod left)`;
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      deleted = `NetworkPolicy ${ns}/${QUARANTINE_POLICY_NAME} already gone`;
    }
    const late = await labelledPod(ns);
    if (late === undefined) return deleted;
    await ensurePolicy(ns);
    return `${deleted}, then re-created: pod ${late} was quarantined meanwhile`;
  }

  async function quarantine(p: KubeQuarantineParams): Promise<KubeLayerResult> {
    const bad = badParams(p);
    if (bad !== undefined) return { outcome: 'failed', detail: bad };
    const where = `${p.namespace}/${p.pod}`;
    let labelled: 'already' | 'now' | undefined;
    let tookOverFrom: string | undefined;
    try {
      for (let attempt = 0; labelled === undefined; attempt++) {
        const pod = await readPod(p.namespace, p.pod);
        if (pod === undefined) return { outcome: 'not-found', detail: `pod ${where} does not exist` };
        const uid = pod.metadata?.uid;
        if (p.podUid !== undefined && uid !== p.podUid) {
          return {
            outcome: 'failed',
            detail: `pod ${where} has uid ${uid ?? '(none)'}, not ${p.podUid}: it is another pod of the same name; left untouched`,
          };
        }
        const current = pod.metadata?.labels?.[QUARANTINE_LABEL];
        if (current === p.quarantineId) {
          labelled = 'already';
          break;
        }
        const metadata: Record<string, unknown> = {
          // Precondition: the patch applies only to the pod as just read (and never to a replacement).
          resourceVersion: pod.metadata?.resourceVersion,
          labels: { [QUARANTINE_LABEL]: p.quarantineId },
        };
        if (annotate)
          metadata['annotations'] = { [QUARANTINE_REASON_ANNOTATION]: reasonAnnotation(p.reason) };
        try {
          await patchPod(p.namespace, p.pod, metadata);
          labelled = 'now';
          tookOverFrom = current;
        } catch (err) {
          if (isStatus(err, 404))
            return { outcome: 'not-found', detail: `pod ${where} was deleted while labelling it` };
          if (!isStatus(err, 409) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        }
      }
    } catch (err) {
      return { outcome: 'failed', detail: `cannot label pod ${where}: ${messageOf(err)}` };
    }
    const labelDetail =
      labelled === 'already'
        ? `pod ${where} already labelled ${QUARANTINE_LABEL}=${p.quarantineId}`
        : `labelled pod ${where} ${QUARANTINE_LABEL}=${p.quarantineId}` +
          (tookOverFrom !== undefined ? ` (it was held by quarantine ${tookOverFrom})` : '');
    let policy: 'existed' | 'created' | 'repaired';
    try {
      policy = await ensurePolicy(p.namespace);
    } catch (err) {
      return {
        outcome: 'failed',
        detail: `${labelDetail}, but cannot ensure NetworkPolicy ${p.namespace}/${QUARANTINE_POLICY_NAME}: ${messageOf(err)}`,
      };
    }
    const policyDetail = `NetworkPolicy ${p.namespace}/${QUARANTINE_POLICY_NAME} ${
      policy === 'existed'
        ? 'in place'
        : policy === 'created'
          ? 'created'
          : 'repaired (its spec had been changed)'
    }`;
    return {
      outcome: labelled === 'already' && policy === 'existed' ? 'already-applied' : 'applied',
      detail: `${labelDetail}; ${policyDetail}`,
    };
  }

  async function release(p: KubeReleaseParams): Promise<KubeLayerResult> {
    const bad = badParams(p);
    if (bad !== undefined) return { outcome: 'failed', detail: bad };
    const where = `${p.namespace}/${p.pod}`;
    let podDetail: string | undefined;
    let gone = false;
    try {
      for (let attempt = 0; podDetail === undefined; attempt++) {
        const pod = await readPod(p.namespace, p.pod);
        if (pod === undefined) {
          gone = true;
          podDetail = `pod ${where} does not exist`;
          break;
        }
        const uid = pod.metadata?.uid;
        if (p.podUid !== undefined && uid !== p.podUid) {
          gone = true;
          podDetail = `pod ${where} is now another pod (uid ${uid ?? '(none)'}, not ${p.podUid}); left untouched`;
          break;
        }
        const current = pod.metadata?.labels?.[QUARANTINE_LABEL];
        if (current === undefined) {
          podDetail = `pod ${where} was not labelled (already released)`;
          break;
        }
        if (current !== p.quarantineId) {
          podDetail = `pod ${where} is held by quarantine ${current} now; its label was left`;
          break;
        }
        const metadata: Record<string, unknown> = {
          resourceVersion: pod.metadata?.resourceVersion,
          labels: { [QUARANTINE_LABEL]: null },
        };
        if (pod.metadata?.annotations?.[QUARANTINE_REASON_ANNOTATION] !== undefined) {
          metadata['annotations'] = { [QUARANTINE_REASON_ANNOTATION]: null };
        }
        try {
          await patchPod(p.namespace, p.pod, metadata);
          podDetail = `removed ${QUARANTINE_LABEL} from pod ${where}`;
        } catch (err) {
          // 409: changed since our read; 404: deleted meanwhile (the next read says so).
          if (!(isStatus(err, 409) || isStatus(err, 404)) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        }
      }
    } catch (err) {
      return { outcome: 'failed', detail: `cannot unlabel pod ${where}: ${messageOf(err)}` };
    }
    let policyDetail: string;
    try {
      policyDetail = await cleanUpPolicy(p.namespace);
    } catch (err) {
      return {
        outcome: 'failed',
        detail: `${podDetail}, but cannot clean up NetworkPolicy ${p.namespace}/${QUARANTINE_POLICY_NAME}: ${messageOf(err)}`,
      };
    }
    return { outcome: gone ? 'not-found' : 'released', detail: `${podDetail}; ${policyDetail}` };
  }

  return {
    async getPod(namespace, name) {
      const pod = await readPod(namespace, name);
      if (pod === undefined) return undefined;
      return {
        namespace: pod.metadata?.namespace ?? namespace,
        name: pod.metadata?.name ?? name,
        uid: pod.metadata?.uid ?? '',
        nodeName: pod.spec?.nodeName,
        labels: { ...(pod.metadata?.labels ?? {}) },
      };
    },
    quarantine,
    release,
  };
}
