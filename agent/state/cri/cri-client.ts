/**
 * A client for a container runtime's CRI `runtime.v1` API (containerd, CRI-O) over its Unix
 * socket: the agent's source of pod metadata, and the test harness's way to run pods.
 *
 * Every call has a deadline; a failed call rejects with a {@link CriCallError} naming the method
 * and carrying the gRPC status code.
 *
 * @example
 * const cri = createCriClient('/run/containerd/containerd.sock');
 * const { runtimeName, runtimeVersion } = await cri.version();
 * const running = await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
 * cri.close();
 */
import * as grpc from '@grpc/grpc-js';
import type {
  CriContainer,
  CriContainerConfig,
  CriContainerFilter,
  CriContainerStatusResponse,
  CriExecSyncResponse,
  CriPodSandbox,
  CriPodSandboxConfig,
  CriPodSandboxFilter,
  CriPodSandboxStatusResponse,
  CriVersion,
} from './cri-messages.js';
import { runtimeServiceDefinition, type RuntimeMethodName } from './runtime-v1-service.js';

/** The CRI API version this client speaks, sent in VersionRequest. */
export const CRI_API_VERSION = 'v1';

/** Options of {@link createCriClient}. */
export interface CriClientOptions {
  /** Deadline of each call unless the call says otherwise, in milliseconds. Default 10 000. */
  readonly deadlineMs?: number;
  /** Largest response accepted, in bytes (a busy node's ListContainers is large). Default 16 MiB. */
  readonly maxReceiveBytes?: number;
}

/** Per-call options. */
export interface CriCallOptions {
  /** Deadline of this call, in milliseconds. */
  readonly deadlineMs?: number;
}

/** The runtime service's calls, typed. All reject with {@link CriCallError}. */
export interface CriClient {
  /** The runtime's name and versions; also the cheapest way to see that it answers. */
  version(options?: CriCallOptions): Promise<CriVersion>;
  /** Containers, all or those matching `filter`. */
  listContainers(filter?: CriContainerFilter, options?: CriCallOptions): Promise<CriContainer[]>;
  /** One container's status; with `verbose` the runtime adds JSON in `info` (pid, OCI spec ...). */
  containerStatus(
    containerId: string,
    verbose?: boolean,
    options?: CriCallOptions,
  ): Promise<CriContainerStatusResponse>;
  /** Pod sandboxes, all or those matching `filter`. */
  listPodSandbox(filter?: CriPodSandboxFilter, options?: CriCallOptions): Promise<CriPodSandbox[]>;
  /** One sandbox's status with its IP; with `verbose` the runtime adds JSON in `info`. */
  podSandboxStatus(
    sandboxId: string,
    verbose?: boolean,
    options?: CriCallOptions,
  ): Promise<CriPodSandboxStatusResponse>;
  /** Creates and starts a pod sandbox; resolves to its id. */
  runPodSandbox(
    config: CriPodSandboxConfig,
    runtimeHandler?: string,
    options?: CriCallOptions,
  ): Promise<string>;
  /** Stops a sandbox and every container in it, and releases its network. Idempotent. */
  stopPodSandbox(sandboxId: string, options?: CriCallOptions): Promise<void>;
  /** Removes a sandbox and its containers. Idempotent. */
  removePodSandbox(sandboxId: string, options?: CriCallOptions): Promise<void>;
  /** Creates a container in a sandbox; resolves to its id. */
  createContainer(
    sandboxId: string,
    config: CriContainerConfig,
    sandboxConfig: CriPodSandboxConfig,
    options?: CriCallOptions,
  ): Promise<string>;
  /** Starts a created container. */
  startContainer(containerId: string, options?: CriCallOptions): Promise<void>;
  /** Stops a container, killing it after `timeoutSeconds` (0: at once). Idempotent. */
  stopContainer(containerId: string, timeoutSeconds: number, options?: CriCallOptions): Promise<void>;
  /** Removes a container. Idempotent. */
  removeContainer(containerId: string, options?: CriCallOptions): Promise<void>;
  /**
   * Runs `cmd` in a running container and waits for it, up to `timeoutSeconds` (0: no limit but
   * the call's deadline, which defaults to the timeout plus the client's deadline).
   */
  execSync(
    containerId: string,
    cmd: readonly string[],
    timeoutSeconds: number,
    options?: CriCallOptions,
  ): Promise<CriExecSyncResponse>;
  /** Closes the connection; later calls fail. */
  close(): void;
}

