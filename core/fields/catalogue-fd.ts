/**
 * Catalogue: file descriptor fields (`fd.*`, `fdlist.*`, `fs.path.*`) — files and connections.
 *
 * Names and types follow libsinsp's fd field class; descriptions are ours. Fields libsinsp
 * computes from the descriptor are derived here from the flat record when it lacks them:
 * `fd.directory`/`fd.filename` from `fd.name`, `fd.typechar` from `fd.type` (and back),
 * `fd.sockfamily` from the type, `fd.snet` from `fd.sip` and so on. The "either end" fields
 * (`fd.ip`, `fd.port`, `fd.proto`, `fd.net`) read both ends of the connection: a positive check
 * holds when one end matches, `!=` when both differ (see `MultiValueMode`).
 */
import type { Event } from '../event.js';
import type { FieldDef, FieldExtractor } from './types.js';
import { defineField, endpoints, firstRecordValue, type FieldSpec } from './catalogue-support.js';

/** libsinsp's one-letter descriptor types, by type name. */
const TYPE_CHARS: ReadonlyMap<string, string> = new Map([
  ['file', 'f'],
  ['directory', 'd'],
  ['ipv4', '4'],
  ['ipv6', '6'],
  ['unix', 'u'],
  ['pipe', 'p'],
  ['event', 'e'],
  ['signalfd', 's'],
  ['eventpoll', 'l'],
  ['inotify', 'i'],
  ['timerfd', 't'],
  ['netlink', 'n'],
  ['bpf', 'b'],
  ['userfaultfd', 'u'],
  ['io_uring', 'r'],
  ['memfd', 'm'],
  ['pidfd', 'P'],
]);

/** Type names by letter; `u` is ambiguous (unix socket, userfaultfd) and resolves to unix. */
const TYPE_NAMES: ReadonlyMap<string, string> = new Map(
  [...TYPE_CHARS].filter(([name]) => name !== 'userfaultfd').map(([name, ch]) => [ch, name]),
);

/** The record's descriptor type letter, from `fd.typechar` or `fd.type`; undefined when unknown. */
function typeChar(evt: Event): string | undefined {
  const ch = evt.fields['fd.typechar'];
  if (typeof ch === 'string') return ch;
  const type = evt.fields['fd.type'];
  return typeof type === 'string' ? TYPE_CHARS.get(type) : undefined;
}

/** Whether the descriptor names a file path (files, directories, or unknown type with an absolute name). */
function pathKind(evt: Event, name: string): 'file' | 'directory' | undefined {
  const ch = typeChar(evt);
  if (ch === 'f') return 'file';
  if (ch === 'd') return 'directory';
  if (ch === undefined && name.startsWith('/')) return 'file';
  return undefined;
}

/** `fd.directory` as libsinsp computes it: the directory part of a file's path (`/` at the top). */
function deriveDirectory(evt: Event): unknown {
  const name = evt.fields['fd.name'];
  if (typeof name !== 'string') return undefined;
  const kind = pathKind(evt, name);
  if (kind === undefined) return undefined;
  if (kind === 'directory') return name;
  const slash = name.lastIndexOf('/');
  if (slash <= 0) return '/';
  return slash < name.length - 1 ? name.slice(0, slash) : name;
}

/** `fd.filename` as libsinsp computes it: what follows the last `/` of a file's path. */
function deriveFilename(evt: Event): unknown {
  const name = evt.fields['fd.name'];
  if (typeof name !== 'string') return undefined;
  if (pathKind(evt, name) !== 'file') return undefined;
  const slash = name.lastIndexOf('/');
  return slash >= 0 && slash < name.length - 1 ? name.slice(slash + 1) : name;
}

function fixed(f: (evt: Event) => unknown): () => FieldExtractor {
  return () => f;
}

/** Both ends of a connection, for either-end fields; a reused array. */
const ipEnds: FieldExtractor = endpoints([
  ['fd.cip', 'fd.sip'],
  ['fd.lip', 'fd.rip'],
]);
const portEnds: FieldExtractor = endpoints([
  ['fd.cport', 'fd.sport'],
  ['fd.lport', 'fd.rport'],
]);

