/**
 * The agent's {@link FieldContext}: answers the fields an event does not carry from the process
 * table and the pod metadata cache, so that `proc.aname[2]`, `proc.pcmdline`, `container.image`
 * or `k8s.pod.label[app]` work on events that name only a pid.
 *
 * Resolution is lazy: nothing is looked up for an event until a rule (or an output) asks for a
 * field, and what one event needs is looked up once however many fields ask (the process and the
 * pod of the last event asked about are remembered). Pod metadata is read without I/O from the
 * resolver's cache; a container not yet cached starts one background lookup, so its later events
 * resolve, and resolves to undefined (`<NA>`) until then.
 *
 * Fields (Falco's names; each is undefined when unknown):
 * - the process: `proc.name`, `proc.exe`, `proc.exepath`, `proc.args`, `proc.cmdline`,
 *   `proc.exeline`, `proc.cwd`, `proc.ppid`, `proc.vpid`, `proc.tty`, `proc.pid.ts`,
 *   `proc.duration`, `user.uid`, `user.name`, `user.loginuid`
 * - its parent: `proc.pname`, `proc.pcmdline`, `proc.pexe`, `proc.pexepath`, `proc.pvpid`,
 *   `proc.ppid.ts`
 * - its ancestors, `[0]` being the process itself: `proc.aname[N]`, `proc.apid[N]`,
 *   `proc.aexe[N]`, `proc.aexepath[N]`, `proc.acmdline[N]`; without an index, the list of every
 *   known ancestor from the parent upward
 * - its container: `container.id` (12 characters, or `host`), `container.full_id`,
 *   `container.name` (`host` for host processes), `container.image`,
 *   `container.image.repository`, `container.image.tag`, `container.image.digest`
 * - its pod: `k8s.pod.name`, `k8s.ns.name`, `k8s.pod.uid`, `k8s.pod.id` (Falco's legacy name for
 *   the uid), `k8s.pod.sandbox_id` (12 characters), `k8s.pod.full_sandbox_id`,
 *   `k8s.pod.labels` (`key:value, key:value`, sorted by key), `k8s.pod.label[KEY]`
 */
import type { Event, FieldContext } from '../../core/event.js';
import { workloadOf, type Workload } from '../../core/workload.js';
import type { PodMetadata } from './cri/pod-metadata.js';
import type { PodMetadataResolver } from './cri/pod-metadata-resolver.js';
import type { ProcessInfo, ProcessTable } from './process-table.js';

/** The part of the pod metadata resolver the context uses. */
export type PodLookup = Pick<PodMetadataResolver, 'peek' | 'resolve'>;

/** Options of {@link createAgentContext}. */
export interface AgentContextOptions {
  /** The process table, fed with the same events elsewhere in the pipeline. */
  readonly processes: ProcessTable;
  /** Pod metadata by container id; without it, `container.name`/`image` and `k8s.*` are unknown. */
  readonly pods?: PodLookup;
  /** Background pod lookups in flight at once; more unknown containers wait for a later event. Default 64. */
  readonly maxPendingLookups?: number;
}

/** The agent's field context, with the lookups rules and alerts share. */
export interface AgentContext extends FieldContext {
  /** The process an event belongs to (by `proc.pid`), if the table knows it. */
  processOf(evt: Event): ProcessInfo | undefined;
  /** The id of the container an event's process is in (full where known), `host`, or undefined. */
  containerIdOf(evt: Event): string | undefined;
  /** The pod metadata of an event's container, when cached. */
  podOf(evt: Event): PodMetadata | undefined;
  /** The workload identity of an event's container, when its pod is known. */
  workloadOf(evt: Event): Workload | undefined;
}

type Resolver = (ctx: Context, evt: Event, arg: string | undefined) => unknown;

const SHORT_ID_LENGTH = 12;
const FULL_ID = /^[0-9a-f]{64}$/;

function isHost(id: string): boolean {
  return id === 'host' || id === '';
}

