/**
 * The `sysdig` source: the JSON lines `sysdig -j` writes, mapped to Falco-field events.
 *
 * With a field list (`sysdig -j -p '%evt.num %proc.name %fd.name'`) sysdig writes one object per
 * event keyed by those field names. Without one it writes its default set:
 * `{"evt.cpu":0,"evt.dir":"<","evt.info":"fd=3(<f>/etc/ld.so.cache) name=... flags=4097(O_RDONLY|O_CLOEXEC) mode=0 ","evt.num":180,"evt.outputtime":1523545100492332843,"evt.type":"open","proc.name":"<NA>","thread.tid":16518}`.
 *
 * Both are mapped the same way:
 * - `<NA>` (sysdig's text for a value it does not have) and null become missing fields;
 * - `evt.outputtime`, when it is an absolute time, also gives `evt.rawtime`;
 * - `evt.info` also gives `evt.args`, and the parts of it that can be read without guessing:
 *   the return value of an exit event (`evt.rawres`, `evt.res`), the leading descriptor
 *   (`fd.num`, `fd.typechar`, `fd.l4proto`, `fd.name` from `fd=3(<f>/etc/passwd)`), the
 *   connection of `connect`/`accept` (`tuple=` -> `fd.name`, `fd.cip`, ...), and the `name`,
 *   `flags` and `mode` of the open family (so `evt.is_open_write` and friends work).
 * Fields the record already carries win over anything derived.
 *
 * `evt.info` is text meant for people: arguments are separated by spaces, and values (paths,
 * data buffers, command lines) may contain spaces and `name=` themselves. Only arguments whose
 * position or format is fixed by the kernel are read from it; process details of `execve`
 * (arguments, parent, working directory) are not, because a crafted command line could forge
 * them. For those, run sysdig with a field list (`-p '%proc.cmdline %proc.pname ...'`).
 */
import type { Event } from '../../core/event.js';
import type { SourceFactory } from './source.js';
import { jsonSourceFactory } from './json-source.js';
import { put, putConnection, type Fields } from './field-mapping.js';

/** What sysdig prints for a value it does not have. */
const NOT_AVAILABLE = '<NA>';

/** `evt.outputtime` values below this are relative times (`-t r`/`-t d`), not epoch nanoseconds. */
const ABSOLUTE_TIME_NS = 1e15;

const OPEN_FAMILY = new Set(['open', 'openat', 'openat2', 'creat']);
const CONNECTION_EVENTS = new Set(['connect', 'accept', 'accept4']);

