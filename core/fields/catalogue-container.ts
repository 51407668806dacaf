/**
 * Catalogue: container and Kubernetes fields (`container.*`, `k8s.*`) — where a process runs.
 *
 * Names and types follow libsinsp and Falco's container plugin; descriptions are ours. The agent
 * resolves these from its container and pod metadata through the event's context; flat records
 * may carry them directly. `container.image.repository` and `container.image.tag` are derived
 * from `container.image` when absent.
 */
import type { Event } from '../event.js';
import type { FieldDef } from './types.js';
import { defineField, type FieldSpec } from './catalogue-support.js';

/** Splits an image reference `registry/name:tag@digest` into repository and tag. */
function imageParts(evt: Event): { repository: string; tag: string | undefined } | undefined {
  const image = evt.fields['container.image'];
  if (typeof image !== 'string' || image.length === 0) return undefined;
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  // A colon before the last '/' belongs to a registry host:port, not to a tag.
  if (colon > ref.lastIndexOf('/')) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: undefined };
}

const mountArg = 'index-or-key-required' as const;

const specs: FieldSpec[] = [
  {
    name: 'container.id',
    type: 'charbuf',
    description: "Short container id (12 characters); 'host' outside containers.",
  },
  { name: 'container.full_id', type: 'charbuf', description: 'Full container id.' },
  { name: 'container.name', type: 'charbuf', description: "Container name; 'host' outside containers." },
  { name: 'container.image', type: 'charbuf', description: 'Image reference the container runs.' },
  { name: 'container.image.id', type: 'charbuf', description: 'Image id.' },
  {
    name: 'container.image.repository',
    type: 'charbuf',
    description: 'Image repository (the reference without tag or digest).',
    derive: () => (evt) => imageParts(evt)?.repository,
  },
  {
    name: 'container.image.tag',
    type: 'charbuf',
    description: 'Image tag.',
    derive: () => (evt) => imageParts(evt)?.tag,
  },
  { name: 'container.image.digest', type: 'charbuf', description: 'Image digest.' },
  {
    name: 'container.type',
    type: 'charbuf',
    description: 'Container runtime type: docker, containerd, cri-o, podman, ...',
  },
  { name: 'container.privileged', type: 'bool', description: 'True for privileged containers.' },
  {
    name: 'container.mounts',
    type: 'charbuf',
    description: 'All mounts, as source:dest:mode:rdrw:propagation items.',
  },
  {
    name: 'container.mount',
    type: 'charbuf',
    arg: mountArg,
    description: 'One mount, by number or by source path (a glob allowed).',
  },
  {
    name: 'container.mount.source',
    type: 'charbuf',
    arg: mountArg,
    description: 'Source of a mount, by number or by destination path (a glob allowed).',
  },
  {
    name: 'container.mount.dest',
    type: 'charbuf',
    arg: mountArg,
    description: 'Destination of a mount, by number or by source path (a glob allowed).',
  },
  {
    name: 'container.mount.mode',
    type: 'charbuf',
    arg: mountArg,
    description: 'Mode of a mount, by number or by source path.',
  },
  {
    name: 'container.mount.rdwr',
    type: 'charbuf',
    arg: mountArg,
    description: 'Read-write flag of a mount, by number or by source path.',
  },
  {
    name: 'container.mount.propagation',
    type: 'charbuf',
    arg: mountArg,
    description: 'Propagation of a mount, by number or by source path.',
  },
  { name: 'container.healthcheck', type: 'charbuf', description: 'Health check command of the container.' },
  {
    name: 'container.liveness_probe',
    type: 'charbuf',
    description: 'Liveness probe command of the container.',
  },
  {
    name: 'container.readiness_probe',
    type: 'charbuf',
    description: 'Readiness probe command of the container.',
  },
  { name: 'container.start_ts', type: 'abstime', description: 'Container start time (ns since the epoch).' },
  { name: 'container.duration', type: 'reltime', description: 'Nanoseconds since the container started.' },
  { name: 'container.ip', type: 'charbuf', description: 'Main IP address of the container.' },
  { name: 'container.cni.json', type: 'charbuf', description: 'CNI result of the container, as JSON.' },
  {
    name: 'container.host_pid',
    type: 'bool',
    description: "True when the container shares the host's pid namespace.",
  },
  {
    name: 'container.host_network',
    type: 'bool',
    description: "True when the container shares the host's network namespace.",
  },
  {
    name: 'container.host_ipc',
    type: 'bool',
    description: "True when the container shares the host's IPC namespace.",
  },
  {
    name: 'container.label',
    type: 'charbuf',
    arg: 'key-required',
    description: 'One container label: container.label[key].',
  },
  { name: 'container.labels', type: 'charbuf', description: 'All container labels, as key:value items.' },
  { name: 'k8s.pod.name', type: 'charbuf', description: 'Pod name.' },
  { name: 'k8s.pod.id', type: 'charbuf', description: 'Pod uid (legacy name).' },
  { name: 'k8s.pod.uid', type: 'charbuf', description: 'Pod uid.' },
  { name: 'k8s.pod.sandbox_id', type: 'charbuf', description: 'Short id of the pod sandbox.' },
  { name: 'k8s.pod.full_sandbox_id', type: 'charbuf', description: 'Full id of the pod sandbox.' },
  {
    name: 'k8s.pod.label',
    type: 'charbuf',
    arg: 'key-required',
    description: 'One pod label: k8s.pod.label[app].',
  },
  { name: 'k8s.pod.labels', type: 'charbuf', description: 'All pod labels, as key:value items.' },
  { name: 'k8s.pod.ip', type: 'charbuf', description: 'Pod IP address.' },
  { name: 'k8s.pod.cni.json', type: 'charbuf', description: 'CNI result of the pod, as JSON.' },
  { name: 'k8s.ns.name', type: 'charbuf', description: 'Namespace of the pod.' },
  { name: 'k8s.ns.id', type: 'charbuf', description: 'Uid of the namespace.' },
  { name: 'k8s.ns.label', type: 'charbuf', arg: 'key-required', description: 'One namespace label.' },
  { name: 'k8s.ns.labels', type: 'charbuf', description: 'All namespace labels.' },
  { name: 'k8s.rc.name', type: 'charbuf', description: 'Replication controller owning the pod.' },
  { name: 'k8s.rc.id', type: 'charbuf', description: 'Uid of the replication controller.' },
  {
    name: 'k8s.rc.label',
    type: 'charbuf',
    arg: 'key-required',
    description: 'One replication controller label.',
  },
  { name: 'k8s.rc.labels', type: 'charbuf', description: 'All replication controller labels.' },
  { name: 'k8s.rs.name', type: 'charbuf', description: 'Replica set owning the pod.' },
  { name: 'k8s.rs.id', type: 'charbuf', description: 'Uid of the replica set.' },
  { name: 'k8s.rs.label', type: 'charbuf', arg: 'key-required', description: 'One replica set label.' },
  { name: 'k8s.rs.labels', type: 'charbuf', description: 'All replica set labels.' },
  { name: 'k8s.svc.name', type: 'charbuf', description: 'Service selecting the pod.' },
  { name: 'k8s.svc.id', type: 'charbuf', description: 'Uid of the service.' },
  { name: 'k8s.svc.label', type: 'charbuf', arg: 'key-required', description: 'One service label.' },
  { name: 'k8s.svc.labels', type: 'charbuf', description: 'All service labels.' },
  { name: 'k8s.deployment.name', type: 'charbuf', description: 'Deployment owning the pod.' },
  { name: 'k8s.deployment.id', type: 'charbuf', description: 'Uid of the deployment.' },
  {
    name: 'k8s.deployment.label',
    type: 'charbuf',
    arg: 'key-required',
    description: 'One deployment label.',
  },
  { name: 'k8s.deployment.labels', type: 'charbuf', description: 'All deployment labels.' },
];

/** The container and Kubernetes fields. */
export function containerFields(): FieldDef[] {
  return specs.map(defineField);
}
