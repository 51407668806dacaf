// `npm start` until the collector and agent land: builds Vigil if needed, then replays the real
// captures in ../shared through the upstream Falco rules and prints the alerts it raises.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(process.env.VIGIL_SHARED_DIR ?? join(root, '..', 'shared'));
const vigil = join(root, 'dist', 'cli', 'vigil.js');

if (!existsSync(vigil)) {
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
const rules = ['falco_rules.yaml', 'falco-incubating_rules.yaml'].map((f) => join(shared, 'falco-rules', f));
if (!rules.every((f) => existsSync(f))) {
  console.error(`The demo replays captures from ${shared}, which is not here.`);
  console.error(
    'Set VIGIL_SHARED_DIR, or run: node dist/cli/vigil.js replay --rules RULES.yaml EVENTS.jsonl',
  );
  process.exit(1);
}
const capDir = join(shared, 'captures', 'scap');
for (const cap of readdirSync(capDir)
  .filter((f) => f.endsWith('.falco.jsonl'))
  .sort()) {
  console.log(`\n== ${cap}`);
  const args = [
    vigil,
    'replay',
    '--rule-matching',
    'all',
    ...rules.flatMap((r) => ['--rules', r]),
    join(capDir, cap),
  ];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    process.exit(run.status ?? 1);
  }
  const alerts = run.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
  for (const a of alerts.slice(0, 5)) console.log(`${a.priority.padEnd(8)} ${a.output}`);
  if (alerts.length > 5) console.log(`... and ${alerts.length - 5} more`);
  process.stdout.write(
    run.stderr
      .split('\n')
      .slice(0, 3)
      .map((l) => `  ${l}`)
      .join('\n') + '\n',
  );
}
