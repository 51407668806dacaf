/**
 * The system-call sequence models of the profiles on this node: one model per executable of a
 * workload, learnt while its profile learns and used to score each process once it is locked.
 *
 * Node-local: the models are not merged across agents (a model is a large table, and each node
 * sees enough of its own replicas); they are kept in the agent's baseline store at lock time and
 * survive restarts. What a learner gathered before the lock survives too: the engine's
 * write-behind flush stores the learners that learnt something since their last write
 * ({@link SequenceTracker.changedLearners}, as `SequenceLearner.toBytes`), at most once a minute
 * (`LEARNER_WRITE_INTERVAL_MS` in baseline-engine.ts) and at eviction and close, and when a
 * learning profile is loaded again (a restart, or read back after an eviction) its learners are
 * restored ({@link SequenceTracker.restoreLearners}) and go on as if nothing happened. Across a
 * stop, only the calls of processes still running, not yet handed to a learner (less than one
 * chunk per process), are lost; a crash also loses what learners gathered since their last
 * write. A stored learner that cannot be read is counted
 * ({@link SequenceTracker.learnersUnreadable}) and that executable starts afresh. A profile
 * reopened for learning starts its models and learners afresh; at the lock, the stored learners
 * give way to the models.
 *
 * Processes of one executable run at once, so calls are gathered per process and handed to the
 * learner a chunk at a time ({@link CHUNK} calls, or fewer when the process exits or runs a new
 * program). Scoring follows the same boundaries: a trace is judged when it is complete (the
 * chunk is full or the process exits), because the model's trace score is calibrated on whole
 * traces — a few calls into a trace say little. A replay of what was learnt is thus scored
 * exactly as it was learnt.
 *
 * A trace is anomalous when its unit score ({@link unitScore}: where it falls among the normal
 * traces the model was calibrated on) reaches `traceThreshold` (default 0.999, one normal trace
 * in a thousand).
 *
 * Bounded: at most `maxLearners` learners (each with capped tables), `maxModels` models and
 * `maxProcesses` processes followed (the least recently active go first).
 */
import {
  SequenceLearner,
  SequenceModel,
  unitScore,
  type SequenceModelOptions,
  type SequenceScorer,
} from '../../core/baseline/sequence-model.js';
import { syscallNumber } from '../../core/baseline/syscall-numbers.js';
import { DEFAULT_MAX_LEARNERS, type StoredLearner } from './baseline-store.js';

/** Calls per learning chunk (and scoring trace). */
export const CHUNK = 1024;

/** Options of each per-executable model: small tables, many models. */
export const PER_EXECUTABLE_OPTIONS: SequenceModelOptions = Object.freeze({
  maxOrder: 4,
  maxContexts: 4096,
  maxTransitions: 8192,
});

// Events that are not system calls a process made.
const NOT_SYSCALLS = new Set([
  'switch',
  'procexit',
  'container',
  'notification',
  'signaldeliver',
  'page_fault',
  'sched_process_exit',
  'sysdigevent',
  'procinfo',
  'infra',
  'drop',
]);

interface Follow {
  key: string;
  exe: string;
  calls: Uint16Array;
  n: number;
  scorer: SequenceScorer | undefined;
}

/** Options of {@link SequenceTracker}. */
export interface SequenceTrackerOptions {
  /** Unit score from which a complete trace is anomalous. Default 0.999. */
  readonly traceThreshold?: number;
  readonly maxLearners?: number;
  readonly maxModels?: number;
  readonly maxProcesses?: number;
}

/** See the module comment. */
export class SequenceTracker {
  private readonly learners = new Map<string, SequenceLearner>();
  private readonly models = new Map<string, SequenceModel>();
  private readonly procs = new Map<number, Follow>();
  private readonly numbers = new Map<string, number>();
  private readonly maxLearners: number;
  private readonly maxModels: number;
  private readonly maxProcesses: number;
  private readonly traceThreshold: number;
  /** The process of the last call, and its state (most calls follow one of the same process). */
  private lastPid = -1;
  private lastFollow: Follow | undefined;
  /** Ids of the learners that learnt something since they were last stored. */
  private readonly changed = new Set<string>();
  /** Learners refused for lack of room. */
  learnersRefused = 0;
  /** Stored learners that could not be read (each of those executables started afresh). */
  learnersUnreadable = 0;

  constructor(options: SequenceTrackerOptions = {}) {
    this.maxLearners = options.maxLearners ?? DEFAULT_MAX_LEARNERS;
    this.maxModels = options.maxModels ?? 512;
    this.maxProcesses = options.maxProcesses ?? 4096;
    this.traceThreshold = options.traceThreshold ?? 0.999;
  }

