/**
 * The agent's capabilities, established on the real kernel rather than asserted: each operation
 * the agent performs with a privilege is run as root with every capability dropped but a given
 * set (`setpriv --bounding-set`, which is what a container with `drop: [ALL]` and `add: [...]`
 * gets), against a process of another user in a network namespace of its own, as a pod's are.
 *
 * - With the DaemonSet's set (deploy/kubernetes/agent-daemonset.yaml), every operation works.
 * - Without any one capability of the set, the operation that needs it fails: none is spare.
 * - Freezing a cgroup needs none of them.
 *
 * Operations: the eBPF sensor loads, attaches and streams (CAP_BPF, CAP_PERFMON); reading
 * another user's /proc/PID/exe (CAP_SYS_PTRACE); `nsenter --net=/proc/PID/ns/net nft add table`
 * and `conntrack -D` there, as quarantine does (CAP_SYS_PTRACE to open the namespace,
 * CAP_SYS_ADMIN for setns, CAP_NET_ADMIN for nftables and conntrack); writing cgroup.freeze.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SENSOR_PATH } from '../../agent/sources/ebpf/ebpf-source.js';
import { requirePrivileged } from '../harness/privileged.js';
import { arr, at, kindOf, obj, plainManifests } from './manifests.js';

type Caps = readonly string[];

/** Runs `cmd` as root with only `caps` (names without CAP_) in the bounding set. */
function withCaps(caps: Caps, cmd: readonly string[]): string[] {
  const bounding = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  return ['setpriv', '--bounding-set', bounding, '--inh-caps', '-all', '--ambient-caps', '-all', ...cmd];
}

function run(caps: Caps, cmd: readonly string[]): { ok: boolean; output: string } {
  const [file, ...args] = withCaps(caps, cmd);
  const r = spawnSync(file as string, args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Starts the eBPF sensor with `caps`; ok when it streams records within 15 s. */
async function sensorRuns(caps: Caps): Promise<{ ok: boolean; output: string }> {
  const [file, ...args] = withCaps(caps, [DEFAULT_SENSOR_PATH, '--events', 'execve']);
  const child = spawn(file as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let errors = '';
  child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  return new Promise((resolve) => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      if (child.exitCode === null) child.kill('SIGTERM');
      resolve({ ok, output: errors.trim().split('\n').slice(-2).join(' | ') });
    };
    const timer = setTimeout(() => finish(false), 15_000);
    child.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > 0) finish(true);
    });
    child.once('exit', () => {
      if (bytes === 0) finish(false);
    });
  });
}

