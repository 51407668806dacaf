/**
 * The quarantine service: starts and releases quarantines of pods on two layers at once and
 * records every step in the audit log.
 *
 * - Kubernetes layer (optional, `response.kubernetes`): the pod is labelled
 *   `vigil.dev/quarantine=<id>` and a deny-all NetworkPolicy selects the label
 *   (collector/response/kube/).
 * - Node layer: the agent on the pod's node cuts the pod's network in its network namespace
 *   with nftables, through a command over the agent link.
 *
 * The node comes from Kubernetes (`spec.nodeName`). Without a Kubernetes layer the command goes
 * to every connected agent, and the one that has the pod answers `applied`; the others answer
 * `not-on-this-node`. An agent that is not connected leaves the node layer `pending`: the
 * command is sent again when it connects (also after a collector restart, since the records are
 * in the database). Commands are idempotent on the agent, so a resend is harmless.
 *
 * A pod has at most one open quarantine: asking again for an active one returns it (after
 * retrying any layer that is not applied). Calls for one pod are serialised; calls for different
 * pods run in parallel.
 *
 * Namespaces in `neverNamespaces` (kube-system by default) are refused: to policies always, to
 * people unless an admin passes `force: true`.
 */
import type { Role } from '../auth/role.js';
import type { Logger } from '../../core/log.js';
import type { Command, CommandResult } from '../../proto/link-messages.js';
import type { AgentEvent } from '../ingest/agent-session.js';
import { CommandDeliveryError } from '../ingest/command-router.js';
import type { CollectorStore } from '../store/store.js';
import type { AuditLog } from './audit-log.js';
import {
  newQuarantineId,
  type LayerState,
  type Quarantine,
  type QuarantineQuery,
  type QuarantineStore,
} from './quarantine-store.js';
import type { ResponseMetrics } from './response-metrics.js';

/** A pod as the Kubernetes layer finds it (CONTRACTS 5). */
export interface KubePodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly nodeName: string | undefined;
}

/** What one Kubernetes-layer call did (CONTRACTS 5). */
export interface KubeLayerOutcome {
  readonly outcome: 'applied' | 'already-applied' | 'released' | 'not-found' | 'failed';
  readonly detail: string;
}

/** The Kubernetes layer, as collector/response/kube/ provides it (`KubeQuarantineLayer`). */
export interface KubeLayer {
  getPod(namespace: string, name: string): Promise<KubePodInfo | undefined>;
  quarantine(p: {
    namespace: string;
    pod: string;
    quarantineId: string;
    reason: string;
    podUid?: string;
  }): Promise<KubeLayerOutcome>;
  release(p: {
    namespace: string;
    pod: string;
    quarantineId: string;
    podUid?: string;
  }): Promise<KubeLayerOutcome>;
}

/** The agent link, as the ingest server provides it. */
export interface NodeLink {
  sendCommand(
    node: string,
    command: Command,
    options?: { readonly timeoutMs?: number },
  ): Promise<CommandResult>;
  connectedNodes(): string[];
  onAgentEvent(listener: (event: AgentEvent) => void): void;
}

/** Who asks: an API caller (with the token's role) or a response policy. */
export type QuarantineActor =
  | { readonly kind: 'token'; readonly name: string; readonly role: Role }
  | { readonly kind: 'policy'; readonly name: string };

/** The audit-log spelling of an actor: `token:<name>` or `policy:<name>`. */
export function actorId(actor: QuarantineActor): string {
  return `${actor.kind}:${actor.name}`;
}

/** What to quarantine. Either namespace and pod, or an alert that names them. */
export interface QuarantineRequest {
  readonly namespace?: string;
  readonly pod?: string;
  readonly reason: string;
  readonly alertId?: string;
  /** Cut established connections too (default true). */
  readonly cutEstablished?: boolean;
  /** Also freeze the pod's cgroup (default false). */
  readonly freeze?: boolean;
  /** Quarantine in a never-touch namespace all the same (admins only). */
  readonly force?: boolean;
}

