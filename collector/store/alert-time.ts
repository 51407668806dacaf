/**
 * An alert's event time as nanoseconds since the epoch: the store orders, pages and filters by it.
 *
 * Falco writes `time` as ISO-8601 UTC with nanoseconds (`2024-05-01T12:00:00.123456789Z`); other
 * producers may write fewer digits or an offset. A JavaScript number cannot hold nanoseconds
 * since the epoch exactly (they pass 2^53), hence bigint.
 */

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9})\d*)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

const NS_PER_MS = 1_000_000n;

/**
 * Parses an ISO-8601 date-time with a zone (`Z` or `±HH:MM`) into nanoseconds since the epoch.
 * Digits of the fraction past the ninth are dropped.
 *
 * @example parseIsoTimeNs('2024-05-01T12:00:00.123456789Z') === 1714564800123456789n
 * @returns the time, or undefined when `text` is not such a date-time (or is before 1970).
 */
export function parseIsoTimeNs(text: string): bigint | undefined {
  const m = ISO_TIME.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 February over into March; a real date survives the round trip.
  if (new Date(ms).getUTCDate() !== day && second !== 60) return undefined;
  if (z === undefined) {
    const offsetMs = (Number(oh) * 60 + Number(om)) * 60_000;
    ms += sign === '+' ? -offsetMs : offsetMs;
  }
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  const fraction = BigInt((frac ?? '').padEnd(9, '0'));
  return BigInt(ms) * NS_PER_MS + fraction;
}

/**
 * The time of an alert in nanoseconds: its `time`, else `output_fields['evt.time']` (Falco's raw
 * nanoseconds), else `fallbackMs` (when the collector received it) — an alert with a broken
 * time is still stored and listed, not refused.
 */
export function alertTimeNs(
  alert: { readonly time: string; readonly output_fields?: Readonly<Record<string, unknown>> },
  fallbackMs: number,
): bigint {
  const parsed = typeof alert.time === 'string' ? parseIsoTimeNs(alert.time) : undefined;
  if (parsed !== undefined) return parsed;
  const raw = alert.output_fields?.['evt.time'];
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) return BigInt(raw);
  if (typeof raw === 'string' && /^\d{1,19}$/.test(raw)) return BigInt(raw);
  return BigInt(Math.max(0, Math.floor(fallbackMs))) * NS_PER_MS;
}

/** Milliseconds to nanoseconds, for comparing a millisecond bound with alert times. */
export function msToNs(ms: number): bigint {
  return BigInt(Math.floor(ms)) * NS_PER_MS;
}
