/**
 * Benchmark of the syscall-sequence model (issue 6) on ADFA-LD in ../shared/datasets/adfa-ld.
 *
 * Protocol: train on Training_Data_Master only; score Validation_Data_Master (normal) and
 * Attack_Data_Master (attacks, grouped by family folders). Prints ROC AUC (ties count half) and
 * the detection rate at 1%, 5% and 10% false alarms, overall and per attack family; the scoring
 * rate on one core (one thread, pushing every call through the online scorer and asking for the
 * trace score at the end of each trace); the model's size; the training time. The same figures
 * are printed for two classic detectors trained and scored in the same run: STIDE (n = 6) and an
 * n-gram Markov model (mean surprisal per call), with the model's ratio to each.
 *
 * It also prints the evidence for the model's one tuned parameter, chosen on training data only:
 * the 5-fold cross-validated cross-entropy of held-out training traces for Markov orders 1..8. The
 * model's measures are calibrated by 5-fold cross-validation inside the training traces (see
 * sequence-model.ts for the protocol and the alternatives that were measured and not adopted).
 *
 * Prints figures; it does not fail on machine noise. Run: npm run build && npm run bench:baseline
 */
import { join } from 'node:path';
import { MarkovCounts, MarkovCursor } from '../../core/baseline/sequence-markov.js';
import { detectionRate, rocAuc } from '../../core/baseline/sequence-metrics.js';
import { DEFAULT_OPTIONS, SequenceModel } from '../../core/baseline/sequence-model.js';
import { MarkovMeanDetector, StideDetector } from '../../core/baseline/sequence-peers.js';
import { readTraces, type SyscallTrace } from '../../cli/syscall-traces.js';
import { sharedDir } from '../support/shared.js';

if (sharedDir === undefined) {
  console.log('bench/baseline: ../shared is not beside this checkout; nothing to measure');
  process.exit(0);
}
const root = join(sharedDir, 'datasets', 'adfa-ld');
const load = (dir: string): SyscallTrace[] => {
  const out: SyscallTrace[] = [];
  for (const t of readTraces(join(root, dir), { onError: (e) => console.log(`skipped ${e.message}`) }))
    out.push(t);
  return out;
};
const train = load('Training_Data_Master');
const normal = load('Validation_Data_Master');
const attacks = load('Attack_Data_Master');
const familyOf = (path: string): string => path.split('/').at(-2)!.replace(/_\d+$/, '');
const families = [...new Set(attacks.map((t) => familyOf(t.path)))].sort();
const calls = (ts: SyscallTrace[]): number => ts.reduce((s, t) => s + t.calls.length, 0);
console.log(
  `ADFA-LD: train ${train.length} traces (${calls(train)} calls), validation ${normal.length} ` +
    `(${calls(normal)}), attacks ${attacks.length} (${calls(attacks)}) in families ${families.join(', ')}`,
);

const pct = (x: number): string => (100 * x).toFixed(1).padStart(5) + '%';
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

interface Figures {
  auc: number;
  dr1: number;
  dr5: number;
  dr10: number;
}
function figures(neg: number[], pos: number[]): Figures {
  return {
    auc: rocAuc(neg, pos),
    dr1: detectionRate(neg, pos, 0.01),
    dr5: detectionRate(neg, pos, 0.05),
    dr10: detectionRate(neg, pos, 0.1),
  };
}
function line(name: string, f: Figures): string {
  return `${name.padEnd(34)} AUC ${f.auc.toFixed(4)}   DR@1% ${pct(f.dr1)}   DR@5% ${pct(f.dr5)}   DR@10% ${pct(f.dr10)}`;
}
function report(name: string, score: (t: SyscallTrace) => number): Figures {
  const neg = normal.map(score);
  const pos = attacks.map(score);
  const all = figures(neg, pos);
  console.log(line(name, all));
  for (const fam of families) {
    const p = pos.filter((_, i) => familyOf(attacks[i]!.path) === fam);
    console.log(line(`  ${fam} (${p.length})`, figures(neg, p)));
  }
  return all;
}

/**
 * Calls per second pushing every normal and attack trace through `scoreOne`, on one thread:
 * per CPU-second of this process over ten slices of at least 0.3 s (what one core sustains,
 * little affected by other work on the machine), and per wall-clock second (best and median
 * slice).
 */
function rate(scoreOne: (t: SyscallTrace) => number): { cpu: number; best: number; median: number } {
  const traces = [...normal, ...attacks];
  const n = calls(traces);
  let sink = 0;
  for (let i = 0; i < 3; i++) for (const t of traces) sink += scoreOne(t); // warm up the JIT
  const slices: number[] = [];
  let total = 0;
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < 10; s++) {
    let done = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 3e8) {
      for (const t of traces) sink += scoreOne(t);
      done += n;
      elapsed = Number(process.hrtime.bigint() - t0);
    }
    slices.push(done / (elapsed / 1e9));
    total += done;
  }
  const cpu = process.cpuUsage(cpu0);
  if (Number.isNaN(sink)) console.log('(NaN score)');
  slices.sort((a, b) => a - b);
  return {
    cpu: total / ((cpu.user + cpu.system) / 1e6),
    best: slices[slices.length - 1]!,
    median: (slices[4]! + slices[5]!) / 2,
  };
}
const rateText = (r: { cpu: number; best: number; median: number }): string =>
  `${fmt(r.cpu)} syscalls per CPU-second (wall clock: best slice ${fmt(r.best)}/s, median ${fmt(r.median)}/s)`;

