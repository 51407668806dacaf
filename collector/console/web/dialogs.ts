/**
 * Modal dialogs on the native `<dialog>` (focus trapped, Esc cancels, the page behind inert): the
 * confirmation that asks for a reason before a quarantine or release, and the keyboard help.
 */
import { h, type Child } from './dom.js';

/** What {@link askReason} shows. */
export interface ReasonDialogOptions {
  readonly title: string;
  readonly body: Child;
  readonly confirmLabel: string;
  /** Fields asked for besides the reason (a pod's namespace and name). */
  readonly fields?: readonly { readonly name: string; readonly label: string; readonly value?: string }[];
  /** Check boxes, with their initial state. */
  readonly checks?: readonly { readonly name: string; readonly label: string; readonly checked: boolean }[];
  /**
   * Runs the action once the reason is given; the dialog stays open (buttons disabled) until it
   * settles, and shows its error if it fails, so the user can retry or cancel.
   */
  readonly action: (answer: ReasonAnswer) => Promise<void>;
}

/** What the user entered. */
export interface ReasonAnswer {
  readonly reason: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly checks: Readonly<Record<string, boolean>>;
}

/**
 * Asks for a reason (required: an empty or blank reason is refused in place, nothing is sent)
 * and runs the action. Resolves true when the action succeeded, false when cancelled.
 */
export function askReason(options: ReasonDialogOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const error = h('p', { class: 'dialog-error', role: 'alert', 'aria-live': 'assertive' });
    const reason = h('textarea', {
      name: 'reason',
      id: 'dialog-reason',
      rows: 3,
      required: true,
      maxlength: 1000,
      placeholder: 'Why? (recorded in the audit log)',
      'aria-describedby': 'dialog-reason-help',
    });
    const fieldInputs = (options.fields ?? []).map((f) => ({
      name: f.name,
      input: h('input', { name: f.name, id: `dialog-${f.name}`, value: f.value ?? '', required: true }),
      label: f.label,
    }));
    const checkInputs = (options.checks ?? []).map((c) => ({
      name: c.name,
      input: h('input', { type: 'checkbox', name: c.name, checked: c.checked }),
      label: c.label,
    }));
    const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const confirm = h('button', { type: 'submit', class: 'btn btn-danger' }, options.confirmLabel);
    const form = h(
      'form',
      { method: 'dialog', novalidate: true },
      h('h2', {}, options.title),
      h('div', { class: 'dialog-body' }, options.body),
      fieldInputs.map((f) => h('label', { class: 'field' }, h('span', {}, f.label), f.input)),
      h('label', { class: 'field', for: 'dialog-reason' }, h('span', {}, 'Reason (required)'), reason),
      h(
        'small',
        { id: 'dialog-reason-help', class: 'muted' },
        'The reason and your name go into the audit log.',
      ),
      checkInputs.map((c) => h('label', { class: 'check' }, c.input, ' ', c.label)),
      error,
      h('div', { class: 'dialog-buttons' }, cancel, confirm),
    );
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' }, form);
    (form.querySelector('h2') as HTMLElement).id = 'dialog-title';
    let busy = false;
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    cancel.addEventListener('click', () => {
      if (!busy) finish(false);
    });
    dialog.addEventListener('cancel', (e) => {
      if (busy) e.preventDefault();
      else finish(false);
    });
    reason.addEventListener('input', () => {
      if (reason.value.trim() !== '') {
        reason.removeAttribute('aria-invalid');
        error.textContent = '';
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (busy) return;
      for (const f of fieldInputs) {
        if (f.input.value.trim() === '') {
          f.input.setAttribute('aria-invalid', 'true');
          error.textContent = `${f.label} is required.`;
          f.input.focus();
          return;
        }
      }
      const text = reason.value.trim();
      if (text === '') {
        reason.setAttribute('aria-invalid', 'true');
        error.textContent = 'A reason is required: say why, for the audit log.';
        reason.focus();
        return;
      }
      busy = true;
      confirm.disabled = true;
      cancel.disabled = true;
      const label = confirm.textContent;
      confirm.textContent = 'Working…';
      error.textContent = '';
      const answer: ReasonAnswer = {
        reason: text,
        fields: Object.fromEntries(fieldInputs.map((f) => [f.name, f.input.value.trim()])),
        checks: Object.fromEntries(checkInputs.map((c) => [c.name, c.input.checked])),
      };
      options.action(answer).then(
        () => {
          busy = false;
          finish(true);
        },
        (err: unknown) => {
          busy = false;
          confirm.disabled = false;
          cancel.disabled = false;
          confirm.textContent = label;
          error.textContent = err instanceof Error ? err.message : String(err);
        },
      );
    });
    document.body.append(dialog);
    dialog.showModal();
    (fieldInputs.find((f) => f.input.value === '')?.input ?? reason).focus();
  });
}

/** The keyboard shortcuts, as the help lists them. */
export const SHORTCUTS: readonly (readonly [string, string])[] = [
  ['/', 'Search (focus the filter)'],
  ['j / k', 'Next / previous row'],
  ['Enter', 'Open the selected row'],
  ['Esc', 'Close the detail or dialog; leave a field'],
  ['1 … 5', 'Alerts, Agents, Profiles, Quarantines, Audit'],
  ['r', 'Refresh this page'],
  ['p', 'Pause / resume the live stream'],
  ['t', 'Switch theme (auto, light, dark)'],
  ['?', 'This help'],
];

/** Shows the keyboard help. */
export function showHelp(): void {
  if (document.querySelector('dialog.help') !== null) return;
  const close = h('button', { type: 'button', class: 'btn' }, 'Close');
  const dialog = h(
    'dialog',
    { class: 'dialog help', 'aria-label': 'Keyboard shortcuts' },
    h('h2', {}, 'Keyboard shortcuts'),
    h(
      'table',
      { class: 'keys' },
      h(
        'tbody',
        {},
        SHORTCUTS.map(([k, what]) => h('tr', {}, h('th', {}, h('kbd', {}, k)), h('td', {}, what))),
      ),
    ),
    h('div', { class: 'dialog-buttons' }, close),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
