/**
 * The writer's side of the kernel sensor's record format (`wire-format.ts`), in TypeScript: for
 * tests of the decoder and the source, and for tools that replay recorded sensor streams. The
 * sensor itself writes records in C; this module mirrors it.
 *
 * @example
 *   const header = buildHeaderRecord({ bootToEpochNs: 1_700_000_000_000_000_000n });
 *   const open = buildEventRecord({ type: RecordType.openat, pid: 42, comm: 'cat', res: 3,
 *     nums: [-100, 0, 0, 0], strs: ['/etc/passwd', ''] });
 *   stream.push(Buffer.concat([frameRecord(header), frameRecord(open)]));
 */
import {
  EventHeader,
  FORMAT_VERSION,
  HeaderRecord,
  RecordType,
  StatsRecord,
  STR_TRUNCATED,
} from './wire-format.js';

/** One string of a record: text (UTF-8), raw bytes, or bytes marked cut at a limit. */
export type RecordString = string | Buffer | { readonly bytes: Buffer | string; readonly truncated: boolean };

/** What an event record says; unset header fields are zero (loginuid: unset). */
export interface EventRecordSpec {
  readonly type: number;
  readonly flags?: number;
  /** Boot-clock nanoseconds. */
  readonly ts?: bigint;
  readonly cgroup?: bigint;
  readonly res?: number;
  readonly pid?: number;
  readonly tid?: number;
  readonly ppid?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly loginuid?: number;
  readonly vpid?: number;
  readonly comm?: string;
  readonly nums?: readonly (number | bigint)[];
  readonly strs?: readonly RecordString[];
}

function stringBytes(s: RecordString): { bytes: Buffer; truncated: boolean } {
  if (typeof s === 'string') return { bytes: Buffer.from(s, 'utf8'), truncated: false };
  if (Buffer.isBuffer(s)) return { bytes: s, truncated: false };
  return {
    bytes: typeof s.bytes === 'string' ? Buffer.from(s.bytes, 'utf8') : s.bytes,
    truncated: s.truncated,
  };
}

function putStrings(strs: readonly RecordString[]): Buffer {
  return Buffer.concat(
    strs.map((s) => {
      const { bytes, truncated } = stringBytes(s);
      const head = Buffer.alloc(2);
      head.writeUInt16LE(bytes.length | (truncated ? STR_TRUNCATED : 0));
      return Buffer.concat([head, bytes]);
    }),
  );
}

/** An event record's payload (without the length prefix). */
export function buildEventRecord(spec: EventRecordSpec): Buffer {
  const nums = spec.nums ?? [];
  const strs = spec.strs ?? [];
  const head = Buffer.alloc(EventHeader.size);
  head.writeUInt16LE(spec.type, EventHeader.type);
  head.writeUInt16LE(spec.flags ?? 0, EventHeader.flags);
  head.writeUInt8(nums.length, EventHeader.nnum);
  head.writeUInt16LE(strs.length, EventHeader.nstr);
  head.writeBigUInt64LE(spec.ts ?? 0n, EventHeader.ts);
  head.writeBigUInt64LE(spec.cgroup ?? 0n, EventHeader.cgroup);
  head.writeBigInt64LE(BigInt(spec.res ?? 0), EventHeader.res);
  head.writeUInt32LE(spec.pid ?? 0, EventHeader.pid);
  head.writeUInt32LE(spec.tid ?? spec.pid ?? 0, EventHeader.tid);
  head.writeUInt32LE(spec.ppid ?? 0, EventHeader.ppid);
  head.writeUInt32LE(spec.uid ?? 0, EventHeader.uid);
  head.writeUInt32LE(spec.gid ?? 0, EventHeader.gid);
  head.writeUInt32LE((spec.loginuid ?? -1) >>> 0, EventHeader.loginuid);
  head.writeUInt32LE(spec.vpid ?? spec.pid ?? 0, EventHeader.vpid);
  Buffer.from(spec.comm ?? '', 'utf8').copy(head, EventHeader.comm, 0, EventHeader.commLength - 1);
  const numbers = Buffer.alloc(nums.length * 8);
  nums.forEach((n, i) => numbers.writeBigInt64LE(BigInt.asIntN(64, BigInt(n)), i * 8));
  return Buffer.concat([head, numbers, putStrings(strs)]);
}

/** What a stream header record says. */
export interface HeaderRecordSpec {
  readonly version?: number;
  readonly sensorPid?: number;
  readonly bootToEpochNs?: bigint;
  readonly ringBytes?: number;
  readonly argvMax?: number;
  readonly argLen?: number;
  readonly envBytes?: number;
  /** `KIND:MOUNTPOINT`; default `none:`. */
  readonly cgroupHierarchy?: string;
  readonly events?: readonly string[];
}

/** A stream header record's payload. */
export function buildHeaderRecord(spec: HeaderRecordSpec = {}): Buffer {
  const head = Buffer.alloc(HeaderRecord.size);
  head.writeUInt16LE(RecordType.header, 0);
  head.writeUInt16LE(spec.version ?? FORMAT_VERSION, HeaderRecord.version);
  head.writeUInt32LE(spec.sensorPid ?? 1, HeaderRecord.sensorPid);
  head.writeBigUInt64LE(spec.bootToEpochNs ?? 0n, HeaderRecord.bootToEpochNs);
  head.writeUInt32LE(spec.ringBytes ?? 8 << 20, HeaderRecord.ringBytes);
  head.writeUInt32LE(spec.argvMax ?? 128, HeaderRecord.argvMax);
  head.writeUInt32LE(spec.argLen ?? 4096, HeaderRecord.argLen);
  head.writeUInt32LE(spec.envBytes ?? 4096, HeaderRecord.envBytes);
  return Buffer.concat([head, putStrings([spec.cgroupHierarchy ?? 'none:', (spec.events ?? []).join(',')])]);
}

/** A stats record's payload: cumulative counters per record type. */
export function buildStatsRecord(
  ts: bigint,
  entries: readonly { readonly type: number; readonly sent: number; readonly lost: number }[],
): Buffer {
  const out = Buffer.alloc(StatsRecord.size + entries.length * StatsRecord.entrySize);
  out.writeUInt16LE(RecordType.stats, 0);
  out.writeUInt16LE(entries.length, StatsRecord.count);
  out.writeBigUInt64LE(ts, StatsRecord.ts);
  entries.forEach((e, i) => {
    const at = StatsRecord.size + i * StatsRecord.entrySize;
    out.writeUInt16LE(e.type, at);
    out.writeBigUInt64LE(BigInt(e.sent), at + 8);
    out.writeBigUInt64LE(BigInt(e.lost), at + 16);
  });
  return out;
}
