/**
 * Falco rule priorities: the eight syslog-style levels a rule declares, from `Emergency` (most
 * severe) to `Debug`. Numerically they follow Falco's enum (0 = Emergency ... 7 = Debug), so a
 * smaller number is more severe; use {@link priorityAtLeast} rather than comparing by hand.
 */

/** The priority levels by name, with Falco's numeric values. */
export const Priority = {
  Emergency: 0,
  Alert: 1,
  Critical: 2,
  Error: 3,
  Warning: 4,
  Notice: 5,
  Informational: 6,
  Debug: 7,
} as const;

/** A priority level: 0 (Emergency) to 7 (Debug). */
export type Priority = (typeof Priority)[keyof typeof Priority];

/** Falco's capitalised name of a priority, as it appears in alerts (`"Critical"`, `"Informational"`). */
export type PriorityName = keyof typeof Priority;

const NAMES: readonly PriorityName[] = [
  'Emergency',
  'Alert',
  'Critical',
  'Error',
  'Warning',
  'Notice',
  'Informational',
  'Debug',
];

/**
 * Parses a priority as rule files write it, ignoring case. `Info` is accepted for
 * `Informational`, as Falco has always used the two interchangeably.
 *
 * @example parsePriority('warning') === Priority.Warning; parsePriority('INFO') === Priority.Informational
 * @returns the priority, or undefined when `text` names none.
 */
export function parsePriority(text: string): Priority | undefined {
  const lower = text.toLowerCase();
  if (lower === 'info') return Priority.Informational;
  for (let i = 0; i < NAMES.length; i++) {
    const name = NAMES[i] as PriorityName;
    if (name.toLowerCase() === lower) return Priority[name];
  }
  return undefined;
}

/** The capitalised name of a priority, as Falco prints it in alerts. */
export function priorityName(priority: Priority): PriorityName {
  return NAMES[priority] as PriorityName;
}

/** Every priority name, most severe first (for help texts and validation messages). */
export function priorityNames(): readonly PriorityName[] {
  return NAMES;
}

/**
 * Orders priorities by severity: negative when `a` is more severe than `b`, zero when equal,
 * positive when less severe. Suitable for `Array.prototype.sort` (most severe first).
 */
export function comparePriority(a: Priority, b: Priority): number {
  return a - b;
}

/**
 * True when `priority` is at least as severe as `minimum` — the test Falco applies with its
 * `priority` setting, which drops rules below the configured level.
 *
 * @example priorityAtLeast(Priority.Critical, Priority.Warning) === true
 */
export function priorityAtLeast(priority: Priority, minimum: Priority): boolean {
  return priority <= minimum;
}
