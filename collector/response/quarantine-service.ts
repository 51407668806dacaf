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
 * A broadcast can be applied by an agent whose answer never arrives; a release broadcast while
 * that agent is away then misses it, and the agent would keep re-applying its record. So every
 * agent reports the quarantines it holds in the Hello of each new stream, and the collector
 * reconciles each one against its record (actor `collector`, audited, counted in
 * `vigil_collector_quarantine_reconciled_total`):
 * - released or releasing, its node layer released, or applied by another node: the agent gets
 *   the release command (`release.node.reconciled`); an agent that does not confirm it is asked
 *   again on the retry interval while it stays connected, and on its next stream anyway;
 * - active (or failed) and not applied by any other node, its node layer not applied: that agent
 *   evidently has the pod; its node layer is recorded as applied by it, as a late answer would
 *   have (`quarantine.node.reconciled`) — but a failed one whose pod has a newer open quarantine
 *   is left alone, as is one expected on another node that has not applied it;
 * - an entry naming another pod than the record: not acted on, warned and counted `invalid`;
 * - no record (e.g. the collector's database was lost): nothing is released — a cut nobody can
 *   account for is never undone silently. It is adopted as a record so that a person can see
 *   and release it (`vigil release ID`, POST /api/v1/quarantines/:id/release): active, on the
 *   reporting node, node layer applied, Kubernetes layer `skipped` (not known here; asking to
 *   quarantine the pod again applies it under this id; a release removes the pod's label only
 *   where it carries this id, and the policy only when no pod is labelled), podUid and creation
 *   time from the report, actor `collector`, audited as `quarantine.adopted-from-agent`. When
 *   the pod already has an open quarantine (or the id is not one Vigil gives) it is left in
 *   place, warned with what to do, and audited as `quarantine.unknown-on-agent`. At most 100
 *   unknown ids of one report are adopted or audited one by one; the rest make one audit record
 *   and are adopted on the agent's next stream.
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
import type {
  Command,
  CommandOutcome,
  CommandResult,
  HeldQuarantine,
  QuarantineReport,
} from '../../proto/link-messages.js';
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
/** Entries of one agent's report looked at (an agent holds at most 10,000); the rest are logged. */
export const MAX_REPORTED_QUARANTINES = 10_000;
/**
 * Unknown quarantines of one report adopted (or, when they cannot be, logged and audited) one by
 * one; the rest of that report's unknown ones make a single audit record and wait for the agent's
 * next stream.
 */
const MAX_UNKNOWN_AUDITED = 100;
/** Releases owed to connected agents that did not confirm one, kept for the retry pass. */
const MAX_OWED_RELEASES = 10_000;
/** Longest quarantine id taken from a report (ours are 26 characters). */
const MAX_REPORTED_ID_LENGTH = 128;
/**
 * Ids an unknown quarantine may be adopted under: a Kubernetes label value (what the Kubernetes
 * layer's release needs, and safe in a URL path). Ours are `q-<base 36>-<hex>`.
 */
const ADOPTABLE_ID = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** The latest time a Date can hold (ms since the epoch). */
const MAX_DATE_MS = 8.64e15;

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

  /**
   * The node layer's state after a delivery: pending when the agent did not answer (`next` says
   * what happens then), failed when the command could not be sent, else what `answered` makes of
   * the agent's outcome and detail.
   */
  const deliveryState = (
    d: Delivery,
    next: string,
    answered: (outcome: CommandOutcome, detail: string) => LayerState,
  ): LayerState => {
    if ('error' in d) {
      return d.pending
        ? layer('pending', `no answer from node ${d.node} (${d.error}); ${next}`)
        : layer('failed', d.error);
    }
    return answered(d.result.outcome, `node ${d.node}: ${d.result.detail}`);
  };

  const nodeQuarantineState = (d: Delivery): LayerState =>
    deliveryState(d, 'resent when its agent connects', (outcome, detail) => {
      switch (outcome) {
        case 'applied':
        case 'already-applied':
          return layer('applied', detail);
        case 'not-on-this-node':
          return layer('not-found', detail);
        default:
          return layer('failed', detail);
      }
    });

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
    return deliveryState(d, 'resent when its agent connects', (outcome, detail) => {
      switch (outcome) {
        case 'released':
        case 'already-applied':
          return layer('released', detail);
        case 'not-on-this-node':
          return layer('released', `nothing to undo: ${detail}`);
        default:
          return layer('failed', detail);
      }
    });
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
        // A Kubernetes layer skipped while a Kubernetes API is configured (an adopted quarantine,
        // or one made before it was configured) is applied now.
        const kubeSettled =
          existing.layers.kubernetes.state === 'applied' ||
          (existing.layers.kubernetes.state === 'skipped' && kube === undefined);
        const nodeSettled =
          existing.layers.node.state === 'applied' || existing.layers.node.state === 'skipped';
        if (kubeSettled && nodeSettled) {
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

  // ---- what agents report holding (see the module comment) ----

  // Releases sent to a connected agent that it did not confirm, by node and quarantine id, with
  // what the agent reported and when. At most MAX_OWED_RELEASES in all; a node's entries go when
  // it connects again or disconnects (its next Hello reports afresh), or when its release is
  // confirmed.
  interface Owed {
    readonly held: HeldQuarantine;
    readonly sinceMs: number;
  }
  const owed = new Map<string, Map<string, Owed>>();
  let owedCount = 0;
  const retrying = new Set<string>();
  const owe = (node: string, held: HeldQuarantine, sinceMs: number, due: boolean): void => {
    const id = held.quarantineId;
    const entries = owed.get(node);
    if (!due) {
      if (entries?.delete(id) === true) {
        owedCount--;
        if (entries.size === 0) owed.delete(node);
      }
      return;
    }
    if (entries?.has(id) === true) return;
    if (owedCount >= MAX_OWED_RELEASES) {
      log.warn('too many unconfirmed releases to retry; this one waits for the agent\u2019s next stream', {
        node,
        quarantine: id,
      });
      return;
    }
    owed.set(node, (entries ?? new Map<string, Owed>()).set(id, { held, sinceMs }));
    owedCount++;
  };
  const forgetOwed = (node: string): void => {
    owedCount -= owed.get(node)?.size ?? 0;
    owed.delete(node);
  };

  /**
   * A reported time, or null when it says nothing: 0 (not known), or beyond what a Date holds
   * (the wire's uint64 goes far past it, and `toISOString` would throw).
   */
  const reportedTime = (ms: number): number | null => (ms > 0 && ms <= MAX_DATE_MS ? ms : null);
  const iso = (ms: number | null): string => {
    const t = ms === null ? null : reportedTime(ms);
    return t === null ? 'at an unknown time' : new Date(t).toISOString();
  };

  /**
   * What to do about quarantine `q` that `node` reported holding (`sinceMs`: when its stream
   * opened; what happened on this node after that is newer than the report).
   */
  const reportedAction = (
    q: Quarantine,
    node: string,
    sinceMs: number,
  ):
    | { kind: 'release'; why: string; settle: boolean }
    | { kind: 'adopt' | 'in-step' }
    | { kind: 'left'; why: string } => {
    const n = q.layers.node;
    if (q.node === node && n.updatedMs >= sinceMs && (n.state === 'released' || n.state === 'applied')) {
      // Settled with this very agent since it reported (the resend on connect answered).
      return { kind: 'in-step' };
    }
    if (q.state === 'released') {
      return { kind: 'release', why: `the quarantine was released ${iso(q.releasedMs)}`, settle: false };
    }
    // The release of a quarantine waiting for this node (or for no node in particular) is done
    // once this agent released it.
    const settle = q.state === 'releasing' && (q.node === null || q.node === node) && n.state !== 'released';
    if (q.state === 'releasing') return { kind: 'release', why: 'the quarantine is being released', settle };
    if (n.state === 'released') {
      return { kind: 'release', why: 'the quarantine\u2019s node layer is released', settle: false };
    }
    if (q.node !== null && q.node !== node) {
      return n.state === 'applied'
        ? { kind: 'release', why: `node ${q.node} applied the quarantine`, settle: false }
        : { kind: 'left', why: `the quarantine is expected on node ${q.node} (node layer ${n.state})` };
    }
    if (n.state === 'applied' && q.state === 'active') return { kind: 'in-step' };
    if (q.state === 'failed') {
      const open = quarantines.open(q.namespace, q.pod);
      if (open !== undefined && open.id !== q.id) {
        return {
          kind: 'left',
          why: `the pod has a newer quarantine, ${open.id}, that replaces it on the node`,
        };
      }
    }
    return { kind: 'adopt' };
  };

  /** Sends `node` the release of `q` it reported holding; audits and counts what came of it. */
  const releaseReported = async (
    q: Quarantine,
    node: string,
    report: Owed,
    why: string,
    settle: boolean,
  ): Promise<void> => {
    const d = await deliver(node, releaseCommand(q, node));
    const state = deliveryState(d, 'asked again later', (outcome, detail) =>
      outcome === 'released' || outcome === 'already-applied' || outcome === 'not-on-this-node'
        ? layer('released', detail)
        : layer('failed', detail),
    );
    const confirmed = state.state === 'released';
    owe(node, report.held, report.sinceMs, !confirmed && link.connectedNodes().includes(node));
    metrics.reconciled(confirmed ? 'released' : 'release_failed');
    record(q, 'collector', 'release.node.reconciled', {
      node,
      why,
      quarantineState: q.state,
      state: state.state,
      detail: state.detail,
    });
    const fields = { quarantine: q.id, namespace: q.namespace, pod: q.pod, node, why, detail: state.detail };
    if (confirmed) log.info('released a quarantine an agent still held', fields);
    else log.warn('an agent still holds a released quarantine and did not confirm its release', fields);
    if (settle && confirmed) {
      metrics.layerOutcome('node', 'release', 'released');
      record(q, 'collector', 'release.node', {
        node,
        state: state.state,
        detail: state.detail,
        reconciled: true,
      });
      finishRelease({ ...q, node: q.node ?? node, layers: { ...q.layers, node: state } }, 'collector');
    }
  };

  /** Records that `node` holds active quarantine `q`: its node layer is applied there. */
  const adoptReported = (q: Quarantine, node: string, held: HeldQuarantine): void => {
    const state = layer(
      'applied',
      `node ${node}: its agent reports holding the quarantine (applied ${iso(held.appliedMs)})`,
    );
    const updated: Quarantine = {
      ...q,
      state: 'active',
      node,
      podUid: q.podUid ?? (held.podUid !== '' ? held.podUid : null),
      layers: { ...q.layers, node: state },
    };
    quarantines.update(updated);
    metrics.reconciled('adopted');
    metrics.layerOutcome('node', 'quarantine', 'applied');
    record(updated, 'collector', 'quarantine.node.reconciled', {
      node,
      why: 'the agent reports holding it',
      previousState: q.state,
      previousNodeState: q.layers.node.state,
      state: state.state,
      detail: state.detail,
    });
    log.info('an agent holds a quarantine no node had confirmed; recorded as applied there', {
      quarantine: q.id,
      namespace: q.namespace,
      pod: q.pod,
      node,
    });
  };

  /**
   * Reconciles quarantine `q` that `node` reported holding; the caller holds the pod's turn. An
   * entry naming another pod than the record is not acted on: a release would go to the wrong
   * pod, and adopting it would mark the record's pod cut when it is not.
   */
  const reconcileRecord = async (q: Quarantine, node: string, report: Owed): Promise<void> => {
    const { held, sinceMs } = report;
    if (held.namespace !== q.namespace || held.pod !== q.pod) {
      metrics.reconciled('invalid');
      owe(node, held, sinceMs, false);
      log.warn('an agent reports a quarantine for another pod than its record names; not reconciled', {
        quarantine: q.id,
        namespace: q.namespace,
        pod: q.pod,
        node,
        reportedPod: `${held.namespace}/${held.pod}`,
      });
      return;
    }
    const action = reportedAction(q, node, sinceMs);
    switch (action.kind) {
      case 'release':
        await releaseReported(q, node, report, action.why, action.settle);
        return;
      case 'adopt':
        adoptReported(q, node, held);
        return;
      case 'in-step':
        owe(node, held, sinceMs, false);
        metrics.reconciled('in_step');
        return;
      case 'left':
        metrics.reconciled('left');
        log.info('an agent holds a quarantine expected on another node; left in place', {
          quarantine: q.id,
          namespace: q.namespace,
          pod: q.pod,
          node,
          why: action.why,
        });
        return;
    }
  };

  /** Reconciles one quarantine `node` reported holding (serialised with the pod's other calls). */
  const reconcileOne = (node: string, report: Owed): Promise<void> => {
    const first = quarantines.get(report.held.quarantineId);
    if (first === undefined) return Promise.resolve();
    return serialise(podKey(first.namespace, first.pod), async () => {
      const q = quarantines.get(report.held.quarantineId);
      if (q === undefined || closed) return;
      await reconcileRecord(q, node, report);
    });
  };

  /** Logs and audits an unknown quarantine `node` holds that is not adopted, with what to do. */
  const leaveUnknown = (
    node: string,
    held: HeldQuarantine,
    why: string,
    advice: string,
    open?: Quarantine,
  ): void => {
    metrics.reconciled('unknown');
    log.warn('an agent holds a quarantine this collector has no record of; left in place', {
      node,
      quarantine: held.quarantineId,
      namespace: held.namespace,
      pod: held.pod,
      appliedAt: iso(held.appliedMs),
      why,
      advice,
      ...(open !== undefined && { openQuarantine: open.id }),
    });
    audit.append({
      actor: 'collector',
      action: 'quarantine.unknown-on-agent',
      quarantineId: held.quarantineId,
      alertId: null,
      namespace: held.namespace,
      pod: held.pod,
      reason: null,
      detail: {
        node,
        podUid: held.podUid,
        appliedMs: held.appliedMs,
        why,
        advice,
        ...(open !== undefined && { openQuarantine: open.id }),
      },
    });
  };

  /**
   * `node` holds quarantine `held` this collector has no record of: adopted as an active record
   * on that node, so that it can be released like any other, unless the pod already has an open
   * quarantine (serialised with the pod's other calls; a concurrent report that adopted it first
   * makes this an ordinary reconciliation).
   */
  const adoptUnknown = (node: string, report: Owed): Promise<void> => {
    const { held } = report;
    return serialise(podKey(held.namespace, held.pod), async () => {
      if (closed) return;
      const known = quarantines.get(held.quarantineId);
      if (known !== undefined) {
        // A record naming another pod is only told about, which needs no turn of that pod.
        await reconcileRecord(known, node, report);
        return;
      }
      const restart = `restart the agent on node ${node} to have it report again`;
      const open = quarantines.open(held.namespace, held.pod);
      if (open !== undefined) {
        leaveUnknown(
          node,
          held,
          `no record of this quarantine here, and pod ${held.namespace}/${held.pod} has open quarantine ${open.id} (${open.state}): not adopted`,
          `release ${open.id} (vigil release ${open.id} --reason ...); this one is then adopted the next time the agent connects (${restart}) and can be released like any other`,
          open,
        );
        return;
      }
      if (!ADOPTABLE_ID.test(held.quarantineId)) {
        leaveUnknown(
          node,
          held,
          'no record of this quarantine here, and its id is not one Vigil gives (not a Kubernetes label value): not adopted',
          `remove it on node ${node} by hand (the nftables table vigil_quarantine in the pod’s network namespace, and the agent’s record)`,
        );
        return;
      }
      const applied = reportedTime(held.appliedMs);
      const adopted: Quarantine = {
        id: held.quarantineId,
        namespace: held.namespace,
        pod: held.pod,
        podUid: held.podUid !== '' ? held.podUid : null,
        node,
        state: 'active',
        reason: `reported by the agent on node ${node}; no record of it here`,
        actor: 'collector',
        alertId: null,
        createdMs: applied ?? now(),
        releasedMs: null,
        releaseReason: null,
        // Not reported: the agent keeps what it applied; a release undoes whatever that was.
        cutEstablished: true,
        freeze: false,
        layers: {
          kubernetes: layer(
            'skipped',
            'not known here: adopted from its agent, with no record of a Kubernetes layer; asking to quarantine the pod again applies it under this id, and a release removes the pod’s label only where it carries this id',
          ),
          node: layer(
            'applied',
            `node ${node}: its agent reported holding it (applied ${iso(applied)}); the collector had no record of it`,
          ),
        },
      };
      if (!quarantines.insert(adopted)) {
        // Only a concurrent write outside this service gets here: the pod's turn is held.
        leaveUnknown(
          node,
          held,
          'no record of this quarantine here, and the pod got an open quarantine meanwhile: not adopted',
          `release the pod’s open quarantine; this one is then adopted the next time the agent connects (${restart})`,
        );
        return;
      }
      metrics.reconciled('adopted_unknown');
      record(
        adopted,
        'collector',
        'quarantine.adopted-from-agent',
        {
          node,
          podUid: held.podUid,
          appliedMs: held.appliedMs,
          why: 'the agent reports holding a quarantine this collector has no record of (database lost or replaced?); adopted so that it can be released',
          kubernetes: adopted.layers.kubernetes.state,
          nodeLayer: adopted.layers.node.state,
        },
        adopted.reason,
      );
      log.warn(
        'an agent holds a quarantine this collector had no record of; adopted, release it if it should go',
        {
          node,
          quarantine: adopted.id,
          namespace: adopted.namespace,
          pod: adopted.pod,
          appliedAt: iso(applied),
        },
      );
    });
  };

  /** An agent connected and reported the quarantines it holds. */
  const reconcile = (node: string, report: QuarantineReport): void => {
    const sinceMs = now();
    const seen = new Set<string>();
    let invalid = 0;
    let unknownAudited = 0;
    const unknownMore: string[] = [];
    const entries = report.held.slice(0, MAX_REPORTED_QUARANTINES);
    for (const held of entries) {
      const id = held.quarantineId;
      if (
        id === '' ||
        id.length > MAX_REPORTED_ID_LENGTH ||
        !NAMESPACE_SHAPE.test(held.namespace) ||
        !POD_SHAPE.test(held.pod)
      ) {
        invalid++;
        metrics.reconciled('invalid');
        continue;
      }
      if (seen.has(id)) continue;
      seen.add(id);
      if (quarantines.get(id) === undefined) {
        if (unknownAudited < MAX_UNKNOWN_AUDITED) {
          unknownAudited++;
          void adoptUnknown(node, { held, sinceMs }).catch((err: unknown) =>
            log.error('adopting a quarantine an agent reported failed', { node, quarantine: id, err }),
          );
        } else {
          metrics.reconciled('unknown');
          unknownMore.push(id);
        }
        continue;
      }
      const task = reconcileOne(node, { held, sinceMs });
      void task.catch((err: unknown) =>
        log.error('reconciling a quarantine an agent reported failed', { node, quarantine: id, err }),
      );
    }
    if (unknownMore.length > 0) {
      const advice = `adopted ${MAX_UNKNOWN_AUDITED} at a time: the next ones the next time the agent connects (restart the agent on node ${node} to have it report again)`;
      log.warn('an agent holds more quarantines this collector has no record of; left in place for now', {
        node,
        more: unknownMore.length,
        quarantine: unknownMore[0],
        advice,
      });
      audit.append({
        actor: 'collector',
        action: 'quarantine.unknown-on-agent',
        quarantineId: null,
        alertId: null,
        namespace: null,
        pod: null,
        reason: null,
        detail: { node, more: unknownMore.length, quarantineIds: unknownMore.slice(0, 1000), advice },
      });
    }
    const skipped = report.held.length - entries.length + report.omitted;
    if (invalid > 0 || skipped > 0) {
      log.warn('part of an agent\u2019s quarantine report was not reconciled', {
        node,
        reported: report.held.length,
        invalid,
        notLookedAt: skipped,
      });
    }
  };

  link.onAgentEvent((event) => {
    if (closed) return;
    if (event.type === 'connected') {
      // resume() first: its resends are queued before the reconciliation of the same pods, which
      // then sees what they settled.
      resume(event.agent.node);
      forgetOwed(event.agent.node);
      if (event.quarantines !== undefined) reconcile(event.agent.node, event.quarantines);
    } else if (event.type === 'disconnected') {
      forgetOwed(event.agent.node);
    }
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
    // Releases agents did not confirm: asked again while they stay connected.
    for (const [node, entries] of owed) {
      if (!connected.has(node)) continue;
      for (const [id, report] of entries) {
        const key = `${node}\u0000${id}`;
        if (retrying.has(key)) continue;
        retrying.add(key);
        void reconcileOne(node, report)
          .catch((err: unknown) =>
            log.error('asking an agent again to release a quarantine failed', { node, quarantine: id, err }),
          )
          .finally(() => retrying.delete(key));
      }
    }
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
