/**
 * One alert in full: its output, the anomaly's score and reasons, the process ancestry, the
 * workload, every field, the pod's quarantine state (with quarantine and release for responders)
 * and the other alerts about the same pod.
 */
import { ApiFailure, describeError } from './api.js';
import type { ConsoleContext } from './context.js';
import { h, replace, type Child } from './dom.js';
import { alertMs, dateTime, priorityClass } from './format.js';
import { layerLine, quarantineFlow, releaseFlow, stateBadge } from './quarantine-actions.js';
import type { Alert, AlertPage, AlertRecord, Quarantine } from './types.js';

/** The namespace and pod an alert concerns, from its workload or Falco's k8s fields. */
export function alertPod(alert: Alert): { namespace: string | undefined; pod: string | undefined } {
  const f = alert.output_fields ?? {};
  const text = (v: unknown): string | undefined =>
    typeof v === 'string' && v !== '' && v !== '<NA>' ? v : undefined;
  return {
    namespace: text(alert.workload?.namespace) ?? text(f['k8s.ns.name']),
    pod: text(alert.workload?.pod) ?? text(f['k8s.pod.name']),
  };
}

/** The output without Falco's `HH:MM:SS.nnnnnnnnn: Priority ` prefix (the list shows both apart). */
export function outputText(alert: Alert): string {
  return alert.output.replace(/^\d{2}:\d{2}:\d{2}\.\d+: \S+ /, '');
}

interface ProcessStep {
  readonly role: string;
  readonly name: string;
  readonly pid: unknown;
  readonly exe: unknown;
  readonly cmdline: unknown;
}

/** The process and its ancestors named in the alert's fields, oldest first. */
export function ancestry(fields: Readonly<Record<string, unknown>>): ProcessStep[] {
  const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && v !== '<NA>';
  const steps: ProcessStep[] = [];
  for (let i = 9; i >= 2; i--) {
    const name = fields[`proc.aname[${i}]`];
    if (present(name))
      steps.push({
        role: `ancestor ${i}`,
        name: String(name),
        pid: fields[`proc.apid[${i}]`],
        exe: fields[`proc.aexepath[${i}]`],
        cmdline: undefined,
      });
  }
  if (present(fields['proc.pname']) || present(fields['proc.pexepath']))
    steps.push({
      role: 'parent',
      name: String(fields['proc.pname'] ?? fields['proc.pexepath']),
      pid: fields['proc.ppid'],
      exe: fields['proc.pexepath'],
      cmdline: fields['proc.pcmdline'],
    });
  if (present(fields['proc.name']) || present(fields['proc.exepath']))
    steps.push({
      role: 'process',
      name: String(fields['proc.name'] ?? fields['proc.exepath']),
      pid: fields['proc.pid'],
      exe: fields['proc.exepath'],
      cmdline: fields['proc.cmdline'],
    });
  return steps;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'detail-section' }, h('h3', {}, title), ...children);
}

