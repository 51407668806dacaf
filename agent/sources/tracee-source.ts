/**
 * The `tracee` source: Aqua Tracee's JSON events (`tracee -o json`), mapped to Falco fields.
 *
 * - `evt.type` is Tracee's `eventName`, except `sched_process_exec` -> `execve` and
 *   `sched_process_exit` -> `procexit` (Tracee's view of a completed exec and of an exit). If
 *   both the `execve` syscall and `sched_process_exec` are traced, a successful exec appears
 *   twice; trace one of them. LSM events (`security_file_open`, `security_socket_connect`) keep
 *   their own names, so they never double the syscall events rules already look for.
 * - Process: host ids (`hostProcessId` -> `proc.pid`, `hostThreadId` -> `thread.tid`,
 *   `hostParentProcessId` -> `proc.ppid`), namespace ids (`proc.vpid`, `thread.vtid`),
 *   `processName` -> `proc.name`, `userId` -> `user.uid`, `executable.path` -> `proc.exepath`.
 *   Tracee records the `execve` syscall with the caller's context, so a successful `execve`
 *   takes the new program's identity from its arguments (`pathname`, `argv`); a failed one
 *   keeps the caller's. Tracee carries no parent name: `proc.pname` is left to agent state.
 * - Container and pod: `containerId` or `container.id` -> `container.id` (12 characters, `host`
 *   when empty), image and name, `podName`/`podNamespace`/`podUID` (or under `kubernetes`).
 * - Arguments: scalars as `evt.arg.NAME`; `pathname` of the open family -> `fd.name`; the
 *   endpoints of `net_packet_*` (`src`, `dst`, `src_port`, `dst_port`) and of connect-like
 *   events (`remote_addr`, `addr`) -> `fd.cip`, `fd.sip`, ...; `returnValue` -> `evt.rawres`.
 */
import type { Event } from '../../core/event.js';
import type { SourceFactory } from './source.js';
import { MalformedReasons, isRecord } from './decoder.js';
import { jsonSourceFactory } from './json-source.js';
import {
  baseName,
  num,
  numeric,
  put,
  putConnection,
  putContainerId,
  putImage,
  text,
  type Fields,
} from './field-mapping.js';

const RENAMED: Readonly<Record<string, string>> = {
  sched_process_exec: 'execve',
  sched_process_exit: 'procexit',
};

const EXEC_SYSCALLS = new Set(['execve', 'execveat']);
const OPEN_FAMILY = new Set(['open', 'openat', 'openat2', 'creat', 'security_file_open']);
const CONNECT_LIKE = new Set(['connect', 'security_socket_connect']);

/** Arguments copied as `evt.arg.NAME` at most; Tracee events have a handful. */
const MAX_ARGS = 64;

/** Maps one Tracee JSON event to an event, or the reason it is malformed. */
export function mapTraceeRecord(record: Record<string, unknown>): Event | string {
  const name = text(record['eventName']);
  if (name === undefined) return MalformedReasons.missingField;
  const type = RENAMED[name] ?? name;
  const fields: Fields = { 'evt.type': type, 'evt.dir': type === 'procexit' ? '>' : '<' };

  put(fields, 'evt.rawtime', timestamp(record['timestamp']));
  put(fields, 'evt.hostname', text(record['hostName']));
  put(fields, 'evt.cpu', num(record['processorId']));
  put(fields, 'proc.pid', num(record['hostProcessId']));
  put(fields, 'proc.vpid', num(record['processId']));
  put(fields, 'thread.tid', num(record['hostThreadId']));
  put(fields, 'thread.vtid', num(record['threadId']));
  put(fields, 'proc.ppid', num(record['hostParentProcessId']));
  put(fields, 'user.uid', num(record['userId']));
  put(fields, 'proc.name', text(record['processName']));
  const executable = record['executable'];
  if (isRecord(executable)) put(fields, 'proc.exepath', text(executable['path']));
  const res = num(record['returnValue']);
  if (res !== undefined) {
    fields['evt.rawres'] = res;
    if (res >= 0) fields['evt.res'] = 'SUCCESS';
  }
  mapContainer(fields, record);

  const args = argumentMap(record['args']);
  for (const [argName, value] of args) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      fields[`evt.arg.${argName}`] = value;
    }
  }

  if (name === 'sched_process_exec' || (EXEC_SYSCALLS.has(name) && (res === undefined || res >= 0))) {
    mapExec(fields, args, name !== 'sched_process_exec');
  } else if (type === 'procexit') {
    put(fields, 'evt.arg.status', numeric(args.get('exit_code')));
  } else if (OPEN_FAMILY.has(name)) {
    const path = text(args.get('pathname'));
    if (path !== undefined) {
      fields['fd.name'] = path;
      fields['fd.typechar'] = 'f';
    }
    if (name !== 'security_file_open' && res !== undefined && res >= 0) fields['fd.num'] = res;
  } else if (name.startsWith('net_packet_')) {
    const l4 = name.slice('net_packet_'.length);
    putConnection(fields, {
      cip: text(args.get('src')),
      cport: numeric(args.get('src_port')),
      sip: text(args.get('dst')),
      sport: numeric(args.get('dst_port')),
      l4proto: l4 === 'tcp' || l4 === 'udp' || l4 === 'icmp' ? l4 : undefined,
    });
  } else if (CONNECT_LIKE.has(name)) {
    const addr = args.get('remote_addr') ?? args.get('addr');
    if (isRecord(addr)) {
      putConnection(fields, {
        sip: text(addr['sin_addr']) ?? text(addr['sin6_addr']),
        sport: numeric(addr['sin_port']) ?? numeric(addr['sin6_port']),
      });
      const path = text(addr['sun_path']);
      if (path !== undefined) {
        fields['fd.name'] = path;
        fields['fd.typechar'] = 'u';
      }
    }
  }
  return { fields };
}

