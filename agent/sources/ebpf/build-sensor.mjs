#!/usr/bin/env node
// Builds the live kernel sensor (the `ebpf` source's helper program) into a directory:
//
//   node agent/sources/ebpf/build-sensor.mjs OUT_DIR
//
// writes OUT_DIR/vigil-sensor: the libbpf loader with the CO-RE BPF object embedded as a
// skeleton, linked statically against libbpf, libelf and zlib where their archives exist.
// Steps: vmlinux.h from the running kernel's BTF (bpftool), the BPF C compiled by clang for the
// BPF target, `bpftool gen object` (drops debug info, keeps BTF and CO-RE relocations),
// `bpftool gen skeleton`, then the loader compiled with the C compiler.
//
// When a tool or library is missing it prints "live sensor unavailable: missing X" and exits 0:
// Vigil builds and runs without the sensor (the agent falls back to another source). A compile
// error in the sensor's own code exits non-zero.
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sources = join(here, 'sensor');
const PACKAGES = 'clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev';

const outDir = process.argv[2];
if (outDir === undefined || process.argv.length > 3) {
  process.stderr.write('usage: node build-sensor.mjs OUT_DIR\n');
  process.exit(2);
}

/** The first executable called `name` on PATH or in the sbin directories (bpftool lives there). */
function findTool(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function unavailable(what) {
  process.stdout.write(`live sensor unavailable: missing ${what} (apt-get install -y ${PACKAGES})\n`);
  process.exit(0);
}

/** The first existing path among `candidates`, for libraries and headers. */
function firstExisting(candidates) {
  return candidates.find((p) => existsSync(p));
}

const arch = { x64: 'x86', arm64: 'arm64' }[process.arch];
if (process.platform !== 'linux' || arch === undefined) {
  process.stdout.write(
    `live sensor unavailable: it builds on Linux x86-64 or arm64, not ${process.platform}/${process.arch}\n`,
  );
  process.exit(0);
}
const clang = findTool('clang') ?? unavailable('clang');
const bpftool = findTool('bpftool') ?? unavailable('bpftool');
const cc = findTool(process.env.CC ?? 'cc') ?? findTool('gcc') ?? clang;
const vmlinuxBtf = process.env.VIGIL_VMLINUX_BTF ?? '/sys/kernel/btf/vmlinux';
if (!existsSync(vmlinuxBtf)) unavailable(`${vmlinuxBtf} (kernel BTF, to generate vmlinux.h)`);
if (firstExisting(['/usr/include/bpf/libbpf.h', '/usr/local/include/bpf/libbpf.h']) === undefined)
  unavailable('the libbpf headers (bpf/libbpf.h)');
if (firstExisting(['/usr/include/libelf.h', '/usr/local/include/libelf.h']) === undefined)
  unavailable('the libelf headers (libelf.h)');

// Static archives where they exist, so the sensor runs on nodes without these libraries.
const libDirs = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/usr/local/lib',
];
const linkLib = (name) => firstExisting(libDirs.map((d) => join(d, `lib${name}.a`))) ?? `-l${name}`;
const hasLib = (name) =>
  firstExisting(libDirs.flatMap((d) => [join(d, `lib${name}.a`), join(d, `lib${name}.so`)])) !== undefined;
for (const lib of ['bpf', 'elf', 'z']) if (!hasLib(lib)) unavailable(`lib${lib}`);
// Debian's libelf is built with zstd compression support.
const extraLibs = hasLib('zstd') ? [linkLib('zstd')] : [];

const work = mkdtempSync(join(tmpdir(), 'vigil-sensor-build-'));
const run = (file, args) => execFileSync(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
/** Runs a tool whose standard output is a file it makes (vmlinux.h is megabytes). */
const runInto = (path, file, args) => {
  const fd = openSync(path, 'w');
  try {
    execFileSync(file, args, { stdio: ['ignore', fd, 'inherit'] });
  } finally {
    closeSync(fd);
  }
};
try {
  runInto(join(work, 'vmlinux.h'), bpftool, ['btf', 'dump', 'file', vmlinuxBtf, 'format', 'c']);
  const bpfObject = join(work, 'vigil-sensor.bpf.o');
  run(clang, [
    '-g',
    '-O2',
    '-Wall',
    '-target',
    'bpf',
    `-D__TARGET_ARCH_${arch}`,
    '-I',
    work,
    '-I',
    sources,
    '-c',
    join(sources, 'vigil-sensor.bpf.c'),
    '-o',
    bpfObject,
  ]);
  const linked = join(work, 'vigil-sensor.o');
  run(bpftool, ['gen', 'object', linked, bpfObject]);
  runInto(join(work, 'vigil-sensor.skel.h'), bpftool, [
    'gen',
    'skeleton',
    linked,
    'name',
    'vigil_sensor_bpf',
  ]);
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const binary = join(out, 'vigil-sensor');
  run(cc, [
    '-O2',
    '-Wall',
    '-Wextra',
    '-Wno-unused-parameter',
    '-I',
    work,
    '-I',
    sources,
    join(sources, 'vigil-sensor.c'),
    '-o',
    binary,
    linkLib('bpf'),
    linkLib('elf'),
    linkLib('z'),
    ...extraLibs,
  ]);
  process.stdout.write(`built live sensor: ${binary}\n`);
} catch (err) {
  process.stderr.write(`building the live sensor failed: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
