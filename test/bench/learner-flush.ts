/**
 * What the baseline engine's write-behind flush of sequence learners costs at worst (issue 6,
 * agent/baseline/baseline-engine.ts `LEARNER_BYTES_PER_FLUSH`, sequence-tracker.ts).
 *
 * 64 learners (the tracker's limit) of busy executables, each fed enough varied calls to fill its
 * calibration budget, all changed since their last write: the flush serialises them
 * (`SequenceLearner.toBytes`) up to the byte budget and writes them in one SQLite transaction
 * (`BaselineStore.putLearners`). Prints the bytes and the event-loop time of one write, and the
 * write rate if every flush (2 s by default) wrote them, and at `LEARNER_WRITE_INTERVAL_MS`.
 *
 * Prints figures; it does not fail on machine noise. Run from a build directory:
 *   node .build-NAME/test/bench/learner-flush.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SequenceLearner } from '../../core/baseline/sequence-model.js';
import { LEARNER_WRITE_INTERVAL_MS } from '../../agent/baseline/baseline-engine.js';
import { openBaselineStore } from '../../agent/baseline/baseline-store.js';
import { PER_EXECUTABLE_OPTIONS } from '../../agent/baseline/sequence-tracker.js';

const LEARNERS = 64;
const BUDGET = 8 << 20; // LEARNER_BYTES_PER_FLUSH
const FLUSH_MS = 2000; // the engine's default flushIntervalMs

/** A deterministic pseudo-random generator (LCG). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function busyLearner(seed: number): SequenceLearner {
  const r = rng(seed);
  const learner = new SequenceLearner(PER_EXECUTABLE_OPTIONS);
  // Traces of 1,024 calls (a chunk) over ~60 call numbers, loops with noise.
  for (let trace = 0; trace < 2000; trace++) {
    let at = Math.floor(r() * 60);
    for (let i = 0; i < 1024; i++) {
      at = r() < 0.8 ? (at + 1) % 60 : Math.floor(r() * 60);
      learner.observe(at * 3);
    }
    learner.endTrace();
  }
  return learner;
}

const learners = Array.from({ length: LEARNERS }, (_, i) => busyLearner(i + 1));
let t = performance.now();
const sizes = learners.map((l) => l.toBytes().byteLength);
const encodeAllMs = performance.now() - t;
const total = sizes.reduce((a, b) => a + b, 0);
console.log(
  `learner bytes: max ${(Math.max(...sizes) / 1e6).toFixed(2)} MB, all ${LEARNERS}: ${(total / 1e6).toFixed(1)} MB; toBytes of all ${encodeAllMs.toFixed(0)} ms`,
);

const dir = mkdtempSync(join(tmpdir(), 'vigil-learner-bench-'));
try {
  const store = openBaselineStore({ path: join(dir, 'baselines.db') });
  let worst = 0;
  let written = 0;
  for (let flush = 0; flush < 5; flush++) {
    t = performance.now();
    // What changedLearners(undefined, BUDGET) hands out: whole learners until the budget is reached.
    const rows = [];
    let bytes = 0;
    for (let i = 0; i < LEARNERS && bytes < BUDGET; i++) {
      const id = (flush * 7 + i) % LEARNERS;
      const row = {
        key: 'shop/Deployment/api/api|api:1',
        exe: `/usr/bin/exe-${id}`,
        bytes: learners[id]!.toBytes(),
      };
      bytes += row.bytes.byteLength;
      rows.push(row);
    }
    store.putLearners(rows, Date.now());
    const ms = performance.now() - t;
    worst = Math.max(worst, ms);
    written = bytes;
  }
  store.close();
  const rate = (everyMs: number): string => {
    const perS = (written / everyMs) * 1000;
    return `${(perS / 1e6).toFixed(2)} MB/s, ${((perS * 86_400) / 1e9).toFixed(0)} GB/day`;
  };
  console.log(
    `one write: ${(written / 1e6).toFixed(1)} MB in ${worst.toFixed(0)} ms of event loop (worst of 5)`,
  );
  console.log(`at every flush (${FLUSH_MS} ms): ${rate(FLUSH_MS)} before SQLite's WAL copy`);
  console.log(
    `every ${LEARNER_WRITE_INTERVAL_MS} ms: ${rate(LEARNER_WRITE_INTERVAL_MS)} before SQLite's WAL copy`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
