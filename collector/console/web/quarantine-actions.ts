/**
 * Quarantine and release as the console does them: a confirmation that requires a reason, then
 * the API call, then a message saying what each layer did.
 */
import { describeError } from './api.js';
import type { ConsoleContext } from './context.js';
import { askReason } from './dialogs.js';
import { h } from './dom.js';
import type { LayerState, Quarantine } from './types.js';

/** What to quarantine: an alert's pod, or a pod named outright (ask for it when missing). */
export interface QuarantineTarget {
  readonly alertId?: string;
  readonly namespace?: string;
  readonly pod?: string;
}

/** A layer as a line: its state as a badge, then its name and what happened. */
export function layerLine(name: string, layer: LayerState): HTMLElement {
  return h(
    'li',
    { 'data-layer': name.toLowerCase(), 'data-state': layer.state },
    stateBadge(layer.state),
    ' ',
    h('span', { class: 'strong' }, name),
    layer.detail !== '' ? h('span', { class: 'muted' }, ` — ${layer.detail}`) : null,
  );
}

/** A badge for a state. */
export function stateBadge(state: string, title?: string): HTMLElement {
  return h('span', { class: `state state-${state}`, ...(title !== undefined && { title }) }, state);
}

/** `shop/web-1 active: Kubernetes applied, node pending` (the details are on the page). */
function summary(q: Quarantine): string {
  return `${q.namespace}/${q.pod} ${q.state}: Kubernetes ${q.layers.kubernetes.state}, node ${q.layers.node.state}`;
}

function tone(q: Quarantine): 'ok' | 'info' | 'error' {
  const states = [q.layers.kubernetes.state, q.layers.node.state];
  if (states.includes('failed')) return 'error';
  return states.includes('pending') ? 'info' : 'ok';
}

/**
 * Asks for a reason and quarantines; resolves with the quarantine, or undefined when cancelled.
 */
export async function quarantineFlow(
  ctx: ConsoleContext,
  target: QuarantineTarget,
): Promise<Quarantine | undefined> {
  let made: Quarantine | undefined;
  const named = target.namespace !== undefined && target.pod !== undefined;
  const ok = await askReason({
    title: named ? `Quarantine pod ${target.namespace}/${target.pod}?` : 'Quarantine a pod',
    body: h(
      'p',
      {},
      'The pod is cut off from the network: a NetworkPolicy isolates it in the cluster and the agent on its node ' +
        'drops its traffic. It keeps running, so it can be examined, until it is released.',
    ),
    confirmLabel: 'Quarantine',
    ...(!named && {
      fields: [
        {
          name: 'namespace',
          label: 'Namespace',
          ...(target.namespace !== undefined && { value: target.namespace }),
        },
        { name: 'pod', label: 'Pod', ...(target.pod !== undefined && { value: target.pod }) },
      ],
    }),
    checks: [
      { name: 'cutEstablished', label: 'Also cut connections already open', checked: true },
      { name: 'freeze', label: 'Freeze its processes too', checked: false },
    ],
    action: async (answer) => {
      const body: Record<string, unknown> = {
        reason: answer.reason,
        cutEstablished: answer.checks['cutEstablished'] ?? true,
        freeze: answer.checks['freeze'] ?? false,
        namespace: target.namespace ?? answer.fields['namespace'],
        pod: target.pod ?? answer.fields['pod'],
      };
      if (target.alertId !== undefined) body['alertId'] = target.alertId;
      try {
        made = await ctx.api.post<Quarantine>('/api/v1/quarantines', body);
      } catch (err) {
        throw new Error(describeError(err), { cause: err });
      }
    },
  });
  if (!ok || made === undefined) return undefined;
  ctx.toast(`Quarantined ${summary(made)}`, tone(made));
  return made;
}

/** Asks for a reason and releases; resolves with the quarantine, or undefined when cancelled. */
export async function releaseFlow(ctx: ConsoleContext, q: Quarantine): Promise<Quarantine | undefined> {
  let done: Quarantine | undefined;
  const ok = await askReason({
    title: `Release ${q.namespace}/${q.pod}?`,
    body: h('p', {}, 'The pod gets its network back on both layers.'),
    confirmLabel: 'Release',
    action: async (answer) => {
      try {
        done = await ctx.api.post<Quarantine>(`/api/v1/quarantines/${encodeURIComponent(q.id)}/release`, {
          reason: answer.reason,
        });
      } catch (err) {
        throw new Error(describeError(err), { cause: err });
      }
    },
  });
  if (!ok || done === undefined) return undefined;
  ctx.toast(`Release of ${summary(done)}`, tone(done));
  return done;
}
