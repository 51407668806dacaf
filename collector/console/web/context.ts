/** What every view of the console is given, and what a view gives back. */
import type { Api } from './api.js';
import type { Whoami } from './types.js';

/** Where the console is: `#/alerts?priority=warning` → `{ view: 'alerts', rest: [], params }`. */
export interface Route {
  readonly view: string;
  readonly rest: readonly string[];
  readonly params: URLSearchParams;
}

/** The running console, for views. */
export interface ConsoleContext {
  readonly api: Api;
  readonly me: Whoami;
  /** Whether the signed-in role may quarantine and release (responder and admin). */
  readonly canRespond: boolean;
  /** Shows a short message in the corner; `error` ones stay until dismissed. */
  toast(text: string, kind?: 'info' | 'ok' | 'error'): void;
  /** Goes to a `#/...` location. */
  navigate(hash: string): void;
}

/** One page of the console. */
export interface View {
  readonly el: HTMLElement;
  /** Shown (or shown again) for this route. */
  show(route: Route): void;
  /** Hidden (another view is shown); timers should pause. */
  hide(): void;
  /** A key the shell did not handle; true when the view used it. */
  key?(event: KeyboardEvent): boolean;
  /** `/`: focus this view's search or first filter. */
  focusSearch?(): void;
  /** Esc: close what is open; true when something was. */
  escape?(): boolean;
  /** Signed out: let go of connections and timers for good. */
  dispose?(): void;
}

/** Parses `location.hash`. */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, '');
  const q = text.indexOf('?');
  const path = q === -1 ? text : text.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : text.slice(q + 1));
  const parts = path.split('/').filter((p) => p !== '');
  let rest: string[];
  try {
    rest = parts.slice(1).map((p) => decodeURIComponent(p));
  } catch {
    rest = [];
  }
  return { view: parts[0] ?? 'alerts', rest, params };
}
