/**
 * The SOC console's entry point: sign-in with a token, the page shell (navigation, theme,
 * messages), the pages by address (`#/alerts`, `#/agents`, ...) and the keyboard.
 *
 * The token is kept in sessionStorage, not localStorage: it lasts for this tab (a reload keeps
 * you signed in) and is gone when the tab closes, is not shared with other tabs, and is never
 * written to a long-lived store on disk. Anything script on the page can read either, so the page
 * allows only its own scripts (the collector sends a strict Content-Security-Policy) and puts
 * every value it shows in as text, never as HTML.
 */
import { Api, describeError } from './api.js';
import { createAgentsView } from './agents-view.js';
import { createAlertsView } from './alerts-view.js';
import { createAuditView } from './audit-view.js';
import { parseRoute, type ConsoleContext, type View } from './context.js';
import { showHelp } from './dialogs.js';
import { h, isTyping, replace } from './dom.js';
import { createProfilesView } from './profiles-view.js';
import { createQuarantinesView } from './quarantines-view.js';
import type { Whoami } from './types.js';

const TOKEN_KEY = 'vigil.token';
const THEME_KEY = 'vigil.theme';
const THEMES = ['auto', 'light', 'dark'] as const;
type Theme = (typeof THEMES)[number];

interface PageDef {
  readonly id: string;
  readonly label: string;
  readonly make: (ctx: ConsoleContext) => View;
}

/** The page shown for an address that names no other. */
const HOME: PageDef = { id: 'alerts', label: 'Alerts', make: createAlertsView };

const PAGES: readonly PageDef[] = [
  HOME,
  { id: 'agents', label: 'Agents', make: createAgentsView },
  { id: 'profiles', label: 'Profiles', make: createProfilesView },
  { id: 'quarantines', label: 'Quarantines', make: createQuarantinesView },
  { id: 'audit', label: 'Audit', make: createAuditView },
];

const root = document.getElementById('app') as HTMLElement;
const toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
document.body.append(toasts);

function theme(): Theme {
  const t = localStorage.getItem(THEME_KEY);
  return THEMES.includes(t as Theme) ? (t as Theme) : 'auto';
}

function applyTheme(t: Theme): void {
  if (t === 'auto') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = t;
  for (const b of document.querySelectorAll<HTMLElement>('[data-theme-toggle]')) {
    b.textContent = `Theme: ${t}`;
  }
}

function cycleTheme(): void {
  const next = THEMES[(THEMES.indexOf(theme()) + 1) % THEMES.length] as Theme;
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
}

function toast(text: string, kind: 'info' | 'ok' | 'error' = 'info'): void {
  const close = h('button', { type: 'button', class: 'btn icon', 'aria-label': 'Dismiss' }, '✕');
  const t = h('div', { class: `toast toast-${kind}` }, h('span', {}, text), close);
  close.addEventListener('click', () => t.remove());
  toasts.append(t);
  while (toasts.children.length > 3) toasts.firstElementChild?.remove();
  if (kind !== 'error') window.setTimeout(() => t.remove(), 6000);
}

/** The sign-in page. */
function showLogin(message?: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  const token = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'vgl_…',
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'), ' Vigil'),
    h('p', {}, 'Runtime security console. Paste an API token to sign in.'),
    h('label', { for: 'token' }, 'Token'),
    token,
    h(
      'p',
      { id: 'token-help', class: 'muted small' },
      h('code', {}, 'vigil up'),
      ' prints an admin token; ',
      h('code', {}, 'vigil tokens create --name NAME --role viewer'),
      ' makes others. It is kept only for this browser tab.',
    ),
    error,
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = token.value.trim();
    if (value === '') {
      error.textContent = 'Paste a token first.';
      token.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    const api = new Api(value);
    api
      .get<Whoami>('/api/v1/whoami')
      .then((me) => {
        sessionStorage.setItem(TOKEN_KEY, value);
        start(api, me);
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        error.textContent = `Sign-in failed: ${describeError(err)}`;
        token.select();
      });
  });
  replace(root, h('main', { class: 'login-page' }, form));
  token.focus();
}

