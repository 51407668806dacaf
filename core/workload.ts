/**
 * Workload identity: which controller-managed application a container belongs to. Baselines,
 * alert grouping and quarantine policies key on it, so it must be the same for every replica
 * and every restart of the workload (pod names are not: they carry random or ordinal suffixes).
 *
 * Pure: derived from what the agent knows of a pod (name, namespace, labels, and annotations
 * or owner references when a source has them), with no call to the Kubernetes API.
 */

/**
 * The kind of a workload's owner. Kubernetes' own controllers are named; an owner reference to
 * anything else (an operator's custom resource) passes its kind through unchanged.
 *
 * - `Deployment`, `ReplicaSet` (one not made by a Deployment), `StatefulSet`, `DaemonSet`,
 *   `Job`, `CronJob`: as in Kubernetes
 * - `StaticPod`: a pod the kubelet runs from a manifest file (a mirror pod)
 * - `Pod`: a bare pod, its own owner
 */
export type OwnerKind =
  | 'Deployment'
  | 'ReplicaSet'
  | 'StatefulSet'
  | 'DaemonSet'
  | 'Job'
  | 'CronJob'
  | 'StaticPod'
  | 'Pod'
  | (string & {});

/** The identity of one container of a workload. */
export interface Workload {
  readonly namespace: string;
  readonly ownerKind: OwnerKind;
  readonly ownerName: string;
  /** The container's name in the pod spec. */
  readonly container: string;
  /** The image the container runs (not part of {@link workloadKey}: an upgrade keeps identity). */
  readonly image: string;
}

/** A pod's owner reference, as the Kubernetes API has it (only what is used here). */
export interface OwnerReference {
  readonly kind: string;
  readonly name: string;
  /** Whether this owner is the pod's managing controller. */
  readonly controller?: boolean;
}

/**
 * What {@link workloadOf} reads. The agent's pod metadata (from the container runtime) has all
 * of the required fields; the optional ones sharpen the answer where a source provides them.
 */
export interface PodIdentity {
  readonly namespace: string;
  readonly podName: string;
  readonly containerName: string;
  readonly image: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  /** The node the pod runs on: lets a static pod's name lose its node suffix. */
  readonly nodeName?: string;
}

// Labels and annotations Kubernetes' controllers and the kubelet put on pods.
const POD_TEMPLATE_HASH = 'pod-template-hash';
const CONTROLLER_REVISION_HASH = 'controller-revision-hash';
const POD_TEMPLATE_GENERATION = 'pod-template-generation';
const STATEFULSET_POD_NAME = 'statefulset.kubernetes.io/pod-name';
const POD_INDEX = 'apps.kubernetes.io/pod-index';
const JOB_NAME = ['batch.kubernetes.io/job-name', 'job-name'];
const JOB_CONTROLLER_UID = ['batch.kubernetes.io/controller-uid', 'controller-uid'];
const JOB_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
const CONFIG_MIRROR = 'kubernetes.io/config.mirror';
const CONFIG_SOURCE = 'kubernetes.io/config.source';

// The random part Kubernetes appends to a generateName.
const GENERATED_SUFFIX_LENGTH = 5;

// A CronJob names each Job `<cronjob>-<scheduled time in minutes since the epoch>`. Requiring
// at least 2.6e7 minutes (mid 2019 onward) keeps Jobs named after dates (`backup-20240101`,
// 2.02e7) from being taken for a CronJob's.
const CRONJOB_SUFFIX = /^(.+)-(\d{8,10})$/;
const CRONJOB_MIN_MINUTES = 26_000_000;