/** Nanoseconds since the epoch from Tracee's `timestamp` (a number, or `{seconds, nanos}`). */
function timestamp(value: unknown): number | undefined {
  const n = num(value);
  if (n !== undefined) return n;
  if (!isRecord(value)) return undefined;
  const s = numeric(value['seconds']);
  return s === undefined ? undefined : s * 1e9 + (numeric(value['nanos']) ?? 0);
}

/** Container and pod fields, from the flat (`containerId`) or nested (`container.id`) form. */
function mapContainer(fields: Fields, r: Record<string, unknown>): void {
  const c = isRecord(r['container']) ? r['container'] : {};
  const k = isRecord(r['kubernetes']) ? r['kubernetes'] : {};
  putContainerId(fields, text(r['containerId']) ?? text(c['id']));
  put(fields, 'container.name', text(r['containerName']) ?? text(c['name']));
  putImage(fields, text(r['containerImage']) ?? text(c['image']));
  put(fields, 'container.image.digest', text(c['imageDigest']));
  put(fields, 'k8s.pod.name', text(r['podName']) ?? text(k['podName']));
  put(fields, 'k8s.ns.name', text(r['podNamespace']) ?? text(k['podNamespace']));
  put(fields, 'k8s.pod.uid', text(r['podUID']) ?? text(k['podUID']));
}

/** Tracee's `args` (`[{name, type, value}]`) by name; bounded, first occurrence wins. */
function argumentMap(args: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!Array.isArray(args)) return out;
  for (const arg of args as unknown[]) {
    if (out.size >= MAX_ARGS) break;
    if (!isRecord(arg)) continue;
    const name = text(arg['name']);
    if (name !== undefined && !out.has(name)) out.set(name, arg['value']);
  }
  return out;
}

/** The program an exec started: path, argv, working directory. */
function mapExec(fields: Fields, args: Map<string, unknown>, takeNameFromPath: boolean): void {
  const path = text(args.get('pathname'));
  if (path !== undefined) {
    fields['proc.exepath'] = path;
    if (takeNameFromPath) fields['proc.name'] = baseName(path);
  }
  const argv = args.get('argv');
  if (Array.isArray(argv) && argv.every((a): a is string => typeof a === 'string')) {
    const list = argv;
    put(fields, 'proc.exe', list[0]);
    const rest = list.slice(1).join(' ');
    fields['proc.args'] = rest;
    const name = fields['proc.name'];
    if (typeof name === 'string') fields['proc.cmdline'] = rest === '' ? name : `${name} ${rest}`;
  }
  put(fields, 'proc.cwd', text(args.get('cwd')));
}

/** Registry entry of the `tracee` source. */
export const traceeSourceFactory: SourceFactory = jsonSourceFactory({
  name: 'tracee',
  description: 'Tracee JSON events (tracee -o json) mapped to Falco fields',
  example: 'tracee:unix:/run/vigil/tracee.sock',
  mapper: mapTraceeRecord,
});
