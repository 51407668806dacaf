// Builds the SOC console: compiles the browser TypeScript in this folder (its own tsconfig: DOM
// library, ES modules as browsers load them) and copies the page and its style sheet beside the
// scripts, with a modulepreload link per module. Usage: node build-console.mjs OUT_DIR (scripts/build.mjs passes
// dist/collector/console/static, where console-routes.ts looks for it).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: node build-console.mjs OUT_DIR\n');
  process.exit(2);
}
const outDir = resolve(out);
const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve('typescript7/package.json')), 'bin', 'tsc');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json'), '--outDir', outDir], {
  stdio: 'inherit',
});
copyFileSync(join(here, 'console.css'), join(outDir, 'console.css'));
// The page names every module up front, so the browser fetches them at once instead of
// discovering the import graph one level at a time.
const modules = readdirSync(outDir)
  .filter((f) => f.endsWith('.js') && f !== 'main.js')
  .sort();
const page = readFileSync(join(here, 'index.html'), 'utf8');
if (!page.includes('<!-- modulepreload -->'))
  throw new Error('index.html lacks the <!-- modulepreload --> marker');
writeFileSync(
  join(outDir, 'index.html'),
  page.replace(
    '<!-- modulepreload -->',
    modules.map((f) => `<link rel="modulepreload" href="/console/${f}" />`).join('\n    '),
  ),
);
