/**
 * Alerts as RFC 5424 syslog messages, and RFC 6587 octet-counting framing for stream transports
 * (TCP, and TLS per RFC 5425).
 *
 *     <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID rule="…" priority="…" node="…" id="…" …] BOM output
 *
 * - PRI = facility × 8 + severity. Falco's priorities are the syslog severities, number for
 *   number (Emergency 0 … Debug 7), so the severity is the alert's priority.
 * - TIMESTAMP is the alert's time; RFC 5424 allows at most six fraction digits, so Falco's
 *   nanoseconds are cut to microseconds.
 * - HOSTNAME is the node the event happened on (the message's originator, in RFC 5424's terms),
 *   APP-NAME is configurable (`vigil`), PROCID is nil and MSGID is the alert kind (`signature`
 *   or `anomaly`).
 * - One SD-ELEMENT carries rule, priority, node, id, kind, source and, when known, namespace and
 *   pod. A private SD-ID must be `name@<private enterprise number>`; the default uses 32473, the
 *   number RFC 5612 reserves for documentation, and should be replaced by an operator's own.
 * - MSG is the alert's output, UTF-8, preceded by a byte-order mark as RFC 5424 asks of UTF-8
 *   messages (configurable, for receivers that print it).
 */
import type { Alert } from '../../core/alert.js';
import { alertRank as alertPriority } from '../../core/alert-queue.js';

/** Facility names (as syslog.conf spells them) and their codes. */
export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** How messages are written. */
export interface SyslogFormat {
  /** 0..23. */
  readonly facility: number;
  /** At most 48 printable ASCII characters. */
  readonly appName: string;
  /** The SD-ID of Vigil's structured-data element, `name@number`. */
  readonly sdId: string;
  /** Start MSG with a UTF-8 byte-order mark. */
  readonly bom: boolean;
  /** The longest message in bytes (framing excluded); the output is cut to fit. */
  readonly maxBytes: number;
}

/** RFC 5424's NILVALUE. */
const NIL = '-';
const BOM = '\u{FEFF}';

/**
 * True when `sdId` may name a private structured-data element: 1 to 32 printable ASCII characters
 * other than `=`, space, `]` and `"`, with an `@` (names without one are reserved to IANA).
 */
export function isPrivateSdId(sdId: string): boolean {
  return /^[!-~]{1,32}$/.test(sdId) && !/[=\]"]/.test(sdId) && /^[^@]+@\d+(\.\d+)*$/.test(sdId);
}

/** A header field: printable US-ASCII only (others become `_`), at most `max` characters, nil when empty. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^!-~]/g, '_').slice(0, max);
  return clean === '' ? NIL : clean;
}

/** RFC 5424 TIMESTAMP from an RFC 3339 time, fraction cut to six digits; nil when unreadable. */
export function syslogTimestamp(time: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (m === null || Number.isNaN(Date.parse(time))) return NIL;
  const fraction = m[2] === undefined ? '' : `.${m[2].slice(0, 6)}`;
  return `${m[1] ?? ''}${fraction}${m[3] ?? ''}`;
}

/** PARAM-VALUE escaping: `"`, `\` and `]` take a backslash. */
function paramValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** The longest prefix of `text` that fits in `bytes` UTF-8 bytes, never cutting a character. */
function fitUtf8(text: string, bytes: number): string {
  if (bytes <= 0) return '';
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = bytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/**
 * The RFC 5424 message for `alert`, as bytes, without framing.
 *
 * @example formatSyslog(alert, format).toString() //=> '<12>1 2024-05-01T12:00:00.123456Z node-1 vigil - signature [vigil@32473 rule="…" …] …'
 */
export function formatSyslog(alert: Alert, format: SyslogFormat): Buffer {
  const pri = format.facility * 8 + alertPriority(alert);
  const header = [
    `<${pri}>1`,
    syslogTimestamp(alert.time),
    headerField(alert.node, 255),
    headerField(format.appName, 48),
    NIL,
    headerField(alert.kind, 32),
  ].join(' ');
  const params: [string, string | undefined][] = [
    ['rule', alert.rule],
    ['priority', alert.priority],
    ['node', alert.node],
    ['id', alert.id],
    ['kind', alert.kind],
    ['source', alert.source],
    ['namespace', alert.workload?.namespace ?? stringField(alert.output_fields['k8s.ns.name'])],
    ['pod', alert.workload?.pod ?? stringField(alert.output_fields['k8s.pod.name'])],
  ];
  const sd = `[${format.sdId}${params
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([k, v]) => ` ${k}="${paramValue(v)}"`)
    .join('')}]`;
  const head = `${header} ${sd} ${format.bom ? BOM : ''}`;
  const room = format.maxBytes - Buffer.byteLength(head);
  return Buffer.from(head + fitUtf8(alert.output, room), 'utf8');
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** RFC 6587 octet-counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
