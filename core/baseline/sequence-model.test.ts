import assert from 'node:assert/strict';
import {
  DEFAULT_OPTIONS,
  SequenceLearner,
  SequenceModel,
  SequenceModelError,
  unitScore,
  type SequenceModelOptions,
} from './sequence-model.js';

/** A deterministic pseudo-random generator (LCG), so tests are repeatable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Normal traces: a program that opens, loops read/write a few times with some noise, and closes. */
function normalTraces(count: number, seed = 1): number[][] {
  const r = rng(seed);
  const traces: number[][] = [];
  for (let t = 0; t < count; t++) {
    const trace = [59, 12, 9, 9, 21, 257, 5];
    const loops = 3 + Math.floor(r() * 20);
    for (let i = 0; i < loops; i++) {
      trace.push(0, 1);
      if (r() < 0.3) trace.push(232);
      if (r() < 0.1) trace.push(7);
    }
    trace.push(3, 231);
    traces.push(trace);
  }
  return traces;
}

/** Probability the model gives each of the 1024 calls after `history`, summed (should be 1). */
function totalProbability(model: SequenceModel, history: readonly number[]): number {
  let total = 0;
  for (let call = 0; call < 1024; call++) {
    const s = model.scorer();
    for (const h of history) s.push(h);
    s.push(call);
    total += Math.pow(2, -s.lastBits);
  }
  return total;
}

