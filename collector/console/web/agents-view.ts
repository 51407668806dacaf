/** The agents page: every agent that ever connected, its state, host facts and spool. */
import { describeError } from './api.js';
import type { ConsoleContext, View } from './context.js';
import { h, replace } from './dom.js';
import { ago, bytes, dateTime } from './format.js';
import { refreshingTable, rememberSelection } from './list-keys.js';
import { stateBadge } from './quarantine-actions.js';
import type { Agent } from './types.js';

const REFRESH_MS = 10_000;

/** Creates the agents page (refreshed every 10 s while shown). */
export function createAgentsView(ctx: ConsoleContext): View {
  const tbody = h('tbody', {});
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const el = h(
    'div',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h2', {}, 'Agents'), summary),
    h(
      'div',
      { class: 'table-box' },
      h(
        'table',
        { class: 'grid', id: 'agents' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            [
              'Node',
              'State',
              'Last seen',
              'Version',
              'Source',
              'Host',
              'CPUs / memory',
              'Capabilities',
              'Spool',
            ].map((t) => h('th', {}, t)),
          ),
        ),
        tbody,
      ),
    ),
  );

  async function load(): Promise<void> {
    try {
      const { agents } = await ctx.api.get<{ agents: Agent[] }>('/api/v1/agents');
      const connected = agents.filter((a) => a.connected).length;
      summary.textContent = `${agents.length} agents, ${connected} connected`;
      const restore = rememberSelection(tbody);
      replace(
        tbody,
        agents.length === 0
          ? h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No agent has connected yet.'))
          : agents.map((a, i) =>
              h(
                'tr',
                {
                  class: 'row',
                  'data-id': a.node,
                  tabindex: i === 0 ? 0 : -1,
                  'aria-selected': i === 0 ? 'true' : 'false',
                },
                h('td', { class: 'strong' }, a.node),
                h('td', {}, stateBadge(a.connected ? 'connected' : 'disconnected')),
                h('td', { title: dateTime(a.lastSeenMs) }, ago(a.lastSeenMs)),
                h('td', {}, a.version),
                h('td', {}, a.host.source.replace(/:$/, '')),
                h('td', {}, `${a.host.hostname} · ${a.host.os} · ${a.host.kernel} · ${a.host.arch}`),
                h('td', {}, `${a.host.cpus} · ${bytes(a.host.memoryBytes)}`),
                h(
                  'td',
                  {},
                  a.capabilities.length === 0
                    ? '—'
                    : a.capabilities.map((c) => h('span', { class: 'tag' }, c)),
                ),
                h(
                  'td',
                  {},
                  `${a.spoolDepth} queued`,
                  a.spoolDropped > 0 ? h('span', { class: 'error' }, `, ${a.spoolDropped} dropped`) : null,
                ),
              ),
            ),
      );
      restore();
    } catch (err) {
      summary.textContent = describeError(err);
    }
  }

  return {
    el,
    ...refreshingTable(tbody, load, REFRESH_MS),
  };
}