/** A CRI call that failed: the method, the gRPC status code and the runtime's message. */
export class CriCallError extends Error {
  /** The RPC that failed, e.g. `ContainerStatus`. */
  readonly method: RuntimeMethodName;
  /** The gRPC status code (`grpc.status.NOT_FOUND`, `DEADLINE_EXCEEDED`, `UNAVAILABLE` ...). */
  readonly code: grpc.status;

  constructor(method: RuntimeMethodName, code: grpc.status, details: string, cause: unknown) {
    super(`CRI ${method} failed: ${grpc.status[code] ?? code}: ${details}`, { cause });
    this.name = 'CriCallError';
    this.method = method;
    this.code = code;
  }
}

const DEFAULT_DEADLINE_MS = 10_000;
const DEFAULT_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;

/**
 * Connects (lazily, on the first call) to the CRI runtime listening on the Unix socket
 * `socketPath` and returns typed calls.
 */
export function createCriClient(socketPath: string, options: CriClientOptions = {}): CriClient {
  const defaultDeadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': options.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES,
  });
  const methods = runtimeServiceDefinition();

  function call<Res>(
    name: RuntimeMethodName,
    request: object,
    callOptions: CriCallOptions | undefined,
  ): Promise<Res> {
    const method = methods[name];
    const deadline = new Date(Date.now() + (callOptions?.deadlineMs ?? defaultDeadlineMs));
    return new Promise<Res>((resolve, reject) => {
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline },
        (err: grpc.ServiceError | null, response?: object) => {
          if (err !== null) {
            reject(new CriCallError(name, err.code, err.details, err));
          } else if (response === undefined) {
            reject(new CriCallError(name, grpc.status.INTERNAL, 'empty response', undefined));
          } else {
            resolve(response as Res);
          }
        },
      );
    });
  }

  return {
    version: (o) => call<CriVersion>('Version', { version: CRI_API_VERSION }, o),
    listContainers: async (filter, o) =>
      (
        await call<{ containers: CriContainer[] }>(
          'ListContainers',
          filter === undefined ? {} : { filter },
          o,
        )
      ).containers,
    containerStatus: (containerId, verbose = false, o) =>
      call<CriContainerStatusResponse>('ContainerStatus', { containerId, verbose }, o),
    listPodSandbox: async (filter, o) =>
      (await call<{ items: CriPodSandbox[] }>('ListPodSandbox', filter === undefined ? {} : { filter }, o))
        .items,
    podSandboxStatus: (podSandboxId, verbose = false, o) =>
      call<CriPodSandboxStatusResponse>('PodSandboxStatus', { podSandboxId, verbose }, o),
    runPodSandbox: async (config, runtimeHandler = '', o) =>
      (await call<{ podSandboxId: string }>('RunPodSandbox', { config, runtimeHandler }, o)).podSandboxId,
    stopPodSandbox: async (podSandboxId, o) => {
      await call('StopPodSandbox', { podSandboxId }, o);
    },
    removePodSandbox: async (podSandboxId, o) => {
      await call('RemovePodSandbox', { podSandboxId }, o);
    },
    createContainer: async (podSandboxId, config, sandboxConfig, o) =>
      (await call<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig }, o))
        .containerId,
    startContainer: async (containerId, o) => {
      await call('StartContainer', { containerId }, o);
    },
    stopContainer: async (containerId, timeoutSeconds, o) => {
      await call('StopContainer', { containerId, timeout: timeoutSeconds }, o);
    },
    removeContainer: async (containerId, o) => {
      await call('RemoveContainer', { containerId }, o);
    },
    execSync: (containerId, cmd, timeoutSeconds, o) =>
      call<CriExecSyncResponse>(
        'ExecSync',
        { containerId, cmd, timeout: timeoutSeconds },
        {
          deadlineMs: o?.deadlineMs ?? timeoutSeconds * 1000 + defaultDeadlineMs,
        },
      ),
    close: () => client.close(),
  };
}
