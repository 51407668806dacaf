import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireShared, sharedDir } from '../../test/support/shared.js';
import type { Event } from '../../core/event.js';
import { upstreamRuleMatcher } from './peer-rules.js';
import {
  MALFORMED_JSON_REASONS,
  RecordingSink,
  describeSourceConformance,
  jsonCorpus,
} from './source-conformance.js';
import { mapTetragonRecord, tetragonSourceFactory } from './tetragon-source.js';

const PEERS = 'captures/peers';

function sample(ctx: Mocha.Context, file: string): Record<string, unknown> {
  const text = readFileSync(join(requireShared(ctx, PEERS), file), 'utf8');
  return JSON.parse(text) as Record<string, unknown>;
}

function mapped(ctx: Mocha.Context, file: string): Record<string, unknown> {
  const out = mapTetragonRecord(sample(ctx, file));
  assert.notEqual(typeof out, 'string', `${file} maps to an event`);
  return (out as Event).fields;
}

/** Every line of Tetragon's testdata plus the four single-event samples. */
function allSampleLines(): string[] {
  if (sharedDir === undefined) return [];
  const peers = join(sharedDir, PEERS);
  const lines = readFileSync(join(peers, 'tetragon_testdata_events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  for (const f of [
    'tetragon_process_exec_docs.json',
    'tetragon_process_exit.json',
    'tetragon_process_kprobe_security_file_permission.json',
    'tetragon_legacy2022_process_connect.json',
  ]) {
    lines.push(JSON.stringify(JSON.parse(readFileSync(join(peers, f), 'utf8'))));
  }
  return lines;
}