  private static id(key: string, exe: string): string {
    return `${key}\u0000${exe}`;
  }

  private callNumber(type: string): number {
    let n = this.numbers.get(type);
    if (n === undefined) {
      n = syscallNumber(type);
      if (this.numbers.size < 4096) this.numbers.set(type, n);
    }
    return n;
  }

  /** Whether `type` is a system call the models follow. */
  static isSyscall(type: string): boolean {
    return !NOT_SYSCALLS.has(type);
  }

  /**
   * One call of process `pid` (running `exe` in profile `key`). While `learning`, the call is
   * learnt; otherwise it is scored, and when it completes an anomalous trace the trace's unit
   * score is returned (undefined otherwise, and when the executable has no model).
   */
  call(key: string, exe: string, pid: number, type: string, learning: boolean): number | undefined {
    let f = pid === this.lastPid ? this.lastFollow : this.procs.get(pid);
    if (f !== undefined && (f.key !== key || f.exe !== exe)) {
      // A new program: the old one's trace ends (judged silently: the exec is scored by the profile).
      this.endProcess(pid);
      f = undefined;
    }
    if (f === undefined) {
      if (this.procs.size >= this.maxProcesses) {
        const oldest = this.procs.keys().next().value as number;
        this.endProcess(oldest);
      }
      const model = learning ? undefined : this.models.get(SequenceTracker.id(key, exe));
      if (!learning && model === undefined) return undefined;
      f = { key, exe, calls: new Uint16Array(learning ? 64 : 0), n: 0, scorer: model?.scorer() };
      this.procs.set(pid, f);
    } else if (pid !== this.lastPid) {
      // Most recently active last: the eviction order (a run of one process's calls keeps it).
      this.procs.delete(pid);
      this.procs.set(pid, f);
    }
    this.lastPid = pid;
    this.lastFollow = f;
    const call = this.callNumber(type);
    if (learning) {
      if (f.scorer !== undefined) return undefined;
      if (f.n === f.calls.length) {
        const grown = new Uint16Array(Math.min(CHUNK, f.calls.length * 2));
        grown.set(f.calls);
        f.calls = grown;
      }
      f.calls[f.n++] = call;
      if (f.n === CHUNK) this.learnChunk(f);
      return undefined;
    }
    const scorer = f.scorer;
    if (scorer === undefined) return undefined;
    scorer.push(call);
    f.n++;
    if (f.n < CHUNK) return undefined;
    return this.judge(f);
  }

  /** Scores a complete trace and starts the next; the unit score when anomalous. */
  private judge(f: Follow): number | undefined {
    const scorer = f.scorer;
    if (scorer === undefined || f.n === 0) return undefined;
    const score = unitScore(scorer.traceScore());
    scorer.reset();
    f.n = 0;
    return score >= this.traceThreshold ? score : undefined;
  }

  /**
   * How far past the trace threshold a unit score is, as an anomaly weight from 0.75 (at the
   * threshold) to 1.
   */
  weight(unit: number): number {
    const span = 1 - this.traceThreshold;
    const over = span <= 0 ? 1 : Math.min(1, Math.max(0, (unit - this.traceThreshold) / span));
    return 0.75 + 0.25 * over;
  }

  private learnChunk(f: Follow): void {
    if (f.n === 0) return;
    const id = SequenceTracker.id(f.key, f.exe);
    let learner = this.learners.get(id);
    if (learner === undefined) {
      if (this.learners.size >= this.maxLearners) {
        this.learnersRefused++;
        f.n = 0;
        return;
      }
      learner = new SequenceLearner(PER_EXECUTABLE_OPTIONS);
      this.learners.set(id, learner);
    }
    for (let i = 0; i < f.n; i++) learner.observe(f.calls[i] as number);
    learner.endTrace();
    // An id already waiting keeps its place: the order is that of the oldest unstored change.
    this.changed.add(id);
    f.n = 0;
  }

  /**
   * The learners (of all profiles, or of profile `key`) that learnt something since they were
   * last stored, as bytes to store, those changed longest ago first; once `maxBytes` is reached
   * the rest wait (at least one is returned). Call {@link learnersStored} once they are written.
   */
  changedLearners(key?: string, maxBytes = Infinity): StoredLearner[] {
    const out: StoredLearner[] = [];
    const prefix = key === undefined ? '' : `${key}\u0000`;
    let bytes = 0;
    for (const id of this.changed) {
      if (bytes >= maxBytes) break;
      if (!id.startsWith(prefix)) continue;
      const learner = this.learners.get(id);
      if (learner === undefined) continue;
      const cut = id.indexOf('\u0000');
      const row = { key: id.slice(0, cut), exe: id.slice(cut + 1), bytes: learner.toBytes() };
      bytes += row.bytes.byteLength;
      out.push(row);
    }
    return out;
  }

