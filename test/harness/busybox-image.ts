/**
 * Builds, without a registry or a Docker engine, an OCI image archive holding the host's static
 * busybox, tagged twice: an app image (`sh` by default) and a pause image whose entrypoint sleeps
 * forever, for the CRI plugin's `sandbox_image`. Both tags share the one layer.
 *
 * The layer is `/bin/busybox`, a symlink in `/bin` for every applet it has, a minimal
 * `/etc/passwd` and `/etc/group`, and the empty directories a container runtime mounts over.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from './processes.js';

/** The app image's reference. */
export const APP_IMAGE = 'vigil.test/busybox:1';
/** The pause image's reference. */
export const PAUSE_IMAGE = 'vigil.test/pause:1';

/** Where busybox-static installs its binary. */
export const BUSYBOX_PATH = '/bin/busybox';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function ociArchitecture(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return process.arch; // arm64, arm, ppc64, s390x, riscv64: the same names in OCI
  }
}

/**
 * Writes the image archive (`docker save`-free OCI layout in a tar) into `workDir` and returns
 * its path. `workDir` is used as scratch space and must be empty or absent.
 */
export async function buildBusyboxImageArchive(workDir: string): Promise<string> {
  const rootfs = join(workDir, 'rootfs');
  const layout = join(workDir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(blobs, { recursive: true });
  for (const dir of ['proc', 'sys', 'dev', 'tmp', 'root', 'var/www', 'run']) {
    await mkdir(join(rootfs, dir), { recursive: true });
  }

  await copyFile(BUSYBOX_PATH, join(rootfs, 'bin', 'busybox'));
  const applets = (await run(BUSYBOX_PATH, ['--list'])).stdout
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a));
  for (const applet of new Set(applets)) {
    if (applet !== 'busybox') await symlink('busybox', join(rootfs, 'bin', applet));
  }
  await writeFile(
    join(rootfs, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');

  // A reproducible tar: fixed owners, order and times.
  const layerTar = join(workDir, 'layer.tar');
  await run('tar', [
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '--sort=name',
    '--mtime=@0',
    '-C',
    rootfs,
    '-cf',
    layerTar,
    '.',
  ]);
  const tarBytes = await readFile(layerTar);
  const layerGz = gzipSync(tarBytes);
  const diffId = `sha256:${sha256(tarBytes)}`;
  const layerDigest = sha256(layerGz);
  await writeFile(join(blobs, layerDigest), layerGz);

  async function blob(json: unknown): Promise<{ digest: string; size: number }> {
    const bytes = Buffer.from(JSON.stringify(json));
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest), bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  }

  async function image(reference: string, config: Record<string, unknown>): Promise<Record<string, unknown>> {
    const cfg = await blob({
      architecture: ociArchitecture(),
      os: 'linux',
      config: { Env: ['PATH=/bin'], WorkingDir: '/', ...config },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created_by: 'vigil test harness: busybox-static' }],
    });
    const manifest = await blob({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, ...cfg },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: `sha256:${layerDigest}`, size: layerGz.length }],
    });
    const tag = reference.slice(reference.lastIndexOf(':') + 1);
    return {
      mediaType: OCI_MANIFEST,
      ...manifest,
      annotations: { 'io.containerd.image.name': reference, 'org.opencontainers.image.ref.name': tag },
    };
  }

  const manifests = [
    await image(APP_IMAGE, { Cmd: ['sh'] }),
    await image(PAUSE_IMAGE, { Entrypoint: ['/bin/sleep', '2147483647'] }),
  ];
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));

  const archive = join(workDir, 'images.tar');
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', archive, '.']);
  await rm(rootfs, { recursive: true, force: true });
  return archive;
}
