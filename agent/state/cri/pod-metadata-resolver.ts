/**
 * Container id -> pod metadata, cached, backed by the runtime's CRI API.
 *
 * The agent learns a process's container id from its cgroup and asks here for the pod. Known ids
 * are answered from memory. An unknown id makes the resolver re-list the runtime's containers and
 * sandboxes (two calls, plus one ContainerStatus per container it has not seen start). Refreshes
 * are coalesced and rate-limited: however many unknown ids arrive, at most one refresh runs per
 * `minRefreshIntervalMs`, and an id still unknown after a refresh is not asked about again for
 * `negativeTtlMs`. Sandbox (pause container) ids resolve to undefined without a refresh. The
 * cache keeps the `maxEntries` most recently used containers.
 *
 * @example
 * const pods = createPodMetadataResolver(createCriClient('/run/containerd/containerd.sock'));
 * const meta = await pods.resolve(containerIdFromCgroup(cgroupText) ?? '');
 * meta?.podName; // 'web-7d4b9c'
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { CriClient } from './cri-client.js';
import type { CriContainer, CriContainerStatus, CriPodSandbox } from './cri-messages.js';
import { podMetadataFromCri, type PodMetadata } from './pod-metadata.js';

/** The CRI calls the resolver uses. */
export type PodMetadataSource = Pick<CriClient, 'listContainers' | 'listPodSandbox' | 'containerStatus'>;

/** Options of {@link createPodMetadataResolver}. */
export interface PodMetadataResolverOptions {
  /** Containers kept; the least recently used go first. Default 4096. */
  readonly maxEntries?: number;
  /** Least time between the starts of two refreshes, in milliseconds. Default 1000. */
  readonly minRefreshIntervalMs?: number;
  /** How long an id a refresh did not find is answered "unknown" without asking, in ms. Default 30 000. */
  readonly negativeTtlMs?: number;
  /** ContainerStatus calls in flight at once during a refresh. Default 8. */
  readonly statusConcurrency?: number;
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
  /** Waits `ms` milliseconds. Default a timer; tests pass one that advances their clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of each failed refresh (the runtime is down, a deadline passed ...). Default: ignored. */
  readonly onRefreshError?: (err: Error) => void;
}

/** Counters for metrics. */
export interface PodMetadataResolverStats {
  /** Lookups that found metadata, from the cache or after a refresh. */
  readonly hits: number;
  /** Lookups that found nothing (after a refresh, or inside the negative TTL). */
  readonly misses: number;
  /** Refreshes run (including failed ones). */
  readonly refreshes: number;
  /** Refreshes that failed. */
  readonly refreshErrors: number;
  /** Containers currently cached. */
  readonly size: number;
}

/** Resolves container ids to pod metadata; see the module comment for the caching policy. */
export interface PodMetadataResolver {
  /** The cached metadata of `containerId`, without any I/O: for synchronous field resolution. */
  peek(containerId: string): PodMetadata | undefined;
  /**
   * The metadata of `containerId`, refreshing from the runtime when it is not cached (waiting at
   * most about `minRefreshIntervalMs` plus the refresh itself). Undefined when the runtime does
   * not know it as a container, or cannot be reached. Never rejects.
   */
  resolve(containerId: string): Promise<PodMetadata | undefined>;
  /** Refreshes now (or joins the next refresh, subject to the same rate limit), e.g. at start-up. */
  refresh(): Promise<void>;
  /** Counters for metrics. */
  stats(): PodMetadataResolverStats;
}

