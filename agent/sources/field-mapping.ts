/**
 * Small pure helpers the mappers share to write Falco fields the way libsinsp shapes them:
 * 12-character container ids, `host` for processes outside containers, image names split into
 * repository and tag, connection tuples as `cip:cport->sip:sport`, nanosecond timestamps.
 */

/** The value a missing login uid has in the kernel ((uid_t)-1); libsinsp reports it as -1. */
const LOGINUID_UNSET = 4294967295;

/** Falco's container.id for a process that runs in no container. */
export const HOST_CONTAINER_ID = 'host';

/** The mutable record a mapper fills. */
export type Fields = Record<string, unknown>;

/** Sets `fields[key]` only when `value` is not undefined: missing stays missing. */
export function put(fields: Fields, key: string, value: unknown): void {
  if (value !== undefined) fields[key] = value;
}

/** A finite number, or undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A finite number, also from a decimal string (`"80"`), or undefined. */
export function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

/** A non-empty string, or undefined. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The last component of a path (`/usr/bin/whoami` -> `whoami`). */
export function baseName(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? path : path.slice(slash + 1);
}

/** `user.loginuid` as libsinsp reports it: -1 when unset. */
export function loginUid(value: unknown): number | undefined {
  const n = numeric(value);
  return n === LOGINUID_UNSET ? -1 : n;
}

/**
 * Fills `container.id` (12 characters, as Falco shows it) and, for a whole 64-character id,
 * `container.full_id`, from a runtime id such as `containerd://1fb931d2...` or a bare hex id. A
 * missing or empty id means the host.
 */
export function putContainerId(fields: Fields, raw: string | undefined): void {
  if (raw === undefined || raw === '') {
    fields['container.id'] = HOST_CONTAINER_ID;
    return;
  }
  const scheme = raw.indexOf('://');
  const id = (scheme < 0 ? raw : raw.slice(scheme + 3)).toLowerCase();
  fields['container.id'] = id.slice(0, 12);
  // Only a whole id is a full id: some exporters carry a truncated one (Tetragon's `docker`).
  if (id.length === 64) fields['container.full_id'] = id;
}

/**
 * Fills `container.image` and its parts: `container.image.repository`, `.tag` and `.digest`
 * from `registry/name:tag@sha256:...`.
 */
export function putImage(fields: Fields, image: string | undefined): void {
  if (image === undefined || image === '') return;
  fields['container.image'] = image;
  let rest = image;
  const at = rest.indexOf('@');
  if (at >= 0) {
    fields['container.image.digest'] = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  // A colon after the last slash starts the tag; one before it belongs to a registry port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    fields['container.image.tag'] = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  fields['container.image.repository'] = rest;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Nanoseconds since the epoch from an RFC 3339 time (`2024-04-14T02:18:14.376304204Z`), or
 * undefined when it is not one. A double, as JSON timestamps are elsewhere: exact to well under
 * a microsecond.
 */
export function rfc3339ToNanos(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0'));
  return ms * 1e6 + frac;
}

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) in its IPv4 form. */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** The endpoints of a connection, client first, as Falco's fd fields name them. */
export interface Endpoints {
  readonly cip?: string | undefined;
  readonly cport?: number | undefined;
  readonly sip?: string | undefined;
  readonly sport?: number | undefined;
  /** `tcp`, `udp`, ... */
  readonly l4proto?: string | undefined;
}

/**
 * Fills the fd fields of a network connection: `fd.cip`, `fd.cport`, `fd.sip`, `fd.sport`,
 * `fd.l4proto`, `fd.typechar` (`4` or `6`) and `fd.name` as libsinsp renders it
 * (`10.0.0.1:48416->64.225.45.153:443`).
 */
export function putConnection(fields: Fields, ends: Endpoints): void {
  const cip = ends.cip === undefined ? undefined : plainIp(ends.cip);
  const sip = ends.sip === undefined ? undefined : plainIp(ends.sip);
  put(fields, 'fd.cip', cip);
  put(fields, 'fd.cport', ends.cport);
  put(fields, 'fd.sip', sip);
  put(fields, 'fd.sport', ends.sport);
  put(fields, 'fd.l4proto', ends.l4proto);
  const any = sip ?? cip;
  if (any !== undefined) fields['fd.typechar'] = any.includes(':') ? '6' : '4';
  if (cip !== undefined && sip !== undefined && ends.cport !== undefined && ends.sport !== undefined) {
    fields['fd.name'] = `${cip}:${ends.cport}->${sip}:${ends.sport}`;
  }
}
