/**
 * j/k and Enter over a table's rows, for the pages other than alerts: rows are `tr.row` with a
 * roving tabindex, and Enter clicks the row's first button or link.
 */

/** Moves the selection in `tbody` by `delta` (or opens it, for delta 0); true when handled. */
export function moveInTable(tbody: HTMLElement, key: string): boolean {
  const rows = Array.from(tbody.querySelectorAll<HTMLElement>('tr.row'));
  if (rows.length === 0) return false;
  let i = rows.findIndex((r) => r.getAttribute('aria-selected') === 'true');
  if (key === 'Enter') {
    const row = rows[i];
    if (row === undefined) return false;
    // Rows that open something themselves (profiles) have no link or button of their own.
    (row.querySelector<HTMLElement>('a[href], button:not([disabled])') ?? row).click();
    return true;
  }
  const delta = key === 'j' || key === 'ArrowDown' ? 1 : key === 'k' || key === 'ArrowUp' ? -1 : 0;
  if (delta === 0) return false;
  i = Math.max(0, Math.min(rows.length - 1, i + delta));
  rows.forEach((r, k) => {
    r.tabIndex = k === i ? 0 : -1;
    r.setAttribute('aria-selected', k === i ? 'true' : 'false');
  });
  rows[i]?.focus();
  rows[i]?.scrollIntoView({ block: 'nearest' });
  return true;
}

/**
 * Remembers the selected row of `tbody` (by its `data-id`) and whether it had the keyboard
 * focus; the function returned puts both back after the rows were rendered again (a periodic
 * refresh must not throw a keyboard user back to the first row).
 */
export function rememberSelection(tbody: HTMLElement): () => void {
  const old = tbody.querySelector<HTMLElement>('tr.row[aria-selected="true"]');
  const id = old?.dataset['id'];
  const focused = old !== null && old.contains(document.activeElement);
  return () => {
    if (id === undefined) return;
    const rows = Array.from(tbody.querySelectorAll<HTMLElement>('tr.row'));
    const row = rows.find((r) => r.dataset['id'] === id);
    if (row === undefined) return;
    for (const r of rows) {
      r.tabIndex = r === row ? 0 : -1;
      r.setAttribute('aria-selected', r === row ? 'true' : 'false');
    }
    if (focused) row.focus({ preventScroll: true });
  };
}

/**
 * The life cycle of a table page that reloads itself: load on show and every `refreshMs` while
 * shown, stop when hidden, `r` reloads, j/k/Enter move in `tbody`.
 */
export function refreshingTable(
  tbody: HTMLElement,
  load: () => Promise<void>,
  refreshMs: number,
): { show(): void; hide(): void; key(e: KeyboardEvent): boolean } {
  let timer: number | undefined;
  return {
    show() {
      void load();
      window.clearInterval(timer);
      timer = window.setInterval(() => void load(), refreshMs);
    },
    hide() {
      window.clearInterval(timer);
    },
    key(e) {
      if (e.key === 'r') {
        void load();
        return true;
      }
      return moveInTable(tbody, e.key);
    },
  };
}
