/**
 * The alerts page: filters, the timeline, the list (newest first, a page at a time from the
 * server, never everything), live alerts from the feed inserted as they come, and the detail of
 * the selected alert.
 *
 * The filter lives in the address (`#/alerts?priority=warning&q=shell`), so a view can be
 * bookmarked and shared. The list keeps at most {@link MAX_ROWS} rows in the page: live alerts
 * beyond that push the oldest out (and older pages are then reached by narrowing the time).
 */
import { describeError } from './api.js';
import { alertPod, outputText, renderDetail } from './alert-detail.js';
import type { ConsoleContext, Route, View } from './context.js';
import { h, replace } from './dom.js';
import { alertMs, dateTime, listTime, priorityClass } from './format.js';
import type { FeedState } from './feed.js';
import { LiveFeed } from './feed.js';
import { Timeline } from './timeline.js';
import { PRIORITIES, type AlertCounts, type AlertFilter, type AlertPage, type AlertRecord } from './types.js';

/** Rows one page asks for. */
const PAGE_SIZE = 100;
/** Rows kept in the page at most. */
const MAX_ROWS = 1000;
/** Live alerts held while paused, at most (the oldest are dropped beyond). */
const MAX_PAUSED = 1000;

const RANGES: readonly (readonly [string, string, number, string])[] = [
  ['15m', 'Last 15 minutes', 15 * 60_000, '1m'],
  ['1h', 'Last hour', 3_600_000, '1m'],
  ['6h', 'Last 6 hours', 6 * 3_600_000, '5m'],
  ['24h', 'Last 24 hours', 86_400_000, '30m'],
  ['7d', 'Last 7 days', 7 * 86_400_000, '3h'],
  ['30d', 'Last 30 days', 30 * 86_400_000, '1d'],
  ['all', 'Any time', 0, '1d'],
  ['custom', 'Between…', 0, ''],
];

const TEXT_FILTERS = ['rule', 'namespace', 'pod', 'node', 'tag'] as const;

