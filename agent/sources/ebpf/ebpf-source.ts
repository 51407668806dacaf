/**
 * The `ebpf` source: the live kernel sensor. It runs `vigil-sensor` (the libbpf loader built by
 * `build-sensor.mjs`, next to this module) as a child process and decodes its length-prefixed
 * binary records into Falco-field events (`record-decoder.ts`).
 *
 * `start()` resolves once the sensor has loaded and attached its programs (its first record,
 * the stream header, has arrived), and rejects with an Error saying exactly why it cannot run:
 * not Linux, not root (nor CAP_BPF and CAP_PERFMON), no kernel BTF, no tracefs (it mounts it if
 * it can), the sensor not built, or the sensor's own refusal (a program the verifier rejected, a
 * tracepoint it could not attach: which and the errno). The agent then falls back to another
 * source and logs the reason.
 *
 * Once running, a sensor that dies is started again (with a notice). Its per-event-type
 * sent/lost counters arrive every second; {@link EbpfSource.stats} exposes them, and a notice is
 * given when the share of lost events crosses `lossNoticeRatio` (at most once a minute, with the
 * losses since the last notice).
 *
 * Target (`--source ebpf:PATH`): another sensor binary; empty for the built one. Options:
 * `ringBytes` (ring buffer size, a power of two; default 8 MiB), `argvMax` (argv strings kept
 * per exec, default 128), `argLen` (bytes kept per argument, default 4096), `envBytes`
 * (environment bytes read per exec, 0 for none; default 4096), `bufferBytes` (what the sensor
 * holds while the agent lags, default 64 MiB), `eventTypes` (the event types
 * the rules need, a list or `all`; the process life cycle is always traced), `statsIntervalMs`,
 * `lossNoticeRatio`.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EventSource, SourceFactory, SourceSink, SourceSpec, SourceStats } from '../source.js';
import { deferred, type ByteInput, type ByteInputHandler, type ByteStream } from '../byte-input.js';
import { ChildProcessInput } from '../child-process-input.js';
import { SourceOptions } from '../source-options.js';
import { StreamSource } from '../stream-source.js';
import { CgroupContainers, parseCgroupHierarchy } from './cgroup-containers.js';
import { createSensorDecoder, type SensorCounters, type SensorHeader } from './record-decoder.js';
import { SENSOR_EVENT_TYPES, STATE_EVENT_TYPES } from './wire-format.js';

/** Where `build-sensor.mjs` puts the sensor when the project is built: beside this module. */
export const DEFAULT_SENSOR_PATH = fileURLToPath(new URL('./vigil-sensor', import.meta.url));

/** Options of {@link EbpfSource}. */
export interface EbpfSourceOptions {
  /** The sensor binary (default {@link DEFAULT_SENSOR_PATH}). */
  readonly sensorPath?: string;
  /** Ring buffer bytes, a power of two (default 8 MiB). */
  readonly ringBytes?: number;
  /** Most argv strings kept per exec (default 128). */
  readonly argvMax?: number;
  /** Most bytes kept per argument (default 4096). */
  readonly argLen?: number;
  /** Environment bytes read per exec, 0 for none (default 4096). */
  readonly envBytes?: number;
  /**
   * Bytes the sensor may hold while the agent lags (a garbage collection, a burst of alerts)
   * before the kernel's ring fills and events are lost (default 64 MiB; used only when needed).
   */
  readonly bufferBytes?: number;
  /**
   * Event types to trace (Falco names), or `all`. Types the sensor does not trace are left
   * out with a notice; the process life cycle (clone, execve, procexit...) is always traced.
   */
  readonly eventTypes?: readonly string[] | 'all';
  /** Milliseconds between the sensor's counter reports (default 1000). */
  readonly statsIntervalMs?: number;
  /** Lost / (sent + lost) over a report interval at or above which a notice is given (default 0.001). */
  readonly lossNoticeRatio?: number;
  /** Further process ids whose activity is not reported (the agent's own always is). */
  readonly ignorePids?: readonly number[];
  /** How long the sensor may take to attach, ms (default 30 000). */
  readonly startTimeoutMs?: number;
  /** Why the sensor cannot run here, or undefined; default {@link sensorPreflight}. For tests. */
  readonly preflight?: (sensorPath: string) => string | undefined;
  /** Milliseconds clock (default `Date.now`). */
  readonly now?: () => number;
}

