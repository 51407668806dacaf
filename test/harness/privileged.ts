/**
 * Whether this machine can run privileged tests (real pods through containerd), and the policy
 * for when it cannot: skip with the reason on a developer's machine, fail loudly in CI
 * (`CI=true`), where a silently skipped suite would hide that nothing was tested.
 */
import { accessSync, constants, existsSync, openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BUSYBOX_PATH } from './busybox-image.js';

/** Programs the harness runs; all must be on PATH. */
const HARNESS_BINARIES = ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'tar', 'ip', 'umount'];
/** CNI plugins the harness's network uses. */
const CNI_PLUGINS = ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/loopback'];
/** What to install on Debian when something is missing. */
export const PRIVILEGED_PACKAGES = 'containerd runc containernetworking-plugins busybox-static nftables';

function onPath(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // try the next directory
    }
  }
  return false;
}

// A dynamically linked busybox cannot run inside the image, which has no libc: an ELF with a
// PT_INTERP program header is dynamic.
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(64);
    readSync(fd, header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false; // ELF64 only
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Why privileged tests cannot run here, or undefined when they can: they need Linux, root,
 * containerd with runc and the CNI plugins, a static busybox, overlayfs and a cgroup file system.
 * Pass `extraBinaries` for what a particular suite also runs (`nft`, `nsenter` ...).
 */
export function privilegedReason(extraBinaries: readonly string[] = []): string | undefined {
  if (process.platform !== 'linux') return `privileged tests need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'privileged tests need root (they run containerd and real pods)';
  const missing = [...HARNESS_BINARIES, ...extraBinaries].filter((b) => !onPath(b));
  missing.push(...CNI_PLUGINS.filter((p) => !existsSync(p)));
  if (!existsSync(BUSYBOX_PATH)) missing.push(BUSYBOX_PATH);
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install -y ${PRIVILEGED_PACKAGES})`;
  if (!isStaticElf(BUSYBOX_PATH))
    return `${BUSYBOX_PATH} is not statically linked (apt-get install -y busybox-static)`;
  const filesystems = readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay$/m.test(filesystems))
    return 'the kernel has no overlayfs (containerd needs it for container root file systems)';
  if (!existsSync('/sys/fs/cgroup/cgroup.controllers') && !existsSync('/sys/fs/cgroup/memory')) {
    return 'no cgroup file system is mounted at /sys/fs/cgroup';
  }
  return undefined;
}

/**
 * Call first in a privileged suite's `before()` (a `function`, not an arrow). Returns when the
 * suite can run. Otherwise it skips the suite with the reason, or, when `CI=true`, throws so the
 * run fails.
 */
export function requirePrivileged(ctx: Mocha.Context, extraBinaries: readonly string[] = []): void {
  const reason = privilegedReason(extraBinaries);
  if (reason === undefined) return;
  if (process.env['CI'] === 'true') {
    throw new Error(`privileged tests must run in CI but cannot: ${reason}`);
  }
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