/** A bucket width that gives at most about 80 bars over `spanMs`. */
function bucketFor(spanMs: number): string {
  const options: [string, number][] = [
    ['1m', 60_000],
    ['5m', 300_000],
    ['15m', 900_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['3h', 10_800_000],
    ['6h', 21_600_000],
    ['12h', 43_200_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
  ];
  return (options.find(([, ms]) => spanMs / ms <= 80) ?? ['7d'])[0];
}

/** `2024-05-01T12:00` (for datetime-local inputs) from ms, in the browser's zone. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Creates the alerts page. */
export function createAlertsView(ctx: ConsoleContext): View {
  const input = (name: string, label: string, placeholder: string): HTMLInputElement =>
    h('input', {
      name,
      id: `f-${name}`,
      placeholder,
      'aria-label': label,
      autocomplete: 'off',
      spellcheck: 'false',
    });
  const q = h('input', {
    type: 'search',
    name: 'q',
    id: 'f-q',
    placeholder: 'Search the output   ( / )',
    'aria-label': 'Search the output',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const priority = h(
    'select',
    { name: 'priority', id: 'f-priority', 'aria-label': 'Priority at least' },
    h('option', { value: '' }, 'Any priority'),
    PRIORITIES.map((p) => h('option', { value: p.toLowerCase() }, `≥ ${p}`)),
  );
  const kind = h(
    'select',
    { name: 'kind', id: 'f-kind', 'aria-label': 'Kind' },
    h('option', { value: '' }, 'Any kind'),
    h('option', { value: 'signature' }, 'Signatures'),
    h('option', { value: 'anomaly' }, 'Anomalies'),
  );
  const range = h(
    'select',
    { name: 'range', id: 'f-range', 'aria-label': 'Time' },
    RANGES.map(([v, label]) => h('option', { value: v }, label)),
  );
  range.value = '24h';
  const from = h('input', { type: 'datetime-local', name: 'from', 'aria-label': 'From', hidden: true });
  const to = h('input', { type: 'datetime-local', name: 'to', 'aria-label': 'To', hidden: true });
  const texts = {
    rule: input('rule', 'Rule', 'Rule'),
    namespace: input('namespace', 'Namespace', 'Namespace'),
    pod: input('pod', 'Pod', 'Pod'),
    node: input('node', 'Node', 'Node'),
    tag: input('tag', 'Tag', 'Tag'),
  };
  const clear = h('button', { type: 'button', class: 'btn' }, 'Clear');
  const apply = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply');
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Alert filters' },
    h('div', { class: 'filters-row' }, q, priority, kind, range, from, to, apply, clear),
    h('div', { class: 'filters-row' }, Object.values(texts)),
  );

  const liveDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const liveText = h('span', {}, 'connecting');
  const pause = h(
    'button',
    { type: 'button', class: 'btn small', 'aria-pressed': 'false', title: 'Pause the live stream (p)' },
    'Pause',
  );
  const status = h('span', { class: 'muted', 'aria-live': 'polite' });
  const bar = h(
    'div',
    { class: 'statusbar' },
    h('span', { class: 'live', id: 'live-state', 'data-state': 'connecting' }, liveDot, liveText),
    pause,
    status,
  );

  const timeline = new Timeline((fromMs, toMs) => {
    range.value = 'custom';
    from.value = localInput(fromMs);
    to.value = localInput(toMs);
    syncRange();
    void applyForm();
  });

  const tbody = h('tbody', {});
  const table = h(
    'table',
    { class: 'alerts', id: 'alert-list', 'aria-label': 'Alerts, newest first', 'data-state': 'loading' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { class: 'c-time' }, 'Time'),
        h('th', { class: 'c-prio' }, 'Priority'),
        h('th', { class: 'c-rule' }, 'Rule'),
        h('th', { class: 'c-pod' }, 'Namespace / pod'),
        h('th', { class: 'c-node' }, 'Node'),
        h('th', { class: 'c-output' }, 'Output'),
      ),
    ),
    tbody,
  );
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load older alerts');
  const listFoot = h('div', { class: 'list-foot' }, more);
  const listBox = h('div', { class: 'list-box' }, table, listFoot);
  const detail = h('aside', {
    class: 'detail',
    id: 'alert-detail',
    'aria-labelledby': 'detail-title',
    hidden: true,
  });
  const split = h('div', { class: 'split' }, listBox, detail);
  const el = h('div', { class: 'view view-alerts' }, form, bar, timeline.el, split);

  let rows: AlertRecord[] = [];
  let next: string | null = null;
  let truncated = false;
  let selected = -1;
  let openId: string | undefined;
  let filter: AlertFilter = {};
  let loadCtl: AbortController | undefined;
  let detailCtl: AbortController | undefined;
  let paused = false;
  let held: AlertRecord[] = [];
  let loadingMore = false;

  const feed = new LiveFeed(
    ctx.api.token,
    (record) => onLive(record),
    (state: FeedState, detailText: string) => {
      const shown = paused && state === 'live' ? 'paused' : state;
      (liveText.parentElement as HTMLElement).dataset['state'] = shown;
      liveText.textContent = detailText === '' ? shown : `${shown}: ${detailText}`;
    },
    (why) => ctx.api.onUnauthorized(why),
    // Back after a drop: what came meanwhile is in the store, not in the stream; reload the page.
    () => void load(),
  );

  function syncRange(): void {
    const custom = range.value === 'custom';
    from.hidden = !custom;
    to.hidden = !custom;
  }

  /** The filter the form says, with relative times made absolute now. */
  function formFilter(): AlertFilter {
    const f: AlertFilter = {};
    if (q.value.trim() !== '') f.q = q.value.trim();
    if (priority.value !== '') f.priority = priority.value;
    if (kind.value !== '') f.kind = kind.value;
    for (const name of TEXT_FILTERS) {
      const v = texts[name].value.trim();
      if (v !== '') f[name] = v;
    }
    const preset = RANGES.find(([v]) => v === range.value);
    if (range.value === 'custom') {
      if (from.value !== '') f.from = String(new Date(from.value).getTime());
      if (to.value !== '') f.to = String(new Date(to.value).getTime());
    } else if (preset !== undefined && preset[2] > 0) {
      f.from = String(Date.now() - preset[2]);
    }
    return f;
  }

  /** The address for the form's state (the relative range by name, not by time). */
  function formHash(): string {
    const p = new URLSearchParams();
    if (q.value.trim() !== '') p.set('q', q.value.trim());
    if (priority.value !== '') p.set('priority', priority.value);
    if (kind.value !== '') p.set('kind', kind.value);
    for (const name of TEXT_FILTERS)
      if (texts[name].value.trim() !== '') p.set(name, texts[name].value.trim());
    if (range.value !== '24h') p.set('range', range.value);
    if (range.value === 'custom') {
      if (from.value !== '') p.set('from', String(new Date(from.value).getTime()));
      if (to.value !== '') p.set('to', String(new Date(to.value).getTime()));
    }
    const qs = p.toString();
    return `#/alerts${openId !== undefined ? `/${encodeURIComponent(openId)}` : ''}${qs === '' ? '' : `?${qs}`}`;
  }

  function setForm(params: URLSearchParams): void {
    q.value = params.get('q') ?? '';
    priority.value = params.get('priority')?.toLowerCase() ?? '';
    kind.value = params.get('kind') ?? '';
    for (const name of TEXT_FILTERS) texts[name].value = params.get(name) ?? '';
    const r = params.get('range') ?? (params.has('from') || params.has('to') ? 'custom' : '24h');
    range.value = RANGES.some(([v]) => v === r) ? r : '24h';
    const fromMs = Number(params.get('from'));
    const toMs = Number(params.get('to'));
    from.value = params.has('from') && Number.isFinite(fromMs) ? localInput(fromMs) : '';
    to.value = params.has('to') && Number.isFinite(toMs) ? localInput(toMs) : '';
    syncRange();
  }

  function rowFor(record: AlertRecord, index: number): HTMLTableRowElement {
    const a = record.alert;
    const { namespace, pod } = alertPod(a);
    const tr = h(
      'tr',
      {
        class: `row${a.id === openId ? ' open' : ''}`,
        tabindex: index === selected ? 0 : -1,
        'aria-selected': index === selected ? 'true' : 'false',
        'data-id': a.id,
      },
      h(
        'td',
        { class: 'c-time mono', title: `${dateTime(alertMs(a.time, record.receivedMs))} (${a.time})` },
        listTime(alertMs(a.time, record.receivedMs)),
      ),
      h('td', { class: 'c-prio' }, h('span', { class: priorityClass(a.priority) }, a.priority)),
      h(
        'td',
        { class: 'c-rule' },
        a.rule,
        a.kind === 'anomaly' ? h('span', { class: 'tag tag-anomaly' }, 'anomaly') : null,
      ),
      h(
        'td',
        { class: 'c-pod' },
        namespace !== undefined || pod !== undefined
          ? `${namespace ?? '?'}/${pod ?? '?'}`
          : h('span', { class: 'muted' }, 'host'),
      ),
      h('td', { class: 'c-node' }, a.node),
      h('td', { class: 'c-output' }, outputText(a)),
    );
    return tr;
  }

  function renderRows(): void {
    const frag = document.createDocumentFragment();
    rows.forEach((r, i) => frag.append(rowFor(r, i)));
    tbody.replaceChildren(frag);
    if (rows.length === 0) {
      tbody.append(
        h(
          'tr',
          { class: 'empty' },
          h('td', { colspan: 6 }, 'No alerts match. Widen the time or clear the filters.'),
        ),
      );
    }
    renderFoot();
  }

  function renderFoot(): void {
    more.hidden = next === null || truncated;
    const total = timeline.total();
    status.textContent =
      `${rows.length} shown` +
      (total > 0 ? ` of ${total.toLocaleString()} in the timeline` : '') +
      (truncated ? ' — older ones left out; narrow the time to see them' : '') +
      (held.length > 0 ? ` — ${held.length} new while paused` : '');
  }

  function select(index: number, focus = true): void {
    if (rows.length === 0) return;
    const i = Math.max(0, Math.min(rows.length - 1, index));
    const old = tbody.children[selected] as HTMLElement | undefined;
    if (old !== undefined) {
      old.tabIndex = -1;
      old.setAttribute('aria-selected', 'false');
    }
    selected = i;
    const tr = tbody.children[i] as HTMLElement | undefined;
    if (tr === undefined) return;
    tr.tabIndex = 0;
    tr.setAttribute('aria-selected', 'true');
    if (focus) tr.focus({ preventScroll: true });
    tr.scrollIntoView({ block: 'nearest' });
    if (i >= rows.length - 5 && next !== null && !truncated) void loadMore();
  }

  async function load(): Promise<void> {
    loadCtl?.abort();
    const ctl = new AbortController();
    loadCtl = ctl;
    table.dataset['state'] = 'loading';
    incoming = [];
    // User Timing marks: how long a list takes to show (the benchmark reads them; so can DevTools).
    performance.clearMarks('vigil:list-load');
    performance.mark('vigil:list-load');
    feed.subscribe(filter);
    const fromMs = filter.from !== undefined ? Number(filter.from) : Date.now() - 30 * 86_400_000;
    const toMs = filter.to !== undefined ? Number(filter.to) : Date.now();
    const preset = RANGES.find(([v]) => v === range.value);
    const bucket = preset !== undefined && preset[3] !== '' ? preset[3] : bucketFor(toMs - fromMs);
    const countsFilter = { ...filter, from: String(fromMs) };
    // The list is asked for first: the collector answers in order, and the rows matter most.
    const list = ctx.api.get<AlertPage>('/api/v1/alerts', { ...filter, limit: PAGE_SIZE }, ctl.signal);
    const counts = ctx.api.get<AlertCounts>('/api/v1/alerts/counts', { ...countsFilter, bucket }, ctl.signal);
    // Handled below, after the list; until then a failure must not count as unhandled.
    counts.catch(() => undefined);
    try {
      const page = await list;
      if (ctl.signal.aborted) return;
      rows = [...page.alerts];
      next = page.next;
      truncated = false;
      selected = rows.length > 0 ? 0 : -1;
      renderRows();
      table.dataset['state'] = 'ready';
      performance.clearMeasures('vigil:list');
      performance.measure('vigil:list', 'vigil:list-load');
    } catch (err) {
      if (ctl.signal.aborted) return;
      table.dataset['state'] = 'error';
      rows = [];
      next = null;
      renderRows();
      replace(
        tbody,
        h('tr', { class: 'empty' }, h('td', { colspan: 6, class: 'error' }, describeError(err))),
      );
    }
    try {
      timeline.render(await counts);
      renderFoot();
    } catch (err) {
      if (!ctl.signal.aborted) ctx.toast(`The timeline could not load: ${describeError(err)}`, 'error');
    }
  }

  async function loadMore(): Promise<void> {
    if (loadingMore || next === null) return;
    loadingMore = true;
    more.disabled = true;
    const ctl = loadCtl;
    performance.clearMarks('vigil:list-load');
    performance.mark('vigil:list-load');
    try {
      const page = await ctx.api.get<AlertPage>('/api/v1/alerts', {
        ...filter,
        limit: PAGE_SIZE,
        cursor: next,
      });
      if (ctl !== loadCtl) return;
      const start = rows.length;
      const seen = new Set(rows.map((r) => r.alert.id));
      const fresh = page.alerts.filter((r) => !seen.has(r.alert.id));
      rows.push(...fresh);
      next = page.next;
      if (rows.length > MAX_ROWS) {
        rows.length = MAX_ROWS;
        truncated = true;
      }
      const frag = document.createDocumentFragment();
      rows.slice(start).forEach((r, k) => frag.append(rowFor(r, start + k)));
      tbody.append(frag);
      renderFoot();
      performance.clearMeasures('vigil:list');
      performance.measure('vigil:list', 'vigil:list-load');
    } catch (err) {
      ctx.toast(describeError(err), 'error');
    } finally {
      loadingMore = false;
      more.disabled = false;
    }
  }

  /** Live alerts waiting for the next frame (at most {@link MAX_ROWS}: more could not show). */
  let incoming: AlertRecord[] = [];
  let frame = 0;

  function onLive(record: AlertRecord): void {
    timeline.add(alertMs(record.alert.time, record.receivedMs), record.alert.priority);
    if (paused) {
      held.push(record);
      if (held.length > MAX_PAUSED) held.shift();
      renderFoot();
      return;
    }
    // A burst is inserted in one go at the next frame, not row by row.
    incoming.push(record);
    if (incoming.length > MAX_ROWS) incoming.shift();
    frame ||= requestAnimationFrame(() => {
      frame = 0;
      const batch = incoming;
      incoming = [];
      insert(batch);
    });
  }

  function insert(records: readonly AlertRecord[]): void {
    if (records.length === 0) return;
    const shown = new Set(rows.map((r) => r.alert.id));
    for (const record of records) {
      if (shown.has(record.alert.id)) continue;
      const t = alertMs(record.alert.time, record.receivedMs);
      // Live alerts are nearly always the newest: check the top before searching.
      const top = rows[0];
      let at =
        top === undefined || alertMs(top.alert.time, top.receivedMs) < t
          ? 0
          : rows.findIndex((r) => alertMs(r.alert.time, r.receivedMs) < t);
      if (at === -1) {
        // Older than everything shown: it belongs to a later page, unless this is the last one.
        if (next !== null) continue;
        at = rows.length;
      }
      shown.add(record.alert.id);
      rows.splice(at, 0, record);
      const tr = rowFor(record, at);
      tr.classList.add('fresh');
      tbody.insertBefore(tr, tbody.children[at] ?? null);
      if (selected >= at) selected += 1;
    }
    tbody.querySelector('tr.empty')?.remove();
    if (rows.length > MAX_ROWS) {
      rows.length = MAX_ROWS;
      truncated = true;
      while (tbody.children.length > MAX_ROWS) tbody.lastElementChild?.remove();
    }
    selected = rows.length === 0 ? -1 : Math.max(0, Math.min(selected, rows.length - 1));
    // Keep tabindex/aria in step with `selected` after the shift.
    Array.from(tbody.children).forEach((row, i) => {
      (row as HTMLElement).tabIndex = i === selected ? 0 : -1;
      row.setAttribute('aria-selected', i === selected ? 'true' : 'false');
    });
    renderFoot();
  }

  function setPaused(p: boolean): void {
    paused = p;
    pause.textContent = p ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(p));
    const live = liveText.parentElement as HTMLElement;
    if (p) {
      live.dataset['state'] = 'paused';
      liveText.textContent = 'paused';
    } else {
      const waiting = held;
      held = [];
      insert(waiting);
      live.dataset['state'] = 'live';
      liveText.textContent = 'live';
      renderFoot();
    }
  }

  async function openDetail(id: string): Promise<void> {
    detailCtl?.abort();
    const ctl = new AbortController();
    detailCtl = ctl;
    openId = id;
    history.replaceState(null, '', formHash());
    for (const tr of tbody.querySelectorAll('tr.open')) tr.classList.remove('open');
    tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.classList.add('open');
    detail.hidden = false;
    split.classList.add('with-detail');
    let record = rows.find((r) => r.alert.id === id);
    if (record === undefined) {
      replace(detail, h('p', { class: 'muted' }, 'Loading…'));
      try {
        record = await ctx.api.get<AlertRecord>(`/api/v1/alerts/${encodeURIComponent(id)}`, {}, ctl.signal);
      } catch (err) {
        if (!ctl.signal.aborted) replace(detail, h('p', { class: 'error' }, describeError(err)));
        return;
      }
    }
    if (ctl.signal.aborted) return;
    renderDetail(ctx, detail, record, hooks, ctl.signal);
    detail.querySelector<HTMLElement>('#detail-title')?.focus();
  }

  function closeDetail(): boolean {
    if (detail.hidden) return false;
    detailCtl?.abort();
    openId = undefined;
    detail.hidden = true;
    split.classList.remove('with-detail');
    for (const tr of tbody.querySelectorAll('tr.open')) tr.classList.remove('open');
    history.replaceState(null, '', formHash());
    (tbody.children[selected] as HTMLElement | undefined)?.focus();
    return true;
  }

  const hooks = {
    filterBy(param: 'pod' | 'rule' | 'node' | 'namespace', value: string, extra?: Record<string, string>) {
      texts[param].value = value;
      for (const [k, v] of Object.entries(extra ?? {}))
        if (k in texts) texts[k as keyof typeof texts].value = v;
      closeDetail();
      void applyForm();
    },
    open: (id: string) => void openDetail(id),
    close: () => void closeDetail(),
  };

  async function applyForm(): Promise<void> {
    filter = formFilter();
    history.replaceState(null, '', formHash());
    await load();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void applyForm();
  });
  for (const s of [priority, kind, range, from, to])
    s.addEventListener('change', () => {
      syncRange();
      if (s === range && range.value === 'custom') {
        from.value ||= localInput(Date.now() - 3_600_000);
        to.value ||= localInput(Date.now());
      }
      void applyForm();
    });
  clear.addEventListener('click', () => {
    setForm(new URLSearchParams());
    void applyForm();
  });
  more.addEventListener('click', () => void loadMore());
  pause.addEventListener('click', () => setPaused(!paused));
  tbody.addEventListener('click', (e) => {
    const tr = (e.target as Element).closest('tr.row');
    if (!(tr instanceof HTMLTableRowElement)) return;
    const i = Array.from(tbody.children).indexOf(tr);
    select(i);
    void openDetail(tr.dataset['id'] as string);
  });
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !more.hidden) void loadMore();
  }).observe(listFoot);

  let started = false;
  return {
    el,
    show(route: Route) {
      const wanted = route.rest[0];
      if (!started || route.params.toString() !== '') {
        started = true;
        setForm(route.params);
        filter = formFilter();
        void load();
      }
      if (wanted !== undefined && wanted !== openId) void openDetail(wanted);
      else if (wanted === undefined && openId !== undefined) closeDetail();
    },
    hide() {
      // The feed stays connected: the list keeps up while another page is open.
    },
    key(e) {
      if (e.key === 'j' || e.key === 'ArrowDown') select(selected + 1);
      else if (e.key === 'k' || e.key === 'ArrowUp') select(selected - 1);
      else if (e.key === 'Enter' && rows[selected] !== undefined)
        void openDetail((rows[selected] as AlertRecord).alert.id);
      else if (e.key === 'p') setPaused(!paused);
      else if (e.key === 'r') void load();
      else return false;
      return true;
    },
    focusSearch() {
      q.focus();
      q.select();
    },
    escape: closeDetail,
    dispose() {
      feed.close();
      cancelAnimationFrame(frame);
      loadCtl?.abort();
      detailCtl?.abort();
    },
  };
}