// --- protocol evidence: the Markov order, from training data only ---------------------------------
const folds = 5;
const entropy: string[] = [];
for (let order = 1; order <= 8; order++) {
  let bits = 0;
  let n = 0;
  for (let f = 0; f < folds; f++) {
    const counts = new MarkovCounts(order, DEFAULT_OPTIONS.maxContexts, DEFAULT_OPTIONS.maxTransitions);
    train.forEach((t, i) => {
      if (i % folds === f) return;
      for (const c of t.calls) counts.observe(c);
      counts.endTrace();
    });
    const tables = counts.build();
    train.forEach((t, i) => {
      if (i % folds !== f) return;
      const cursor = new MarkovCursor(tables);
      for (const c of t.calls) bits += cursor.push(c);
      n += t.calls.length;
    });
  }
  entropy.push(`${order}: ${(bits / n).toFixed(3)}`);
}
console.log(
  `\nprotocol: held-out cross-entropy of training traces (bits/call) by Markov order, 5-fold CV on`,
);
console.log(`Training_Data_Master only: ${entropy.join('  ')}; default order ${DEFAULT_OPTIONS.maxOrder}`);
console.log(
  'protocol: no weight or threshold is fitted to attacks; each measure is calibrated on every training trace,\n' +
    'scored by a copy of the model built without its fold (5-fold cross-validation inside Training_Data_Master).\n' +
    'The design choices (the three measures, calibrating by cross-validation rather than on one held-out fifth)\n' +
    'were made while looking at all three attack families present here, so no family is a true held-out family:\n' +
    'each is reported separately below.',
);

// --- the model -------------------------------------------------------------------------------------
console.log(
  '\nVigil sequence model (Markov steps + start + call set, calibrated on training traces by 5-fold cross-validation)',
);
let t0 = performance.now();
const model = SequenceModel.train(train.map((t) => t.calls));
const trainMs = performance.now() - t0;
const scorer = model.scorer();
const scoreModel = (t: SyscallTrace): number => {
  scorer.reset();
  const c = t.calls;
  for (let i = 0; i < c.length; i++) scorer.push(c[i]!);
  return scorer.traceScore();
};
const ours = report('model', scoreModel);
const ourRate = rate(scoreModel);
console.log(
  `training ${trainMs.toFixed(0)} ms; model ${fmt(model.sizeBytes)} bytes (${fmt(model.contexts)} contexts, ` +
    `${fmt(model.transitions)} transitions, ${model.prototypes} call sets, ${model.calibrationTraces} calibration traces)`,
);
console.log(`scoring rate (one core): ${rateText(ourRate)}`);

// --- peers -----------------------------------------------------------------------------------------
console.log('\nPeer: STIDE, n = 6 (share of unseen 6-call windows)');
t0 = performance.now();
const stide = new StideDetector(6);
for (const t of train) stide.learn(t.calls);
const stideMs = performance.now() - t0;
const stideFig = report('STIDE n=6', (t) => stide.score(t.calls));
const stideRate = rate((t) => stide.score(t.calls));
console.log(
  `training ${stideMs.toFixed(0)} ms; ${fmt(stide.size)} windows (~${fmt(stide.size * 2 * 12)} bytes); ${rateText(stideRate)}`,
);

console.log(`\nPeer: n-gram Markov model, orders 0..${DEFAULT_OPTIONS.maxOrder} (mean surprisal per call)`);
t0 = performance.now();
const markov = new MarkovMeanDetector(DEFAULT_OPTIONS.maxOrder);
for (const t of train) markov.learn(t.calls);
markov.score(train[0]!.calls); // builds the tables
const markovMs = performance.now() - t0;
const markovFig = report('Markov', (t) => markov.score(t.calls));
const markovRate = rate((t) => markov.score(t.calls));
console.log(`training ${markovMs.toFixed(0)} ms; ${rateText(markovRate)}`);

// --- summary ---------------------------------------------------------------------------------------
const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : (a / b).toFixed(2));
console.log('\nsummary (model vs peers, same run)');
console.log(line('model', ours));
console.log(line('STIDE n=6', stideFig));
console.log(line('Markov', markovFig));
console.log(
  `AUC ratio model/STIDE ${ratio(ours.auc, stideFig.auc)}, model/Markov ${ratio(ours.auc, markovFig.auc)}; ` +
    `DR@1% ratio model/STIDE ${ratio(ours.dr1, stideFig.dr1)}, model/Markov ${ratio(ours.dr1, markovFig.dr1)}`,
);
console.log(
  `targets: AUC >= 0.93 (${ours.auc >= 0.93 ? 'met' : 'NOT met'}), DR@1% >= 40% (${ours.dr1 >= 0.4 ? 'met' : 'NOT met'}), ` +
    `scoring >= 5,000,000 syscalls/s on one core (${ourRate.cpu >= 5e6 ? 'met' : 'NOT met'})`,
);
