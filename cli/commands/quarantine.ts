/**
 * `vigil quarantine`, `vigil release` and `vigil quarantines`: on-call commands against a running
 * collector's API (CONTRACTS 7). They need a token with the `responder` role or above to act, and
 * any token to list.
 */
import { parseArgs } from 'node:util';
import type { Quarantine } from '../../collector/response/quarantine-store.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import {
  callCollector,
  collectorTarget,
  columns,
  COLLECTOR_OPTIONS_HELP,
  isoSeconds,
} from '../collector-api.js';

const collectorOptions = {
  collector: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

function layerText(q: Quarantine): string {
  return `kubernetes ${q.layers.kubernetes.state}, node ${q.layers.node.state}`;
}

/** What a person reads after a quarantine or release. */
function describeQuarantine(q: Quarantine): string {
  const lines = [
    `${q.id}  ${q.namespace}/${q.pod}  ${q.state}${q.node !== null ? `  on node ${q.node}` : ''}`,
    `  kubernetes: ${q.layers.kubernetes.state}${q.layers.kubernetes.detail !== '' ? ` (${q.layers.kubernetes.detail})` : ''}`,
    `  node:       ${q.layers.node.state}${q.layers.node.detail !== '' ? ` (${q.layers.node.detail})` : ''}`,
    `  by ${q.actor} at ${isoSeconds(q.createdMs)}: ${q.reason}`,
  ];
  if (q.releasedMs !== null || q.releaseReason !== null) {
    lines.push(`  released ${isoSeconds(q.releasedMs)}: ${q.releaseReason ?? ''}`);
  }
  return lines.join('\n');
}

const quarantineUsage = `Usage: vigil quarantine POD --namespace NS --reason TEXT [options]
       vigil quarantine --alert ID --reason TEXT [options]

Quarantines a pod: the collector labels it and puts a deny-all NetworkPolicy in front of it
(when it is connected to Kubernetes), and the agent on the pod's node cuts the pod's network
inside its network namespace with nftables. Returns once both layers answered. Asking again for a
pod that is already quarantined returns the existing quarantine (and retries a layer that failed).
With --alert, the pod the alert names is quarantined and the alert is linked in the audit log.

Options:
  --namespace NS       the pod's namespace
  --reason TEXT        why (required; it goes into the audit log)
  --alert ID           the alert this quarantine answers (its pod, when POD is not given)
  --freeze             also freeze the pod's processes (cgroup freezer)
  --keep-established   keep connections that are already open (default: cut them too)
  --force              allowed in a namespace listed in response.never_namespaces (kube-system by
                       default); needs an admin token
${COLLECTOR_OPTIONS_HELP}
  --json               print the quarantine as JSON

Exit status: 0 when the quarantine is active (a layer may still be pending: the agent is
offline), 1 when it failed or the collector refused, 2 on bad usage.`;

/** `vigil quarantine`. */
export const quarantineCommand: Command = {
  name: 'quarantine',
  summary: 'quarantine a pod (vigil quarantine POD --namespace NS --reason TEXT)',
  usage: quarantineUsage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        ...collectorOptions,
        namespace: { type: 'string', short: 'n' },
        reason: { type: 'string' },
        alert: { type: 'string' },
        freeze: { type: 'boolean', default: false },
        'keep-established': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    });
    if (positionals.length > 1) throw new UsageError(`one pod at a time; got ${positionals.join(', ')}`);
    const pod = positionals[0];
    if (values.reason === undefined || values.reason.trim() === '') {
      throw new UsageError('--reason is required: say why (it goes into the audit log)');
    }
    if (pod === undefined && values.alert === undefined)
      throw new UsageError('name the POD (with --namespace) or an --alert');
    if (pod !== undefined && values.namespace === undefined)
      throw new UsageError(`--namespace is required with POD`);
    const target = collectorTarget(values);
    const body = {
      ...(pod !== undefined && { namespace: values.namespace, pod }),
      reason: values.reason,
      ...(values.alert !== undefined && { alertId: values.alert }),
      cutEstablished: !values['keep-established'],
      freeze: values.freeze,
      ...(values.force && { force: true }),
    };
    const { status, body: q } = await callCollector<Quarantine>(
      target,
      'POST',
      '/api/v1/quarantines',
      body,
      `quarantine ${pod !== undefined ? `${values.namespace}/${pod}` : `the pod of alert ${values.alert}`}`,
    );
    if (values.json) io.stdout.write(JSON.stringify(q, null, 2) + '\n');
    else {
      io.stdout.write(describeQuarantine(q) + '\n');
      if (status === 200) io.stderr.write(`the pod was already quarantined (${q.id})\n`);
    }
    return q.state === 'failed' ? 1 : 0;
  },
};