/** The first of `keys` present in `map`, with a non-empty value. */
function firstOf(map: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = map[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** `name` without its last `-segment` (a generated suffix); unchanged when there is none. */
function withoutSuffix(name: string): string {
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : name;
}

/** The CronJob that made Job `jobName`, when the name has a CronJob's time suffix. */
function cronJobOf(jobName: string): string | undefined {
  const match = CRONJOB_SUFFIX.exec(jobName);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return Number(match[2]) >= CRONJOB_MIN_MINUTES ? match[1] : undefined;
}

/** The Deployment of a pod named `<deployment>-<hash>-<random>`. */
function deploymentOfPod(podName: string, hash: string): string {
  const at = podName.lastIndexOf(`-${hash}-`);
  if (at > 0) return podName.slice(0, at);
  // A generated name is the first 58 characters of `<replicaset>-` and 5 random ones: with a
  // long Deployment name the cut falls inside the hash. What is left of it is a prefix of the
  // hash after the last dash that leaves one.
  const base = podName.slice(0, -GENERATED_SUFFIX_LENGTH);
  for (let cut = base.lastIndexOf('-'); cut > 0; cut = base.lastIndexOf('-', cut - 1)) {
    if (hash.startsWith(base.slice(cut + 1))) return base.slice(0, cut);
  }
  return base;
}

function jobOwner(jobName: string): { kind: OwnerKind; name: string } {
  const cronJob = cronJobOf(jobName);
  return cronJob === undefined ? { kind: 'Job', name: jobName } : { kind: 'CronJob', name: cronJob };
}

function staticPodName(podName: string, nodeName: string | undefined): string {
  return nodeName !== undefined && nodeName !== '' && podName.endsWith(`-${nodeName}`)
    ? podName.slice(0, podName.length - nodeName.length - 1)
    : podName;
}

/**
 * The owner of a pod, from these signals, first match wins:
 *
 * 1. The controller owner reference, when the source has owner references: a `ReplicaSet`
 *    whose name ends in the pod's `pod-template-hash` is reported as its `Deployment`; a `Job`
 *    whose name ends in a CronJob's time suffix as its `CronJob`; a `Node` (mirror pod) as a
 *    `StaticPod`; anything else as it is.
 * 2. Label `pod-template-hash`: a Deployment's pod (`<deployment>-<hash>-<random>`); the
 *    Deployment is the name up to `-<hash>-` (or, where a long name cut the hash short, up to
 *    what is left of it).
 * 3. Label `statefulset.kubernetes.io/pod-name` or `apps.kubernetes.io/pod-index`, or a
 *    `controller-revision-hash` of the form `<set>-<hash>` on a pod named `<set>-<ordinal>`:
 *    a StatefulSet, the name without `-<ordinal>`.
 * 4. Label `controller-revision-hash` or `pod-template-generation` (what is left): a DaemonSet's
 *    pod (`<daemonset>-<random>`), the name without its suffix.
 * 5. Label `batch.kubernetes.io/job-name` or `job-name`: a Job of that name, or the CronJob that
 *    made it (a Job named `<cronjob>-<minutes since the epoch>`). Label
 *    `batch.kubernetes.io/controller-uid` or `controller-uid` alone: a Job, the name without its
 *    suffix (and without the completion index of an indexed Job).
 * 6. Annotation `kubernetes.io/config.mirror`, or `kubernetes.io/config.source` other than
 *    `api`: a static pod, named without its `-<node>` suffix when the node is known.
 * 7. Otherwise a bare pod, its own owner.
 */
export function ownerOf(pod: PodIdentity): { kind: OwnerKind; name: string } {
  const labels = pod.labels ?? {};
  const annotations = pod.annotations ?? {};
  const name = pod.podName;

  const controller = pod.ownerReferences?.find((ref) => ref.controller === true) ?? pod.ownerReferences?.[0];
  if (controller !== undefined && controller.name !== '') {
    const hash = labels[POD_TEMPLATE_HASH];
    if (controller.kind === 'ReplicaSet' && hash !== undefined && controller.name.endsWith(`-${hash}`)) {
      return { kind: 'Deployment', name: controller.name.slice(0, -hash.length - 1) };
    }
    if (controller.kind === 'Job') return jobOwner(controller.name);
    if (controller.kind === 'Node') return { kind: 'StaticPod', name: staticPodName(name, controller.name) };
    return { kind: controller.kind, name: controller.name };
  }

  const templateHash = labels[POD_TEMPLATE_HASH];
  if (templateHash !== undefined && templateHash !== '') {
    return { kind: 'Deployment', name: deploymentOfPod(name, templateHash) };
  }

  const revision = labels[CONTROLLER_REVISION_HASH];
  const ordinal = /^(.+)-(\d+)$/.exec(name);
  if (
    labels[STATEFULSET_POD_NAME] !== undefined ||
    labels[POD_INDEX] !== undefined ||
    (revision !== undefined && ordinal?.[1] !== undefined && revision.startsWith(`${ordinal[1]}-`))
  ) {
    return { kind: 'StatefulSet', name: ordinal?.[1] ?? name };
  }
  if (revision !== undefined || labels[POD_TEMPLATE_GENERATION] !== undefined) {
    return { kind: 'DaemonSet', name: withoutSuffix(name) };
  }

  const jobName = firstOf(labels, JOB_NAME);
  if (jobName !== undefined) return jobOwner(jobName);
  if (firstOf(labels, JOB_CONTROLLER_UID) !== undefined) {
    let job = withoutSuffix(name);
    const index = labels[JOB_COMPLETION_INDEX];
    if (index !== undefined && job.endsWith(`-${index}`)) job = job.slice(0, -index.length - 1);
    return jobOwner(job);
  }

  const source = annotations[CONFIG_SOURCE];
  if (annotations[CONFIG_MIRROR] !== undefined || (source !== undefined && source !== 'api')) {
    return { kind: 'StaticPod', name: staticPodName(name, pod.nodeName) };
  }

  return { kind: 'Pod', name };
}

/**
 * The workload identity of one container of a pod.
 *
 * @example
 * workloadOf({ namespace: 'shop', podName: 'web-7d4b9c6f5-x2x9k', containerName: 'nginx',
 *   image: 'nginx:1.27', labels: { 'pod-template-hash': '7d4b9c6f5' } });
 * // { namespace: 'shop', ownerKind: 'Deployment', ownerName: 'web', container: 'nginx', image: 'nginx:1.27' }
 */
export function workloadOf(pod: PodIdentity): Workload {
  const owner = ownerOf(pod);
  return {
    namespace: pod.namespace,
    ownerKind: owner.kind,
    ownerName: owner.name,
    container: pod.containerName,
    image: pod.image,
  };
}

/**
 * The stable string key of a workload: `namespace/Kind/name/container`. Kubernetes names and
 * namespaces cannot contain `/`, so the key splits back unambiguously.
 *
 * @example workloadKey(w) // 'shop/Deployment/web/nginx'
 */
export function workloadKey(workload: Workload): string {
  return `${workload.namespace}/${workload.ownerKind}/${workload.ownerName}/${workload.container}`;
}