/** Counters of the kernel side, by event type. */
export interface SensorTypeStats {
  readonly sent: number;
  readonly lost: number;
}

/** {@link SourceStats} plus the kernel sensor's own counters. */
export interface EbpfSourceStats extends SourceStats {
  /** Events the kernel could not hand over (the ring buffer was full), all types. */
  readonly lost: number;
  /** The same, by event type (the shape a `SourceStats.lostByType` would take). */
  readonly lostByType: Readonly<Record<string, number>>;
  /** Per event type: records the BPF programs sent and lost, since the sensor started. */
  readonly sensor: Readonly<Record<string, SensorTypeStats>>;
  /** How many times the sensor was started (1 unless it died and was restarted). */
  readonly sensorRuns: number;
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The effective capability mask of this process. */
function effectiveCapabilities(): bigint {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m?.[1] === undefined ? 0n : BigInt(`0x${m[1]}`);
  } catch {
    return 0n;
  }
}

function tracefsMounted(): boolean {
  return (
    existsSync('/sys/kernel/tracing/events/syscalls') ||
    existsSync('/sys/kernel/debug/tracing/events/syscalls')
  );
}

/**
 * Why the sensor cannot run on this machine, or undefined when it can: Linux, root or
 * CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN), kernel BTF, tracefs (mounted here when it is not), and
 * the sensor binary.
 */
export function sensorPreflight(sensorPath: string): string | undefined {
  if (process.platform !== 'linux') return `the ebpf source needs Linux; this is ${process.platform}`;
  if (process.getuid?.() !== 0) {
    const caps = effectiveCapabilities();
    const has = (cap: bigint): boolean => ((caps >> cap) & 1n) === 1n;
    if (!has(CAP_SYS_ADMIN) && !(has(CAP_BPF) && has(CAP_PERFMON))) {
      return `the ebpf source needs root, or CAP_BPF and CAP_PERFMON (uid ${process.getuid?.()} has neither)`;
    }
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    return 'the kernel has no BTF (/sys/kernel/btf/vmlinux is missing): the ebpf source needs a kernel built with CONFIG_DEBUG_INFO_BTF=y';
  }
  if (!tracefsMounted()) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'pipe' });
    } catch (err) {
      const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
      return `tracefs is not mounted and mounting it on /sys/kernel/tracing failed: ${detail}`;
    }
  }
  try {
    accessSync(sensorPath, constants.X_OK);
  } catch {
    return (
      `the kernel sensor is not built (${sensorPath} is missing or not executable): build it with ` +
      `"node agent/sources/ebpf/build-sensor.mjs DIR" (needs clang, bpftool, libbpf-dev, libelf-dev, zlib1g-dev)`
    );
  }
  return undefined;
}

/**
 * The event types to ask the sensor for: what was asked (all it knows for `all`) that it
 * traces, plus the process life cycle; and what was asked that it does not trace.
 */
export function sensorEventTypes(wanted: readonly string[] | 'all'): { trace: string[]; untraced: string[] } {
  if (wanted === 'all') return { trace: [...SENSOR_EVENT_TYPES.keys()], untraced: [] };
  const trace = new Set<string>(STATE_EVENT_TYPES);
  const untraced: string[] = [];
  for (const name of wanted) {
    if (SENSOR_EVENT_TYPES.has(name)) trace.add(name);
    else if (!untraced.includes(name)) untraced.push(name);
  }
  return { trace: [...trace], untraced };
}

