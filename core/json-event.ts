/**
 * Decoding of one JSON line into an {@link Event}: a flat object keyed by Falco field names, as
 * `sysdig -j -p` and Vigil's own `jsonl` source write them.
 */
import type { Event } from './event.js';

/** Why a line was not an event. */
export type MalformedReason = 'not-json' | 'not-an-object' | 'empty';

/**
 * Parses a line. Returns the event, or the reason it is malformed (the caller counts and skips
 * it). Never throws.
 */
export function decodeJsonEvent(line: string): Event | MalformedReason {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return isBlank(line) ? 'empty' : 'not-json';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not-an-object';
  const fields = value as Record<string, unknown>;
  restoreExactTimestamp(fields, line);
  return { fields };
}

/**
 * Nanosecond timestamps do not fit a double: JSON.parse rounds `evt.rawtime`. This re-reads its
 * digits from the line it was parsed from and stores the exact value as a bigint.
 */
export function restoreExactTimestamp(fields: Record<string, unknown>, line: string): void {
  const raw = fields['evt.rawtime'];
  if (typeof raw === 'number' && raw > Number.MAX_SAFE_INTEGER) {
    const exact = exactInteger(line, '"evt.rawtime"');
    if (exact !== undefined) fields['evt.rawtime'] = exact;
  }
}

/** Reads the integer that follows `key:` in JSON text exactly, as a bigint. */
function exactInteger(line: string, key: string): bigint | undefined {
  const at = line.indexOf(key);
  if (at < 0) return undefined;
  let i = at + key.length;
  while (i < line.length && (line[i] === ' ' || line[i] === ':' || line[i] === '\t')) i++;
  let j = i;
  while (j < line.length && line.charCodeAt(j) >= 0x30 && line.charCodeAt(j) <= 0x39) j++;
  return j > i ? BigInt(line.slice(i, j)) : undefined;
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}