/** A request the service refuses, with the HTTP status that fits. */
export class QuarantineRequestError extends Error {
  override readonly name = 'QuarantineRequestError';
  constructor(
    readonly status: 400 | 403 | 404,
    message: string,
    /** The request field at fault. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** What the service is built from. */
export interface QuarantineServiceOptions {
  readonly quarantines: QuarantineStore;
  readonly audit: AuditLog;
  /** Where alerts are looked up (a quarantine may name only its alert). */
  readonly alerts: Pick<CollectorStore, 'getAlert'>;
  readonly link: NodeLink;
  /** The Kubernetes layer; undefined when `response.kubernetes.mode` is off. */
  readonly kube?: KubeLayer;
  /** Namespaces never quarantined by policy, nor by people without `force` (admins). */
  readonly neverNamespaces: readonly string[];
  /** How long an agent may take to answer a command. */
  readonly commandTimeoutMs: number;
  /**
   * How often commands that got no answer from a still-connected agent are sent again (default
   * 30 s). Agents that reconnect get theirs at once.
   */
  readonly retryIntervalMs?: number;
  readonly metrics: ResponseMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}

/** The outcome of {@link QuarantineService.start}. */
export interface StartResult {
  readonly quarantine: Quarantine;
  /** False when the pod already had an active quarantine, which is returned. */
  readonly created: boolean;
}

/** The quarantine service. */
export interface QuarantineService {
  /** Quarantines a pod; resolves once both layers answered or timed out. */
  start(request: QuarantineRequest, actor: QuarantineActor): Promise<StartResult>;
  /** Releases a quarantine; resolves once both layers answered or timed out. Idempotent. */
  release(id: string, reason: string, actor: QuarantineActor): Promise<Quarantine>;
  get(id: string): Quarantine | undefined;
  /** The pod's open (active or releasing) quarantine. */
  openFor(namespace: string, pod: string): Quarantine | undefined;
  list(query?: QuarantineQuery): Quarantine[];
  /** Whether `namespace` is one the response never touches (by policy). */
  isNeverNamespace(namespace: string): boolean;
  /** Waits for calls in flight and stops reacting to agents connecting. */
  close(): Promise<void>;
}

/** Kubernetes names: a DNS-1123 label (namespaces) or subdomain (pods). */
const NAMESPACE_SHAPE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const POD_SHAPE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Longest reason kept. */
export const MAX_REASON_LENGTH = 2000;
/** Agents a broadcast command goes to at once. */
const BROADCAST_CHUNK = 64;

/** Checks a reason: non-empty after trimming, at most {@link MAX_REASON_LENGTH} characters. */
export function checkReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new QuarantineRequestError(
      400,
      'reason is required: say why (it goes into the audit log)',
      'reason',
    );
  }
  const r = reason.trim();
  if (r.length > MAX_REASON_LENGTH) {
    throw new QuarantineRequestError(
      400,
      `reason is ${r.length} characters; at most ${MAX_REASON_LENGTH}`,
      'reason',
    );
  }
  return r;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The pod an alert names: its workload, or the k8s.* output fields. */
export function podOfAlert(alert: {
  readonly workload?: { readonly namespace?: string; readonly pod?: string };
  readonly output_fields: Readonly<Record<string, unknown>>;
}): { namespace: string; pod: string } | undefined {
  const f = alert.output_fields;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const namespace = text(alert.workload?.namespace) ?? text(f['k8s.ns.name']);
  const pod = text(alert.workload?.pod) ?? text(f['k8s.pod.name']);
  return namespace !== undefined && pod !== undefined ? { namespace, pod } : undefined;
}

/** Creates the quarantine service and starts listening for agents connecting. */
export function createQuarantineService(options: QuarantineServiceOptions): QuarantineService {
  const { quarantines, audit, link, kube, metrics, now } = options;
  const log = options.logger.child({ component: 'response' });
  const never = new Set(options.neverNamespaces);
  let closed = false;
  let attempt = 0;

  // One chain of calls per pod; entries go when their chain is idle, so the map holds at most
  // the pods with calls in flight.
  const chains = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();
  const serialise = <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = chains.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    chains.set(key, tail);
    inFlight.add(tail);
    void tail.then(() => {
      inFlight.delete(tail);
      if (chains.get(key) === tail) chains.delete(key);
    });
    return run;
  };
  const podKey = (namespace: string, pod: string): string => `${namespace}/${pod}`;

  const layer = (state: LayerState['state'], detail: string): LayerState => ({
    state,
    detail,
    updatedMs: now(),
  });

