/**
 * The C definition of the record format (sensor/sensor-records.h) and the decoder's
 * (wire-format.ts) must agree number for number: this reads the header and compares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../test/support/shared.js';
import {
  DupNum,
  EventFlag,
  EventHeader,
  ExecFlag,
  ExecNum,
  ExecStr,
  FdKind,
  FORMAT_VERSION,
  HeaderRecord,
  OpenNum,
  PairNum,
  PathNum,
  RecordType,
  RECORD_TYPE_MAX,
  SENSOR_EVENT_TYPES,
  SockNum,
  SocketNum,
  StatsRecord,
  STR_LEN_MASK,
  STR_TRUNCATED,
} from './wire-format.js';

const header = readFileSync(
  join(projectRoot, 'agent', 'sources', 'ebpf', 'sensor', 'sensor-records.h'),
  'utf8',
)
  // Comments out, so that names in prose are not read as members.
  .replace(/\/\*[\s\S]*?\*\//g, '');

/** `NAME_WITH_PARTS` (after the prefix) as lowerCamelCase. */
function camel(name: string): string {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The members of `enum NAME { ... }`, with their values (implicit ones counted on). */
function enumMembers(name: string): Map<string, number> {
  const m = new RegExp(`enum ${name}\\s*\\{([^}]*)\\}`).exec(header);
  assert.ok(m?.[1] !== undefined, `enum ${name} in sensor-records.h`);
  const out = new Map<string, number>();
  let next = 0;
  for (const part of m[1].split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const [key, value] = item.split('=').map((s) => s.trim()) as [string, string | undefined];
    // A value computed from other enums' members (DUP_NUMS) is not checked: NaN.
    const v = value === undefined ? next : /^\d+$/.test(value) ? Number(value) : NaN;
    out.set(key, v);
    next = v + 1;
  }
  return out;
}

/** `#define NAME value` (decimal, hex, or `(1 << n)`). */
function define(name: string): number {
  const m = new RegExp(`#define ${name}\\s+(.+)`).exec(header);
  assert.ok(m?.[1] !== undefined, `#define ${name}`);
  const text = m[1].trim();
  const shift = /^\((\d+) << (\d+)\)$/.exec(text);
  if (shift !== null) return Number(shift[1]) << Number(shift[2]);
  return Number(text);
}

/** Member offsets of `struct NAME`, laid out as C lays out these (naturally aligned) types. */
function structOffsets(name: string): Map<string, number> {
  const m = new RegExp(`struct ${name}\\s*\\{([^}]*)\\}`).exec(header);
  assert.ok(m?.[1] !== undefined, `struct ${name}`);
  const sizes: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8, __s64: 8, char: 1 };
  const out = new Map<string, number>();
  let at = 0;
  for (const line of m[1].split(';')) {
    const decl = /^\s*(\w+)\s+(.+?)\s*$/.exec(line);
    if (decl === null) continue;
    const size = sizes[decl[1]!];
    assert.ok(size !== undefined, `type ${decl[1]} in struct ${name}`);
    for (const raw of decl[2]!.split(',')) {
      const arr = /^(\w+)\[(\w+)\]$/.exec(raw.trim());
      const member = arr === null ? raw.trim() : arr[1]!;
      const count = arr === null ? 1 : /^\d+$/.test(arr[2]!) ? Number(arr[2]) : define(arr[2]!);
      at = Math.ceil(at / size) * size;
      out.set(member, at);
      at += size * count;
    }
  }
  out.set('(size)', Math.ceil(at / 8) * 8);
  return out;
}