/**
 * Decides when lost events deserve a notice: the share lost over a report interval reaches the
 * threshold, at most once per `intervalMs`, with everything lost since the last notice.
 */
export class LossMonitor {
  private last: ReadonlyMap<string, SensorTypeStats> | undefined;
  private pending = new Map<string, number>();
  private pendingSent = 0;
  private lastNotice = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ratio: number,
    private readonly now: () => number,
    private readonly intervalMs = 60_000,
  ) {}

  /**
   * Takes one cumulative reading; returns the notice's fields when one is due. A reading whose
   * counters went down starts over (the sensor was restarted).
   */
  observe(byType: ReadonlyMap<string, SensorTypeStats>): Record<string, unknown> | undefined {
    const previous = this.last;
    this.last = byType;
    let sent = 0;
    let lost = 0;
    const lostNow = new Map<string, number>();
    for (const [type, c] of byType) {
      const before = previous?.get(type);
      const restarted = before === undefined || c.sent < before.sent || c.lost < before.lost;
      const ds = restarted ? c.sent : c.sent - before.sent;
      const dl = restarted ? c.lost : c.lost - before.lost;
      sent += ds;
      lost += dl;
      if (dl > 0) lostNow.set(type, dl);
    }
    if (lost === 0) return undefined;
    for (const [type, n] of lostNow) this.pending.set(type, (this.pending.get(type) ?? 0) + n);
    this.pendingSent += sent;
    if (lost / (sent + lost) < this.ratio) return undefined;
    const now = this.now();
    if (now - this.lastNotice < this.intervalMs) return undefined;
    this.lastNotice = now;
    const byTypeLost = Object.fromEntries(this.pending);
    const total = [...this.pending.values()].reduce((a, b) => a + b, 0);
    const fields = {
      lost: total,
      sent: this.pendingSent,
      lostByType: byTypeLost,
      ratio: lost / (sent + lost),
    };
    this.pending = new Map();
    this.pendingSent = 0;
    return fields;
  }
}

/**
 * The sensor process as a {@link ByteInput} whose `start` waits for the sensor's header record
 * (it has attached) and rejects with the sensor's own last word when it exits before that.
 */
class SensorInput implements ByteInput {
  readonly describe: string;
  private readonly child: ChildProcessInput;
  private readonly ready = deferred();
  private lastError = '';
  private runs = 0;

  constructor(
    command: string,
    args: readonly string[],
    private readonly startTimeoutMs: number,
  ) {
    this.child = new ChildProcessInput(command, {
      args,
      restart: true,
      restartDelayMs: 1000,
      stopTimeoutMs: 3000,
    });
    this.describe = this.child.describe;
  }

  /** Called by the decoder when a header record arrives. */
  headerSeen(): void {
    this.ready.resolve();
  }

  get sensorRuns(): number {
    return this.runs;
  }