  const record = (
    q: Quarantine,
    actor: string,
    action: string,
    detail: Record<string, unknown> = {},
    reason: string | null = null,
  ): void => {
    audit.append({
      actor,
      action,
      quarantineId: q.id,
      alertId: q.alertId,
      namespace: q.namespace,
      pod: q.pod,
      reason,
      detail,
    });
  };

  const commandId = (q: Quarantine, op: string, node: string): string => `${q.id}.${op}.${node}.${++attempt}`;

  // ---- Kubernetes layer ----

  const kubeQuarantine = async (q: Quarantine): Promise<LayerState> => {
    if (kube === undefined)
      return layer('skipped', 'no Kubernetes API configured (response.kubernetes.mode: off)');
    try {
      const r = await kube.quarantine({
        namespace: q.namespace,
        pod: q.pod,
        quarantineId: q.id,
        reason: q.reason,
        ...(q.podUid !== null && { podUid: q.podUid }),
      });
      switch (r.outcome) {
        case 'applied':
        case 'already-applied':
          return layer('applied', r.detail);
        case 'not-found':
          return layer('not-found', r.detail);
        default:
          return layer('failed', r.detail);
      }
    } catch (err) {
      return layer('failed', `the Kubernetes API call failed: ${errorText(err)}`);
    }
  };

  const kubeRelease = async (q: Quarantine): Promise<LayerState> => {
    if (kube === undefined) {
      return q.layers.kubernetes.state === 'applied'
        ? layer(
            'failed',
            'the label and policy were applied, but no Kubernetes API is configured now to remove them',
          )
        : layer('skipped', 'no Kubernetes API configured (response.kubernetes.mode: off)');
    }
    try {
      const r = await kube.release({
        namespace: q.namespace,
        pod: q.pod,
        quarantineId: q.id,
        ...(q.podUid !== null && { podUid: q.podUid }),
      });
      switch (r.outcome) {
        case 'released':
        case 'already-applied':
          return layer('released', r.detail);
        case 'not-found':
          return layer('released', `nothing left to remove: ${r.detail}`);
        default:
          return layer('failed', r.detail);
      }
    } catch (err) {
      return layer('failed', `the Kubernetes API call failed: ${errorText(err)}`);
    }
  };

  // ---- node layer ----

  const quarantineCommand = (q: Quarantine, node: string): Command => ({
    id: commandId(q, 'quarantine', node),
    action: {
      type: 'quarantine',
      quarantineId: q.id,
      namespace: q.namespace,
      pod: q.pod,
      podUid: q.podUid ?? '',
      cutEstablished: q.cutEstablished,
      freeze: q.freeze,
      reason: q.reason,
    },
  });
  const releaseCommand = (q: Quarantine, node: string): Command => ({
    id: commandId(q, 'release', node),
    action: { type: 'release', quarantineId: q.id, namespace: q.namespace, pod: q.pod },
  });

  type Delivery = { node: string; result: CommandResult } | { node: string; error: string; pending: boolean };
  const deliver = async (node: string, command: Command): Promise<Delivery> => {
    try {
      return { node, result: await link.sendCommand(node, command, { timeoutMs: options.commandTimeoutMs }) };
    } catch (err) {
      if (err instanceof CommandDeliveryError) {
        // No answer: the command may or may not have been applied; it is resent (same effect).
        return { node, error: err.message, pending: err.reason !== 'duplicate-id' };
      }
      return { node, error: errorText(err), pending: false };
    }
  };

