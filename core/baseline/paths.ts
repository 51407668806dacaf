/**
 * How observed values become profile item values: file paths generalised where a directory is
 * clearly a scratch area, network destinations and ports in one spelling, and the matching of
 * patterns an operator adds by hand (`/var/cache/app/*`, `tcp 10.0.0.0/8:443`).
 *
 * Generalisation is a pure function of the path, applied the same way when learning and when
 * scoring, so a path learnt is a path recognised.
 */
import { boundValue } from './profile.js';

/**
 * Directories whose contents are scratch: anything written below them is learnt as `<dir>/*`.
 * A workload that writes temporary files writes different names every time. Not `/proc/`: a
 * write to `/proc/<pid>/oom_score_adj` is learnt as `/proc/*\/oom_score_adj` (a generated
 * segment), and must not make `/proc/sys/kernel/core_pattern` look known.
 */
export const SCRATCH_DIRS: readonly string[] = [
  '/tmp/',
  '/var/tmp/',
  '/dev/shm/',
  '/run/',
  '/var/run/',
  '/var/cache/',
];

// A path segment that is an identifier rather than a name: a number, a hex run, a UUID, or a
// mix with many digits (session files, pids, hashes, timestamps).
const NUMERIC = /^\d+$/;
const HEX = /^[0-9a-f]{8,}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a path segment looks generated (random or numeric) rather than chosen. */
export function looksGenerated(segment: string): boolean {
  if (segment.length === 0) return false;
  if (NUMERIC.test(segment) || UUID.test(segment)) return true;
  if (HEX.test(segment) && /\d/.test(segment)) return true;
  // `tmp.Xa81kQ`, `sess_9f2c1d`, `file-20240501-1200.log`: a third or more of it digits, and long enough.
  let digits = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return segment.length >= 6 && digits * 3 >= segment.length;
}

/**
 * The profile value for a file written at `path`:
 * - below a scratch directory ({@link SCRATCH_DIRS}): `<dir>/*`;
 * - otherwise every generated-looking segment is replaced by `*`, and when the file name itself
 *   looks generated the value is `<dir>/*` (the directory is where such files go);
 * - relative or empty paths are returned as they are; all values are bounded in length.
 *
 * @example generaliseWritePath('/tmp/x8Ks/out.txt') // '/tmp/*'
 * @example generaliseWritePath('/var/lib/app/1714564800/state.json') // '/var/lib/app/*\/state.json'
 */
export function generaliseWritePath(path: string): string {
  if (!path.startsWith('/')) return boundValue(path);
  for (const dir of SCRATCH_DIRS) {
    if (path.startsWith(dir) && path.length > dir.length) return `${dir}*`;
  }
  const segments = path.split('/');
  let changed = false;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    if (looksGenerated(s)) {
      segments[i] = '*';
      changed = true;
    }
  }
  if (!changed) return boundValue(path);
  // A generated file name: keep the directory, cut what follows.
  const last = segments.length - 1;
  if (segments[last] === '*') return boundValue(`${segments.slice(0, last).join('/')}/*`);
  return boundValue(segments.join('/'));
}

/**
 * Whether `pattern` (a profile value, possibly with `*` segments, or ending in `/*`: anything
 * below) matches the generalised or exact `value`.
 */
export function pathPatternMatches(pattern: string, value: string): boolean {
  if (pattern === value) return true;
  if (!pattern.includes('*')) return false;
  if (pattern.endsWith('/*') && !pattern.slice(0, -2).includes('*')) {
    return value.startsWith(pattern.slice(0, -1));
  }
  const p = pattern.split('/');
  const v = value.split('/');
  for (let i = 0; i < p.length; i++) {
    const ps = p[i] as string;
    const vs = v[i];
    if (vs === undefined) return false;
    // A trailing `*` takes everything below it.
    if (ps === '*' && i === p.length - 1) return true;
    if (ps !== '*' && ps !== vs) return false;
  }
  return p.length === v.length;
}

/** A `connect` value: `tcp 10.0.0.7:5432`, `udp [fd00::a]:53`. */
export function connectValue(proto: string, address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return boundValue(`${proto} ${host}:${port}`);
}

/** A `listen` value: `tcp 8080`. */
export function listenValue(proto: string, port: number): string {
  return boundValue(`${proto} ${port}`);
}

/** The parts of a `connect` value (address may be a CIDR network); undefined when malformed. */
export function parseConnectValue(
  value: string,
): { proto: string; address: string; prefix: number | undefined; port: number } | undefined {
  const m = /^(\S+) (?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value);
  if (m === null) return undefined;
  let address = m[2] ?? m[3] ?? '';
  let prefix: number | undefined;
  const slash = address.indexOf('/');
  if (slash >= 0) {
    prefix = Number(address.slice(slash + 1));
    address = address.slice(0, slash);
    if (!Number.isInteger(prefix)) return undefined;
  }
  return { proto: m[1] as string, address, prefix, port: Number(m[4]) };
}

/** An IPv4 or IPv6 address as 4 or 16 bytes; undefined when it is neither. */
export function addressBytes(address: string): number[] | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
    const parts = address.split('.').map(Number);
    return parts.every((n) => n <= 255) ? parts : undefined;
  }
  if (!address.includes(':')) return undefined;
  const [head, tail, extra] = address.split('::');
  if (extra !== undefined) return undefined;
  const groups = (s: string | undefined): number[] | undefined => {
    if (s === undefined || s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
      const n = parseInt(g, 16);
      out.push(n >> 8, n & 0xff);
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (h === undefined || t === undefined) return undefined;
  if (tail === undefined) return h.length === 16 ? h : undefined;
  const fill = 16 - h.length - t.length;
  if (fill < 0) return undefined;
  return [...h, ...new Array<number>(fill).fill(0), ...t];
}

/** Whether `address` is inside `network`/`prefix` (same family). */
export function inNetwork(address: string, network: string, prefix: number): boolean {
  const a = addressBytes(address);
  const n = addressBytes(network);
  if (a === undefined || n === undefined || a.length !== n.length) return false;
  if (prefix < 0 || prefix > a.length * 8) return false;
  for (let bit = 0; bit < prefix; bit += 8) {
    const byte = bit >> 3;
    const bits = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if (((a[byte] as number) & mask) !== ((n[byte] as number) & mask)) return false;
  }
  return true;
}
