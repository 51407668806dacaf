/**
 * The quarantines page: each quarantine with its state on both layers (the Kubernetes
 * NetworkPolicy and the node's nftables), quarantine a pod by name, release. Refreshed every 5 s
 * while shown, so a layer's state changing shows by itself.
 */
import { ApiFailure, describeError } from './api.js';
import type { ConsoleContext, View } from './context.js';
import { h, replace } from './dom.js';
import { dateTime } from './format.js';
import { refreshingTable, rememberSelection } from './list-keys.js';
import { quarantineFlow, releaseFlow, stateBadge } from './quarantine-actions.js';
import type { LayerState, Quarantine } from './types.js';

const REFRESH_MS = 5_000;
/** Quarantines shown at most (newest first). */
const PAGE = 200;

function layerCell(layer: LayerState): HTMLElement {
  return h(
    'td',
    {},
    stateBadge(layer.state),
    layer.detail !== '' ? h('div', { class: 'small muted' }, layer.detail) : null,
  );
}

/** Creates the quarantines page. */
export function createQuarantinesView(ctx: ConsoleContext): View {
  const state = h(
    'select',
    { 'aria-label': 'Which quarantines', id: 'q-state' },
    h('option', { value: 'active' }, 'Active'),
    h('option', { value: 'released' }, 'Released'),
    h('option', { value: 'all' }, 'All'),
  );
  state.value = 'all';
  const add = ctx.canRespond
    ? h(
        'button',
        {
          type: 'button',
          class: 'btn btn-danger',
          'data-action': 'quarantine-pod',
          onclick: () => void quarantineFlow(ctx, {}).then(() => load()),
        },
        'Quarantine a pod…',
      )
    : null;
  const tbody = h('tbody', {});
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const el = h(
    'div',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h2', {}, 'Quarantines'), state, add, summary),
    h(
      'div',
      { class: 'table-box' },
      h(
        'table',
        { class: 'grid', id: 'quarantines' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Pod', 'State', 'Kubernetes', 'Node', 'Reason', 'By', 'Since', ''].map((t) => h('th', {}, t)),
          ),
        ),
        tbody,
      ),
    ),
  );

  async function load(): Promise<void> {
    try {
      const { quarantines } = await ctx.api.get<{ quarantines: Quarantine[] }>('/api/v1/quarantines', {
        state: state.value,
        limit: PAGE,
      });
      summary.textContent =
        quarantines.length === PAGE ? `the newest ${PAGE} shown` : `${quarantines.length} shown`;
      const restore = rememberSelection(tbody);
      replace(
        tbody,
        quarantines.length === 0
          ? h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No quarantines.'))
          : quarantines.map((q, i) =>
              h(
                'tr',
                {
                  class: 'row',
                  'data-id': q.id,
                  tabindex: i === 0 ? 0 : -1,
                  'aria-selected': i === 0 ? 'true' : 'false',
                },
                h(
                  'td',
                  { class: 'strong nowrap' },
                  h(
                    'a',
                    {
                      href: `#/alerts?namespace=${encodeURIComponent(q.namespace)}&pod=${encodeURIComponent(q.pod)}&range=all`,
                    },
                    `${q.namespace}/${q.pod}`,
                  ),
                  q.node !== null ? h('div', { class: 'small muted' }, `on ${q.node}`) : null,
                ),
                h('td', { class: 'q-state' }, stateBadge(q.state)),
                layerCell(q.layers.kubernetes),
                layerCell(q.layers.node),
                h(
                  'td',
                  {},
                  q.reason,
                  q.releaseReason !== null
                    ? h('div', { class: 'small muted' }, `released: ${q.releaseReason}`)
                    : null,
                ),
                h('td', { class: 'nowrap' }, q.actor),
                h(
                  'td',
                  { class: 'nowrap' },
                  dateTime(q.createdMs),
                  q.releasedMs !== null
                    ? h('div', { class: 'small muted' }, `until ${dateTime(q.releasedMs)}`)
                    : null,
                ),
                h(
                  'td',
                  {},
                  ctx.canRespond && (q.state === 'active' || q.state === 'failed')
                    ? h(
                        'button',
                        {
                          type: 'button',
                          class: 'btn small',
                          'data-action': 'release',
                          onclick: () => void releaseFlow(ctx, q).then(() => load()),
                        },
                        'Release…',
                      )
                    : null,
                ),
              ),
            ),
      );
      restore();
    } catch (err) {
      summary.textContent =
        err instanceof ApiFailure && err.status === 404
          ? 'This collector has no quarantine API.'
          : describeError(err);
    }
  }
  state.addEventListener('change', () => void load());

  return {
    el,
    ...refreshingTable(tbody, load, REFRESH_MS),
    focusSearch() {
      state.focus();
    },
  };
}