describe('SequenceModel', () => {
  const train = normalTraces(200);
  const model = SequenceModel.train(train);

  it('scores normal traces low and traces with foreign calls or a foreign start high', () => {
    const normal = normalTraces(50, 99).map((t) => model.scoreTrace(t));
    const injected = normalTraces(50, 99).map((t) => {
      const u = [...t];
      u.splice(10, 0, 101, 57, 59, 33, 33, 2); // ptrace, fork, execve, dup2, dup2, open
      return model.scoreTrace(u);
    });
    const midStream = normalTraces(50, 99).map((t) => model.scoreTrace(t.slice(9)));
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(injected) > mean(normal) + 3, `injected ${mean(injected)} vs normal ${mean(normal)}`);
    assert.ok(mean(midStream) > mean(normal) + 1, `mid-stream ${mean(midStream)} vs normal ${mean(normal)}`);
    // Every injected trace ranks above the median normal one.
    const median = [...normal].sort((a, b) => a - b)[25]!;
    assert.ok(injected.every((s) => s > median));
  });

  it('is a proper probability model: the next call probabilities sum to 1 in any context', () => {
    for (const history of [
      [],
      [59],
      [59, 12, 9, 9, 21, 257, 5, 0, 1],
      [0, 1, 0],
      [400, 401, 1],
      [3, 231, 3],
    ]) {
      const total = totalProbability(model, history);
      assert.ok(Math.abs(total - 1) < 1e-4, `sum after [${history.join(' ')}] = ${total}`);
    }
  });

  it('push returns a per-call anomaly in [0, 1], higher for a call never seen', () => {
    const s = model.scorer();
    const seen: number[] = [];
    for (const c of train[0]!) seen.push(s.push(c));
    assert.ok(seen.every((v) => v >= 0 && v <= 1));
    const foreign = s.push(700);
    assert.ok(foreign > Math.max(...seen.slice(7)), `foreign ${foreign}`);
    assert.ok(foreign <= 1);
  });

  it('scores 0 before any call, and reset() makes scoring repeatable', () => {
    const s = model.scorer();
    assert.equal(s.traceScore(), 0);
    for (const c of train[3]!) s.push(c);
    const first = s.traceScore();
    assert.ok(Number.isFinite(first) && first >= 0);
    s.reset();
    assert.equal(s.traceScore(), 0);
    for (const c of train[3]!) s.push(c);
    assert.equal(s.traceScore(), first);
  });

  it('learns incrementally: a learner gives the same model as train()', () => {
    const learner = new SequenceLearner();
    for (const t of train) {
      for (const c of t) learner.observe(c);
      learner.endTrace();
    }
    learner.endTrace(); // an empty trace is ignored
    assert.equal(learner.traces, 200);
    const built = learner.build();
    assert.deepEqual(built.toBytes(), model.toBytes());
    // Every trace is kept and scored, for calibration, by a copy built without its fold.
    assert.equal(model.calibrationTraces, 200);
    assert.equal(learner.heldOutTraces, 200);
  });

  it('round-trips through bytes and refuses damaged models with a reason', () => {
    const bytes = model.toBytes();
    const back = SequenceModel.fromBytes(bytes);
    assert.equal(back.sizeBytes, model.sizeBytes);
    for (const t of normalTraces(5, 7)) assert.equal(back.scoreTrace(t), model.scoreTrace(t));
    // At an odd offset inside a larger buffer, as a Node Buffer slice can be.
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    assert.equal(
      SequenceModel.fromBytes(shifted.subarray(3)).scoreTrace(train[1]!),
      model.scoreTrace(train[1]!),
    );

    assert.throws(() => SequenceModel.fromBytes(bytes.subarray(0, 10)), SequenceModelError);
    assert.throws(() => SequenceModel.fromBytes(bytes.subarray(0, bytes.length - 4)), /header says/);
    const badMagic = bytes.slice();
    badMagic[0] = badMagic[0]! ^ 0xff;
    assert.throws(() => SequenceModel.fromBytes(badMagic), /bad magic/);
    const badVersion = bytes.slice();
    new DataView(badVersion.buffer).setUint32(4, 99, true);
    assert.throws(() => SequenceModel.fromBytes(badVersion), /version 99/);
    const badCost = bytes.slice();
    const view = new DataView(badCost.buffer);
    const ctxCap = view.getUint32(12, true);
    const trCap = view.getUint32(16, true);
    // Poison every transition cost.
    const trBitsAt = 36 + ctxCap * 12 + trCap * 4;
    for (let i = 0; i < trCap; i++) view.setFloat32(trBitsAt + i * 4, Number.NaN, true);
    assert.throws(() => SequenceModel.fromBytes(badCost), /invalid cost/);
  });

  it('stays bounded when its tables are full, and counts what it refused', () => {
    const r = rng(5);
    const options: SequenceModelOptions = { maxContexts: 64, maxTransitions: 128, maxPrototypes: 4 };
    const learner = new SequenceLearner(options);
    for (let t = 0; t < 50; t++) {
      for (let i = 0; i < 200; i++) learner.observe(Math.floor(r() * 300));
      learner.endTrace();
    }
    assert.ok(learner.dropped > 0);
    const small = learner.build();
    assert.ok(small.contexts <= 64, `contexts ${small.contexts}`);
    assert.ok(small.transitions <= 128, `transitions ${small.transitions}`);
    assert.ok(small.prototypes <= 4);
    assert.ok(small.sizeBytes < 64 * 1024, `size ${small.sizeBytes}`);
    const total = totalProbability(small, [1, 2, 3]);
    assert.ok(Math.abs(total - 1) < 1e-4, `sum ${total}`);
    assert.ok(Number.isFinite(small.scoreTrace([1, 2, 3, 4, 5])));
  });

  it('keeps no more calls for calibration than maxHoldoutCalls', () => {
    const learner = new SequenceLearner({ folds: 2, maxHoldoutCalls: 100 });
    for (const t of normalTraces(40)) {
      for (const c of t) learner.observe(c);
      learner.endTrace();
    }
    const m = learner.build();
    assert.ok(m.calibrationTraces >= 1 && m.calibrationTraces < 20, `${m.calibrationTraces}`);
  });

  it('calibrates on every kept trace by cross-validation, once there are two', () => {
    const traces = normalTraces(7, 3);
    const calibrated = (n: number, folds?: number): number =>
      SequenceModel.train(traces.slice(0, n), folds === undefined ? {} : { folds }).calibrationTraces;
    assert.equal(calibrated(1), 0); // nothing to hold a single trace out against
    assert.equal(calibrated(2), 2);
    assert.equal(calibrated(7), 7);
    assert.equal(calibrated(7, 2), 7);
  });

  it('rejects calls outside 0..1023 and nonsense options, naming them', () => {
    assert.throws(() => new SequenceLearner().observe(1024), /0\.\.1023, got 1024/);
    assert.throws(() => model.scorer().push(-1), /got -1/);
    assert.throws(() => model.scorer().push(1.5), /got 1.5/);
    assert.throws(
      () => new SequenceLearner({ maxOrder: 0 }),
      /maxOrder must be an integer in 1\.\.12, got 0/,
    );
    assert.throws(() => new SequenceLearner({ folds: 1 }), /folds must be an integer in 2\.\.20, got 1/);
    assert.equal(DEFAULT_OPTIONS.maxOrder, 5);
  });

  it('maps trace scores into [0, 1) keeping their order', () => {
    assert.equal(unitScore(0), 0);
    const xs = [0.5, 1, 3, 8.4, 20, 200];
    const us = xs.map(unitScore);
    for (let i = 1; i < us.length; i++) assert.ok(us[i]! >= us[i - 1]! && us[i]! < 1 + 1e-12);
    assert.ok(Math.abs(unitScore(8.4) - 0.99) < 0.005);
  });
});