describe('wire format: C header and TypeScript agree', () => {
  it('has the same format version and string prefix bits', () => {
    assert.equal(define('VIGIL_FORMAT_VERSION'), FORMAT_VERSION);
    assert.equal(define('VIGIL_STR_TRUNCATED'), STR_TRUNCATED);
    assert.equal(define('VIGIL_STR_LEN_MASK'), STR_LEN_MASK);
    assert.equal(define('VIGIL_COMM_LEN'), EventHeader.commLength);
  });

  it('numbers every record type the same', () => {
    const c = enumMembers('vigil_record_type');
    const fromC = new Map<string, number>();
    for (const [key, value] of c) {
      if (key === 'VR_TYPE_MAX') assert.equal(value, RECORD_TYPE_MAX);
      else fromC.set(key.replace(/^V[RE]_/, '').toLowerCase(), value);
    }
    assert.deepEqual(Object.fromEntries(fromC), { ...RecordType });
  });

  it('lays out the event, header and stats records the same', () => {
    const ev = structOffsets('vigil_event_header');
    for (const key of [
      'type',
      'flags',
      'nnum',
      'nstr',
      'ts',
      'cgroup',
      'res',
      'pid',
      'tid',
      'ppid',
      'uid',
      'gid',
      'loginuid',
      'vpid',
      'comm',
    ] as const) {
      assert.equal(ev.get(key), EventHeader[key], `event header ${key}`);
    }
    assert.equal(ev.get('(size)'), EventHeader.size);
    const hr = structOffsets('vigil_header_record');
    assert.equal(hr.get('version'), HeaderRecord.version);
    assert.equal(hr.get('sensor_pid'), HeaderRecord.sensorPid);
    assert.equal(hr.get('boot_to_epoch_ns'), HeaderRecord.bootToEpochNs);
    assert.equal(hr.get('ring_bytes'), HeaderRecord.ringBytes);
    assert.equal(hr.get('argv_max'), HeaderRecord.argvMax);
    assert.equal(hr.get('arg_len'), HeaderRecord.argLen);
    assert.equal(hr.get('env_bytes'), HeaderRecord.envBytes);
    assert.equal(hr.get('(size)'), HeaderRecord.size);
    const sr = structOffsets('vigil_stats_record');
    assert.equal(sr.get('count'), StatsRecord.count);
    assert.equal(sr.get('ts'), StatsRecord.ts);
    assert.equal(sr.get('(size)'), StatsRecord.size);
    assert.equal(structOffsets('vigil_stats_entry').get('(size)'), StatsRecord.entrySize);
  });

  it('indexes the numbers and strings of each event type the same', () => {
    const check = (
      enumName: string,
      prefix: string,
      ts: Record<string, number>,
      skip: string[] = [],
    ): void => {
      for (const [key, value] of enumMembers(enumName)) {
        const name = camel(key.slice(prefix.length));
        if (skip.includes(name)) continue;
        assert.equal(ts[name], value, `${enumName}: ${key}`);
      }
    };
    check('vigil_exec_nums', 'EXEC_', ExecNum, ['nums']);
    check('vigil_exec_strs', 'EXEC_', ExecStr, []);
    check('vigil_open_nums', 'OPEN_', OpenNum, ['nums']);
    check('vigil_sock_nums', 'SOCK_', SockNum, ['nums']);
    check('vigil_socket_nums', 'SOCKET_', SocketNum, ['nums']);
    check('vigil_dup_nums', 'DUP_', DupNum, ['nums']);
    check('vigil_path_nums', 'PATH_', PathNum, ['nums']);
    check('vigil_pair_nums', 'PAIR_', PairNum, ['nums']);
    check('vigil_fd_kind', 'FDK_', FdKind);
    assert.equal(enumMembers('vigil_sock_nums').get('SOCK_NUMS'), SockNum.count);
    assert.equal(define('VF_ARGV_TRUNCATED'), EventFlag.argvTruncated);
    assert.equal(define('VF_ENV_TRUNCATED'), EventFlag.envTruncated);
    assert.equal(define('VX_EXE_WRITABLE'), ExecFlag.writable);
    assert.equal(define('VX_EXE_UPPER_LAYER'), ExecFlag.upperLayer);
    assert.equal(define('VX_EXE_FROM_MEMFD'), ExecFlag.fromMemfd);
    assert.equal(define('VX_EXE_LOWER_LAYER'), ExecFlag.lowerLayer);
  });

  it('offers the loader every event type the decoder names', () => {
    const loader = readFileSync(
      join(projectRoot, 'agent', 'sources', 'ebpf', 'sensor', 'vigil-sensor.c'),
      'utf8',
    );
    for (const name of SENSOR_EVENT_TYPES.keys()) {
      assert.ok(
        loader.includes(`{ "${name}",`) || loader.includes(`SYSCALL_EVENT(${name},`),
        `the loader's event table has ${name}`,
      );
    }
  });
});