describe('the agent capabilities: enough, and each one needed (privileged)', function () {
  this.timeout(120_000);
  let target: ChildProcess | undefined;
  let pid = 0;
  let caps: string[] = [];
  let cgroup = '';

  before(async function () {
    requirePrivileged(this, ['setpriv', 'nsenter', 'nft', 'conntrack', 'unshare', 'readlink']);
    const ds = plainManifests().find((m) => kindOf(m) === 'DaemonSet');
    caps = arr(
      at(obj(arr(at(ds?.doc, 'spec.template.spec.containers'))[0]), 'securityContext.capabilities.add'),
    ).map(String);
    assert.deepEqual([...caps].sort(), ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE']);
    // A stand-in for a pod's process: another user (nobody), its own network namespace.
    target = spawn(
      'unshare',
      ['--net', 'setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', 'sleep', '600'],
      {
        stdio: 'ignore',
      },
    );
    pid = target.pid ?? 0;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const comm = existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
      if (comm === 'sleep') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'sleep');
  });

  after(() => {
    target?.kill('SIGKILL');
    if (cgroup !== '' && existsSync(cgroup)) rmdirSync(cgroup);
  });

  const readExe = (c: Caps): { ok: boolean; output: string } => {
    const r = run(c, ['readlink', `/proc/${pid}/exe`]);
    return { ok: r.ok && r.output.endsWith('/sleep'), output: r.output };
  };
  const quarantineNft = (c: Caps): { ok: boolean; output: string } =>
    run(c, ['nsenter', `--net=/proc/${pid}/ns/net`, 'nft', 'add', 'table', 'inet', 'vigil_captest']);

  it("reads another user's /proc/PID/exe with the set, and not without CAP_SYS_PTRACE", () => {
    assert.deepEqual(readExe(caps).ok, true, readExe(caps).output);
    assert.equal(readExe(caps.filter((c) => c !== 'SYS_PTRACE')).ok, false);
  });

  it("enters the pod's network namespace and writes nftables with the set; each of SYS_PTRACE, SYS_ADMIN, NET_ADMIN is needed", () => {
    const ok = quarantineNft(caps);
    assert.equal(ok.ok, true, ok.output);
    const listed = run(caps, ['nsenter', `--net=/proc/${pid}/ns/net`, 'nft', 'list', 'tables']);
    assert.match(listed.output, /table inet vigil_captest/);
    const without = (cap: string): { ok: boolean; output: string } =>
      quarantineNft(caps.filter((c) => c !== cap));
    assert.match(without('SYS_PTRACE').output, /cannot open .*ns\/net: Permission denied/);
    assert.match(
      without('SYS_ADMIN').output,
      /reassociate to namespace 'ns\/net' failed: Operation not permitted/,
    );
    assert.match(without('NET_ADMIN').output, /Operation not permitted/);
    for (const cap of ['SYS_PTRACE', 'SYS_ADMIN', 'NET_ADMIN']) assert.equal(without(cap).ok, false, cap);
  });

  it("flushes conntrack in the pod's network namespace with the set, and not without CAP_NET_ADMIN", () => {
    // conntrack -D exits 1 when it deleted nothing (the namespace is new): judge by its report.
    const flush = (c: Caps): { ok: boolean; output: string } =>
      run(c, ['nsenter', `--net=/proc/${pid}/ns/net`, 'conntrack', '-D']);
    const ok = flush(caps);
    assert.match(ok.output, /\d+ flow entries have been deleted/);
    assert.match(flush(caps.filter((c) => c !== 'NET_ADMIN')).output, /CAP_NET_ADMIN/);
  });

  it('freezes a cgroup with no capability at all (cgroup v2 cgroup.freeze, else the v1 freezer)', function () {
    // Where the hierarchies are mounted: the unified one at /sys/fs/cgroup, or beside v1 ones.
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '));
    const v2 = mounts.find((m) => m[2] === 'cgroup2')?.[1];
    const v1 = mounts.find((m) => m[2] === 'cgroup' && (m[3] ?? '').split(',').includes('freezer'))?.[1];
    if (v2 === undefined && v1 === undefined) {
      console.log('      skipped: no cgroup2 and no v1 freezer mounted');
      this.skip();
    }
    cgroup = join((v2 ?? v1) as string, `vigil-captest-${process.pid}`);
    mkdirSync(cgroup);
    if (v2 !== undefined) {
      const r = run([], ['sh', '-c', `echo 1 > ${join(cgroup, 'cgroup.freeze')}`]);
      assert.equal(r.ok, true, r.output);
      assert.match(readFileSync(join(cgroup, 'cgroup.events'), 'utf8'), /frozen 1/);
      writeFileSync(join(cgroup, 'cgroup.freeze'), '0');
    } else {
      const r = run([], ['sh', '-c', `echo FROZEN > ${join(cgroup, 'freezer.state')}`]);
      assert.equal(r.ok, true, r.output);
      assert.equal(readFileSync(join(cgroup, 'freezer.state'), 'utf8').trim(), 'FROZEN');
      writeFileSync(join(cgroup, 'freezer.state'), 'THAWED');
    }
  });

  it('runs the eBPF sensor with the set; CAP_BPF and CAP_PERFMON are each needed (and enough)', async function () {
    if (!existsSync(DEFAULT_SENSOR_PATH)) {
      const why = `the eBPF sensor is not built at ${DEFAULT_SENSOR_PATH} (npm run build, with clang, libbpf-dev and bpftool)`;
      if (process.env['CI'] === 'true') throw new Error(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const full = await sensorRuns(caps);
    assert.equal(full.ok, true, full.output);
    // Only the two: the sensor needs neither CAP_SYS_ADMIN nor the others.
    const two = await sensorRuns(['BPF', 'PERFMON']);
    assert.equal(two.ok, true, two.output);
    const noBpf = await sensorRuns(caps.filter((c) => c !== 'BPF' && c !== 'SYS_ADMIN'));
    assert.equal(noBpf.ok, false, 'ran without CAP_BPF');
    const noPerfmon = await sensorRuns(caps.filter((c) => c !== 'PERFMON' && c !== 'SYS_ADMIN'));
    assert.equal(noPerfmon.ok, false, 'ran without CAP_PERFMON');
    console.log(`      without CAP_BPF: ${noBpf.output}\n      without CAP_PERFMON: ${noPerfmon.output}`);
  });
});
