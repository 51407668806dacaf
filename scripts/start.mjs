// `npm start`: installs dependencies and builds when needed, then runs `vigil up` (a collector
// and an agent on this machine; see `vigil up --help`). Arguments after `--` go to `vigil up`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

if (!existsSync(join(root, 'node_modules', '.package-lock.json')))
  run('npm', ['ci', '--no-audit', '--no-fund']);

/** The newest modification time of any source file, to rebuild when sources changed. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (/\.(ts|mjs|proto|c|h|html|css)$/.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const built = join(root, 'dist', 'cli', 'vigil.js');
if (!existsSync(built) || statSync(built).mtimeMs < newest(root))
  run(process.execPath, [join(root, 'scripts', 'build.mjs')]);

const r = spawnSync(process.execPath, [built, 'up', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 0);