const specs: FieldSpec[] = [
  { name: 'fd.num', type: 'int64', description: 'Number of the file descriptor.' },
  {
    name: 'fd.type',
    type: 'charbuf',
    description:
      'Descriptor type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, memfd, ...',
    derive: fixed((evt) => {
      const ch = evt.fields['fd.typechar'];
      return typeof ch === 'string' ? TYPE_NAMES.get(ch) : undefined;
    }),
  },
  {
    name: 'fd.typechar',
    type: 'charbuf',
    description:
      'Descriptor type as one letter: f file, d directory, 4/6 IP socket, u unix socket, p pipe, ...',
    derive: fixed((evt) => {
      const type = evt.fields['fd.type'];
      return typeof type === 'string' ? TYPE_CHARS.get(type) : undefined;
    }),
  },
  {
    name: 'fd.name',
    type: 'charbuf',
    description: 'Full name: the path of a file, the connection tuple of a socket.',
  },
  {
    name: 'fd.directory',
    type: 'charbuf',
    description: 'For files, the directory holding the file.',
    derive: fixed(deriveDirectory),
  },
  {
    name: 'fd.filename',
    type: 'charbuf',
    description: 'For files, the file name without directory.',
    derive: fixed(deriveFilename),
  },
  {
    name: 'fd.ip',
    type: 'ipaddr',
    filterOnly: true,
    multi: 'endpoints',
    description: 'Matches the client or the server address of the connection.',
    derive: () => ipEnds,
  },
  { name: 'fd.cip', type: 'ipaddr', description: 'Client address of the connection.' },
  { name: 'fd.sip', type: 'ipaddr', description: 'Server address of the connection.' },
  { name: 'fd.lip', type: 'ipaddr', description: 'Local address of the connection.' },
  { name: 'fd.rip', type: 'ipaddr', description: 'Remote address of the connection.' },
  {
    name: 'fd.port',
    type: 'port',
    filterOnly: true,
    multi: 'endpoints',
    description: 'Matches the client or the server port of the connection.',
    derive: () => portEnds,
  },
  { name: 'fd.cport', type: 'port', description: 'Client port of a TCP/UDP connection.' },
  { name: 'fd.sport', type: 'port', description: 'Server port of a TCP/UDP connection.' },
  { name: 'fd.lport', type: 'port', description: 'Local port of a TCP/UDP connection.' },
  { name: 'fd.rport', type: 'port', description: 'Remote port of a TCP/UDP connection.' },
  { name: 'fd.l4proto', type: 'charbuf', description: 'IP protocol of a socket: tcp, udp, icmp or raw.' },
  {
    name: 'fd.sockfamily',
    type: 'charbuf',
    description: "Socket family: 'ip' or 'unix'.",
    derive: fixed((evt) => {
      const ch = typeChar(evt);
      if (ch === '4' || ch === '6') return 'ip';
      if (ch === 'u') return 'unix';
      return undefined;
    }),
  },
  {
    name: 'fd.is_server',
    type: 'bool',
    description: 'True when this process is the server end of the connection.',
  },
  { name: 'fd.uid', type: 'charbuf', description: 'Unique descriptor id: thread id and descriptor number.' },
  { name: 'fd.containername', type: 'charbuf', description: 'Container id and descriptor name joined.' },
  { name: 'fd.containerdirectory', type: 'charbuf', description: 'Container id and directory joined.' },
  {
    name: 'fd.proto',
    type: 'port',
    filterOnly: true,
    multi: 'endpoints',
    description:
      'Matches the client or the server end of the connection, compared as ports as libsinsp does.',
    derive: () => portEnds,
  },
  { name: 'fd.cproto', type: 'charbuf', description: 'Client protocol (service name of the client port).' },
  { name: 'fd.sproto', type: 'charbuf', description: 'Server protocol (service name of the server port).' },
  { name: 'fd.lproto', type: 'charbuf', description: 'Local protocol (service name of the local port).' },
  { name: 'fd.rproto', type: 'charbuf', description: 'Remote protocol (service name of the remote port).' },
  {
    name: 'fd.net',
    type: 'ipnet',
    filterOnly: true,
    multi: 'endpoints',
    description: 'Matches when the client or the server address lies in the given network.',
    derive: () => ipEnds,
  },
  {
    name: 'fd.cnet',
    type: 'ipnet',
    filterOnly: true,
    description: 'Matches when the client address lies in the given network.',
    derive: () => firstRecordValue(['fd.cip']),
  },
  {
    name: 'fd.snet',
    type: 'ipnet',
    filterOnly: true,
    description: 'Matches when the server address lies in the given network.',
    derive: () => firstRecordValue(['fd.sip']),
  },
  {
    name: 'fd.lnet',
    type: 'ipnet',
    filterOnly: true,
    description: 'Matches when the local address lies in the given network.',
    derive: () => firstRecordValue(['fd.lip']),
  },
  {
    name: 'fd.rnet',
    type: 'ipnet',
    filterOnly: true,
    description: 'Matches when the remote address lies in the given network.',
    derive: () => firstRecordValue(['fd.rip']),
  },
  {
    name: 'fd.connected',
    type: 'bool',
    description: 'For TCP/UDP sockets, true when the socket is connected.',
  },
  {
    name: 'fd.name_changed',
    type: 'bool',
    description: 'True when this event changed the descriptor name (e.g. a UDP tuple).',
  },
  { name: 'fd.cip.name', type: 'charbuf', description: 'Domain name resolved for the client address.' },
  { name: 'fd.sip.name', type: 'charbuf', description: 'Domain name resolved for the server address.' },
  { name: 'fd.lip.name', type: 'charbuf', description: 'Domain name resolved for the local address.' },
  { name: 'fd.rip.name', type: 'charbuf', description: 'Domain name resolved for the remote address.' },
  { name: 'fd.dev', type: 'uint32', description: 'Device number (major/minor) of the file.' },
  { name: 'fd.dev.major', type: 'uint32', description: 'Major device number of the file.' },
  { name: 'fd.dev.minor', type: 'uint32', description: 'Minor device number of the file.' },
  { name: 'fd.ino', type: 'uint64', description: 'Inode number of the file.' },
  {
    name: 'fd.nameraw',
    type: 'charbuf',
    description: 'The path as passed to the syscall, not made absolute.',
  },
  {
    name: 'fd.types',
    type: 'charbuf',
    isList: true,
    arg: 'index',
    description: 'Types of all open descriptors of the process; fd.types[N] the type of descriptor N.',
  },
  {
    name: 'fd.is_upper_layer',
    type: 'bool',
    description: 'True when the file lives in the upper overlay layer.',
  },
  {
    name: 'fd.is_lower_layer',
    type: 'bool',
    description: 'True when the file lives in a lower overlay layer.',
  },
  { name: 'fdlist.nums', type: 'charbuf', description: 'For poll events, the descriptor numbers.' },
  { name: 'fdlist.names', type: 'charbuf', description: 'For poll events, the descriptor names.' },
  { name: 'fdlist.cips', type: 'charbuf', description: 'For poll events, the client addresses.' },
  { name: 'fdlist.sips', type: 'charbuf', description: 'For poll events, the server addresses.' },
  { name: 'fdlist.cports', type: 'charbuf', description: 'For poll events, the client ports.' },
  { name: 'fdlist.sports', type: 'charbuf', description: 'For poll events, the server ports.' },
  { name: 'fs.path.name', type: 'fspath', description: 'Path a filesystem syscall works on, made absolute.' },
  { name: 'fs.path.nameraw', type: 'fspath', description: 'Path a filesystem syscall works on, as passed.' },
  {
    name: 'fs.path.source',
    type: 'fspath',
    description: 'Source path of two-path syscalls (rename, link), made absolute.',
  },
  { name: 'fs.path.sourceraw', type: 'fspath', description: 'Source path of two-path syscalls, as passed.' },
  {
    name: 'fs.path.target',
    type: 'fspath',
    description: 'Target path of two-path syscalls (rename, link), made absolute.',
  },
  { name: 'fs.path.targetraw', type: 'fspath', description: 'Target path of two-path syscalls, as passed.' },
];

/** The descriptor and path fields. */
export function descriptorFields(): FieldDef[] {
  return specs.map(defineField);
}
