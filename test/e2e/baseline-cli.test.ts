/**
 * `vigil baseline train|score` as a user runs it: a separate process, real ADFA-LD trace files
 * from ../shared (skipped when absent), real model files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireShared } from '../support/shared.js';

// The CLI built beside this test (dist/ or a private build directory).
const vigil = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'vigil.js');

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [vigil, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Copies every `step`-th file of `from` (sorted, recursively) into `to`, up to `max` files. */
function sample(from: string, to: string, step: number, max: number): number {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(from);
  mkdirSync(to, { recursive: true });
  let copied = 0;
  for (let i = 0; i < files.length && copied < max; i += step) {
    copyFileSync(files[i]!, join(to, `${String(copied).padStart(4, '0')}-${files[i]!.split('/').at(-1)!}`));
    copied++;
  }
  return copied;
}

function parseScores(stdout: string): Map<string, number> {
  const scores = new Map<string, number>();
  for (const line of stdout.trimEnd().split('\n')) {
    const m = /^(.+)\t(-?\d+(?:\.\d+)?)$/.exec(line);
    assert.ok(m, `line is not PATH<TAB>SCORE: ${JSON.stringify(line)}`);
    const score = Number(m[2]);
    assert.ok(Number.isFinite(score) && score >= 0, line);
    scores.set(m[1]!, score);
  }
  return scores;
}

describe('vigil baseline', function () {
  this.timeout(120_000);
  let work: string;
  let adfa: string;
  before(function () {
    adfa = requireShared(this, join('datasets', 'adfa-ld'));
    work = mkdtempSync(join(tmpdir(), 'vigil-baseline-'));
    sample(join(adfa, 'Training_Data_Master'), join(work, 'train'), 2, 400);
    sample(join(adfa, 'Validation_Data_Master'), join(work, 'normal'), 40, 40);
    sample(join(adfa, 'Attack_Data_Master'), join(work, 'attack', 'nested'), 8, 40);
  });
  after(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('trains on normal traces and ranks attacks above normal traces', () => {
    const model = join(work, 'model.bin');
    const trained = run(['baseline', 'train', '--syscalls', join(work, 'train'), '--model', model]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stdout, /learned from 400 trace\(s\)/);
    assert.match(trained.stdout, /calibrated on 400 held-out trace\(s\)/);
    assert.ok(statSync(model).size > 1000);

    const normal = run(['baseline', 'score', '--model', model, '--syscalls', join(work, 'normal')]);
    assert.equal(normal.code, 0, normal.stderr);
    const attack = run(['baseline', 'score', '--model', model, '--syscalls', join(work, 'attack')]);
    assert.equal(attack.code, 0, attack.stderr);
    const n = parseScores(normal.stdout);
    const a = parseScores(attack.stdout);
    assert.equal(n.size, 40);
    assert.equal(a.size, 40);
    // Paths are printed as found under DIR, in path order, nested directories included.
    const paths = [...a.keys()];
    assert.deepEqual(paths, [...paths].sort());
    assert.ok(paths.every((p) => p.startsWith(join(work, 'attack', 'nested') + '/')));
    const mean = (m: Map<string, number>): number => [...m.values()].reduce((s, v) => s + v, 0) / m.size;
    assert.ok(mean(a) > mean(n) + 1, `attacks ${mean(a)} vs normal ${mean(n)}`);
  });

  it('reports a malformed trace file (file and token), skips it and scores the rest', () => {
    const model = join(work, 'model2.bin');
    assert.equal(run(['baseline', 'train', '--syscalls', join(work, 'train'), '--model', model]).code, 0);
    const mixed = join(work, 'mixed');
    mkdirSync(mixed);
    writeFileSync(join(mixed, 'a-good.txt'), '6 11 45 33 192 33 5 197 192 6\n');
    writeFileSync(join(mixed, 'b-bad.txt'), '6 11 45 open 192\n');
    writeFileSync(join(mixed, 'c-good.txt'), '3 3 3 4 4 6\n');
    const r = run(['baseline', 'score', '--model', model, '--syscalls', mixed]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseScores(r.stdout).size, 2);
    assert.match(r.stderr, /b-bad\.txt: bad token 'open' at call 4 \(line 1\)/);
    assert.match(r.stderr, /scored 2 trace\(s\), skipped 1/);
  });

  it('exits non-zero when nothing can be read or the model is unusable', () => {
    const bad = join(work, 'only-bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.txt'), 'hello world\n');
    const model = join(work, 'never.bin');
    const t = run(['baseline', 'train', '--syscalls', bad, '--model', model]);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /x\.txt: bad token 'hello'/);
    assert.match(t.stderr, /no trace could be read/);
    assert.throws(() => statSync(model));

    const junk = join(work, 'junk.bin');
    writeFileSync(junk, 'not a model at all, clearly. '.repeat(4));
    const s = run(['baseline', 'score', '--model', junk, '--syscalls', join(work, 'normal')]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /junk\.bin: not a Vigil sequence model/);

    const usage = run(['baseline', 'train', '--syscalls', bad]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--model FILE is required/);
    const help = run(['baseline', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /PATH<TAB>SCORE/);
  });
});
