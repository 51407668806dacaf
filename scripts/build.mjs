// Builds Vigil: compiles the TypeScript with the native TypeScript 7 compiler into dist/ and
// copies the .proto contract beside the compiled modules.
// dist/ is cleared first so that a removed source file never leaves a stale test behind.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tsc = join(dirname(require.resolve('typescript7/package.json')), 'bin', 'tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
chmodSync(join(root, 'dist', 'cli', 'vigil.js'), 0o755);
// The live eBPF sensor, when clang, libbpf and bpftool are here; otherwise the script says the
// sensor is unavailable and the rest of Vigil builds and runs without it.
execFileSync(
  process.execPath,
  [
    join(root, 'agent', 'sources', 'ebpf', 'build-sensor.mjs'),
    join(root, 'dist', 'agent', 'sources', 'ebpf'),
  ],
  {
    stdio: 'inherit',
  },
);
// The SOC console: browser TypeScript with its own tsconfig (DOM library), served by the collector.
execFileSync(
  process.execPath,
  [
    join(root, 'collector', 'console', 'web', 'build-console.mjs'),
    join(root, 'dist', 'collector', 'console', 'static'),
  ],
  { stdio: 'inherit' },
);
// The wire contract is loaded at run time from beside the compiled proto modules.
cpSync(join(root, 'proto'), join(root, 'dist', 'proto'), {
  recursive: true,
  filter: (src) => !src.endsWith('.ts'),
});