/** Creates a {@link PodMetadataResolver} over `source` (normally a {@link CriClient}). */
export function createPodMetadataResolver(
  source: PodMetadataSource,
  options: PodMetadataResolverOptions = {},
): PodMetadataResolver {
  const maxEntries = Math.max(1, options.maxEntries ?? 4096);
  const minInterval = options.minRefreshIntervalMs ?? 1000;
  const negativeTtl = options.negativeTtlMs ?? 30_000;
  const concurrency = Math.max(1, options.statusConcurrency ?? 8);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => sleepMs(ms));

  // Map iteration order is insertion order: re-inserting on use makes the first key the LRU one.
  const cache = new Map<string, PodMetadata>();
  const unknownSince = new Map<string, number>();
  let sandboxIds = new Set<string>();
  let lastRefreshStart = Number.NEGATIVE_INFINITY;
  let running: Promise<boolean> | undefined;
  let next: Promise<boolean> | undefined;
  let hits = 0;
  let misses = 0;
  let refreshes = 0;
  let refreshErrors = 0;

  function remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > maxEntries) {
      const oldest = map.keys().next();
      if (oldest.done === true) break;
      map.delete(oldest.value);
    }
  }

  async function statusOf(containers: readonly CriContainer[]): Promise<(CriContainerStatus | undefined)[]> {
    const out: (CriContainerStatus | undefined)[] = new Array<CriContainerStatus | undefined>(
      containers.length,
    );
    let index = 0;
    async function worker(): Promise<void> {
      while (index < containers.length) {
        const i = index++;
        const container = containers[i];
        if (container === undefined) continue;
        try {
          out[i] = (await source.containerStatus(container.id, false)).status ?? undefined;
        } catch {
          // Removed between the list and this call, usually; the list's data still stands.
          out[i] = undefined;
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, containers.length) }, worker));
    return out;
  }

  // Resolves to whether the runtime answered.
  async function runRefresh(): Promise<boolean> {
    lastRefreshStart = now();
    refreshes++;
    try {
      const [containers, sandboxes] = await Promise.all([source.listContainers(), source.listPodSandbox()]);
      const sandboxById = new Map<string, CriPodSandbox>(sandboxes.map((s) => [s.id, s]));
      sandboxIds = new Set(sandboxById.keys());
      // Only containers not seen yet, or seen before they started, need their status.
      const needStatus = containers.filter((c) => {
        const known = cache.get(c.id);
        return known === undefined || (known.startedAt === undefined && c.state !== 'CONTAINER_CREATED');
      });
      const statuses = await statusOf(needStatus);
      needStatus.forEach((container, i) => {
        const sandbox = sandboxById.get(container.podSandboxId);
        if (sandbox === undefined) return;
        const meta = podMetadataFromCri(container, sandbox, statuses[i]);
        if (meta === undefined) return;
        remember(cache, container.id, meta);
        unknownSince.delete(container.id);
      });
      return true;
    } catch (err) {
      refreshErrors++;
      options.onRefreshError?.(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  // A refresh that starts after the caller asked: joins the one already scheduled, else schedules
  // one to start when the running one is done and the minimum interval has passed.
  function scheduleRefresh(): Promise<boolean> {
    next ??= (async () => {
      // Always yield first (awaiting undefined too), so that `next` is assigned before it is cleared.
      await running;
      const wait = lastRefreshStart + minInterval - now();
      if (wait > 0) await sleep(wait);
      next = undefined;
      running = runRefresh();
      try {
        return await running;
      } finally {
        running = undefined;
      }
    })();
    return next;
  }

  function cached(containerId: string): PodMetadata | undefined {
    const meta = cache.get(containerId);
    if (meta !== undefined) remember(cache, containerId, meta);
    return meta;
  }

  return {
    peek(containerId) {
      const meta = cached(containerId);
      if (meta === undefined) misses++;
      else hits++;
      return meta;
    },

    async resolve(containerId) {
      let meta = cached(containerId);
      if (meta !== undefined) {
        hits++;
        return meta;
      }
      const since = unknownSince.get(containerId);
      if (
        containerId === '' ||
        sandboxIds.has(containerId) ||
        (since !== undefined && now() - since < negativeTtl)
      ) {
        misses++;
        return undefined;
      }
      const answered = await scheduleRefresh();
      meta = cached(containerId);
      if (meta === undefined) {
        misses++;
        // Only the runtime's own "no such container" is remembered; an outage is not.
        if (answered) remember(unknownSince, containerId, now());
      } else {
        hits++;
      }
      return meta;
    },

    async refresh() {
      await scheduleRefresh();
    },

    stats: () => ({ hits, misses, refreshes, refreshErrors, size: cache.size }),
  };
}
