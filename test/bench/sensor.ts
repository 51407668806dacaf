/**
 * Benchmark of the live kernel sensor (issue: eBPF sensor). Needs root and the built sensor;
 * the load generators are two small C programs compiled here (a C compiler is needed anyway to
 * build the sensor).
 *
 * 1. open/close loop: its rate without the sensor, then with the sensor and the `ebpf` source
 *    decoding every event (the cost per traced syscall is the difference of the per-operation
 *    times), events decoded per second, events lost, CPU of the sensor and of the decoder.
 * 2. The same loop through the agent's pipeline with both upstream Falco rule files loaded
 *    (process table, field context, rules, spool; in this process), and, when the `ebpf` source
 *    is registered, through a real `vigil agent` process.
 * 3. An exec loop (posix_spawn of /bin/true) without and with the sensor.
 * 4. Capacity on one core, with no load generator competing: a recorded stream of the
 *    sensor's real records decoded, and run through the agent pipeline.
 *
 * Targets: >= 500,000 events/s decoded with no loss, >= 200,000 events/s through the agent
 * with rules. Prints figures; does not fail on machine noise. Run (as root):
 *   node dist/test/bench/sensor.js [SECONDS-PER-PHASE [open|exec|capacity]]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Event } from '../../core/event.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { createLogger } from '../../core/log.js';
import { loadRules } from '../../core/rules/loader.js';
import { createAgentCounters } from '../../agent/metrics.js';
import { Pipeline } from '../../agent/pipeline.js';
import { findSourceFactory } from '../../agent/sources/registry.js';
import { DEFAULT_SENSOR_PATH, EbpfSource, sensorPreflight } from '../../agent/sources/ebpf/ebpf-source.js';
import { createSensorDecoder } from '../../agent/sources/ebpf/record-decoder.js';
import type { SourceSink } from '../../agent/sources/source.js';
import { openSpool } from '../../agent/spool/spool.js';
import { createAgentContext } from '../../agent/state/agent-context.js';
import { createProcReader } from '../../agent/state/proc-reader.js';
import { ProcessTable } from '../../agent/state/process-table.js';
import { metricValue } from '../support/agent-process.js';
import { sharedDir, upstreamRuleFiles } from '../support/shared.js';

const seconds = Number(process.argv[2] ?? 4);
const only = process.argv[3];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const why = process.getuid?.() !== 0 ? 'it needs root' : sensorPreflight(DEFAULT_SENSOR_PATH);
if (why !== undefined) {
  console.log(`bench/sensor: cannot run: ${why}`);
  process.exit(0);
}
if (sharedDir === undefined) {
  console.log('bench/sensor: ../shared (the upstream Falco rules) is not beside this checkout');
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'vigil-bench-sensor-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// ---- load generators ------------------------------------------------------------------------

const GENERATORS = `
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  double secs = atof(argv[2]), rate = argc > 4 ? atof(argv[4]) : 0, t0 = now(), t = t0;
  long n = 0;
  if (strcmp(argv[1], "open") == 0) {
    for (;;) {
      for (int i = 0; i < 1000; i++) { int fd = open(argv[3], O_RDONLY); if (fd >= 0) close(fd); }
      n += 1000;
      if ((t = now()) - t0 >= secs) break;
      /* Paced: ahead of the wanted rate, sleep until the schedule catches up. */
      if (rate > 0 && n / rate > t - t0) usleep((useconds_t)((n / rate - (t - t0)) * 1e6));
    }
  } else {
    char *args[] = { "/bin/true", NULL };
    for (;;) {
      pid_t pid; int status;
      if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) == 0) waitpid(pid, &status, 0);
      n++;
      if ((t = now()) - t0 >= secs) break;
    }
  }
  printf("%ld %.6f\\n", n, t - t0);
  return 0;
}
`;
const generator = join(work, 'load');
writeFileSync(`${generator}.c`, GENERATORS);
try {
  execFileSync('cc', ['-O2', '-o', generator, `${generator}.c`], { stdio: 'inherit' });
} catch {
  console.log('bench/sensor: cannot compile the load generators (needs cc)');
  process.exit(0);
}
const target = join(work, 'target');
writeFileSync(target, 'x');

/** A running generator: its pid at once, its rate when it ends. */
interface Load {
  readonly pid: number;
  readonly done: Promise<{ rate: number; ops: number }>;
}

/** Starts a generator (at most `pace` operations per second when given). */
function startLoad(kind: 'open' | 'exec', pace = 0): Load {
  const child = spawn(generator, [kind, String(seconds), target, String(pace)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ rate: number; ops: number }>((resolve) =>
    child.on('exit', () => {
      const [ops, secs] = out.trim().split(' ').map(Number) as [number, number];
      resolve({ rate: ops / secs, ops });
    }),
  );
  return { pid: child.pid as number, done };
}

/** Runs a generator to its end. */
async function load(kind: 'open' | 'exec', pace = 0): Promise<{ rate: number; ops: number; pid: number }> {
  const l = startLoad(kind, pace);
  return { ...(await l.done), pid: l.pid };
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}
const selfCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Per-operation cost of tracing, in microseconds. */
const overheadUs = (base: number, traced: number): number => (1 / traced - 1 / base) * 1e6;

// ---- the agent pipeline, in this process ----------------------------------------------------

function pipeline(): { sink: SourceSink; stats: () => { events: number; alerts: number } } {
  const rules = upstreamRuleFiles(sharedDir as string).map((p) => ({
    name: p,
    text: readFileSync(p, 'utf8'),
  }));
  const loaded = loadRules(rules, { registry: createFieldRegistry() });
  if (loaded.ruleset === undefined) throw new Error('the upstream rules did not load');
  const processes = new ProcessTable({ procReader: createProcReader() });
  const context = createAgentContext({ processes });
  const logger = createLogger({ write: () => {}, level: 'error', now: Date.now });
  const p = new Pipeline({
    node: 'bench',
    hostname: 'bench',
    ruleset: loaded.ruleset,
    processes,
    context,
    spool: openSpool({ path: join(work, `spool-${Date.now()}.db`) }),
    outputs: [],
    counters: createAgentCounters(),
    logger,
  });
  return { sink: p.sinkFor('ebpf'), stats: () => p.stats() };
}

// ---- phases ---------------------------------------------------------------------------------

interface Traced {
  readonly rate: number;
  readonly ops: number;
  readonly events: number;
  /** Events delivered per second, from the start of the load to the last event delivered. */
  readonly eventsPerSecond: number;
  readonly lost: number;
  readonly sensorCpu: number;
  readonly agentCpu: number;
}

/**
 * Runs `kind` (paced at `pace` ops/s when given) with the `ebpf` source delivering into `sink`;
 * counts the generator's own events (the rest of the machine adds its own) and waits until
 * they stop arriving (a saturated reader works off its backlog).
 */
async function traced(
  kind: 'open' | 'exec',
  eventTypes: string[],
  sink: SourceSink,
  pace = 0,
): Promise<Traced> {
  let genPid = -1;
  let genEvents = 0;
  let lastAt = 0n;
  const counted: SourceSink = {
    event: (e) => {
      const f = e.fields;
      if (f['proc.pid'] === genPid || f['proc.ppid'] === genPid) {
        genEvents++;
        lastAt = process.hrtime.bigint();
      }
      sink.event(e);
    },
    malformed: (r, d) => sink.malformed(r, d),
    notice: (m, f) => sink.notice(m, f),
  };
  const source = new EbpfSource({ eventTypes });
  await source.start(counted);
  const sensorPid = source.sensorHeader?.sensorPid ?? 0;
  await settle();
  const before = source.stats();
  const cpu0 = [cpuSeconds(sensorPid), selfCpu()] as const;
  const t0 = process.hrtime.bigint();
  const running = startLoad(kind, pace);
  genPid = running.pid;
  const result = await running.done;
  // Until none of its events has arrived for half a second; then a stats report.
  while (Number(process.hrtime.bigint() - (lastAt > 0n ? lastAt : t0)) / 1e9 < 0.5) await settle(100);
  await settle(1100);
  const busy = Number(lastAt - t0) / 1e9;
  const cpu1 = [cpuSeconds(sensorPid), selfCpu()] as const;
  const after = source.stats();
  await source.stop();
  return {
    rate: result.rate,
    ops: result.ops,
    events: genEvents,
    eventsPerSecond: genEvents / busy,
    lost: after.lost - before.lost,
    sensorCpu: (cpu1[0] - cpu0[0]) / busy,
    agentCpu: (cpu1[1] - cpu0[1]) / busy,
  };
}

function report(label: string, base: number, t: Traced, extra = ''): void {
  console.log(
    `${label}: ${fmt(t.rate)} ops/s traced (${overheadUs(base, t.rate).toFixed(2)} µs more per traced syscall); ` +
      `${fmt(t.eventsPerSecond)} events/s delivered, ${fmt(t.events)} events for ${fmt(t.ops)} operations, ` +
      `lost ${fmt(t.lost)}; CPU: sensor ${(t.sensorCpu * 100).toFixed(0)}%, agent ${(t.agentCpu * 100).toFixed(0)}% of a core${extra}`,
  );
}

const counting = (): SourceSink => ({ event: () => {}, malformed: () => {}, notice: () => {} });

async function openLoop(): Promise<void> {
  const base = await load('open');
  console.log(`open/close loop without the sensor: ${fmt(base.rate)} ops/s`);
  const decoded = await traced('open', ['openat'], counting());
  report('  with the sensor, decoding only', base.rate, decoded);
  console.log(
    `    target >= 500,000 events/s decoded with zero loss: ${decoded.eventsPerSecond >= 500_000 && decoded.lost === 0 ? 'met' : 'NOT met'}`,
  );

  const agent = pipeline();
  let before = agent.stats();
  const paced = await traced('open', ['openat'], agent.sink, 200_000);
  let after = agent.stats();
  report(
    '  through the agent pipeline and both upstream rule files, paced at 200,000 ops/s',
    base.rate,
    paced,
    `; alerts ${after.alerts - before.alerts}`,
  );
  console.log(
    `    target >= 200,000 events/s through the agent with rules: ${paced.eventsPerSecond >= 195_000 && paced.lost === 0 ? 'met' : 'NOT met'} (with no loss)`,
  );
  before = agent.stats();
  const flat = await traced('open', ['openat'], agent.sink);
  after = agent.stats();
  report(
    '  the same, unpaced (the agent saturated: what it cannot take is counted lost)',
    base.rate,
    flat,
    `; alerts ${after.alerts - before.alerts}`,
  );

  if (findSourceFactory('ebpf') !== undefined) await agentProcess(base.rate);
  else console.log('  (the ebpf source is not in the source registry yet: no `vigil agent` process run)');
}

/** The same loop watched by a real `vigil agent --source ebpf:` process, counted from its metrics. */
async function agentProcess(base: number): Promise<void> {
  const vigil = fileURLToPath(new URL('../../cli/vigil.js', import.meta.url));
  const rules = upstreamRuleFiles(sharedDir as string).flatMap((r) => ['--rules', r]);
  const agent: ChildProcess = spawn(
    process.execPath,
    [
      vigil,
      'agent',
      '--source',
      'ebpf:',
      ...rules,
      '--output',
      'none',
      '--data-dir',
      join(work, 'agent'),
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    agent.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /"url":"([^"]+)"/.exec(err);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    agent.on('exit', () => reject(new Error(`vigil agent exited: ${err.slice(-500)}`)));
  });
  const sensorPid = Number(
    execFileSync('pgrep', ['-P', String(agent.pid), 'vigil-sensor'])
      .toString()
      .trim(),
  );
  const count = async (): Promise<number> =>
    metricValue(await (await fetch(url)).text(), 'vigil_agent_events_total', {
      source: 'ebpf',
      type: 'openat',
    });
  await settle(500);
  const e0 = await count();
  const cpu0 = [cpuSeconds(sensorPid), cpuSeconds(agent.pid as number)];
  const t0 = process.hrtime.bigint();
  const run = await load('open', 200_000);
  // Until the count stops moving for half a second: the agent has worked off its backlog.
  let e1 = await count();
  let movedAt = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - movedAt) / 1e9 < 0.5) {
    await settle(100);
    const now = await count();
    if (now !== e1) {
      e1 = now;
      movedAt = process.hrtime.bigint();
    }
  }
  const secs = Number(movedAt - t0) / 1e9;
  const cpu1 = [cpuSeconds(sensorPid), cpuSeconds(agent.pid as number)];
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGTERM');
  await exited;
  const events = e1 - e0;
  console.log(
    `  a \`vigil agent --source ebpf:\` process with both upstream rule files, paced: ${fmt(run.rate)} ops/s ` +
      `(${overheadUs(base, run.rate).toFixed(2)} µs more per traced syscall); ${fmt(events / secs)} openat events/s ` +
      `counted by the agent, ${fmt(events)} for ${fmt(run.ops)} operations (${fmt(Math.max(0, run.ops - events))} short); ` +
      `CPU: sensor ${(((cpu1[0]! - cpu0[0]!) / secs) * 100).toFixed(0)}%, agent ${(((cpu1[1]! - cpu0[1]!) / secs) * 100).toFixed(0)}%`,
  );
}

