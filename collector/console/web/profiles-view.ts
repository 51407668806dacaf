/**
 * The workload profiles page: what each workload was seen doing while learning, whether it is
 * still learning or locked, and (for responders) lock, reopen, and remove or add an item.
 */
import { ApiFailure, describeError } from './api.js';
import type { ConsoleContext, Route, View } from './context.js';
import { h, replace } from './dom.js';
import { dateTime, duration } from './format.js';
import { moveInTable } from './list-keys.js';
import { stateBadge } from './quarantine-actions.js';
import type { ProfileItemKind, ProfileSummary } from './types.js';

/** Profiles listed at most; narrow by namespace for the rest. */
const PAGE = 500;

const KINDS: readonly ProfileItemKind[] = ['exec', 'spawn', 'user', 'file_write', 'connect', 'listen'];

/** Creates the profiles page. */
export function createProfilesView(ctx: ConsoleContext): View {
  const namespace = h('input', {
    id: 'p-namespace',
    placeholder: 'Namespace',
    'aria-label': 'Namespace',
    autocomplete: 'off',
  });
  const status = h(
    'select',
    { 'aria-label': 'Status', id: 'p-status' },
    h('option', { value: '' }, 'Learning and locked'),
    h('option', { value: 'learning' }, 'Learning'),
    h('option', { value: 'locked' }, 'Locked'),
  );
  const form = h(
    'form',
    { class: 'inline-form', role: 'search' },
    namespace,
    status,
    h('button', { class: 'btn', type: 'submit' }, 'Apply'),
  );
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const tbody = h('tbody', {});
  const detail = h('aside', { class: 'detail', hidden: true, 'aria-labelledby': 'profile-title' });
  const list = h(
    'div',
    { class: 'table-box' },
    h(
      'table',
      { class: 'grid', id: 'profiles' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Workload', 'Image', 'Status', 'Learning since', 'Observed', 'Nodes', 'Items', 'Size'].map((t) =>
            h('th', {}, t),
          ),
        ),
      ),
      tbody,
    ),
  );
  const split = h('div', { class: 'split' }, list, detail);
  const el = h(
    'div',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h2', {}, 'Workload profiles'), form, summary),
    split,
  );
  let openKey: string | undefined;

  async function load(): Promise<void> {
    try {
      const { profiles } = await ctx.api.get<{ profiles: ProfileSummary[] }>('/api/v1/profiles', {
        namespace: namespace.value.trim(),
        status: status.value,
        limit: PAGE,
      });
      summary.textContent =
        profiles.length === PAGE ? `the first ${PAGE} profiles` : `${profiles.length} profiles`;
      replace(
        tbody,
        profiles.length === 0
          ? h(
              'tr',
              {},
              h(
                'td',
                { colspan: 8, class: 'muted' },
                'No profiles yet: agents learn them from what workloads do.',
              ),
            )
          : profiles.map((p, i) =>
              h(
                'tr',
                {
                  class: `row${p.key === openKey ? ' open' : ''}`,
                  tabindex: i === 0 ? 0 : -1,
                  'aria-selected': i === 0 ? 'true' : 'false',
                  onclick: () => ctx.navigate(`#/profiles/${encodeURIComponent(p.key)}`),
                },
                h(
                  'td',
                  { class: 'strong' },
                  `${p.namespace}/${p.ownerKind}/${p.ownerName}`,
                  h('div', { class: 'small muted' }, `container ${p.container}`),
                ),
                h('td', { class: 'mono small' }, p.image),
                h('td', {}, stateBadge(p.status)),
                h('td', {}, dateTime(p.learningSinceMs)),
                h('td', {}, duration(p.observedMs)),
                h('td', {}, String(p.nodes.length)),
                h('td', {}, String(p.itemCount ?? p.items.length)),
                h('td', {}, `${p.sizeBytes} B`),
              ),
            ),
      );
    } catch (err) {
      summary.textContent =
        err instanceof ApiFailure && err.status === 404
          ? 'This collector has no profiles API.'
          : describeError(err);
    }
  }

  async function act(key: string, path: string, body: unknown): Promise<void> {
    try {
      const p = await ctx.api.post<ProfileSummary>(
        `/api/v1/profiles/${encodeURIComponent(key)}/${path}`,
        body,
      );
      renderDetail(p);
      void load();
    } catch (err) {
      ctx.toast(describeError(err), 'error');
    }
  }

  function renderDetail(p: ProfileSummary): void {
    const kind = h(
      'select',
      { 'aria-label': 'Item kind' },
      KINDS.map((k) => h('option', { value: k }, k)),
    );
    const value = h('input', { 'aria-label': 'Item value', placeholder: '/usr/bin/curl, 10.0.0.0/8:443, …' });
    replace(
      detail,
      h(
        'header',
        { class: 'detail-head' },
        stateBadge(p.status),
        h('h2', { id: 'profile-title', tabindex: -1 }, `${p.namespace}/${p.ownerKind}/${p.ownerName}`),
        h(
          'button',
          {
            type: 'button',
            class: 'btn icon',
            'aria-label': 'Close (Esc)',
            onclick: () => ctx.navigate('#/profiles'),
          },
          '✕',
        ),
      ),
      h(
        'dl',
        { class: 'kv' },
        [
          ['Container', p.container],
          ['Image', p.image],
          ['Learning since', dateTime(p.learningSinceMs)],
          ['Locked at', p.lockedAtMs === null ? '—' : dateTime(p.lockedAtMs)],
          ['Observed', duration(p.observedMs)],
          ['Nodes', p.nodes.join(', ') || '—'],
          ['Capacity', capacity(p)],
        ].map(([k, v]) => [h('dt', {}, k as string), h('dd', {}, v as string)]),
      ),
      ctx.canRespond
        ? h(
            'div',
            { class: 'actions' },
            p.status === 'learning'
              ? h(
                  'button',
                  { type: 'button', class: 'btn btn-primary', onclick: () => void act(p.key, 'lock', {}) },
                  'Lock: alert on anything new',
                )
              : h(
                  'button',
                  { type: 'button', class: 'btn', onclick: () => void act(p.key, 'reopen', {}) },
                  'Reopen learning',
                ),
          )
        : null,
      KINDS.map((k) => {
        const items = p.items.filter((i) => i.kind === k);
        if (items.length === 0) return null;
        return h(
          'section',
          { class: 'detail-section' },
          h('h3', {}, `${k} (${items.length})`),
          h(
            'ul',
            { class: 'items' },
            items.map((i) =>
              h(
                'li',
                {},
                h('span', { class: 'mono' }, i.value),
                i.manual ? h('span', { class: 'tag' }, 'manual') : null,
                h(
                  'span',
                  { class: 'small muted' },
                  ` seen ${dateTime(i.firstSeenMs)} – ${dateTime(i.lastSeenMs)}`,
                ),
                ctx.canRespond
                  ? h(
                      'button',
                      {
                        type: 'button',
                        class: 'btn small',
                        'aria-label': `Remove ${k} ${i.value}`,
                        onclick: () =>
                          void act(p.key, 'items', { action: 'remove', kind: i.kind, value: i.value }),
                      },
                      'Remove',
                    )
                  : null,
              ),
            ),
          ),
        );
      }),
      ctx.canRespond
        ? h(
            'form',
            {
              class: 'inline-form',
              onsubmit: (e: SubmitEvent) => {
                e.preventDefault();
                if (value.value.trim() !== '')
                  void act(p.key, 'items', { action: 'add', kind: kind.value, value: value.value.trim() });
              },
            },
            kind,
            value,
            h('button', { class: 'btn', type: 'submit' }, 'Allow'),
          )
        : null,
    );
  }

  async function open(key: string): Promise<void> {
    openKey = key;
    detail.hidden = false;
    split.classList.add('with-detail');
    replace(detail, h('p', { class: 'muted' }, 'Loading…'));
    try {
      renderDetail(await ctx.api.get<ProfileSummary>(`/api/v1/profiles/${encodeURIComponent(key)}`));
    } catch (err) {
      replace(detail, h('p', { class: 'error' }, describeError(err)));
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  status.addEventListener('change', () => void load());

  return {
    el,
    show(route: Route) {
      const key = route.rest[0];
      void load();
      if (key !== undefined) void open(key);
      else {
        openKey = undefined;
        detail.hidden = true;
        split.classList.remove('with-detail');
      }
    },
    hide() {},
    key(e) {
      return moveInTable(tbody, e.key);
    },
    focusSearch() {
      namespace.focus();
    },
    escape() {
      if (detail.hidden) return false;
      ctx.navigate('#/profiles');
      return true;
    },
  };
}

/**
 * Whether the profile still learns everything: the kinds that are full, the items not learnt
 * for that reason, and those a merge of replicas dropped ("≈" marks an estimate).
 */
export function capacity(p: ProfileSummary): string {
  const parts: string[] = [];
  const full = p.full ?? [];
  if (full.length > 0) parts.push(`full: ${full.join(', ')}`);
  if ((p.notLearned ?? 0) > 0) parts.push(`${(p.notLearned ?? 0).toLocaleString()} not learnt`);
  const estimated = new Set(p.trimmedEstimated ?? []);
  const trimmed = KINDS.filter((k) => (p.trimmed?.[k] ?? 0) > 0).map(
    (k) => `${k} ${estimated.has(k) ? '≈' : ''}${(p.trimmed?.[k] ?? 0).toLocaleString()}`,
  );
  if (trimmed.length > 0) parts.push(`dropped by merges: ${trimmed.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'room for every kind';
}