let stopCurrent: (() => void) | undefined;

/** The console for a signed-in user. */
function start(api: Api, me: Whoami): void {
  stopCurrent?.();
  const views = new Map<string, View>();
  let current: View | undefined;
  const ctx: ConsoleContext = {
    api,
    me,
    canRespond: me.role === 'responder' || me.role === 'admin',
    toast,
    navigate(hash) {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
  };
  const signOut = (why?: string): void => {
    // A late 401 from this session's requests must not sign out the next session.
    if (stopCurrent !== stop) return;
    stop();
    showLogin(why);
  };
  api.onUnauthorized = (detail) => signOut(`Signed out: ${detail}`);

  const nav = h(
    'nav',
    { 'aria-label': 'Pages' },
    PAGES.map((p, i) =>
      h('a', { href: `#/${p.id}`, 'data-page': p.id, title: `${p.label} (${i + 1})` }, p.label),
    ),
  );
  const themeButton = h('button', {
    type: 'button',
    class: 'btn small',
    'data-theme-toggle': true,
    title: 'Theme (t)',
  });
  const main = h('main', { id: 'main', tabindex: -1 });
  replace(
    root,
    h(
      'header',
      { class: 'topbar' },
      h(
        'a',
        { class: 'brand', href: '#/alerts' },
        h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '◆'),
        ' Vigil',
      ),
      nav,
      h(
        'div',
        { class: 'who' },
        h(
          'span',
          {
            id: 'whoami',
            title:
              me.expiresMs !== null
                ? `token expires ${new Date(me.expiresMs).toISOString()}`
                : 'token does not expire',
          },
          `${me.name} · ${me.role}`,
        ),
        h(
          'button',
          { type: 'button', class: 'btn small', title: 'Keyboard shortcuts (?)', onclick: showHelp },
          '?',
        ),
        themeButton,
        h(
          'button',
          { type: 'button', class: 'btn small', id: 'sign-out', onclick: () => signOut() },
          'Sign out',
        ),
      ),
    ),
    main,
  );
  themeButton.addEventListener('click', cycleTheme);
  applyTheme(theme());

  function route(): void {
    const r = parseRoute(location.hash);
    const page = PAGES.find((p) => p.id === r.view) ?? HOME;
    let view = views.get(page.id);
    if (view === undefined) {
      view = page.make(ctx);
      views.set(page.id, view);
    }
    if (current !== view) {
      current?.hide();
      current = view;
      main.replaceChildren(view.el);
    }
    for (const a of nav.querySelectorAll<HTMLElement>('a')) {
      if (a.dataset['page'] === page.id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${page.label} · Vigil`;
    view.show(r);
  }

  const onKey = (e: KeyboardEvent): void => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    if (document.querySelector('dialog[open]') !== null) return;
    if (e.key === 'Escape') {
      if (isTyping(e.target)) (e.target as HTMLElement).blur();
      else current?.escape?.();
      return;
    }
    if (isTyping(e.target)) return;
    let handled = true;
    if (e.key === '/') current?.focusSearch?.();
    else if (e.key === '?') showHelp();
    else if (e.key === 't') cycleTheme();
    else if (/^[1-5]$/.test(e.key)) ctx.navigate(`#/${(PAGES[Number(e.key) - 1] ?? HOME).id}`);
    else handled = current?.key?.(e) ?? false;
    if (handled) e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', route);
  const stop = (): void => {
    document.removeEventListener('keydown', onKey);
    window.removeEventListener('hashchange', route);
    current?.hide();
    for (const v of views.values()) {
      v.hide();
      v.dispose?.();
    }
    views.clear();
    stopCurrent = undefined;
  };
  stopCurrent = stop;
  route();
}

applyTheme(theme());
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) showLogin();
else {
  const api = new Api(saved);
  api
    .get<Whoami>('/api/v1/whoami')
    .then((me) => start(api, me))
    .catch((err: unknown) => showLogin(`Please sign in again: ${describeError(err)}`));
}
