/**
 * Classic detectors the sequence model (sequence-model.ts) is measured against, implemented here
 * so that the benchmark runs them on the same data in the same run:
 *
 * - {@link StideDetector}: STIDE (Forrest et al.), the set of every length-n window of calls seen
 *   in training; a trace scores the share of its windows that were never seen.
 * - {@link MarkovMeanDetector}: an n-gram Markov model (the same smoothed variable-order model
 *   sequence-model.ts uses for its first measure); a trace scores its mean surprisal per call.
 *
 * Both are bounded like the model (table caps; when full, new entries are refused and counted).
 */
import { MarkovCounts, MarkovCursor, type MarkovTables } from './sequence-markov.js';
import { CALL_SPACE, FingerprintTable, SEED_A, SEED_B, keyB, mixA, mixB } from './sequence-tables.js';

function checkTrace(trace: ArrayLike<number>): void {
  for (let i = 0; i < trace.length; i++) {
    const c = trace[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= CALL_SPACE)
      throw new RangeError(
        `syscall number must be an integer in 0..${CALL_SPACE - 1}, got ${c} at call ${i + 1}`,
      );
  }
}

/** STIDE: the set of length-`n` windows seen in training. */
export class StideDetector {
  private readonly windows: FingerprintTable;
  /** Windows refused because the table was full. */
  dropped = 0;

  constructor(
    readonly n = 6,
    maxWindows = 1 << 20,
  ) {
    this.windows = new FingerprintTable(maxWindows);
  }

  /** Learns every window of a normal trace (a trace shorter than n is one window). */
  learn(trace: ArrayLike<number>): void {
    checkTrace(trace);
    this.forEachWindow(trace, (a, b) => {
      if (this.windows.insert(a, b) < 0) this.dropped++;
    });
  }

  /** Share of the trace's windows never seen in training (0..1). */
  score(trace: ArrayLike<number>): number {
    let total = 0;
    let unseen = 0;
    this.forEachWindow(trace, (a, b) => {
      total++;
      if (this.windows.get(a, b) < 0) unseen++;
    });
    return total === 0 ? 0 : unseen / total;
  }

  /** Windows held. */
  get size(): number {
    return this.windows.size;
  }

  private forEachWindow(trace: ArrayLike<number>, fn: (a: number, b: number) => void): void {
    const len = Math.min(this.n, trace.length);
    for (let start = 0; start + len <= trace.length; start++) {
      let a = SEED_A;
      let b = SEED_B;
      for (let i = start; i < start + len; i++) {
        a = mixA(a, trace[i]!);
        b = mixB(b, trace[i]!);
      }
      fn(a, keyB(b));
      if (len < this.n) break;
    }
  }
}

/** An n-gram Markov model scoring a trace by its mean surprisal per call (bits). */
export class MarkovMeanDetector {
  private readonly counts: MarkovCounts;
  private tables: MarkovTables | undefined;

  constructor(maxOrder = 5, maxContexts = 1 << 18, maxTransitions = 1 << 19) {
    this.counts = new MarkovCounts(maxOrder, maxContexts, maxTransitions);
  }

  /** Learns a normal trace. */
  learn(trace: ArrayLike<number>): void {
    checkTrace(trace);
    for (let i = 0; i < trace.length; i++) this.counts.observe(trace[i]!);
    this.counts.endTrace();
    this.tables = undefined;
  }

  /** Mean surprisal per call of the trace, in bits (0 for an empty trace). */
  score(trace: ArrayLike<number>): number {
    checkTrace(trace);
    this.tables ??= this.counts.build();
    const cursor = new MarkovCursor(this.tables);
    let sum = 0;
    for (let i = 0; i < trace.length; i++) sum += cursor.push(trace[i]!);
    return trace.length === 0 ? 0 : sum / trace.length;
  }
}
