/**
 * Benchmark of the detection core (issue: detection core).
 *
 * 1. Rule evaluation: every rule of both upstream Falco rule files loaded; the events of every
 *    capture in shared/captures/scap replayed in a loop through RuleSet.match on one core.
 *    Target: at least 1,000,000 events/s.
 * 2. The whole `vigil replay` path (read, split, parse, evaluate, format alerts) on a large
 *    JSON-lines file made from the captures, against the floor of merely reading and
 *    JSON.parse-ing the same lines; both run as separate processes pinned to one core, in the
 *    same run. Target: ratio at most 2.0.
 *
 * Prints figures; it does not fail on machine noise. Run: npm run build && npm run bench:engine
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event } from '../../core/event.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { loadRules } from '../../core/rules/loader.js';
import type { CompiledRule } from '../../core/rules/ruleset.js';
import { captureLines, projectRoot, sharedDir, upstreamRuleFiles } from '../support/shared.js';

if (sharedDir === undefined) {
  console.log('bench/engine: ../shared is not beside this checkout; nothing to measure');
  process.exit(0);
}
const ruleFiles = upstreamRuleFiles(sharedDir);
const lines = captureLines(sharedDir);

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

// --- 1. rule evaluation -------------------------------------------------------------------------
const loaded = loadRules(
  ruleFiles.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })),
  { registry: createFieldRegistry() },
);
if (loaded.ruleset === undefined) throw new Error('upstream rules did not load');
const ruleset = loaded.ruleset;
const events: Event[] = lines.map((l) => ({ fields: JSON.parse(l) as Record<string, unknown> }));
const out: CompiledRule[] = [];
let matches = 0;
const pass = (): void => {
  for (const e of events) matches += ruleset.match(e, out);
};
for (let i = 0; i < 20; i++) pass(); // warm up the JIT
matches = 0;
let evaluated = 0;
const t0 = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < 3e9) {
  pass();
  evaluated += events.length;
  elapsed = Number(process.hrtime.bigint() - t0);
}
const evalRate = evaluated / (elapsed / 1e9);
console.log(
  `rules loaded: ${loaded.counts.rules} (${loaded.counts.enabledRules} enabled) from 2 upstream files`,
);
console.log(
  `events per pass: ${events.length} (all captures); matches per pass: ${matches / (evaluated / events.length)}`,
);
console.log(
  `rule evaluation: ${fmt(evalRate)} events/s on one core (target >= 1,000,000: ${evalRate >= 1e6 ? 'met' : 'NOT met'})`,
);

// --- 2. the replay path against the JSON.parse floor -------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
try {
  const input = join(work, 'events.jsonl');
  const target = 150 << 20;
  const block = lines.join('\n') + '\n';
  const copies = Math.max(1, Math.ceil(target / Buffer.byteLength(block)));
  writeFileSync(input, block.repeat(copies));
  const nLines = lines.length * copies;
  const size = statSync(input).size;
  const pin = hasTaskset() ? ['taskset', '-c', '0'] : [];
  const vigil = join(projectRoot, 'dist', 'cli', 'vigil.js');
  const floorScript = join(projectRoot, 'dist', 'test', 'bench', 'json-parse-floor.js');
  const replayArgs = [vigil, 'replay', ...ruleFiles.flatMap((f) => ['--rules', f]), input];
  const timeRun = (args: string[]): number => {
    const cmd = [...pin, process.execPath, ...args];
    const start = process.hrtime.bigint();
    const r = spawnSync(cmd[0] as string, cmd.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 64 << 20,
    });
    const ns = Number(process.hrtime.bigint() - start);
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.toString()}`);
    return ns / 1e9;
  };
  const floor: number[] = [];
  const replay: number[] = [];
  for (let i = 0; i < 3; i++) {
    floor.push(timeRun([floorScript, input]));
    replay.push(timeRun(replayArgs));
  }
  const bestFloor = Math.min(...floor);
  const bestReplay = Math.min(...replay);
  console.log(
    `replay input: ${fmt(nLines)} lines, ${(size / 2 ** 20).toFixed(0)} MiB${pin.length > 0 ? ' (processes pinned to one core)' : ''}`,
  );
  console.log(
    `floor (read + JSON.parse): best ${bestFloor.toFixed(2)} s = ${fmt(nLines / bestFloor)} lines/s`,
  );
  console.log(
    `vigil replay (read, parse, evaluate, format): best ${bestReplay.toFixed(2)} s = ${fmt(nLines / bestReplay)} events/s`,
  );
  const ratio = bestReplay / bestFloor;
  console.log(`replay / floor ratio: ${ratio.toFixed(2)} (target <= 2.0: ${ratio <= 2 ? 'met' : 'NOT met'})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}
