/**
 * The `tetragon` source: Cilium Tetragon's JSON events (its export file, or
 * `tetra getevents -o json`), mapped to Falco fields so that Falco-style rules match them.
 *
 * Each line holds one event under a key naming its kind, plus `node_name` and `time`:
 * - `process_exec` -> `evt.type=execve` (an exec Tetragon saw succeed: `evt.rawres=0`);
 * - `process_exit` -> `evt.type=procexit` (`evt.arg.status`, `evt.arg.sig`);
 * - `process_kprobe` -> `evt.type` from the probed function: a syscall probe
 *   (`__x64_sys_openat`) becomes the syscall (`openat`), `tcp_connect` becomes `connect`, any
 *   other function keeps its name (`security_file_permission`); file arguments give `fd.name`,
 *   socket arguments the connection (`fd.sip`, `fd.sport`, ...), the return value `evt.rawres`;
 * - `process_tracepoint` -> the tracepoint's event (`sys_enter_openat` -> `openat`, entering);
 *   `process_lsm` -> the hook's name; `process_uprobe` -> the probed symbol;
 * - `process_connect` (Tetragon's 2022 format) -> `evt.type=connect` with the connection.
 * Every kind carries the process (`proc.*`, `user.uid`, `user.loginuid`), its parent
 * (`proc.pname`, `proc.pexepath`, `proc.pcmdline`, `proc.ppid`), further `ancestors` when
 * exported (`proc.aname[2]`, ...), and its pod (`container.id` shortened to 12 characters,
 * `container.name`, `container.image*`, `k8s.ns.name`, `k8s.pod.name`, `k8s.pod.label[KEY]`);
 * `host` is the container of processes outside any pod.
 *
 * Tetragon has no `comm` and no argv[0]: `proc.name` is the binary's base name, `proc.exe` the
 * binary's path, and `proc.cmdline` is that name and Tetragon's `arguments` string (which joined
 * the arguments with spaces already, so an argument containing a space cannot be told apart).
 * Processes Tetragon found in /proc when it started (flag `procFS`) were not traced exec'ing:
 * their events carry `evt.sampled: true`.
 * Other kinds (`process_loader`, `rate_limit_info`, ...) are counted as `unknown-kind`.
 */
import type { Event } from '../../core/event.js';
import type { SourceFactory } from './source.js';
import { MalformedReasons, isRecord } from './decoder.js';
import { jsonSourceFactory } from './json-source.js';
import {
  baseName,
  loginUid,
  num,
  numeric,
  put,
  putConnection,
  putContainerId,
  putImage,
  rfc3339ToNanos,
  text,
  type Fields,
} from './field-mapping.js';

/** Ancestors beyond the parent copied into `proc.aname[N]` and friends. */
const MAX_ANCESTORS = 16;
/** Pod labels copied into `k8s.pod.label[KEY]`. */
const MAX_LABELS = 64;

/** A syscall's kernel entry point: `__x64_sys_openat`, `__arm64_sys_connect`, `sys_write`. */
const SYSCALL_FUNCTION = /^(?:__(?:x64|arm64|ia32|riscv|s390x)_)?(?:compat_)?sys_([a-z0-9_]+)$/;
/** A raw syscall tracepoint: `sys_enter_openat`, `sys_exit_openat`. */
const SYSCALL_TRACEPOINT = /^sys_(enter|exit)_([a-z0-9_]+)$/;

const PROTOCOLS: Readonly<Record<string, string>> = {
  IPPROTO_TCP: 'tcp',
  IPPROTO_UDP: 'udp',
  IPPROTO_ICMP: 'icmp',
  IPPROTO_RAW: 'raw',
  TCP: 'tcp',
  UDP: 'udp',
};