  /** Sends the quarantine to `node` and maps the answer; `node` undefined: to every connected agent. */
  const nodeQuarantine = async (
    q: Quarantine,
    node: string | undefined,
  ): Promise<{ state: LayerState; node: string | null }> => {
    if (node !== undefined) {
      if (!link.connectedNodes().includes(node)) {
        return {
          state: layer(
            'pending',
            `the agent on node ${node} is not connected; the command is sent when it connects`,
          ),
          node,
        };
      }
      const d = await deliver(node, quarantineCommand(q, node));
      return { state: nodeQuarantineState(d), node };
    }
    const nodes = link.connectedNodes();
    if (nodes.length === 0) {
      return {
        state: layer(
          'pending',
          'the pod\u2019s node is not known and no agent is connected; sent to agents as they connect',
        ),
        node: null,
      };
    }
    const answers: Delivery[] = [];
    for (let i = 0; i < nodes.length; i += BROADCAST_CHUNK) {
      const chunk = nodes.slice(i, i + BROADCAST_CHUNK);
      answers.push(...(await Promise.all(chunk.map((n) => deliver(n, quarantineCommand(q, n))))));
      const hit = answers.find(
        (a) => 'result' in a && (a.result.outcome === 'applied' || a.result.outcome === 'already-applied'),
      );
      if (hit !== undefined) return { state: nodeQuarantineState(hit), node: hit.node };
    }
    const failed = answers.find((a) => 'result' in a && a.result.outcome === 'failed');
    if (failed !== undefined) return { state: nodeQuarantineState(failed), node: failed.node };
    const silent = answers.filter((a) => 'error' in a);
    if (silent.length > 0) {
      return {
        state: layer(
          'pending',
          `no agent reported the pod; ${silent.length} of ${nodes.length} did not answer (${silent
            .slice(0, 3)
            .map((s) => s.node)
            .join(', ')}); resent when agents connect`,
        ),
        node: null,
      };
    }
    return {
      state: layer(
        'not-found',
        `none of the ${nodes.length} connected agents runs pod ${q.namespace}/${q.pod}`,
      ),
      node: null,
    };
  };

  const nodeQuarantineState = (d: Delivery): LayerState => {
    if ('error' in d) {
      return d.pending
        ? layer('pending', `no answer from node ${d.node} (${d.error}); resent when its agent connects`)
        : layer('failed', d.error);
    }
    const detail = `node ${d.node}: ${d.result.detail}`;
    switch (d.result.outcome) {
      case 'applied':
      case 'already-applied':
        return layer('applied', detail);
      case 'not-on-this-node':
        return layer('not-found', detail);
      default:
        return layer('failed', detail);
    }
  };

  const nodeRelease = async (q: Quarantine): Promise<LayerState> => {
    if (q.node === null) {
      // No agent reported the pod. But a pending broadcast may have reached an agent that applied
      // it without answering in time: ask every connected agent to release it (the others answer
      // that they have nothing to release).
      if (q.layers.node.state !== 'pending') return layer('released', 'no node had applied the quarantine');
      const nodes = link.connectedNodes();
      const answers: Delivery[] = [];
      for (let i = 0; i < nodes.length; i += BROADCAST_CHUNK) {
        const chunk = nodes.slice(i, i + BROADCAST_CHUNK);
        answers.push(...(await Promise.all(chunk.map((n) => deliver(n, releaseCommand(q, n))))));
      }
      const failed = answers.find((a) => 'result' in a && a.result.outcome === 'failed');
      if (failed !== undefined && 'result' in failed) {
        return layer('failed', `node ${failed.node}: ${failed.result.detail}`);
      }
      const silent = answers.filter((a) => 'error' in a).map((a) => a.node);
      if (silent.length > 0) {
        return layer(
          'pending',
          `the quarantine was never confirmed by a node, and ${silent.length} agent(s) did not answer the release (${silent
            .slice(0, 3)
            .join(', ')}); release again to retry`,
        );
      }
      return layer(
        'released',
        `no node had confirmed the quarantine; the release went to the ${nodes.length} connected agent(s)`,
      );
    }
    if (!link.connectedNodes().includes(q.node)) {
      return layer(
        'pending',
        `the agent on node ${q.node} is not connected; the release is sent when it connects`,
      );
    }
    const d = await deliver(q.node, releaseCommand(q, q.node));
    if ('error' in d) {
      return d.pending
        ? layer('pending', `no answer from node ${d.node} (${d.error}); resent when its agent connects`)
        : layer('failed', d.error);
    }
    const detail = `node ${d.node}: ${d.result.detail}`;
    switch (d.result.outcome) {
      case 'released':
      case 'already-applied':
        return layer('released', detail);
      case 'not-on-this-node':
        return layer('released', `nothing to undo: ${detail}`);
      default:
        return layer('failed', detail);
    }
  };

  // ---- flows ----

