import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireShared, sharedDir } from '../../test/support/shared.js';
import type { Event } from '../../core/event.js';
import { upstreamRuleMatcher } from './peer-rules.js';
import { MALFORMED_JSON_REASONS, describeSourceConformance, jsonCorpus } from './source-conformance.js';
import { mapTraceeRecord, traceeSourceFactory } from './tracee-source.js';

const PEERS = 'captures/peers';
const SAMPLES = [
  'tracee_execve_k8s.json',
  'tracee_net_packet_tcp.json',
  'tracee_openat.json',
  'tracee_security_file_open.json',
];

function sample(ctx: Mocha.Context, file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(requireShared(ctx, PEERS), file), 'utf8')) as Record<string, unknown>;
}

function mapped(record: Record<string, unknown>): Record<string, unknown> {
  const out = mapTraceeRecord(record);
  assert.notEqual(typeof out, 'string', 'maps to an event');
  return (out as Event).fields;
}

if (sharedDir !== undefined) {
  let dir = '';
  const lines = SAMPLES.map((f) =>
    JSON.stringify(JSON.parse(readFileSync(join(sharedDir!, PEERS, f), 'utf8'))),
  );
  describeSourceConformance('tracee (JSON output)', {
    async create() {
      dir = await mkdtemp(join(tmpdir(), 'vigil-tracee-'));
      const path = join(dir, 'tracee.jsonl');
      // An event without its name cannot be typed: counted as missing-field.
      await writeFile(path, jsonCorpus([...lines, JSON.stringify({ timestamp: 1, processName: 'x' })]));
      return traceeSourceFactory.create({ target: path, options: { follow: false } });
    },
    finite: true,
    expected: { events: lines.length, malformed: { ...MALFORMED_JSON_REASONS, 'missing-field': 1 } },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  });
} else {
  describe('tracee (JSON output): source conformance', () => {
    it('needs ../shared', function () {
      requireShared(this);
    });
  });
}

