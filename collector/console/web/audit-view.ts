/**
 * The audit log: every quarantine, release and profile edit, who did it and why, newest first,
 * a page at a time; and a check that the hash chain is intact.
 */
import { ApiFailure, describeError } from './api.js';
import type { ConsoleContext, View } from './context.js';
import { h, replace } from './dom.js';
import { dateTime, short } from './format.js';
import { moveInTable } from './list-keys.js';
import type { AuditRecord, AuditVerification } from './types.js';

const PAGE = 50;

/** Creates the audit page. */
export function createAuditView(ctx: ConsoleContext): View {
  const tbody = h('tbody', {});
  const verify = h('button', { type: 'button', class: 'btn' }, 'Verify the chain');
  const verdict = h('span', { 'aria-live': 'polite' });
  const older = h('button', { type: 'button', class: 'btn', hidden: true }, 'Older records');
  const summary = h('p', { class: 'muted' });
  const el = h(
    'div',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h2', {}, 'Audit log'), verify, verdict, summary),
    h(
      'div',
      { class: 'table-box' },
      h(
        'table',
        { class: 'grid', id: 'audit' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['#', 'Time', 'Actor', 'Action', 'Target', 'Reason', 'Detail', 'Hash'].map((t) => h('th', {}, t)),
          ),
        ),
        tbody,
      ),
      h('div', { class: 'list-foot' }, older),
    ),
  );
  let next: number | null = null;
  let count = 0;

  function row(r: AuditRecord): HTMLElement {
    const details = Object.entries(r.detail).map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return h(
        'div',
        {},
        h('span', { class: 'muted' }, `${k}: `),
        text.length > 240 ? `${text.slice(0, 240)}…` : text,
      );
    });
    return h(
      'tr',
      { class: 'row', tabindex: -1, 'aria-selected': 'false' },
      h('td', {}, String(r.seq)),
      h('td', { class: 'nowrap' }, dateTime(r.timeMs)),
      h('td', { class: 'nowrap' }, r.actor),
      h('td', { class: 'strong nowrap' }, r.action),
      h(
        'td',
        { class: 'nowrap' },
        r.namespace !== null && r.pod !== null ? h('div', {}, `${r.namespace}/${r.pod}`) : null,
        r.quarantineId !== null
          ? h('div', { class: 'small muted', title: r.quarantineId }, short(r.quarantineId, 14))
          : null,
        r.alertId !== null
          ? h(
              'div',
              { class: 'small' },
              h('a', { href: `#/alerts/${encodeURIComponent(r.alertId)}` }, `alert ${short(r.alertId)}`),
            )
          : null,
      ),
      h('td', {}, r.reason ?? '—'),
      h('td', { class: 'small audit-detail' }, details),
      h('td', { class: 'mono small', title: r.hash }, short(r.hash, 10)),
    );
  }

  async function load(reset: boolean): Promise<void> {
    try {
      const page = await ctx.api.get<{ records: AuditRecord[]; next: number | null }>('/api/v1/audit', {
        limit: PAGE,
        ...(!reset && next !== null && { before: next }),
      });
      if (reset) {
        tbody.replaceChildren();
        count = 0;
      }
      count += page.records.length;
      tbody.append(...page.records.map(row));
      if (count === 0)
        tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'Nothing recorded yet.')));
      const first = tbody.querySelector<HTMLElement>('tr.row');
      if (reset && first !== null) {
        first.tabIndex = 0;
        first.setAttribute('aria-selected', 'true');
      }
      next = page.next;
      older.hidden = next === null;
      summary.textContent = `${count} shown`;
    } catch (err) {
      summary.textContent =
        err instanceof ApiFailure && err.status === 404
          ? 'This collector has no audit log API.'
          : describeError(err);
    }
  }

  verify.addEventListener('click', () => {
    verdict.textContent = 'Checking…';
    ctx.api
      .get<AuditVerification>('/api/v1/audit/verify')
      .then((v) => {
        replace(
          verdict,
          v.ok
            ? h('span', { class: 'state state-applied' }, `intact: ${v.records} records`)
            : h(
                'span',
                { class: 'state state-failed' },
                `broken at record ${v.firstBad ?? '?'}: ${v.detail ?? ''}`,
              ),
        );
      })
      .catch((err: unknown) => {
        verdict.textContent = describeError(err);
      });
  });
  older.addEventListener('click', () => void load(false));

  return {
    el,
    show() {
      void load(true);
    },
    hide() {},
    key(e) {
      if (e.key === 'r') {
        void load(true);
        return true;
      }
      return moveInTable(tbody, e.key);
    },
  };
}