async function execLoop(): Promise<void> {
  const base = await load('exec');
  console.log(`exec loop (posix_spawn /bin/true) without the sensor: ${fmt(base.rate)} execs/s`);
  const t = await traced('exec', ['execve'], counting());
  report('  with the sensor', base.rate, t);
}

/** Records the sensor's raw output during an open loop, then decodes it on one core. */
async function capacity(): Promise<void> {
  const file = join(work, 'capture.bin');
  const sensor = spawn(
    DEFAULT_SENSOR_PATH,
    ['--events', 'openat,execve,clone,procexit', '--ignore-pid', String(process.pid)],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const chunks: Buffer[] = [];
  sensor.stdout?.on('data', (d: Buffer) => chunks.push(d));
  await settle(500);
  await load('open');
  await settle(500);
  sensor.kill('SIGTERM');
  await new Promise((r) => sensor.on('exit', r));
  const stream = Buffer.concat(chunks);
  writeFileSync(file, stream);

  const decodeAll = (sink: { event: (e: Event) => void }): number => {
    const d = createSensorDecoder()({ event: sink.event, malformed: () => {} });
    const t0 = process.hrtime.bigint();
    for (let at = 0; at < stream.length; at += 65536)
      d.push(stream.subarray(at, Math.min(stream.length, at + 65536)));
    d.end();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  let n = 0;
  decodeAll({ event: () => n++ }); // warm up
  n = 0;
  const secs = decodeAll({ event: () => n++ });
  console.log(
    `capacity on one core, from a recorded stream of ${fmt(n)} real records (${fmt(stream.length / n)} bytes each):`,
  );
  console.log(`  decoded: ${fmt(n / secs)} events/s`);
  const agent = pipeline();
  let m = 0;
  const secs2 = decodeAll({
    event: (e) => {
      m++;
      agent.sink.event(e);
    },
  });
  console.log(
    `  decoded and run through the agent pipeline with the upstream rules: ${fmt(m / secs2)} events/s`,
  );
}

if (only === undefined || only === 'open') await openLoop();
if (only === undefined || only === 'exec') await execLoop();
if (only === undefined || only === 'capacity') await capacity();
process.exit(0);