/** The return value at the start of an exit event's arguments: `res=-2(ENOENT)`, `fd=3(...)`. */
const RETURN_VALUE = /^(?:res|fd)=(-?\d+)(?:\(([A-Z][A-Z0-9_]*)\))?(?=[ (]|$)/;
/** A descriptor argument: `fd=3`, `fd=3(<f>/etc/passwd)`, `fd=4(<4t>1.2.3.4:5->6.7.8.9:80)`. */
const DESCRIPTOR = /^fd=(-?\d+)(?:\(<([^>]*)>(.*?)\))?(?= [a-z_][a-z0-9_]*=| *$)/;
/** The start of the next argument after a value. */
const NEXT_ARG = / [a-z_][a-z0-9_]*=/g;
/** The open family's trailing arguments, anchored at the end where their format is fixed. */
const OPEN_ARGS = /(?:^| )name=(.*) flags=(\d+(?:\([A-Z0-9_|]*\))?) mode=(\d+)(?: dev=\S+)?(?: ino=\d+)? *$/;
/** An `ip:port` end of a tuple; the port is after the last colon (IPv6 has many). */
const ENDPOINT = /^(.+):(\d+)$/;

const L4PROTO_BY_CHAR: Readonly<Record<string, string>> = { t: 'tcp', u: 'udp', r: 'raw', i: 'icmp' };

/** Maps one `sysdig -j` object to an event. */
export function mapSysdigRecord(record: Record<string, unknown>): Event {
  const fields: Fields = {};
  for (const key in record) {
    const v = record[key];
    if (v !== NOT_AVAILABLE && v !== null) fields[key] = v;
  }
  const out = fields['evt.outputtime'];
  if (fields['evt.rawtime'] === undefined && typeof out === 'number' && out > ABSOLUTE_TIME_NS) {
    fields['evt.rawtime'] = out;
  }
  const info = fields['evt.info'];
  if (typeof info === 'string') {
    if (fields['evt.args'] === undefined) fields['evt.args'] = info;
    fillFromInfo(fields, info);
  }
  return { fields };
}

/** Adds what can be read unambiguously from `evt.info`, never replacing a carried field. */
function fillFromInfo(fields: Fields, info: string): void {
  const derived: Fields = {};
  const type = fields['evt.type'];
  const exit = fields['evt.dir'] === '<';

  if (exit) {
    const m = RETURN_VALUE.exec(info);
    if (m !== null) {
      const res = Number(m[1]);
      derived['evt.rawres'] = res;
      if (res >= 0) derived['evt.res'] = 'SUCCESS';
      else put(derived, 'evt.res', m[2]);
    }
  }

  const fd = DESCRIPTOR.exec(info);
  if (fd !== null) {
    const n = Number(fd[1]);
    if (n >= 0) {
      derived['fd.num'] = n;
      const kind = fd[2];
      if (kind !== undefined && kind !== '') {
        derived['fd.typechar'] = kind[0];
        put(derived, 'fd.l4proto', L4PROTO_BY_CHAR[kind[1] ?? '']);
      }
      const name = fd[3];
      if (name !== undefined && name !== '') {
        if (kind === '4t' || kind === '4u' || kind === '6t' || kind === '6u') putTuple(derived, name);
        derived['fd.name'] = name;
      }
    }
  }

  if (typeof type === 'string' && exit && CONNECTION_EVENTS.has(type)) {
    const tuple = lastArgument(info, 'tuple');
    if (tuple !== undefined && tuple !== '' && tuple !== 'NULL' && derived['fd.name'] === undefined) {
      putTuple(derived, tuple);
      derived['fd.name'] = tuple;
    }
  }

  if (typeof type === 'string' && exit && OPEN_FAMILY.has(type)) {
    const m = OPEN_ARGS.exec(info);
    if (m !== null) {
      derived['evt.arg.name'] = m[1];
      derived['evt.arg.flags'] = m[2];
      derived['evt.arg.mode'] = m[3];
      // A failed open has no descriptor, but the path it tried is still the file of interest.
      if (derived['fd.name'] === undefined && m[1] !== '') derived['fd.name'] = m[1];
    }
  }

  for (const key in derived) if (fields[key] === undefined) fields[key] = derived[key];
}

/**
 * The value of the last `name=` argument, up to the next argument or the end. The last one,
 * because text that could imitate it (a data buffer) comes before the real one.
 */
function lastArgument(info: string, name: string): string | undefined {
  const key = `${name}=`;
  let at = info.lastIndexOf(` ${key}`);
  if (at >= 0) at += 1;
  else if (info.startsWith(key)) at = 0;
  else return undefined;
  const from = at + key.length;
  NEXT_ARG.lastIndex = from;
  const next = NEXT_ARG.exec(info);
  return info.slice(from, next === null ? info.length : next.index).trimEnd();
}

/** Fills the connection fields from `cip:cport->sip:sport` when both ends are IP endpoints. */
function putTuple(fields: Fields, tuple: string): void {
  const arrow = tuple.indexOf('->');
  if (arrow < 0) return;
  const client = ENDPOINT.exec(tuple.slice(0, arrow));
  const server = ENDPOINT.exec(tuple.slice(arrow + 2));
  if (client === null || server === null) return;
  putConnection(fields, {
    cip: client[1],
    cport: Number(client[2]),
    sip: server[1],
    sport: Number(server[2]),
  });
  // putConnection renders fd.name from the parts; keep sysdig's own rendering instead.
  delete fields['fd.name'];
}

/** Registry entry of the `sysdig` source. */
export const sysdigSourceFactory: SourceFactory = jsonSourceFactory({
  name: 'sysdig',
  description: 'JSON lines written by `sysdig -j` (with or without -p), from a file, FIFO, unix:/socket or -',
  example: 'sysdig:-',
  mapper: mapSysdigRecord,
});