function kv(rows: readonly (readonly [string, Child])[]): HTMLElement {
  return h(
    'dl',
    { class: 'kv' },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

/** What the detail pane can ask of the list. */
export interface DetailHooks {
  /** Narrows the list to alerts with this parameter. */
  filterBy(param: 'pod' | 'rule' | 'node' | 'namespace', value: string, extra?: Record<string, string>): void;
  /** Opens another alert. */
  open(id: string): void;
  close(): void;
}

/**
 * Renders the detail of `record` into `pane` and fetches what goes with it (related alerts, the
 * pod's quarantines). `signal` aborts those fetches when another alert is opened.
 */
export function renderDetail(
  ctx: ConsoleContext,
  pane: HTMLElement,
  record: AlertRecord,
  hooks: DetailHooks,
  signal: AbortSignal,
): void {
  const a = record.alert;
  const { namespace, pod } = alertPod(a);
  const fields = a.output_fields ?? {};
  const quarantineBox = h('div', { class: 'quarantine-box', 'aria-live': 'polite' });
  const related = h('div', { class: 'related' }, h('p', { class: 'muted' }, 'Loading…'));

  const steps = ancestry(fields);
  const w = a.workload;
  const link = (
    param: 'pod' | 'rule' | 'node' | 'namespace',
    value: string | undefined,
    extra?: Record<string, string>,
  ): Child =>
    value === undefined
      ? '—'
      : h(
          'button',
          {
            type: 'button',
            class: 'link',
            title: `Show alerts with ${param} ${value}`,
            onclick: () => hooks.filterBy(param, value, extra),
          },
          value,
        );

  replace(
    pane,
    h(
      'header',
      { class: 'detail-head' },
      h('span', { class: priorityClass(a.priority) }, a.priority),
      h('h2', { id: 'detail-title', tabindex: -1 }, a.rule),
      h(
        'button',
        {
          type: 'button',
          class: 'btn icon',
          'aria-label': 'Close the detail (Esc)',
          title: 'Close (Esc)',
          onclick: () => hooks.close(),
        },
        '✕',
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      dateTime(alertMs(a.time, record.receivedMs)),
      ' · ',
      a.kind,
      ' · node ',
      link('node', a.node),
      ' · ',
      a.source,
    ),
    h('pre', { class: 'output' }, outputText(a)),
    namespace !== undefined && pod !== undefined ? section('Quarantine', quarantineBox) : null,
    a.kind === 'anomaly' || a.reasons !== undefined
      ? section(
          'Why it is unusual',
          a.score !== undefined
            ? h(
                'p',
                { class: 'score' },
                h('meter', {
                  min: 0,
                  max: 1,
                  low: 0.5,
                  high: 0.8,
                  optimum: 0,
                  value: a.score,
                  'aria-label': 'anomaly score',
                }),
                ` score ${a.score.toFixed(2)}`,
              )
            : null,
          (a.reasons ?? []).length === 0
            ? h('p', { class: 'muted' }, 'No reasons given.')
            : h(
                'ul',
                { class: 'reasons' },
                (a.reasons ?? []).map((r) => h('li', {}, r)),
              ),
        )
      : null,
    section(
      'Process ancestry',
      steps.length === 0
        ? h('p', { class: 'muted' }, 'The alert names no process.')
        : h(
            'ol',
            { class: 'ancestry' },
            steps.map((s) =>
              h(
                'li',
                { class: s.role === 'process' ? 'current' : '' },
                h('span', { class: 'proc-name' }, s.name),
                s.pid !== undefined && s.pid !== null
                  ? h('span', { class: 'muted' }, ` pid ${show(s.pid)}`)
                  : null,
                h('span', { class: 'muted role' }, ` ${s.role}`),
                s.exe !== undefined && s.exe !== null ? h('div', { class: 'mono small' }, show(s.exe)) : null,
                s.cmdline !== undefined && s.cmdline !== null
                  ? h('div', { class: 'mono small' }, show(s.cmdline))
                  : null,
              ),
            ),
          ),
    ),
    section(
      'Workload',
      namespace === undefined && pod === undefined && w === undefined
        ? h('p', { class: 'muted' }, 'Not in a Kubernetes pod (or the agent did not know which).')
        : kv([
            ['Namespace', link('namespace', namespace)],
            ['Pod', link('pod', pod, namespace !== undefined ? { namespace } : undefined)],
            ['Owner', w?.ownerKind !== undefined ? `${w.ownerKind}/${w.ownerName ?? ''}` : '—'],
            ['Container', w?.container ?? show(fields['container.name'])],
            ['Image', w?.image ?? show(fields['container.image.repository'])],
          ]),
      w?.namespace !== undefined &&
        w.ownerKind !== undefined &&
        w.ownerName !== undefined &&
        w.container !== undefined &&
        w.image !== undefined
        ? h(
            'p',
            {},
            h(
              'a',
              {
                href: `#/profiles/${encodeURIComponent(`${w.namespace}/${w.ownerKind}/${w.ownerName}/${w.container}|${w.image}`)}`,
              },
              'The workload’s profile',
            ),
          )
        : null,
    ),
    section('Other alerts for this pod', related),
    section(
      'All fields',
      h(
        'table',
        { class: 'fields' },
        h(
          'tbody',
          {},
          [
            ['id', a.id],
            ['time', a.time],
            ['received', dateTime(record.receivedMs)],
            ['rule', link('rule', a.rule)],
            ['priority', a.priority],
            ['kind', a.kind],
            ['source', a.source],
            ['hostname', a.hostname],
            ['node', a.node],
            ['tags', a.tags.join(', ')],
          ].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
          Object.entries(fields)
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([k, v]) => h('tr', {}, h('th', { class: 'mono' }, k), h('td', { class: 'mono' }, show(v)))),
        ),
      ),
      h('details', {}, h('summary', {}, 'JSON'), h('pre', { class: 'json' }, JSON.stringify(a, null, 2))),
    ),
  );

  if (pod !== undefined) {
    ctx.api
      .get<AlertPage>(
        '/api/v1/alerts',
        { pod, ...(namespace !== undefined && { namespace }), limit: 21 },
        signal,
      )
      .then((page) => {
        const others = page.alerts.filter((r) => r.alert.id !== a.id).slice(0, 20);
        replace(
          related,
          others.length === 0
            ? h('p', { class: 'muted' }, 'None.')
            : h(
                'ul',
                { class: 'related-list' },
                others.map((r) =>
                  h(
                    'li',
                    {},
                    h(
                      'button',
                      { type: 'button', class: 'link', onclick: () => hooks.open(r.alert.id) },
                      h('span', { class: priorityClass(r.alert.priority) }, r.alert.priority),
                      ` ${dateTime(alertMs(r.alert.time, r.receivedMs))} ${r.alert.rule}`,
                    ),
                  ),
                ),
              ),
          others.length === 20 ? link('pod', pod, namespace !== undefined ? { namespace } : undefined) : null,
        );
      })
      .catch((err: unknown) => {
        if (!signal.aborted) replace(related, h('p', { class: 'error' }, describeError(err)));
      });
  } else {
    replace(related, h('p', { class: 'muted' }, 'The alert names no pod.'));
  }

  if (namespace !== undefined && pod !== undefined) {
    const draw = (list: readonly Quarantine[]): void => {
      const current = list.find(
        (q) => q.state === 'active' || q.state === 'releasing' || q.state === 'failed',
      );
      const last = current ?? list[0];
      replace(
        quarantineBox,
        last === undefined
          ? h('p', { class: 'muted' }, 'This pod has never been quarantined.')
          : h(
              'div',
              { class: 'quarantine-state' },
              h(
                'p',
                {},
                'State: ',
                stateBadge(last.state),
                last.releasedMs !== null
                  ? ` since ${dateTime(last.releasedMs)}`
                  : ` since ${dateTime(last.createdMs)}, by ${last.actor}`,
              ),
              h(
                'ul',
                { class: 'layers' },
                layerLine('Kubernetes', last.layers.kubernetes),
                layerLine('Node', last.layers.node),
              ),
              h('p', { class: 'muted' }, `Reason: ${last.reason}`),
              last.releaseReason !== null
                ? h('p', { class: 'muted' }, `Released: ${last.releaseReason}`)
                : null,
            ),
        ctx.canRespond
          ? h(
              'div',
              { class: 'actions' },
              current === undefined || current.state === 'failed'
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn btn-danger',
                      'data-action': 'quarantine',
                      onclick: () =>
                        void quarantineFlow(ctx, { alertId: a.id, namespace, pod }).then((q) => {
                          if (q !== undefined) draw([q, ...list]);
                        }),
                    },
                    'Quarantine pod…',
                  )
                : null,
              current !== undefined && current.state !== 'released'
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn',
                      'data-action': 'release',
                      onclick: () =>
                        void releaseFlow(ctx, current).then((q) => {
                          if (q !== undefined) draw([q, ...list.filter((x) => x.id !== q.id)]);
                        }),
                    },
                    'Release…',
                  )
                : null,
            )
          : null,
      );
    };
    ctx.api
      // The pod's own quarantines, newest first (the server filters; the check below is a guard).
      .get<{ quarantines: Quarantine[] }>(
        '/api/v1/quarantines',
        { state: 'all', namespace, pod, limit: 20 },
        signal,
      )
      .then((res) => draw(res.quarantines.filter((q) => q.namespace === namespace && q.pod === pod)))
      .catch((err: unknown) => {
        if (signal.aborted) return;
        replace(
          quarantineBox,
          h(
            'p',
            { class: 'error' },
            err instanceof ApiFailure && err.status === 404
              ? 'This collector has no quarantine API.'
              : describeError(err),
          ),
        );
      });
  }
}
