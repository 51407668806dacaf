/**
 * Reads what an event shows a workload doing, in the terms of the profile model: an executable
 * started (with its parent and user), a file written (or renamed into place, or made
 * executable), an outbound connection, a listening port (from `listen`, or the server port of an
 * accepted connection), and the system call itself for the sequence models.
 *
 * Fields are read the way rules read them (the event's record first, then the agent's process
 * table), so a source that names only a pid still yields the executable and its parent.
 */
import type { Observation } from '../../core/baseline/scorer.js';
import type { Event } from '../../core/event.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import type { FieldExtractor } from '../../core/fields/types.js';

/** What one event shows, beyond the profile {@link Observation}. */
export interface EventFacts {
  readonly observation: Observation;
  /** A path written, renamed into place or made executable: drift tracking remembers it. */
  readonly written: string | undefined;
  /** Whether the event is an exec: drift checks its executable. */
  readonly execPath: string | undefined;
}

const registry = createFieldRegistry();

function extractor(name: string): FieldExtractor {
  const found = registry.resolve(name);
  if (found === undefined) throw new Error(`field ${name} is not in the catalogue`);
  return found.def.extractor(found.impliedArg);
}

const exepath = extractor('proc.exepath');
const exe = extractor('proc.exe');
const procName = extractor('proc.name');
const pexepath = extractor('proc.pexepath');
const pexe = extractor('proc.pexe');
const pname = extractor('proc.pname');
const userName = extractor('user.name');
const userUid = extractor('user.uid');
const isOpenWrite = extractor('evt.is_open_write');
const isOpenExec = extractor('evt.is_open_exec');
const failed = extractor('evt.failed');
const sip = extractor('fd.sip');
const sport = extractor('fd.sport');
const l4proto = extractor('fd.l4proto');

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' && v !== '<NA>' ? v : undefined;
}

/** An executable's best name: its absolute path, else argv[0] when absolute, else argv[0] or comm. */
function executableOf(
  evt: Event,
  path: FieldExtractor,
  argv0: FieldExtractor,
  comm: FieldExtractor,
): string | undefined {
  const p = text(path(evt));
  if (p !== undefined && p.startsWith('/')) return p;
  const a = text(argv0(evt));
  if (a !== undefined && a.startsWith('/')) return a;
  return a ?? text(comm(evt)) ?? p;
}

/** The executable of the event's process, as the profile names it. */
export function executableOfEvent(evt: Event): string | undefined {
  return executableOf(evt, exepath, exe, procName);
}

function userOf(evt: Event): string | undefined {
  const name = text(userName(evt));
  if (name !== undefined) return name;
  const uid = userUid(evt);
  const n = typeof uid === 'string' ? Number(uid) : uid;
  // 4294967295 is (uid_t)-1: not known.
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 4294967295 ? `uid ${n}` : undefined;
}

function isExit(evt: Event): boolean {
  const dir = evt.fields['evt.dir'];
  return dir !== '>';
}

function succeeded(evt: Event): boolean {
  const res = evt.fields['evt.res'];
  // A non-blocking connect in progress is an attempt all the same.
  if (res === 'EINPROGRESS' || evt.fields['evt.rawres'] === -115) return true;
  return failed(evt) !== true;
}

function firstPath(evt: Event, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = text(evt.fields[k]);
    if (v !== undefined && v.startsWith('/')) return v;
  }
  return undefined;
}

/** Whether a chmod mode grants execute to anyone. */
function grantsExec(mode: unknown): boolean {
  if (typeof mode === 'number') return (mode & 0o111) !== 0;
  if (typeof mode !== 'string') return false;
  if (/S_IX(USR|GRP|OTH)/.test(mode)) return true;
  const m = /^(?:0o?)?([0-7]{1,6})\b/.exec(mode);
  return m !== null && (parseInt(m[1] as string, 8) & 0o111) !== 0;
}

function port(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

const NONE: EventFacts = { observation: {}, written: undefined, execPath: undefined };

/** The facts of one event (an empty observation for events that teach nothing). */
export function factsOf(evt: Event, type: string): EventFacts {
  switch (type) {
    case 'execve':
    case 'execveat': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      const path = executableOf(evt, exepath, exe, procName);
      if (path === undefined) return NONE;
      const parent = executableOf(evt, pexepath, pexe, pname);
      const user = userOf(evt);
      return {
        observation: { exec: { path, parent }, ...(user !== undefined ? { user } : {}) },
        written: undefined,
        execPath: path,
      };
    }
    case 'open':
    case 'openat':
    case 'openat2':
    case 'creat': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      if (isOpenWrite(evt) !== true && isOpenExec(evt) !== true && type !== 'creat') return NONE;
      const path = firstPath(evt, ['fd.name', 'fs.path.name']);
      if (path === undefined) return NONE;
      return { observation: { fileWrite: path }, written: path, execPath: undefined };
    }
    case 'rename':
    case 'renameat':
    case 'renameat2': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      const path = firstPath(evt, ['fs.path.target', 'evt.arg.newpath', 'evt.abspath.dst']);
      if (path === undefined) return NONE;
      return { observation: { fileWrite: path }, written: path, execPath: undefined };
    }
    case 'chmod':
    case 'fchmod':
    case 'fchmodat': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      if (!grantsExec(evt.fields['evt.arg.mode'] ?? evt.fields['evt.rawarg.mode'])) return NONE;
      const path = firstPath(evt, ['fs.path.name', 'evt.arg.filename', 'evt.arg.path', 'fd.name']);
      return path === undefined ? NONE : { observation: {}, written: path, execPath: undefined };
    }
    case 'connect': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      const address = text(sip(evt));
      const p = port(sport(evt));
      const proto = text(l4proto(evt));
      if (address === undefined || p === undefined || proto === undefined) return NONE;
      return {
        observation: { connect: { proto, address, port: p } },
        written: undefined,
        execPath: undefined,
      };
    }
    // A connection accepted shows the port listened on (the procfs source reports no listen).
    case 'accept':
    case 'accept4':
    case 'listen': {
      if (!isExit(evt) || !succeeded(evt)) return NONE;
      const p = port(sport(evt));
      const proto = text(l4proto(evt)) ?? 'tcp';
      if (p === undefined) return NONE;
      return { observation: { listen: { proto, port: p } }, written: undefined, execPath: undefined };
    }
    default:
      return NONE;
  }
}

/** Times past this (about the year 33,000) are not real: a profile could not store them. */
const MAX_EVENT_MS = 1e15;

/** `ms` when it is a time a profile can hold (0 up to {@link MAX_EVENT_MS}), else undefined. */
function plausible(ms: number): number | undefined {
  return ms >= 0 && ms < MAX_EVENT_MS ? ms : undefined;
}

/**
 * The time of an event in ms since the epoch (`evt.rawtime`), or undefined when it has none or
 * has one no profile can hold (negative or absurdly far ahead: such a time would make the
 * profile's bytes unreadable).
 */
export function eventTimeMs(evt: Event): number | undefined {
  const raw = evt.fields['evt.rawtime'];
  // Through a double: a millisecond is all that is needed, and BigInt division costs more.
  if (typeof raw === 'bigint') return plausible(Math.floor(Number(raw) / 1e6));
  if (typeof raw === 'number' && Number.isFinite(raw)) return plausible(Math.floor(raw / 1e6));
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return plausible(Number(BigInt(raw) / 1_000_000n));
  return undefined;
}