  /** Applies the layers that are not applied yet, records each outcome, and saves the result. */
  const applyLayers = async (q: Quarantine, actor: string, resolvePod: boolean): Promise<Quarantine> => {
    const doKube =
      q.layers.kubernetes.state !== 'applied' &&
      !(kube === undefined && q.layers.kubernetes.state === 'skipped');
    const doNode = q.layers.node.state !== 'applied';
    let podUid = q.podUid;
    let nodeName = q.node ?? undefined;
    const kubeP = doKube ? kubeQuarantine(q) : Promise.resolve(q.layers.kubernetes);
    if (resolvePod && kube !== undefined && (podUid === null || nodeName === undefined)) {
      try {
        const pod = await kube.getPod(q.namespace, q.pod);
        if (pod !== undefined) {
          podUid = pod.uid !== '' ? pod.uid : podUid;
          nodeName = pod.nodeName ?? nodeName;
        }
      } catch (err) {
        log.warn('looking up the pod in Kubernetes failed; asking every agent', {
          quarantine: q.id,
          err: errorText(err),
        });
      }
    }
    const withPod: Quarantine = { ...q, podUid };
    const nodeP = doNode
      ? nodeQuarantine(withPod, nodeName)
      : Promise.resolve({ state: q.layers.node, node: q.node });
    const [kubeState, nodeOutcome] = await Promise.all([kubeP, nodeP]);
    if (doKube) {
      metrics.layerOutcome('kubernetes', 'quarantine', kubeState.state);
      record(q, actor, 'quarantine.kubernetes', { state: kubeState.state, detail: kubeState.detail });
    }
    if (doNode) {
      metrics.layerOutcome('node', 'quarantine', nodeOutcome.state.state);
      record(q, actor, 'quarantine.node', {
        node: nodeOutcome.node,
        state: nodeOutcome.state.state,
        detail: nodeOutcome.state.detail,
      });
    }
    const updated: Quarantine = {
      ...withPod,
      node: nodeOutcome.node ?? nodeName ?? null,
      layers: { kubernetes: kubeState, node: nodeOutcome.state },
    };
    return updated;
  };

  const finishStart = (q: Quarantine, actor: string): Quarantine => {
    const { kubernetes: k, node: n } = q.layers;
    let state: Quarantine['state'];
    let action: string;
    if (k.state === 'applied' || n.state === 'applied') {
      state = 'active';
      action = 'quarantine.applied';
    } else if (n.state === 'pending') {
      state = 'active';
      action = 'quarantine.pending';
    } else {
      state = 'failed';
      action = 'quarantine.failed';
    }
    const done: Quarantine = { ...q, state };
    quarantines.update(done);
    record(done, actor, action, { kubernetes: k.state, node: n.state, nodeName: done.node });
    log.info(`quarantine ${action.split('.')[1] as string}`, {
      quarantine: q.id,
      namespace: q.namespace,
      pod: q.pod,
      node: done.node,
      kubernetes: k.state,
      nodeLayer: n.state,
    });
    return done;
  };

