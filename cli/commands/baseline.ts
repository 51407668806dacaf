/**
 * `vigil baseline train|score`: learns a model of normal syscall sequences from trace files and
 * scores traces against it (core/baseline/sequence-model.ts), offline. The agent does the same
 * online, per executable; this command is for building, checking and evaluating models.
 */
import { once } from 'node:events';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  DEFAULT_OPTIONS,
  SequenceLearner,
  SequenceModel,
  SequenceModelError,
  type SequenceModelOptions,
} from '../../core/baseline/sequence-model.js';
import { UsageError, type CliIO, type Command } from '../command.js';
import { DEFAULT_MAX_TRACE_BYTES, readTraces, type TraceFileError } from '../syscall-traces.js';

/** Largest model file `score` reads (bytes). */
const MAX_MODEL_BYTES = 512 << 20;

const usage = `Usage: vigil baseline train --syscalls DIR --model FILE [--max-order N]
       vigil baseline score --model FILE --syscalls DIR

Learns what normal system-call sequences look like, and scores traces against it. Needs no
labels: train on traces of normal behaviour only.

Traces are files in the ADFA-LD format: one trace (one process) per file, whitespace-separated
syscall numbers 0..1023. Every file under DIR is read, recursively, in path order; hidden files
are skipped. A file that is malformed, empty or larger than ${DEFAULT_MAX_TRACE_BYTES >> 20} MiB is reported on stderr
(file and bad token), counted and skipped; the others continue.

  train   learns from every trace under DIR and writes the model to FILE (replacing it
          atomically); prints what was learned.
  score   prints one line per trace under DIR: PATH<TAB>SCORE, higher = more anomalous. A score
          is the sum of three calibrated surprises (unusual steps, unusual start, unusual set of
          calls), each -ln of the share of held-out normal traces at least as unusual; about 3
          is typical of normal traces.

Options:
  --syscalls DIR   directory of trace files
  --model FILE     the model file (written by train, read by score)
  --max-order N    longest context of the Markov model, in calls, 1..12 (default ${DEFAULT_OPTIONS.maxOrder})

Exit status: 0 when at least one trace was read (even if others were skipped), 1 when none
could be read or the model file is unusable, 2 on bad usage.`;

function parse(args: readonly string[]): {
  sub: 'train' | 'score';
  dir: string;
  model: string;
  maxOrder: number | undefined;
} {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      syscalls: { type: 'string' },
      model: { type: 'string' },
      'max-order': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [sub, ...extra] = positionals;
  if (sub !== 'train' && sub !== 'score')
    throw new UsageError(
      sub === undefined ? 'missing subcommand (train or score)' : `unknown subcommand: ${sub}`,
    );
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
  if (values.syscalls === undefined) throw new UsageError('--syscalls DIR is required');
  if (values.model === undefined) throw new UsageError('--model FILE is required');
  let maxOrder: number | undefined;
  if (values['max-order'] !== undefined) {
    if (sub !== 'train') throw new UsageError('--max-order applies to train only');
    maxOrder = Number(values['max-order']);
    if (!/^\d+$/.test(values['max-order']) || maxOrder < 1 || maxOrder > 12)
      throw new UsageError(`--max-order must be an integer 1..12, got '${values['max-order']}'`);
  }
  return { sub, dir: values.syscalls, model: values.model, maxOrder };
}

/** Reports a skipped file on stderr and counts it. */
function skipper(io: CliIO): { onError: (err: TraceFileError) => void; readonly skipped: number } {
  let skipped = 0;
  return {
    onError(err) {
      skipped++;
      io.stderr.write(`vigil baseline: skipped ${err.message}\n`);
    },
    get skipped() {
      return skipped;
    },
  };
}

function train(dir: string, modelPath: string, maxOrder: number | undefined, io: CliIO): number {
  const options: SequenceModelOptions = maxOrder === undefined ? {} : { maxOrder };
  const learner = new SequenceLearner(options);
  const skip = skipper(io);
  const started = performance.now();
  for (const trace of readTraces(dir, { onError: skip.onError })) {
    const calls = trace.calls;
    for (let i = 0; i < calls.length; i++) learner.observe(calls[i]!);
    learner.endTrace();
  }
  if (learner.traces === 0) {
    io.stderr.write(`vigil baseline: no trace could be read under ${dir} (${skip.skipped} skipped)\n`);
    return 1;
  }
  const model = learner.build();
  const bytes = model.toBytes();
  const tmp = `${modelPath}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, modelPath);
  const seconds = (performance.now() - started) / 1000;
  io.stdout.write(
    `learned from ${learner.traces} trace(s), ${learner.calls} calls, in ${seconds.toFixed(2)} s` +
      (skip.skipped > 0 ? ` (${skip.skipped} file(s) skipped)` : '') +
      '\n' +
      `model: order ${model.maxOrder}, ${model.contexts} contexts, ${model.transitions} transitions, ` +
      `${model.prototypes} call sets, calibrated on ${model.calibrationTraces} held-out trace(s)` +
      (learner.dropped > 0 ? `; ${learner.dropped} entries refused (tables full)` : '') +
      '\n' +
      `wrote ${modelPath} (${bytes.byteLength} bytes)\n`,
  );
  if (model.calibrationTraces === 0)
    io.stderr.write(
      'vigil baseline: warning: too few traces to hold any out for calibration; scores are raw sums\n',
    );
  return 0;
}

function loadModel(path: string): SequenceModel {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) throw new Error(`model file ${path} does not exist`);
  if (!st.isFile()) throw new Error(`model file ${path} is not a file`);
  if (st.size > MAX_MODEL_BYTES)
    throw new Error(`model file ${path} is ${st.size} bytes, more than ${MAX_MODEL_BYTES}`);
  try {
    return SequenceModel.fromBytes(readFileSync(path));
  } catch (err) {
    if (err instanceof SequenceModelError)
      throw new Error(`model file ${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

async function score(dir: string, modelPath: string, io: CliIO): Promise<number> {
  const model = loadModel(modelPath);
  const scorer = model.scorer();
  const skip = skipper(io);
  let scored = 0;
  let out = '';
  for (const trace of readTraces(dir, { onError: skip.onError })) {
    scorer.reset();
    const calls = trace.calls;
    for (let i = 0; i < calls.length; i++) scorer.push(calls[i]!);
    out += `${trace.path}\t${scorer.traceScore().toFixed(6)}\n`;
    scored++;
    if (out.length > 1 << 16) {
      // Respect back-pressure so that memory stays bounded however many traces there are.
      const flushed = io.stdout.write(out);
      out = '';
      if (!flushed) await once(io.stdout, 'drain');
    }
  }
  if (out !== '') io.stdout.write(out);
  if (scored === 0) {
    io.stderr.write(`vigil baseline: no trace could be read under ${dir} (${skip.skipped} skipped)\n`);
    return 1;
  }
  if (skip.skipped > 0)
    io.stderr.write(`vigil baseline: scored ${scored} trace(s), skipped ${skip.skipped}\n`);
  return 0;
}

export const baselineCommand: Command = {
  name: 'baseline',
  summary: 'learn normal syscall sequences and score traces (vigil baseline train|score)',
  usage,
  async run(args, io: CliIO): Promise<number> {
    const p = parse(args);
    return p.sub === 'train' ? train(p.dir, p.model, p.maxOrder, io) : await score(p.dir, p.model, io);
  },
};