if (sharedDir !== undefined) {
  let dir = '';
  const lines = allSampleLines();
  // Records Tetragon could send that this source does not map, or that are broken.
  const unmappable = [
    JSON.stringify({
      rate_limit_info: { number_of_dropped_process_events: 12 },
      node_name: 'n',
      time: '2024-01-01T00:00:00Z',
    }),
    JSON.stringify({ process_exec: 'not an object', node_name: 'n' }),
    JSON.stringify({ process_exec: { parent: {} }, node_name: 'n' }),
  ];
  describeSourceConformance('tetragon (export file)', {
    async create() {
      dir = await mkdtemp(join(tmpdir(), 'vigil-tetragon-'));
      const path = join(dir, 'tetragon.log');
      await writeFile(path, jsonCorpus([...lines.slice(0, 3), ...unmappable, ...lines.slice(3)]));
      return tetragonSourceFactory.create({ target: path, options: { follow: false } });
    },
    finite: true,
    expected: {
      events: lines.length,
      malformed: { ...MALFORMED_JSON_REASONS, 'bad-type': 5, 'unknown-kind': 1, 'missing-field': 1 },
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  });
} else {
  describe('tetragon (export file): source conformance', () => {
    it('needs ../shared', function () {
      requireShared(this);
    });
  });
}

describe('tetragon mapping', () => {
  it('maps process_exec to an execve with process, parent, container and pod', function () {
    const f = mapped(this, 'tetragon_process_exec_docs.json');
    assert.equal(f['evt.type'], 'execve');
    assert.equal(f['evt.dir'], '<');
    assert.equal(f['evt.rawres'], 0);
    assert.equal(f['proc.name'], 'whoami');
    assert.equal(f['proc.exepath'], '/usr/bin/whoami');
    assert.equal(f['proc.args'], '--version');
    assert.equal(f['proc.cmdline'], 'whoami --version');
    assert.equal(f['proc.pid'], 51583);
    assert.equal(f['proc.vpid'], 50);
    assert.equal(f['proc.cwd'], '/');
    assert.equal(f['proc.ppid'], 43872);
    assert.equal(f['proc.pname'], 'bash');
    assert.equal(f['proc.pexepath'], '/bin/bash');
    assert.equal(f['proc.pcmdline'], 'bash');
    assert.equal(f['user.uid'], 0);
    assert.equal(f['user.loginuid'], -1);
    assert.equal(f['container.id'], '1fb931d2f6e5');
    assert.equal(f['container.full_id'], '1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce');
    assert.equal(f['container.name'], 'spaceship');
    assert.equal(f['container.image'], 'docker.io/tgraf/netperf:latest');
    assert.equal(f['container.image.repository'], 'docker.io/tgraf/netperf');
    assert.equal(f['container.image.tag'], 'latest');
    assert.equal(
      f['container.image.digest'],
      'sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6',
    );
    assert.equal(f['k8s.ns.name'], 'default');
    assert.equal(f['k8s.pod.name'], 'xwing');
    assert.equal(f['evt.hostname'], 'kind-control-plane');
    assert.equal(f['evt.rawtime'], Date.parse('2022-05-11T12:54:45.615Z') * 1e6);
    assert.equal(f['evt.sampled'], undefined, 'a traced exec is not sampled');
  });

  it('maps process_exit to procexit with its status', function () {
    const f = mapped(this, 'tetragon_process_exit.json');
    assert.equal(f['evt.type'], 'procexit');
    assert.equal(f['evt.arg.status'], 0);
    assert.equal(f['proc.name'], 'whoami');
    assert.equal(f['k8s.pod.name'], 'xwing');
  });

  it('maps a security_file_permission kprobe with its file, thread, labels and return value', function () {
    const f = mapped(this, 'tetragon_process_kprobe_security_file_permission.json');
    assert.equal(f['evt.type'], 'security_file_permission');
    assert.equal(f['fd.name'], '/etc/passwd');
    assert.equal(f['fd.typechar'], 'f');
    assert.equal(f['evt.arg[1]'], 2);
    assert.equal(f['evt.rawres'], 0);
    assert.equal(f['evt.res'], 'SUCCESS');
    assert.equal(f['thread.tid'], 64746);
    assert.equal(f['proc.cmdline'], 'vi /etc/passwd');
    assert.equal(f['proc.pname'], 'sh');
    assert.equal(f['k8s.pod.label[run]'], 'file-access');
    assert.equal(f['container.id'], '6b742e38ee3a');
    assert.equal(f['evt.rawtime'], Date.parse('2024-04-14T02:18:14Z') * 1e6 + 376304204);
  });

  it("maps 2022's process_connect to connect with both ends, from the docker:// id", function () {
    const f = mapped(this, 'tetragon_legacy2022_process_connect.json');
    assert.equal(f['evt.type'], 'connect');
    assert.equal(f['fd.cip'], '10.88.0.6');
    assert.equal(f['fd.cport'], 48416);
    assert.equal(f['fd.sip'], '64.225.45.153');
    assert.equal(f['fd.sport'], 443);
    assert.equal(f['fd.l4proto'], 'tcp');
    assert.equal(f['fd.typechar'], '4');
    assert.equal(f['fd.name'], '10.88.0.6:48416->64.225.45.153:443');
    assert.equal(f['proc.name'], 'nc');
    assert.equal(f['proc.cmdline'], 'nc raiz3gjkgtfhkkc.not-reverse-shell.com 443');
    assert.equal(f['container.id'], 'e6af4dff4ea3');
    assert.equal(f['k8s.ns.name'], 'tenant-jobs');
  });

  it('maps syscall kprobes, tcp_connect sockets and tracepoints to Falco event types', () => {
    const process = { pid: 7, binary: '/usr/bin/curl', arguments: 'http://x', flags: 'execve clone' };
    const kprobe = (function_name: string, args: unknown[] = []): Record<string, unknown> => {
      const out = mapTetragonRecord({ process_kprobe: { process, function_name, args } });
      assert.notEqual(typeof out, 'string');
      return (out as Event).fields;
    };
    assert.equal(kprobe('__x64_sys_openat')['evt.type'], 'openat');
    assert.equal(kprobe('__arm64_sys_connect')['evt.type'], 'connect');
    assert.equal(kprobe('fd_install')['evt.type'], 'fd_install');
    const tcp = kprobe('tcp_connect', [
      {
        sock_arg: {
          family: 'AF_INET6',
          protocol: 'IPPROTO_TCP',
          saddr: '::ffff:10.0.0.2',
          daddr: '2001:db8::1',
          sport: 5000,
          dport: 443,
        },
      },
    ]);
    assert.equal(tcp['evt.type'], 'connect');
    assert.equal(tcp['fd.cip'], '10.0.0.2');
    assert.equal(tcp['fd.sip'], '2001:db8::1');
    assert.equal(tcp['fd.typechar'], '6');
    assert.equal(tcp['fd.l4proto'], 'tcp');
    assert.equal(tcp['container.id'], 'host');
    const tp = mapTetragonRecord({
      process_tracepoint: { process, subsys: 'syscalls', event: 'sys_enter_openat' },
    });
    assert.equal((tp as Event).fields['evt.type'], 'openat');
    assert.equal((tp as Event).fields['evt.dir'], '>');
  });

  it('marks processes Tetragon found in /proc at start-up as sampled, and maps ancestors', () => {
    const out = mapTetragonRecord({
      process_exec: {
        process: { pid: 9, binary: '/bin/sleep', arguments: '60', flags: 'procFS auid' },
        parent: { pid: 8, binary: '/bin/sh' },
        ancestors: [{ pid: 1, binary: '/sbin/init' }],
      },
    });
    const f = (out as Event).fields;
    assert.equal(f['evt.sampled'], true);
    assert.equal(f['proc.aname[2]'], 'init');
    assert.equal(f['proc.apid[2]'], 1);
    assert.equal(f['proc.pname'], 'sh');
  });

  it('produces events upstream-style rules match', function () {
    const match = upstreamRuleMatcher(
      requireShared(this),
      `
- rule: Whoami run in a pod by a shell
  desc: test rule written against the upstream macros
  condition: >
    spawned_process and container and proc.name = whoami and proc.pname = bash
    and proc.cmdline = "whoami --version" and k8s.ns.name = default and k8s.pod.name = xwing
  output: "%proc.cmdline in %k8s.ns.name/%k8s.pod.name (%container.id)"
  priority: WARNING
- rule: Netcat connects out from a pod
  desc: test rule
  condition: evt.type = connect and container and proc.name = nc and fd.sport = 443 and not fd.snet in (rfc_1918_addresses)
  output: "%proc.cmdline -> %fd.name"
  priority: WARNING
`,
    );
    const exec = mapTetragonRecord(sample(this, 'tetragon_process_exec_docs.json')) as Event;
    assert.ok(match(exec).includes('Whoami run in a pod by a shell'));
    const connect = mapTetragonRecord(sample(this, 'tetragon_legacy2022_process_connect.json')) as Event;
    assert.ok(match(connect).includes('Netcat connects out from a pod'));
    const exit = mapTetragonRecord(sample(this, 'tetragon_process_exit.json')) as Event;
    assert.deepEqual(match(exit), []);
  });

  it('reads the testdata export end to end, host parent and all', async function () {
    const peers = requireShared(this, PEERS);
    const source = tetragonSourceFactory.create({
      target: join(peers, 'tetragon_testdata_events.jsonl'),
      options: { follow: false },
    });
    const sink = new RecordingSink();
    await source.start(sink);
    await source.done();
    assert.equal(sink.eventCount, 3);
    assert.deepEqual(
      sink.events.map((e) => [e.fields['proc.name'], e.fields['k8s.pod.name'], e.fields['proc.pname']]),
      [
        ['netserver', 'tiefighter', 'containerd-shim-runc-v2'],
        ['starwars-docker', 'deathstar-6f87496b94-qdlh8', 'containerd-shim-runc-v2'],
        ['starwars-docker', 'deathstar-6f87496b94-gjf74', 'containerd-shim-runc-v2'],
      ],
    );
    assert.equal(sink.events[0]?.fields['k8s.pod.label[app.kubernetes.io/name]'], 'tiefighter');
    assert.equal(sink.events[0]?.fields['evt.rawtime'], undefined, 'the first line has no time');
  });
});
