/**
 * Pod metadata of one container, and the converter from CRI messages to it: the one place where
 * CRI shapes turn into what the agent's state and the `k8s.*` / `container.*` fields use.
 */
import type { CriContainer, CriContainerStatus, CriMap, CriPodSandbox } from './cri-messages.js';

/** What the agent knows about a container of a Kubernetes pod. */
export interface PodMetadata {
  /** The container's full id (64 hex digits for containerd and CRI-O). */
  readonly containerId: string;
  /** The container's name in the pod spec. */
  readonly containerName: string;
  /** The image as a name (`registry/repo:tag`) where the runtime knows one, else its id. */
  readonly image: string;
  /** The image's id or digest (`sha256:...`), when the runtime reports one. */
  readonly imageId?: string;
  /** The pod's name. */
  readonly podName: string;
  /** The pod's namespace. */
  readonly namespace: string;
  /** The pod's UID. */
  readonly podUid: string;
  /** The pod's labels, without the kubelet's own `io.kubernetes.pod.*` bookkeeping keys. */
  readonly labels: Readonly<Record<string, string>>;
  /** The id of the pod's sandbox (its pause container). */
  readonly sandboxId: string;
  /** When the container started, in nanoseconds since the epoch; undefined if it has not. */
  readonly startedAt: bigint | undefined;
}

// Keys the kubelet adds to every sandbox's labels to find its pods again; not the pod's labels.
const KUBELET_POD_KEYS = ['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid'];

function podLabels(labels: CriMap): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (!KUBELET_POD_KEYS.includes(key)) out[key] = value;
  }
  return Object.freeze(out);
}

function firstNonEmpty(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}

/**
 * Builds a container's {@link PodMetadata} from ListContainers' item, ListPodSandbox's item for
 * its sandbox and, when available, its ContainerStatus (which adds the start time and, on
 * containerd, the image's name where the kubelet passed only its id). Returns undefined when
 * `sandbox` is not the container's sandbox or carries no pod identity.
 */
export function podMetadataFromCri(
  container: CriContainer,
  sandbox: CriPodSandbox,
  status?: CriContainerStatus,
): PodMetadata | undefined {
  if (sandbox.id !== container.podSandboxId) return undefined;
  const pod = sandbox.metadata;
  const podName = firstNonEmpty(pod?.name, container.labels['io.kubernetes.pod.name']);
  const namespace = firstNonEmpty(pod?.namespace, container.labels['io.kubernetes.pod.namespace']);
  if (podName === undefined || namespace === undefined) return undefined;

  const image =
    firstNonEmpty(status?.image?.image, container.image?.userSpecifiedImage, container.image?.image) ?? '';
  const imageId = firstNonEmpty(container.imageId, status?.imageId, container.imageRef, status?.imageRef);
  const startedAt = status !== undefined && status.startedAt > 0n ? status.startedAt : undefined;
  const meta: PodMetadata = {
    containerId: container.id,
    containerName:
      firstNonEmpty(
        container.metadata?.name,
        status?.metadata?.name,
        container.labels['io.kubernetes.container.name'],
      ) ?? '',
    image,
    ...(imageId === undefined ? {} : { imageId }),
    podName,
    namespace,
    podUid: firstNonEmpty(pod?.uid, container.labels['io.kubernetes.pod.uid']) ?? '',
    labels: podLabels(sandbox.labels),
    sandboxId: sandbox.id,
    startedAt,
  };
  return Object.freeze(meta);
}
