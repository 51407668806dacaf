/**
 * TypeScript shapes of the CRI `runtime.v1` messages in {@link RUNTIME_V1_PROTO}, as the client
 * hands them out.
 *
 * Decoded messages carry every field of the subset: scalars default to `''`, `0`, `0n` or
 * `false`, lists to `[]`, maps to `{}`, and an absent sub-message is `null` (proto3 cannot tell an
 * empty string from an unset one, so neither can we). Enums are their names, 64-bit integers
 * are `bigint` (timestamps are nanoseconds since the epoch), bytes are `Buffer`s.
 *
 * Requests are partial: leave out what you do not set. These types are the wire's; the rest of
 * the agent sees {@link PodMetadata} from the converter instead.
 *
 * @see ./runtime-v1-proto.ts
 */

/** A string-to-string map (labels, annotations, verbose info). */
export type CriMap = Readonly<Record<string, string>>;

/** Namespace sharing for a sandbox or container. */
export type CriNamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
/** Whether a sandbox is running. */
export type CriPodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
/** A container's life-cycle state. */
export type CriContainerState =
  'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** VersionResponse. */
export interface CriVersion {
  readonly version: string;
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly runtimeApiVersion: string;
}

/** PodSandboxMetadata: the pod's identity as the kubelet gave it. */
export interface CriPodSandboxMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

/** ContainerMetadata: the container's name in the pod spec. */
export interface CriContainerMetadata {
  readonly name: string;
  readonly attempt: number;
}

/** ImageSpec: an image reference. */
export interface CriImageSpec {
  readonly image: string;
  readonly annotations: CriMap;
  readonly userSpecifiedImage: string;
}

/** PodSandbox, an item of ListPodSandbox. */
export interface CriPodSandbox {
  readonly id: string;
  readonly metadata: CriPodSandboxMetadata | null;
  readonly state: CriPodSandboxState;
  readonly createdAt: bigint;
  readonly labels: CriMap;
  readonly annotations: CriMap;
  readonly runtimeHandler: string;
}

/** PodSandboxStatus: a sandbox with its network status. */
export interface CriPodSandboxStatus {
  readonly id: string;
  readonly metadata: CriPodSandboxMetadata | null;
  readonly state: CriPodSandboxState;
  readonly createdAt: bigint;
  readonly network: {
    readonly ip: string;
    readonly additionalIps: readonly { readonly ip: string }[];
  } | null;
  readonly labels: CriMap;
  readonly annotations: CriMap;
  readonly runtimeHandler: string;
}

/** PodSandboxStatusResponse; `info` holds runtime-specific JSON values when asked verbosely. */
export interface CriPodSandboxStatusResponse {
  readonly status: CriPodSandboxStatus | null;
  readonly info: CriMap;
}

/** Container, an item of ListContainers. */
export interface CriContainer {
  readonly id: string;
  readonly podSandboxId: string;
  readonly metadata: CriContainerMetadata | null;
  readonly image: CriImageSpec | null;
  readonly imageRef: string;
  readonly state: CriContainerState;
  readonly createdAt: bigint;
  readonly labels: CriMap;
  readonly annotations: CriMap;
  readonly imageId: string;
}

/** ContainerStatus: a container with its start and finish times. */
export interface CriContainerStatus {
  readonly id: string;
  readonly metadata: CriContainerMetadata | null;
  readonly state: CriContainerState;
  readonly createdAt: bigint;
  readonly startedAt: bigint;
  readonly finishedAt: bigint;
  readonly exitCode: number;
  readonly image: CriImageSpec | null;
  readonly imageRef: string;
  readonly reason: string;
  readonly message: string;
  readonly labels: CriMap;
  readonly annotations: CriMap;
  readonly mounts: readonly {
    readonly containerPath: string;
    readonly hostPath: string;
    readonly readonly: boolean;
  }[];
  readonly logPath: string;
  readonly imageId: string;
}

/** ContainerStatusResponse; `info` holds runtime-specific JSON values when asked verbosely. */
export interface CriContainerStatusResponse {
  readonly status: CriContainerStatus | null;
  readonly info: CriMap;
}

/** ExecSyncResponse. */
export interface CriExecSyncResponse {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

/** NamespaceOption, as a request sets it. */
export interface CriNamespaceOption {
  readonly network?: CriNamespaceMode;
  readonly pid?: CriNamespaceMode;
  readonly ipc?: CriNamespaceMode;
  readonly targetId?: string;
}

/** PodSandboxConfig, as RunPodSandbox and CreateContainer take it. */
export interface CriPodSandboxConfig {
  readonly metadata: {
    readonly name: string;
    readonly uid: string;
    readonly namespace: string;
    readonly attempt?: number;
  };
  readonly hostname?: string;
  readonly logDirectory?: string;
  readonly dnsConfig?: {
    readonly servers?: readonly string[];
    readonly searches?: readonly string[];
    readonly options?: readonly string[];
  };
  readonly labels?: CriMap;
  readonly annotations?: CriMap;
  readonly linux?: {
    readonly cgroupParent?: string;
    readonly securityContext?: {
      readonly namespaceOptions?: CriNamespaceOption;
      readonly readonlyRootfs?: boolean;
      readonly privileged?: boolean;
    };
    readonly sysctls?: CriMap;
  };
}

/** ContainerConfig, as CreateContainer takes it. */
export interface CriContainerConfig {
  readonly metadata: { readonly name: string; readonly attempt?: number };
  readonly image: {
    readonly image: string;
    readonly annotations?: CriMap;
    readonly userSpecifiedImage?: string;
  };
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly workingDir?: string;
  readonly envs?: readonly { readonly key: string; readonly value: string }[];
  readonly mounts?: readonly {
    readonly containerPath: string;
    readonly hostPath: string;
    readonly readonly?: boolean;
  }[];
  readonly labels?: CriMap;
  readonly annotations?: CriMap;
  readonly logPath?: string;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly tty?: boolean;
  readonly linux?: {
    readonly securityContext?: {
      readonly capabilities?: {
        readonly addCapabilities?: readonly string[];
        readonly dropCapabilities?: readonly string[];
      };
      readonly privileged?: boolean;
      readonly namespaceOptions?: CriNamespaceOption;
      readonly runAsUser?: { readonly value: bigint | number };
      readonly readonlyRootfs?: boolean;
      readonly noNewPrivs?: boolean;
    };
  };
}

/** PodSandboxFilter for ListPodSandbox; every field given must match. */
export interface CriPodSandboxFilter {
  readonly id?: string;
  readonly state?: { readonly state: CriPodSandboxState };
  readonly labelSelector?: CriMap;
}

/** ContainerFilter for ListContainers; every field given must match. */
export interface CriContainerFilter {
  readonly id?: string;
  readonly state?: { readonly state: CriContainerState };
  readonly podSandboxId?: string;
  readonly labelSelector?: CriMap;
}