const releaseUsage = `Usage: vigil release ID --reason TEXT [options]
       vigil release POD --namespace NS --reason TEXT [options]

Releases a quarantine: removes the pod's label (and the namespace's NetworkPolicy once no pod
there is quarantined) and has the agent restore the pod's network. Names the quarantine by its id
(q-...), or the pod whose open quarantine to release.

Options:
  --namespace NS       the pod's namespace (when POD is given)
  --reason TEXT        why (required; it goes into the audit log)
${COLLECTOR_OPTIONS_HELP}
  --json               print the quarantine as JSON

Exit status: 0 when released, 1 when the release is incomplete (a layer is pending or failed;
it is finished when the agent reconnects or on the next release) or refused, 2 on bad usage.`;

/** `vigil release`. */
export const releaseCommand: Command = {
  name: 'release',
  summary: 'release a quarantine (vigil release ID|POD [--namespace NS] --reason TEXT)',
  usage: releaseUsage,
  async run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...collectorOptions, namespace: { type: 'string', short: 'n' }, reason: { type: 'string' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError('name one quarantine id or pod');
    if (values.reason === undefined || values.reason.trim() === '') {
      throw new UsageError('--reason is required: say why (it goes into the audit log)');
    }
    const target = collectorTarget(values);
    const name = positionals[0] as string;
    let id = name;
    if (values.namespace !== undefined) {
      const query = new URLSearchParams({ state: 'open', namespace: values.namespace, pod: name });
      const { body } = await callCollector<{ quarantines: Quarantine[] }>(
        target,
        'GET',
        `/api/v1/quarantines?${query.toString()}`,
        undefined,
        `find the quarantine of ${values.namespace}/${name}`,
      );
      const open = body.quarantines[0];
      if (open === undefined) {
        io.stderr.write(`vigil release: pod ${values.namespace}/${name} has no open quarantine\n`);
        return 1;
      }
      id = open.id;
    } else if (!name.startsWith('q-')) {
      throw new UsageError(`'${name}' is not a quarantine id (q-...); to name a pod, add --namespace`);
    }
    const { body: q } = await callCollector<Quarantine>(
      target,
      'POST',
      `/api/v1/quarantines/${encodeURIComponent(id)}/release`,
      { reason: values.reason },
      `release ${id}`,
    );
    io.stdout.write(values.json ? JSON.stringify(q, null, 2) + '\n' : describeQuarantine(q) + '\n');
    return q.state === 'released' ? 0 : 1;
  },
};

const listUsage = `Usage: vigil quarantines [--all] [--namespace NS] [--json] [options]

Lists quarantines, newest first, with the state of each layer: open ones (active or releasing)
by default, every one with --all.

Options:
  --all                also released and failed quarantines
  --namespace NS       only this namespace
  --limit N            at most N (default 100)
${COLLECTOR_OPTIONS_HELP}
  --json               print them as JSON`;

/** `vigil quarantines`. */
export const quarantinesCommand: Command = {
  name: 'quarantines',
  summary: 'list quarantines and the state of each layer',
  usage: listUsage,
  async run(args, io: CliIO): Promise<number> {
    const { values } = parseArgs({
      args: [...args],
      options: {
        ...collectorOptions,
        all: { type: 'boolean', default: false },
        namespace: { type: 'string', short: 'n' },
        limit: { type: 'string' },
      },
      allowPositionals: false,
    });
    if (values.limit !== undefined && !/^[1-9]\d{0,3}$/.test(values.limit)) {
      throw new UsageError(`--limit '${values.limit}': expected a number from 1 to 1000`);
    }
    const target = collectorTarget(values);
    const query = new URLSearchParams({ state: values.all ? 'all' : 'open' });
    if (values.namespace !== undefined) query.set('namespace', values.namespace);
    if (values.limit !== undefined) query.set('limit', values.limit);
    const { body } = await callCollector<{ quarantines: Quarantine[] }>(
      target,
      'GET',
      `/api/v1/quarantines?${query.toString()}`,
      undefined,
      'list quarantines',
    );
    if (values.json) {
      io.stdout.write(JSON.stringify(body.quarantines, null, 2) + '\n');
      return 0;
    }
    if (body.quarantines.length === 0) {
      io.stderr.write(values.all ? 'no quarantines\n' : 'no open quarantines (--all shows released ones)\n');
      return 0;
    }
    const rows = [
      ['ID', 'POD', 'STATE', 'LAYERS', 'NODE', 'SINCE', 'BY', 'REASON'],
      ...body.quarantines.map((q) => [
        q.id,
        `${q.namespace}/${q.pod}`,
        q.state,
        layerText(q),
        q.node ?? '-',
        isoSeconds(q.createdMs),
        q.actor,
        q.reason.length > 60 ? q.reason.slice(0, 57) + '...' : q.reason,
      ]),
    ];
    io.stdout.write(columns(rows) + '\n');
    return 0;
  },
};
