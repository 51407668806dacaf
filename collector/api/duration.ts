/**
 * Durations as people write them in flags and query strings: a whole number and a unit, `500ms`,
 * `30s`, `1m`, `6h`, `30d`, `2w`.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses a duration into milliseconds.
 *
 * @example parseDurationMs('30d') === 2_592_000_000; parseDurationMs('1m') === 60_000
 * @returns the milliseconds, or undefined when `text` is not a positive whole number and a unit.
 */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(text.trim());
  if (m === null) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