  /** The learners returned by {@link changedLearners} are stored. */
  learnersStored(rows: readonly StoredLearner[]): void {
    for (const r of rows) this.changed.delete(SequenceTracker.id(r.key, r.exe));
  }

  /**
   * Installs the stored learners of a profile that is still learning (loaded again after a
   * restart or an eviction), up to the learner limit. Returns the executables whose bytes could
   * not be read (counted in {@link learnersUnreadable}): they start afresh. A learner already in
   * memory is kept as it is.
   */
  restoreLearners(key: string, stored: readonly { exe: string; bytes: Uint8Array }[]): string[] {
    const bad: string[] = [];
    for (const s of stored) {
      const id = SequenceTracker.id(key, s.exe);
      if (this.learners.has(id)) continue;
      if (this.learners.size >= this.maxLearners) {
        this.learnersRefused++;
        continue;
      }
      try {
        this.learners.set(id, SequenceLearner.fromBytes(s.bytes, PER_EXECUTABLE_OPTIONS));
      } catch {
        this.learnersUnreadable++;
        bad.push(s.exe);
      }
    }
    return bad;
  }

  /**
   * Process `pid` exited (or ran a new program): its calls so far form a trace, learnt or
   * judged. Returns the trace's unit score when it is anomalous.
   */
  endProcess(pid: number): { exe: string; score: number } | undefined {
    const f = this.procs.get(pid);
    if (f === undefined) return undefined;
    this.procs.delete(pid);
    if (pid === this.lastPid) {
      this.lastPid = -1;
      this.lastFollow = undefined;
    }
    if (f.scorer === undefined) {
      this.learnChunk(f);
      return undefined;
    }
    const score = this.judge(f);
    return score === undefined ? undefined : { exe: f.exe, score };
  }

  /**
   * Profile `key` locked: its learners become models (returned, to be stored), and its
   * processes start being scored at their next trace.
   */
  lock(key: string): { exe: string; bytes: Uint8Array }[] {
    for (const [pid, f] of this.procs) if (f.key === key) this.endProcess(pid);
    const out: { exe: string; bytes: Uint8Array }[] = [];
    const prefix = `${key}\u0000`;
    for (const [id, learner] of this.learners) {
      if (!id.startsWith(prefix)) continue;
      this.learners.delete(id);
      this.changed.delete(id);
      if (learner.calls === 0) continue;
      const model = learner.build();
      const exe = id.slice(prefix.length);
      if (this.models.size < this.maxModels) this.models.set(id, model);
      out.push({ exe, bytes: model.toBytes() });
    }
    return out;
  }

  /**
   * The models of stored learners, for a profile that locked while it was not in memory (the
   * unreadable ones are counted in {@link learnersUnreadable} and skipped).
   */
  modelsOf(stored: readonly { exe: string; bytes: Uint8Array }[]): { exe: string; bytes: Uint8Array }[] {
    const out: { exe: string; bytes: Uint8Array }[] = [];
    for (const s of stored) {
      let learner: SequenceLearner;
      try {
        learner = SequenceLearner.fromBytes(s.bytes, PER_EXECUTABLE_OPTIONS);
      } catch {
        this.learnersUnreadable++;
        continue;
      }
      if (learner.calls > 0) out.push({ exe: s.exe, bytes: learner.build().toBytes() });
    }
    return out;
  }

  /** Installs stored models of a locked profile. Returns the models that could not be read. */
  restore(key: string, stored: readonly { exe: string; bytes: Uint8Array }[]): string[] {
    const bad: string[] = [];
    for (const m of stored) {
      if (this.models.size >= this.maxModels) break;
      try {
        this.models.set(SequenceTracker.id(key, m.exe), SequenceModel.fromBytes(m.bytes));
      } catch {
        bad.push(m.exe);
      }
    }
    return bad;
  }

  /**
   * Profile `key` learns again, or leaves memory: its models and learners go from memory (on an
   * eviction the engine stores the changed learners first, and they come back with the profile).
   */
  forget(key: string): void {
    const prefix = `${key}\u0000`;
    for (const id of [...this.learners.keys()]) {
      if (!id.startsWith(prefix)) continue;
      this.learners.delete(id);
      this.changed.delete(id);
    }
    for (const id of [...this.models.keys()]) if (id.startsWith(prefix)) this.models.delete(id);
    for (const [pid, f] of [...this.procs]) if (f.key === key) this.procs.delete(pid);
    this.lastPid = -1;
    this.lastFollow = undefined;
  }

  stats(): { learners: number; models: number; processes: number } {
    return { learners: this.learners.size, models: this.models.size, processes: this.procs.size };
  }
}