/** Maps one Tetragon JSON event to an event, or the reason it is malformed. */
export function mapTetragonRecord(record: Record<string, unknown>): Event | string {
  let kind: string | undefined;
  for (const key in record) {
    if (key.startsWith('process_')) {
      kind = key;
      break;
    }
  }
  if (kind === undefined) return MalformedReasons.unknownKind;
  const body = record[kind];
  if (!isRecord(body)) return MalformedReasons.badType;
  const process = body['process'];
  if (!isRecord(process)) return MalformedReasons.missingField;

  const fields: Fields = { 'evt.dir': '<' };
  switch (kind) {
    case 'process_exec':
      fields['evt.type'] = 'execve';
      fields['evt.rawres'] = 0;
      fields['evt.res'] = 'SUCCESS';
      mapAncestors(fields, body['ancestors']);
      break;
    case 'process_exit':
      fields['evt.type'] = 'procexit';
      fields['evt.dir'] = '>';
      // Tetragon's protojson leaves out a zero status.
      fields['evt.arg.status'] = num(body['status']) ?? 0;
      put(fields, 'evt.arg.sig', text(body['signal']));
      break;
    case 'process_kprobe':
    case 'process_lsm': {
      const fn = text(body['function_name']);
      if (fn === undefined) return MalformedReasons.missingField;
      fields['evt.type'] = kind === 'process_kprobe' ? kprobeEventType(fn) : fn;
      mapArgs(fields, body['args']);
      mapReturn(fields, body['return']);
      break;
    }
    case 'process_tracepoint': {
      const event = text(body['event']);
      if (event === undefined) return MalformedReasons.missingField;
      const m = SYSCALL_TRACEPOINT.exec(event);
      fields['evt.type'] = m?.[2] ?? event;
      if (m?.[1] === 'enter') fields['evt.dir'] = '>';
      mapArgs(fields, body['args']);
      break;
    }
    case 'process_uprobe': {
      const symbol = text(body['symbol']);
      if (symbol === undefined) return MalformedReasons.missingField;
      fields['evt.type'] = symbol;
      mapArgs(fields, body['args']);
      break;
    }
    case 'process_connect':
      fields['evt.type'] = 'connect';
      putConnection(fields, {
        cip: text(body['source_ip']),
        cport: numeric(body['source_port']),
        sip: text(body['destination_ip']),
        sport: numeric(body['destination_port']),
        l4proto: protocol(body['protocol']),
      });
      break;
    default:
      return MalformedReasons.unknownKind;
  }

  mapProcess(fields, process);
  const parent = body['parent'];
  if (isRecord(parent)) mapParent(fields, parent);
  put(fields, 'evt.hostname', text(record['node_name']));
  put(fields, 'evt.rawtime', rfc3339ToNanos(record['time']));
  return { fields };
}

/** The Falco event type for a kprobe on `fn`. */
function kprobeEventType(fn: string): string {
  const m = SYSCALL_FUNCTION.exec(fn);
  if (m?.[1] !== undefined) return m[1];
  // The kernel function behind every TCP connect(); rules look for connect.
  if (fn === 'tcp_connect') return 'connect';
  return fn;
}

function protocol(value: unknown): string | undefined {
  const p = text(value);
  return p === undefined ? undefined : (PROTOCOLS[p] ?? p.toLowerCase());
}

/** The process the event is about. */
function mapProcess(fields: Fields, p: Record<string, unknown>): void {
  const pid = num(p['pid']);
  put(fields, 'proc.pid', pid);
  put(fields, 'thread.tid', num(p['tid']) ?? pid);
  put(fields, 'user.uid', num(p['uid']));
  put(fields, 'user.loginuid', loginUid(p['auid']));
  put(fields, 'proc.cwd', text(p['cwd']));
  const binary = text(p['binary']);
  if (binary !== undefined) {
    const name = baseName(binary);
    const args = typeof p['arguments'] === 'string' ? p['arguments'] : '';
    fields['proc.name'] = name;
    fields['proc.exe'] = binary;
    fields['proc.exepath'] = binary;
    fields['proc.args'] = args;
    fields['proc.cmdline'] = args === '' ? name : `${name} ${args}`;
  }
  const flags = text(p['flags']);
  if (flags !== undefined && flags.split(' ').includes('procFS')) fields['evt.sampled'] = true;

  const pod = p['pod'];
  const container = isRecord(pod) ? pod['container'] : undefined;
  if (isRecord(container)) {
    putContainerId(fields, text(container['id']));
    put(fields, 'container.name', text(container['name']));
    put(fields, 'proc.vpid', num(container['pid']));
    const image = container['image'];
    if (isRecord(image)) {
      putImage(fields, text(image['name']));
      const id = text(image['id']);
      const at = id?.indexOf('@') ?? -1;
      if (id !== undefined && at >= 0 && fields['container.image.digest'] === undefined) {
        fields['container.image.digest'] = id.slice(at + 1);
      }
    }
  } else {
    putContainerId(fields, text(p['docker']));
  }
  if (isRecord(pod)) {
    put(fields, 'k8s.ns.name', text(pod['namespace']));
    put(fields, 'k8s.pod.name', text(pod['name']));
    const labels = pod['pod_labels'];
    if (isRecord(labels)) {
      let n = 0;
      for (const key in labels) {
        if (n++ >= MAX_LABELS) break;
        const v = labels[key];
        if (typeof v === 'string') fields[`k8s.pod.label[${key}]`] = v;
      }
    }
  }
}