  const start = async (request: QuarantineRequest, actor: QuarantineActor): Promise<StartResult> => {
    if (closed) throw new Error('the quarantine service is stopping');
    const startedAt = process.hrtime.bigint();
    const reason = checkReason(request.reason);
    let namespace = request.namespace;
    let pod = request.pod;
    const alertId = request.alertId === undefined || request.alertId === '' ? null : request.alertId;
    if (alertId !== null) {
      const stored = options.alerts.getAlert(alertId);
      if (stored === undefined)
        throw new QuarantineRequestError(404, `no alert with id '${alertId}'`, 'alertId');
      if (namespace === undefined && pod === undefined) {
        const named = podOfAlert(stored.alert);
        if (named === undefined) {
          throw new QuarantineRequestError(
            400,
            `alert '${alertId}' names no pod (no workload namespace and pod); give namespace and pod`,
            'alertId',
          );
        }
        ({ namespace, pod } = named);
      }
    }
    if (namespace === undefined || !NAMESPACE_SHAPE.test(namespace)) {
      throw new QuarantineRequestError(
        400,
        `namespace ${JSON.stringify(namespace ?? null)} is not a Kubernetes namespace name (or give alertId alone)`,
        'namespace',
      );
    }
    if (pod === undefined || !POD_SHAPE.test(pod)) {
      throw new QuarantineRequestError(
        400,
        `pod ${JSON.stringify(pod ?? null)} is not a Kubernetes pod name`,
        'pod',
      );
    }
    if (never.has(namespace)) {
      if (actor.kind === 'policy') {
        throw new QuarantineRequestError(
          403,
          `namespace ${namespace} is never quarantined by policy`,
          'namespace',
        );
      }
      if (request.force !== true) {
        throw new QuarantineRequestError(
          403,
          `namespace ${namespace} is in response.never_namespaces; an admin may pass force: true`,
          'namespace',
        );
      }
      if (actor.role !== 'admin') {
        throw new QuarantineRequestError(
          403,
          `force in never-touch namespace ${namespace} needs an admin token; token '${actor.name}' has role ${actor.role}`,
          'force',
        );
      }
    }
    const ns = namespace;
    const name = pod;
    const who = actorId(actor);
    const result = await serialise(podKey(ns, name), async (): Promise<StartResult> => {
      const existing = quarantines.open(ns, name);
      if (existing !== undefined) {
        if (existing.state === 'releasing') {
          throw new QuarantineRequestError(
            400,
            `pod ${ns}/${name} has a release in progress (${existing.id}); release it again to finish, then quarantine`,
          );
        }
        const settled = (s: LayerState['state']): boolean => s === 'applied' || s === 'skipped';
        if (settled(existing.layers.kubernetes.state) && settled(existing.layers.node.state)) {
          return { quarantine: existing, created: false };
        }
        // Asking again retries what is not applied yet.
        record(existing, who, 'quarantine.retried', {}, reason);
        const retried = await applyLayers(existing, who, true);
        return { quarantine: finishStart(retried, who), created: false };
      }
      const t = now();
      const fresh: Quarantine = {
        id: newQuarantineId(t),
        namespace: ns,
        pod: name,
        podUid: null,
        node: null,
        state: 'active',
        reason,
        actor: who,
        alertId,
        createdMs: t,
        releasedMs: null,
        releaseReason: null,
        cutEstablished: request.cutEstablished ?? true,
        freeze: request.freeze ?? false,
        layers: {
          kubernetes: layer('pending', ''),
          node: layer('pending', ''),
        },
      };
      if (!quarantines.insert(fresh)) throw new Error(`pod ${ns}/${name} got an open quarantine meanwhile`);
      record(
        fresh,
        who,
        'quarantine.requested',
        {
          cutEstablished: fresh.cutEstablished,
          freeze: fresh.freeze,
          ...(request.force === true && { force: true }),
        },
        reason,
      );
      const applied = await applyLayers(fresh, who, true);
      return { quarantine: finishStart(applied, who), created: true };
    });
    metrics.observeCall('quarantine', Number(process.hrtime.bigint() - startedAt) / 1e9);
    return result;
  };

  const finishRelease = (q: Quarantine, actor: string): Quarantine => {
    const { kubernetes: k, node: n } = q.layers;
    const undone = (s: LayerState['state']): boolean => s === 'released' || s === 'skipped';
    const complete = undone(k.state) && undone(n.state);
    const done: Quarantine = {
      ...q,
      state: complete ? 'released' : 'releasing',
      releasedMs: complete ? now() : null,
    };
    quarantines.update(done);
    record(done, actor, complete ? 'release.completed' : 'release.incomplete', {
      kubernetes: k.state,
      node: n.state,
      nodeName: done.node,
    });
    log.info(complete ? 'quarantine released' : 'quarantine release incomplete', {
      quarantine: q.id,
      namespace: q.namespace,
      pod: q.pod,
      kubernetes: k.state,
      nodeLayer: n.state,
    });
    return done;
  };

