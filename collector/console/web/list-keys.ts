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
    row.click();
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