/** The parent process: `proc.ppid`, `proc.pname`, `proc.pexepath`, `proc.pcmdline`. */
function mapParent(fields: Fields, p: Record<string, unknown>): void {
  put(fields, 'proc.ppid', num(p['pid']));
  const binary = text(p['binary']);
  if (binary === undefined) return;
  const name = baseName(binary);
  const args = typeof p['arguments'] === 'string' ? p['arguments'] : '';
  fields['proc.pname'] = name;
  fields['proc.pexepath'] = binary;
  fields['proc.pcmdline'] = args === '' ? name : `${name} ${args}`;
}

/** Tetragon's `ancestors` (beyond the parent, nearest first) as `proc.aname[2]`, ... */
function mapAncestors(fields: Fields, ancestors: unknown): void {
  if (!Array.isArray(ancestors)) return;
  const n = Math.min(ancestors.length, MAX_ANCESTORS);
  for (let i = 0; i < n; i++) {
    const a: unknown = ancestors[i];
    if (!isRecord(a)) break;
    const level = i + 2;
    put(fields, `proc.apid[${level}]`, num(a['pid']));
    const binary = text(a['binary']);
    if (binary !== undefined) {
      fields[`proc.aname[${level}]`] = baseName(binary);
      fields[`proc.aexepath[${level}]`] = binary;
    }
  }
}

/** Probe arguments: the first file or socket argument, and scalars as `evt.arg[i]`. */
function mapArgs(fields: Fields, args: unknown): void {
  if (!Array.isArray(args)) return;
  for (let i = 0; i < args.length; i++) {
    const arg: unknown = args[i];
    if (!isRecord(arg)) continue;
    const file = arg['file_arg'] ?? arg['path_arg'];
    if (isRecord(file)) {
      const path = text(file['path']);
      if (path !== undefined && fields['fd.name'] === undefined) {
        fields['fd.name'] = path;
        fields['fd.typechar'] = 'f';
      }
      continue;
    }
    const sock = arg['sock_arg'] ?? arg['sockaddr_arg'];
    if (isRecord(sock)) {
      if (fields['fd.sip'] === undefined) mapSocket(fields, sock);
      continue;
    }
    for (const key of ['int_arg', 'uint_arg', 'long_arg', 'size_arg', 'string_arg']) {
      const v = arg[key];
      if (typeof v === 'number' || typeof v === 'string') {
        fields[`evt.arg[${i}]`] = v;
        break;
      }
    }
  }
}

function mapSocket(fields: Fields, sock: Record<string, unknown>): void {
  // sock_arg has both ends; sockaddr_arg (a connect()'s address) only the remote one.
  const daddr = text(sock['daddr']) ?? text(sock['addr']);
  const dport = numeric(sock['dport']) ?? numeric(sock['port']);
  putConnection(fields, {
    cip: text(sock['saddr']),
    cport: numeric(sock['sport']),
    sip: daddr,
    sport: dport,
    l4proto: protocol(sock['protocol']),
  });
}

function mapReturn(fields: Fields, ret: unknown): void {
  if (!isRecord(ret)) return;
  const res = num(ret['int_arg']);
  if (res === undefined) return;
  fields['evt.rawres'] = res;
  if (res >= 0) fields['evt.res'] = 'SUCCESS';
}

/** Registry entry of the `tetragon` source. */
export const tetragonSourceFactory: SourceFactory = jsonSourceFactory({
  name: 'tetragon',
  description: 'Tetragon JSON events (export file or tetra getevents -o json) mapped to Falco fields',
  example: 'tetragon:/var/run/cilium/tetragon/tetragon.log',
  mapper: mapTetragonRecord,
});