  const release = async (id: string, reasonText: string, actor: QuarantineActor): Promise<Quarantine> => {
    if (closed) throw new Error('the quarantine service is stopping');
    const startedAt = process.hrtime.bigint();
    const reason = checkReason(reasonText);
    const first = quarantines.get(id);
    if (first === undefined) throw new QuarantineRequestError(404, `no quarantine with id '${id}'`);
    const who = actorId(actor);
    const result = await serialise(podKey(first.namespace, first.pod), async () => {
      const q = quarantines.get(id) as Quarantine;
      if (q.state === 'released') return q;
      record(q, who, 'release.requested', { previousState: q.state }, reason);
      const releasing: Quarantine = { ...q, state: 'releasing', releaseReason: reason };
      quarantines.update(releasing);
      const doKube = releasing.layers.kubernetes.state !== 'released';
      const doNode = releasing.layers.node.state !== 'released';
      const [k, n] = await Promise.all([
        doKube ? kubeRelease(releasing) : Promise.resolve(releasing.layers.kubernetes),
        doNode ? nodeRelease(releasing) : Promise.resolve(releasing.layers.node),
      ]);
      if (doKube) {
        metrics.layerOutcome('kubernetes', 'release', k.state);
        record(releasing, who, 'release.kubernetes', { state: k.state, detail: k.detail });
      }
      if (doNode) {
        metrics.layerOutcome('node', 'release', n.state);
        record(releasing, who, 'release.node', { node: releasing.node, state: n.state, detail: n.detail });
      }
      return finishRelease({ ...releasing, layers: { kubernetes: k, node: n } }, who);
    });
    metrics.observeCall('release', Number(process.hrtime.bigint() - startedAt) / 1e9);
    return result;
  };

  /**
   * An agent connected: send what waits for its node (and, for pods of unknown node, ask it).
   * `retry`: the periodic pass, only for commands to this node that got no answer.
   */
  const resending = new Set<string>();
  const resume = (node: string, retry = false): void => {
    for (const waiting of quarantines.waitingForNode(node)) {
      if (retry && (waiting.node !== node || waiting.layers.node.state !== 'pending')) continue;
      // One resend per quarantine at a time (an agent slower than the retry interval).
      if (resending.has(waiting.id)) continue;
      resending.add(waiting.id);
      const task = serialise(podKey(waiting.namespace, waiting.pod), async () => {
        const q = quarantines.get(waiting.id);
        if (q === undefined || closed) return;
        if (
          q.state === 'active' &&
          q.layers.node.state !== 'applied' &&
          (q.node === null || q.node === node)
        ) {
          const out = await nodeQuarantine(q, node);
          // An agent without the pod does not settle a pod of unknown node: others may have it.
          const state =
            q.node === null && out.state.state === 'not-found'
              ? layer('pending', `${out.state.detail}; waiting for other agents`)
              : out.state;
          metrics.layerOutcome('node', 'quarantine', state.state);
          record(q, 'collector', 'quarantine.node', {
            node,
            state: state.state,
            detail: state.detail,
            resent: true,
          });
          const updated: Quarantine = {
            ...q,
            node: state.state === 'applied' || q.node !== null ? node : null,
            layers: { ...q.layers, node: state },
          };
          quarantines.update(updated);
        } else if (q.state === 'releasing' && q.node === node && q.layers.node.state !== 'released') {
          const state = await nodeRelease(q);
          metrics.layerOutcome('node', 'release', state.state);
          record(q, 'collector', 'release.node', {
            node,
            state: state.state,
            detail: state.detail,
            resent: true,
          });
          finishRelease({ ...q, layers: { ...q.layers, node: state } }, 'collector');
        }
      });
      void task
        .catch((err: unknown) =>
          log.error('resending a quarantine command failed', { node, quarantine: waiting.id, err }),
        )
        .finally(() => resending.delete(waiting.id));
    }
  };

  link.onAgentEvent((event) => {
    if (event.type === 'connected' && !closed) resume(event.agent.node);
  });
  const retryTimer = setInterval(() => {
    if (closed) return;
    // One query for the open quarantines (bounded page), then only the nodes that have some waiting.
    const connected = new Set(link.connectedNodes());
    const nodes = new Set<string>();
    for (const q of quarantines.list({ state: 'open', limit: 1000 })) {
      if (q.node !== null && q.layers.node.state === 'pending' && connected.has(q.node)) nodes.add(q.node);
    }
    for (const node of nodes) resume(node, true);
  }, options.retryIntervalMs ?? 30_000);
  retryTimer.unref();

  return {
    start,
    release,
    get: (id) => quarantines.get(id),
    openFor: (namespace, pod) => quarantines.open(namespace, pod),
    list: (query) => quarantines.list(query),
    isNeverNamespace: (namespace) => never.has(namespace),
    async close() {
      closed = true;
      clearInterval(retryTimer);
      await Promise.all([...inFlight]);
    },
  };
}