/** `repository`, `tag` and `digest` of an image reference (`registry/repo:tag@sha256:...`). */
function splitImage(image: string): { repository?: string; tag?: string; digest?: string } {
  // A bare image id names no repository.
  if (image === '' || image.startsWith('sha256:')) return {};
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  // A colon after the last slash starts the tag; one before it is a registry's port.
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : undefined;
  const repository = tag === undefined ? rest : rest.slice(0, colon);
  return {
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

function labelList(labels: Readonly<Record<string, string>>): string {
  // As Falco prints them: sorted, `key:value` (a bare key for an empty value), comma and space.
  return Object.keys(labels)
    .filter((key) => !key.startsWith('io.kubernetes.'))
    .sort()
    .map((key) => (labels[key] === '' ? key : `${key}:${labels[key]}`))
    .join(', ');
}

function index(arg: string | undefined): number | undefined {
  if (arg === undefined || !/^\d+$/.test(arg)) return undefined;
  return Number(arg);
}

/** A field of the process itself, a parent, or an ancestor (with `proc.aXXX` list semantics). */
function processField(get: (p: ProcessInfo) => unknown): Resolver {
  return (ctx, evt) => {
    const proc = ctx.processOf(evt);
    return proc === undefined ? undefined : get(proc);
  };
}

function parentField(get: (p: ProcessInfo) => unknown): Resolver {
  return (ctx, evt) => {
    const proc = ctx.processOf(evt);
    const parent = proc === undefined ? undefined : ctx.processes.parent(proc);
    return parent === undefined ? undefined : get(parent);
  };
}

function ancestorField(get: (p: ProcessInfo) => unknown): Resolver {
  return (ctx, evt, arg) => {
    const proc = ctx.processOf(evt);
    if (proc === undefined) return undefined;
    if (arg === undefined) {
      const out: unknown[] = [];
      for (const a of ctx.processes.ancestors(proc)) {
        const v = get(a);
        if (v !== undefined) out.push(v);
      }
      return out.length === 0 ? undefined : out;
    }
    const n = index(arg);
    const ancestor = n === undefined ? undefined : ctx.processes.ancestor(proc, n);
    return ancestor === undefined ? undefined : get(ancestor);
  };
}

function podField(get: (pod: PodMetadata, arg: string | undefined) => unknown): Resolver {
  return (ctx, evt, arg) => {
    const pod = ctx.podOf(evt);
    return pod === undefined ? undefined : get(pod, arg);
  };
}

function imageField(part: 'repository' | 'tag' | 'digest'): Resolver {
  return podField((pod) => splitImage(pod.image)[part]);
}

function startTime(p: ProcessInfo): unknown {
  return p.startTime;
}

const RESOLVERS = new Map<string, Resolver>([
  ['proc.name', processField((p) => p.name)],
  ['proc.exe', processField((p) => p.exe)],
  ['proc.exepath', processField((p) => p.exepath)],
  ['proc.args', processField((p) => p.args)],
  ['proc.cmdline', processField((p) => p.cmdline)],
  [
    'proc.exeline',
    processField((p) => (p.exe === undefined ? undefined : p.args ? `${p.exe} ${p.args}` : p.exe)),
  ],
  ['proc.cwd', processField((p) => p.cwd)],
  ['proc.ppid', processField((p) => p.ppid)],
  ['proc.vpid', processField((p) => p.vpid)],
  ['proc.tty', processField((p) => p.tty)],
  ['proc.pid.ts', processField(startTime)],
  [
    'proc.duration',
    (ctx, evt) => {
      const start = ctx.processOf(evt)?.startTime;
      const now = evt.fields['evt.rawtime'];
      const t = typeof now === 'bigint' ? Number(now) : now;
      return start === undefined || typeof t !== 'number' || t < start ? undefined : t - start;
    },
  ],
  ['user.uid', processField((p) => p.uid)],
  ['user.name', processField((p) => p.userName)],
  ['user.loginuid', processField((p) => p.loginuid)],
  ['proc.pname', parentField((p) => p.name)],
  ['proc.pcmdline', parentField((p) => p.cmdline)],
  ['proc.pexe', parentField((p) => p.exe)],
  ['proc.pexepath', parentField((p) => p.exepath)],
  ['proc.pvpid', parentField((p) => p.vpid)],
  ['proc.ppid.ts', parentField(startTime)],
  ['proc.aname', ancestorField((p) => p.name)],
  ['proc.apid', ancestorField((p) => p.pid)],
  ['proc.aexe', ancestorField((p) => p.exe)],
  ['proc.aexepath', ancestorField((p) => p.exepath)],
  ['proc.acmdline', ancestorField((p) => p.cmdline)],
  [
    'container.id',
    (ctx, evt) => {
      const id = ctx.containerIdOf(evt);
      return id === undefined || isHost(id) ? id : id.slice(0, SHORT_ID_LENGTH);
    },
  ],
  ['container.full_id', (ctx, evt) => ctx.containerIdOf(evt)],
  [
    'container.name',
    (ctx, evt) => {
      const id = ctx.containerIdOf(evt);
      if (id === undefined) return undefined;
      return isHost(id) ? 'host' : ctx.podOf(evt)?.containerName;
    },
  ],
  ['container.image', podField((pod) => (pod.image === '' ? undefined : pod.image))],
  ['container.image.repository', imageField('repository')],
  ['container.image.tag', imageField('tag')],
  ['container.image.digest', imageField('digest')],
  ['k8s.pod.name', podField((pod) => pod.podName)],
  ['k8s.ns.name', podField((pod) => pod.namespace)],
  ['k8s.pod.uid', podField((pod) => pod.podUid || undefined)],
  ['k8s.pod.id', podField((pod) => pod.podUid || undefined)],
  ['k8s.pod.sandbox_id', podField((pod) => pod.sandboxId.slice(0, SHORT_ID_LENGTH) || undefined)],
  ['k8s.pod.full_sandbox_id', podField((pod) => pod.sandboxId || undefined)],
  ['k8s.pod.labels', podField((pod) => labelList(pod.labels))],
  ['k8s.pod.label', podField((pod, key) => (key === undefined ? undefined : pod.labels[key]))],
]);

class Context implements AgentContext {
  readonly processes: ProcessTable;
  private readonly pods: PodLookup | undefined;
  private readonly maxPending: number;
  // Container ids with a background lookup in flight; bounded by maxPending.
  private readonly pending = new Set<string>();
  // Workloads per pod metadata object: the resolver's objects are immutable and replaced on
  // change, so this never goes stale and lets go of what the resolver dropped.
  private readonly workloads = new WeakMap<PodMetadata, Workload>();
  // The last event asked about, and what was found for it.
  private procEvt: Event | undefined;
  private proc: ProcessInfo | undefined;
  private podEvt: Event | undefined;
  private pod: PodMetadata | undefined;

  constructor(options: AgentContextOptions) {
    this.processes = options.processes;
    this.pods = options.pods;
    this.maxPending = Math.max(0, options.maxPendingLookups ?? 64);
  }

  resolve(field: string, arg: string | undefined, evt: Event): unknown {
    const resolver = RESOLVERS.get(field);
    return resolver === undefined ? undefined : resolver(this, evt, arg);
  }

  processOf(evt: Event): ProcessInfo | undefined {
    if (evt !== this.procEvt) {
      this.procEvt = evt;
      const pid = evt.fields['proc.pid'];
      this.proc =
        typeof pid === 'number'
          ? this.processes.get(pid)
          : typeof pid === 'string' && pid !== ''
            ? this.processes.get(Number(pid))
            : undefined;
    }
    return this.proc;
  }

  containerIdOf(evt: Event): string | undefined {
    const proc = this.processOf(evt);
    const known = proc === undefined ? undefined : this.processes.containerId(proc);
    const said = evt.fields['container.full_id'] ?? evt.fields['container.id'];
    // The event's own word wins, unless the table holds the full form of the same id.
    if (typeof said === 'string' && said !== '' && (known === undefined || !known.startsWith(said)))
      return said;
    return known;
  }

  podOf(evt: Event): PodMetadata | undefined {
    if (evt === this.podEvt) return this.pod;
    this.podEvt = evt;
    this.pod = undefined;
    const pods = this.pods;
    const id = this.containerIdOf(evt);
    if (pods === undefined || id === undefined || isHost(id)) return undefined;
    this.pod = pods.peek(id);
    if (this.pod === undefined) this.lookUp(pods, id);
    return this.pod;
  }

  workloadOf(evt: Event): Workload | undefined {
    const pod = this.podOf(evt);
    if (pod === undefined) return undefined;
    let workload = this.workloads.get(pod);
    if (workload === undefined) {
      workload = workloadOf(pod);
      this.workloads.set(pod, workload);
    }
    return workload;
  }

  /** Starts a background lookup of a container the cache does not have. */
  private lookUp(pods: PodLookup, id: string): void {
    // Only full ids are keys of the runtime's containers; a 12-character one cannot be found.
    if (!FULL_ID.test(id) || this.pending.has(id) || this.pending.size >= this.maxPending) return;
    this.pending.add(id);
    const done = (): void => {
      this.pending.delete(id);
    };
    void pods.resolve(id).then(done, done);
  }
}

/**
 * Creates the agent's field context over a process table and, optionally, the pod metadata
 * resolver.
 *
 * @example
 * const processes = new ProcessTable({ procReader: createProcReader() });
 * const context = createAgentContext({ processes, pods: createPodMetadataResolver(cri) });
 * // per event: processes.observe(evt); then evaluate rules on { fields, context }
 */
export function createAgentContext(options: AgentContextOptions): AgentContext {
  return new Context(options);
}