describe('tracee mapping', () => {
  it('maps an execve to the new program, with host and namespace ids', function () {
    const f = mapped(sample(this, 'tracee_execve_k8s.json'));
    assert.equal(f['evt.type'], 'execve');
    assert.equal(f['evt.dir'], '<');
    assert.equal(f['proc.name'], 'bridge', 'the exec replaced cri-dockerd with the new program');
    assert.equal(f['proc.exepath'], '/opt/cni/bin/bridge');
    assert.equal(f['proc.exe'], '/opt/cni/bin/bridge');
    assert.equal(f['proc.args'], '');
    assert.equal(f['proc.cmdline'], 'bridge');
    assert.equal(f['proc.pid'], 3242201);
    assert.equal(f['proc.vpid'], 35694);
    assert.equal(f['thread.tid'], 3242201);
    assert.equal(f['proc.ppid'], 3205483);
    assert.equal(f['user.uid'], 0);
    assert.equal(f['evt.rawres'], 0);
    assert.equal(f['evt.hostname'], 'minikube');
    assert.equal(f['evt.rawtime'], Number('1684688250477166817'));
    assert.equal(f['container.id'], 'host', 'the sample carries an empty container');
    assert.equal(f['k8s.pod.name'], undefined);
  });

  it('keeps the caller when an execve failed', () => {
    const f = mapped({
      eventName: 'execve',
      processName: 'bash',
      returnValue: -2,
      args: [
        { name: 'pathname', value: '/nope' },
        { name: 'argv', value: ['/nope', '-x'] },
      ],
    });
    assert.equal(f['proc.name'], 'bash');
    assert.equal(f['evt.rawres'], -2);
    assert.equal(f['evt.res'], undefined);
    assert.equal(f['proc.cmdline'], undefined);
  });

  it('maps openat to an open of fd.name with its flags and descriptor', function () {
    const f = mapped(sample(this, 'tracee_openat.json'));
    assert.equal(f['evt.type'], 'openat');
    assert.equal(f['fd.name'], '/tmp/testing.txt');
    assert.equal(f['fd.typechar'], 'f');
    assert.equal(f['fd.num'], 3);
    assert.equal(f['evt.arg.flags'], 'O_WRONLY|O_CREAT|O_TRUNC');
    assert.equal(f['evt.arg.dirfd'], -100);
    assert.equal(f['proc.name'], 'bash');
    assert.equal(f['user.uid'], 1000);
  });

  it('keeps security_file_open under its own name, with its path', function () {
    const f = mapped(sample(this, 'tracee_security_file_open.json'));
    assert.equal(f['evt.type'], 'security_file_open');
    assert.equal(f['fd.name'], '/tmp/testing.txt');
    assert.equal(f['fd.num'], undefined, 'an LSM hook returns no descriptor');
  });

  it('maps net_packet_tcp to the connection ends', function () {
    const f = mapped(sample(this, 'tracee_net_packet_tcp.json'));
    assert.equal(f['evt.type'], 'net_packet_tcp');
    assert.equal(f['fd.cip'], '192.168.200.50');
    assert.equal(f['fd.cport'], 40020);
    assert.equal(f['fd.sip'], '70.42.73.30');
    assert.equal(f['fd.sport'], 80);
    assert.equal(f['fd.l4proto'], 'tcp');
    assert.equal(f['fd.name'], '192.168.200.50:40020->70.42.73.30:80');
    assert.equal(f['thread.tid'], 1014989);
    assert.equal(f['proc.exepath'], undefined, 'an empty executable path is missing, not ""');
  });

  it('maps sched_process_exec/exit and the nested container and kubernetes form', () => {
    const base = {
      processName: 'sh',
      hostProcessId: 50,
      container: { id: 'c'.repeat(64), name: 'app', image: 'registry:5000/team/app:1.2' },
      kubernetes: { podName: 'web-1', podNamespace: 'shop', podUID: 'uid-1' },
    };
    const exec = mapped({
      ...base,
      eventName: 'sched_process_exec',
      args: [
        { name: 'pathname', value: '/bin/sh' },
        { name: 'argv', value: ['sh', '-c', 'id'] },
        { name: 'cwd', value: '/srv' },
      ],
    });
    assert.equal(exec['evt.type'], 'execve');
    assert.equal(exec['proc.name'], 'sh');
    assert.equal(exec['proc.cmdline'], 'sh -c id');
    assert.equal(exec['proc.cwd'], '/srv');
    assert.equal(exec['container.id'], 'cccccccccccc');
    assert.equal(exec['container.image.repository'], 'registry:5000/team/app');
    assert.equal(exec['container.image.tag'], '1.2');
    assert.equal(exec['k8s.pod.name'], 'web-1');
    assert.equal(exec['k8s.ns.name'], 'shop');
    assert.equal(exec['k8s.pod.uid'], 'uid-1');
    const exit = mapped({
      ...base,
      eventName: 'sched_process_exit',
      args: [{ name: 'exit_code', value: 256 }],
    });
    assert.equal(exit['evt.type'], 'procexit');
    assert.equal(exit['evt.arg.status'], 256);
    const connect = mapped({
      ...base,
      eventName: 'security_socket_connect',
      args: [
        { name: 'remote_addr', value: { sa_family: 'AF_INET', sin_port: '443', sin_addr: '93.184.216.34' } },
      ],
    });
    assert.equal(connect['fd.sip'], '93.184.216.34');
    assert.equal(connect['fd.sport'], 443);
    const v1 = mapped({ eventName: 'openat', timestamp: { seconds: 1700000000, nanos: 5 } });
    assert.equal(v1['evt.rawtime'], 1700000000 * 1e9 + 5);
  });

  it('produces events upstream-style rules match', function () {
    const match = upstreamRuleMatcher(
      requireShared(this),
      `
- rule: Shell writes a file below tmp
  desc: test rule written against the upstream macros
  condition: open_write and proc.name = bash and fd.directory = /tmp and not container
  output: "%proc.name wrote %fd.name"
  priority: NOTICE
- rule: CNI plugin spawned on the host
  desc: test rule
  condition: spawned_process and not container and proc.name = bridge and proc.exepath startswith /opt/cni/bin/
  output: "%proc.exepath"
  priority: NOTICE
`,
    );
    const open = mapTraceeRecord(sample(this, 'tracee_openat.json')) as Event;
    assert.ok(match(open).includes('Shell writes a file below tmp'));
    const exec = mapTraceeRecord(sample(this, 'tracee_execve_k8s.json')) as Event;
    assert.ok(match(exec).includes('CNI plugin spawned on the host'));
    const lsm = mapTraceeRecord(sample(this, 'tracee_security_file_open.json')) as Event;
    assert.ok(!match(lsm).includes('Shell writes a file below tmp'), 'the LSM hook does not double the open');
  });
});
