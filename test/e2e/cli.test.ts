/**
 * The `vigil` command as a user runs it: a separate process, real files, real pipes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, requireShared } from '../support/shared.js';

const vigil = join(projectRoot, 'dist', 'cli', 'vigil.js');

function run(
  args: string[],
  input?: string | Buffer,
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [vigil, ...args], {
    input: input ?? '',
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vigil CLI', function () {
  this.timeout(60_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('prints help and the version, and refuses unknown commands', () => {
    const help = run(['--help']);
    assert.equal(help.code, 0);
    for (const c of ['rules', 'filter', 'replay']) assert.match(help.stdout, new RegExp(`\\b${c}\\b`));
    assert.match(run(['--version']).stdout, /^vigil \d+\.\d+\.\d+/);
    const bad = run(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
    const usage = run(['replay']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--rules is required/);
  });

  describe('rules check', () => {
    it('loads both upstream rule files without errors and prints the counts', function () {
      const dir = requireShared(this, 'falco-rules');
      const r = run([
        'rules',
        'check',
        join(dir, 'falco_rules.yaml'),
        join(dir, 'falco-incubating_rules.yaml'),
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /2 file\(s\): 56 rules \(56 enabled\), \d+ macros, \d+ lists; 0 error\(s\)/);
    });

    it('names file, line and column of an error and exits 1', () => {
      const file = join(work, 'bad.yaml');
      writeFileSync(
        file,
        [
          '- macro: spawned',
          '  condition: evt.type = execve',
          '- rule: Broken',
          '  desc: uses a macro nobody defined',
          '  condition: spawned and not_defined_anywhere',
          '  output: "%proc.name"',
          '  priority: WARNING',
          '',
        ].join('\n'),
      );
      const r = run(['rules', 'check', file]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(
        r.stdout,
        new RegExp(`${file.replace(/[.]/g, '\\.')}:5:\\d+: error: .*not_defined_anywhere`),
      );
    });

    it('reports malformed YAML with its position', () => {
      const file = join(work, 'malformed.yaml');
      writeFileSync(file, '- rule: x\n  desc: [unclosed\n');
      const r = run(['rules', 'check', file]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /malformed\.yaml:\d+:\d+: error: /);
    });

    it('says which file it cannot read', () => {
      const r = run(['rules', 'check', join(work, 'nope.yaml')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot read rules file .*nope\.yaml/);
    });
  });

  describe('filter', () => {
    it('prints the evt.num of matching events of a real capture', function () {
      const cap = requireShared(this, 'captures/scap/libs_curl_google.falco.jsonl');
      const r = run(['filter', 'evt.type=connect and fd.sport=53', cap]);
      assert.equal(r.code, 0, r.stderr);
      const nums = r.stdout.trim().split('\n');
      assert.ok(nums.length >= 1);
      for (const n of nums) assert.match(n, /^\d+$/);
    });

    it('reads stdin, counts malformed lines and keeps going', () => {
      const input = [
        '{"evt.num": 1, "proc.name": "bash"}',
        'not json at all',
        '{"evt.num": 2, "proc.name": "ba',
        '[1, 2, 3]',
        Buffer.from([
          0x7b, 0x22, 0x65, 0x76, 0x74, 0x2e, 0x6e, 0x75, 0x6d, 0x22, 0x3a, 0x33, 0x2c, 0x22, 0x70, 0x72,
          0x6f, 0x63, 0x2e, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d,
        ]).toString('latin1'),
        '{"evt.num": 4, "proc.name": "bash"}',
        '{"evt.num": 5, "proc.name": 7}',
        '',
      ].join('\n');
      const r = run(['filter', 'proc.name = bash'], Buffer.from(input, 'latin1'));
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['1', '4']);
      assert.match(r.stderr, /skipped 3 malformed line/);
    });

    it('refuses an invalid condition with a position', () => {
      const r = run(['filter', 'proc.name = (bash'], '');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /invalid condition: .*\d+:\d+/);
    });

    it('handles a 1 MB condition and nesting past the limit with a clear answer, quickly', () => {
      // A command-line argument is limited to 128 KiB by the kernel: the batch form takes any size.
      const huge = Array.from({ length: 60_000 }, (_v, i) => `proc.name = p${i}`).join(' or ');
      assert.ok(huge.length > 1_000_000);
      const deep = '('.repeat(5000) + 'proc.name = x' + ')'.repeat(5000);
      const started = Date.now();
      const r = run(
        ['filter', '--batch'],
        [
          JSON.stringify({ condition: huge, event: { 'proc.name': 'p59999' } }),
          JSON.stringify({ condition: deep }),
        ].join('\n') + '\n',
      );
      assert.equal(r.code, 0, r.stderr);
      const [big, nested] = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { valid: boolean; match?: boolean; error?: string });
      assert.deepEqual(big, { valid: true, match: true });
      assert.equal(nested?.valid, false);
      assert.match(nested?.error ?? '', /depth|nest/i);
      assert.ok(Date.now() - started < 10_000, 'both answered within seconds');
    });

    it('answers batch requests one line each, in order, surviving bad lines', () => {
      const requests = [
        JSON.stringify({ condition: 'proc.name = bash', event: { 'proc.name': 'bash' } }),
        JSON.stringify({ condition: 'proc.name = bash', event: { 'proc.name': 'zsh' } }),
        JSON.stringify({ condition: 'some_macro and proc.name = x', parse_only: true }),
        JSON.stringify({ condition: 'some_macro and proc.name = x' }),
        JSON.stringify({ condition: 'no.such.field = 1' }),
        JSON.stringify({ condition: 'proc.name = (' }),
        'garbage',
        JSON.stringify({ condition: 42 }),
        JSON.stringify({ condition: 'user.uid > 5', event: { 'user.uid': 10 } }),
      ].join('\n');
      const r = run(['filter', '--batch'], requests + '\n');
      assert.equal(r.code, 0, r.stderr);
      const replies = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { valid: boolean; match?: boolean; error?: string });
      assert.equal(replies.length, 9);
      assert.deepEqual(
        replies.map((x) => [x.valid, x.match]),
        [
          [true, true],
          [true, false],
          [true, undefined],
          [false, undefined],
          [false, undefined],
          [false, undefined],
          [false, undefined],
          [false, undefined],
          [true, true],
        ],
      );
      for (const i of [3, 4, 5, 6, 7])
        assert.ok((replies[i]?.error ?? '').length > 0, `reply ${i} explains itself`);
    });
  });

  describe('replay', () => {
    it("raises the upstream rules' alerts, in Falco's JSON shape, from events that call for them", function () {
      const dir = requireShared(this, 'falco-rules');
      const events = [
        {
          'evt.num': 1,
          'evt.type': 'openat',
          'evt.dir': '<',
          'evt.rawtime': 1700000000123456789n,
          'evt.arg.flags': 'O_RDONLY',
          'fd.name': '/etc/shadow',
          'fd.typechar': 'f',
          'fd.num': 3,
          'proc.name': 'evilcat',
          'proc.pname': 'bash',
          'proc.cmdline': 'evilcat /etc/shadow',
          'proc.exepath': '/tmp/evilcat',
          'user.name': 'root',
          'user.uid': 0,
          'user.loginuid': 1000,
          'proc.tty': 34816,
          'container.id': 'host',
          'proc.aname[2]': 'sshd',
        },
        {
          'evt.num': 2,
          'evt.type': 'execve',
          'evt.dir': '<',
          'evt.rawtime': 1700000000223456789n,
          'proc.name': 'bash',
          'proc.pname': 'runc',
          'proc.cmdline': 'bash',
          'proc.exepath': '/bin/bash',
          'user.name': 'root',
          'user.uid': 0,
          'proc.tty': 34817,
          'container.id': '0123456789ab',
          'proc.vpid': 1,
        },
        // Same open, by a program the rule trusts: no alert.
        {
          'evt.num': 3,
          'evt.type': 'openat',
          'evt.dir': '<',
          'evt.rawtime': 1700000000323456789n,
          'evt.arg.flags': 'O_RDONLY',
          'fd.name': '/etc/shadow',
          'fd.typechar': 'f',
          'fd.num': 3,
          'proc.name': 'sshd',
          'container.id': 'host',
        },
      ];
      // bigint keeps the nanosecond timestamps exact, as a real source writes them.
      const input = events
        .map((e) =>
          JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(
            /"@@(\d+)@@"/g,
            '$1',
          ),
        )
        .join('\n');
      const r = run(
        [
          'replay',
          '--rule-matching',
          'all',
          '--rules',
          join(dir, 'falco_rules.yaml'),
          '--rules',
          join(dir, 'falco-incubating_rules.yaml'),
          '--hostname',
          'node-7',
        ],
        input,
      );
      assert.equal(r.code, 0, r.stderr);
      const alerts = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        alerts.map((a) => a['rule']),
        ['Read sensitive file untrusted', 'Terminal shell in container'],
      );
      const [read, shell] = alerts as [Record<string, unknown>, Record<string, unknown>];
      assert.equal(read['time'], '2023-11-14T22:13:20.123456789Z');
      assert.equal(read['priority'], 'Warning');
      assert.equal(read['source'], 'syscall');
      assert.equal(read['hostname'], 'node-7');
      assert.equal(read['kind'], 'signature');
      assert.match(read['id'] as string, /^[0-9a-f-]{36}$/);
      assert.match(
        read['output'] as string,
        /^22:13:20\.123456789: Warning Sensitive file opened for reading by non-trusted program \| file=\/etc\/shadow gparent=sshd ggparent=<NA> /,
      );
      const fields = read['output_fields'] as Record<string, unknown>;
      assert.equal(fields['fd.name'], '/etc/shadow');
      assert.equal(fields['proc.aname[3]'], null);
      assert.ok((read['tags'] as string[]).includes('mitre_credential_access'));
      assert.equal(shell['priority'], 'Notice');
      assert.match(
        shell['output'] as string,
        /A shell was spawned in a container with an attached terminal .*process=bash .*parent=runc/,
      );
      assert.match(r.stderr, /^events: 3$/m);
    });

    it('replays a real capture, reading every line', function () {
      const rules = requireShared(this, 'falco-rules/falco_rules.yaml');
      const cap = requireShared(this, 'captures/scap/falco_psp_run_as_user_0_container.falco.jsonl');
      const lines = readFileSync(cap, 'utf8')
        .split('\n')
        .filter((l) => l !== '').length;
      const r = run(['replay', '--rules', rules, cap]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^events: ${lines}$`, 'm'));
      assert.match(r.stderr, /^malformed lines skipped: 0$/m);
    });

    it('skips garbage, truncated JSON and oversized lines, counting them', () => {
      const rules = join(work, 'shell.yaml');
      writeFileSync(
        rules,
        [
          '- rule: Shell started',
          '  desc: a shell was executed',
          '  condition: evt.type = execve and proc.name in (bash, sh)',
          '  output: "shell %proc.name (parent %proc.pname, cmdline %proc.cmdline)"',
          '  priority: NOTICE',
          '  tags: [test]',
          '',
        ].join('\n'),
      );
      const good =
        '{"evt.type":"execve","proc.name":"bash","proc.pname":"sshd","proc.cmdline":"bash -i","evt.num":1}';
      const input = [
        good,
        '}{',
        '{"evt.type":',
        'x'.repeat(3 << 20),
        '"just a string"',
        good.replace('"evt.num":1', '"evt.num":2'),
        '',
      ].join('\n');
      const r = run(['replay', '--rules', rules, '-'], input);
      assert.equal(r.code, 0, r.stderr);
      const alerts = r.stdout
        .trim()
        .split('\n')
        .map(
          (l) => JSON.parse(l) as { rule: string; output: string; output_fields: Record<string, unknown> },
        );
      assert.equal(alerts.length, 2);
      assert.equal(alerts[0]?.rule, 'Shell started');
      assert.match(alerts[0]?.output ?? '', /shell bash \(parent sshd, cmdline bash -i\)$/);
      assert.equal(alerts[0]?.output_fields['proc.pname'], 'sshd');
      assert.match(r.stderr, /^events: 2$/m);
      assert.match(r.stderr, /^malformed lines skipped: 4 \(1 over the line-size limit\)$/m);
      assert.match(r.stderr, /^\s+2 {2}Shell started$/m);
    });

    it('refuses to replay when the rules do not load', () => {
      const rules = join(work, 'broken.yaml');
      writeFileSync(
        rules,
        '- rule: r\n  desc: d\n  condition: proc.name = (\n  output: o\n  priority: INFO\n',
      );
      const r = run(['replay', '--rules', rules, '-'], '');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /broken\.yaml:3:\d+: error: /);
    });
  });
});