  async start(handler: ByteInputHandler): Promise<void> {
    const wrapped: ByteInputHandler = {
      open: (label): ByteStream => {
        this.runs++;
        if (this.runs > 1)
          handler.notice('kernel sensor restarted: events in between were not seen', { run: this.runs });
        const inner = handler.open(label);
        return {
          data: (chunk) => inner.data(chunk),
          end: () => {
            inner.end();
            if (!this.ready.settled) {
              const why = this.lastError === '' ? 'it exited before attaching' : this.lastError;
              this.ready.reject(new Error(`the ebpf source cannot run: ${why}`));
            }
          },
        };
      },
      notice: (message, fields) => {
        const line = fields?.['line'];
        // The sensor's own one-line reasons (not its notes, nor libbpf's detail lines).
        if (
          typeof line === 'string' &&
          line.startsWith('vigil-sensor: ') &&
          !line.startsWith('vigil-sensor: note: ')
        )
          this.lastError = line.slice(14);
        handler.notice(message, fields);
      },
    };
    await this.child.start(wrapped);
    const timer = setTimeout(
      () =>
        this.ready.reject(
          new Error(`the ebpf source cannot run: the sensor did not attach within ${this.startTimeoutMs} ms`),
        ),
      this.startTimeoutMs,
    );
    try {
      await this.ready.promise;
    } catch (err) {
      await this.child.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  done(): Promise<void> {
    return this.child.done();
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}

/** The live kernel source; see the module comment. */
export class EbpfSource implements EventSource {
  readonly name = 'ebpf';
  readonly fidelity = 'traced' as const;
  private readonly options: EbpfSourceOptions;
  private readonly sensorPath: string;
  private readonly trace: string[];
  private readonly untraced: string[];
  private input: SensorInput | undefined;
  private stream: StreamSource | undefined;
  private sink: SourceSink | undefined;
  private startPromise: Promise<void> | undefined;
  private stopped = false;
  private readonly finished = deferred();
  private counters: ReadonlyMap<string, SensorTypeStats> = new Map();
  private readonly losses: LossMonitor;
  private header: SensorHeader | undefined;

  constructor(options: EbpfSourceOptions = {}) {
    this.options = options;
    this.sensorPath = options.sensorPath ?? DEFAULT_SENSOR_PATH;
    ({ trace: this.trace, untraced: this.untraced } = sensorEventTypes(options.eventTypes ?? 'all'));
    this.losses = new LossMonitor(options.lossNoticeRatio ?? 0.001, options.now ?? Date.now);
  }

  /** The event types the sensor is asked to trace. */
  get eventTypes(): readonly string[] {
    return this.trace;
  }

  /** The running sensor's header (limits, cgroup hierarchy, traced events), once started. */
  get sensorHeader(): SensorHeader | undefined {
    return this.header;
  }

  start(sink: SourceSink): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('source ebpf was stopped'));
    if (this.startPromise !== undefined) {
      return sink === this.sink
        ? this.startPromise
        : Promise.reject(new Error('source ebpf is already started with another sink'));
    }
    this.sink = sink;
    this.startPromise = this.begin(sink).then(
      () => {
        this.stream?.done().then(
          () => this.finished.resolve(),
          (err: unknown) => this.finished.reject(err instanceof Error ? err : new Error(String(err))),
        );
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        this.finished.reject(e);
        throw e;
      },
    );
    return this.startPromise;
  }

  private async begin(sink: SourceSink): Promise<void> {
    const reason = (this.options.preflight ?? sensorPreflight)(this.sensorPath);
    if (reason !== undefined) throw new Error(reason);
    const o = this.options;
    const args = [
      '--events',
      this.trace.join(','),
      '--ring-bytes',
      String(o.ringBytes ?? 8 * 1024 * 1024),
      '--argv-max',
      String(o.argvMax ?? 128),
      '--arg-len',
      String(o.argLen ?? 4096),
      '--env-bytes',
      String(o.envBytes ?? 4096),
      '--buffer-bytes',
      String(o.bufferBytes ?? 64 * 1024 * 1024),
      '--stats-interval-ms',
      String(o.statsIntervalMs ?? 1000),
      '--ignore-pid',
      String(process.pid),
      ...(o.ignorePids ?? []).flatMap((pid) => ['--ignore-pid', String(pid)]),
    ];
    const input = new SensorInput(this.sensorPath, args, o.startTimeoutMs ?? 30_000);
    this.input = input;
    const containers = (header: SensorHeader): CgroupContainers =>
      new CgroupContainers(parseCgroupHierarchy(header.cgroupHierarchy));
    this.stream = new StreamSource({
      name: this.name,
      input,
      decoder: createSensorDecoder({
        containers,
        onHeader: (header) => {
          this.header = header;
          input.headerSeen();
        },
        onStats: (reading) => this.onStats(reading),
      }),
      ...(o.now !== undefined ? { now: o.now } : {}),
    });
    await this.stream.start(sink);
    if (this.untraced.length > 0) {
      sink.notice('the kernel sensor does not trace some event types the rules use', {
        types: this.untraced,
      });
    }
  }

  private onStats(reading: SensorCounters): void {
    this.counters = reading.byType;
    const notice = this.losses.observe(reading.byType);
    if (notice !== undefined) {
      this.sink?.notice(
        'kernel sensor lost events: the ring buffer filled faster than the agent read it',
        notice,
      );
    }
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.startPromise?.catch(() => undefined);
    await this.stream?.stop();
    this.finished.resolve();
  }

  stats(): EbpfSourceStats {
    const base: SourceStats = this.stream?.stats() ?? {
      events: 0,
      malformed: 0,
      malformedByReason: {},
      bytes: 0,
      lagSeconds: undefined,
    };
    const sensor: Record<string, SensorTypeStats> = {};
    const lostByType: Record<string, number> = {};
    let lost = 0;
    for (const [type, c] of this.counters) {
      sensor[type] = { sent: c.sent, lost: c.lost };
      lostByType[type] = c.lost;
      lost += c.lost;
    }
    return { ...base, lost, lostByType, sensor, sensorRuns: this.input?.sensorRuns ?? 0 };
  }
}

/**
 * Reads `eventTypes`: a list or set of names (what `RuleSet.eventTypes()` returns), a
 * comma-separated string, or `all`.
 */
function eventTypesOption(value: unknown): readonly string[] | 'all' | undefined {
  if (value === undefined) return undefined;
  if (value === 'all') return 'all';
  if (typeof value === 'string') return value.split(',').filter((s) => s !== '');
  const list = value instanceof Set ? [...(value as Set<unknown>)] : value;
  if (Array.isArray(list) && list.every((v): v is string => typeof v === 'string')) return list;
  throw new Error(
    `source ebpf: option eventTypes must be a list of event type names or "all", got ${JSON.stringify(value)}`,
  );
}

/** The registry entry for `--source ebpf:`. */
export const ebpfSourceFactory: SourceFactory = {
  name: 'ebpf',
  description:
    'live kernel events from the CO-RE eBPF sensor (needs root or CAP_BPF+CAP_PERFMON and kernel BTF)',
  example: 'ebpf:',
  create(spec: SourceSpec): EventSource {
    const { eventTypes, ...rest } = spec.options;
    const o = new SourceOptions('ebpf', rest);
    const ringBytes = o.number('ringBytes', 8 * 1024 * 1024, { integer: true, min: 4096, max: 1 << 30 });
    if ((ringBytes & (ringBytes - 1)) !== 0) {
      throw new Error(`source ebpf: option ringBytes must be a power of two, got ${ringBytes}`);
    }
    const options: EbpfSourceOptions = {
      ringBytes,
      argvMax: o.number('argvMax', 128, { integer: true, min: 1, max: 4096 }),
      argLen: o.number('argLen', 4096, { integer: true, min: 1, max: 16384 }),
      envBytes: o.number('envBytes', 4096, { integer: true, min: 0, max: 16000 }),
      bufferBytes: o.number('bufferBytes', 64 * 1024 * 1024, { integer: true, min: 1 << 20, max: 2 ** 32 }),
      statsIntervalMs: o.number('statsIntervalMs', 1000, { integer: true, min: 10, max: 3_600_000 }),
      lossNoticeRatio: o.number('lossNoticeRatio', 0.001, { min: 0, max: 1 }),
      ...(spec.target !== '' ? { sensorPath: spec.target } : {}),
    };
    // The agent passes `follow` to every stream source; it means nothing here.
    o.boolean('follow', true);
    o.finish();
    const types = eventTypesOption(eventTypes);
    return new EbpfSource(types === undefined ? options : { ...options, eventTypes: types });
  },
};
