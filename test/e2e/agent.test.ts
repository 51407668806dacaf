/**
 * `vigil agent` end to end: a real process, real files, its metrics endpoint, its spool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSpool } from '../../agent/spool/spool.js';
import { metricValue, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { projectRoot, requireShared } from '../support/shared.js';
import { sysdigExport, sysdigUnavailable, toJsonLine } from '../support/sysdig.js';

const vigil = join(projectRoot, 'dist', 'cli', 'vigil.js');

/** A rule of our own that needs process ancestry the capture's JSON lines do not carry. */
const ancestryRule = [
  '- rule: Listing under a container shim',
  '  desc: ls whose grandparent is containerd-shim',
  '  condition: evt.type in (execve, open) and evt.dir = < and proc.aname[2] = containerd-shim',
  '  output: "%proc.name parent=%proc.pname gparent=%proc.aname[2] ggparent=%proc.aname[3] container=%container.id file=%fd.name"',
  '  priority: NOTICE',
  '',
].join('\n');

const shellRule = (name: string): string =>
  [
    `- rule: ${name}`,
    '  desc: a shell ran',
    '  condition: evt.type = execve and proc.name in (bash, sh)',
    '  output: "shell %proc.name by %user.name"',
    '  priority: WARNING',
    '',
  ].join('\n');

const shellEvent = (n: number): string =>
  JSON.stringify({
    'evt.num': n,
    'evt.type': 'execve',
    'evt.dir': '<',
    'proc.name': 'bash',
    'user.name': 'root',
    'proc.pid': 100 + n,
  });

describe('vigil agent (e2e)', function () {
  this.timeout(120_000);
  let work: string;
  const running: AgentProcess[] = [];
  const agent = (args: string[]): AgentProcess => {
    const a = startAgentProcess(['--listen', '127.0.0.1:0', ...args]);
    running.push(a);
    return a;
  };
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'vigil-agent-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((a) => a.stop()));
    rmSync(work, { recursive: true, force: true });
  });

  it('raises the same alerts as vigil replay, resolving ancestry from its process table', async function () {
    const capture = requireShared(this, 'captures/scap/falco_psp_run_as_user_0_container.falco.jsonl');
    const scap = requireShared(this, 'captures/scap/falco_psp_run_as_user_0_container.scap');
    const why = sysdigUnavailable();
    if (why !== undefined) {
      if (process.env['CI'] === 'true') throw new Error(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const rules = join(work, 'rules.yaml');
    writeFileSync(rules, ancestryRule);
    // Ground truth for replay: sysdig's own export, where libsinsp computed the ancestry.
    const exported = await sysdigExport(scap, [
      'evt.rawtime',
      'evt.type',
      'evt.dir',
      'proc.name',
      'proc.pname',
      'proc.aname[2]',
      'proc.aname[3]',
      'container.id',
      'fd.name',
    ]);
    const replayInput = join(work, 'exported.jsonl');
    writeFileSync(replayInput, exported.map((r) => toJsonLine(r)).join('\n') + '\n');
    const replay = spawnSync(
      process.execPath,
      [vigil, 'replay', '--rules', rules, '--rule-matching', 'all', replayInput],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(replay.status, 0, replay.stderr);
    const expected = replay.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { output: string }).output)
      .sort();
    assert.ok(expected.length >= 5, `replay raised ${expected.length} alerts`);

    // The agent reads the capture's own JSON lines, which carry no proc.aname[N] at all.
    assert.ok(!readFileSync(capture, 'utf8').includes('proc.aname'));
    const a = agent([
      '--source',
      `jsonl:${capture}`,
      '--no-follow',
      '--exit-when-done',
      '--rules',
      rules,
      '--rule-matching',
      'all',
      '--data-dir',
      join(work, 'data'),
    ]);
    assert.equal(await a.exited(), 0, JSON.stringify(a.logs.slice(-5)));
    const got = a.alerts.map((x) => x['output'] as string).sort();
    assert.deepEqual(got, expected);
    assert.match(
      got[0] ?? '',
      /parent=bash gparent=containerd-shim ggparent=containerd container=697956520d89/,
    );
  });

  it('counts bad input on its metrics endpoint and keeps running', async () => {
    const rules = join(work, 'rules.yaml');
    writeFileSync(rules, shellRule('Shell ran'));
    const input = join(work, 'events.jsonl');
    writeFileSync(input, shellEvent(1) + '\n');
    const a = agent(['--source', `jsonl:${input}`, '--rules', rules, '--data-dir', join(work, 'data')]);
    await a.waitFor('the first alert', () => a.alerts.length === 1);
    appendFileSync(
      input,
      [
        'garbage',
        '{"evt.type": "exec',
        '[1,2]',
        '42',
        'x'.repeat(2 << 20),
        '{"evt.type": 7, "proc.name": ["bash"]}',
        shellEvent(2),
        '',
      ].join('\n'),
    );
    await a.waitFor('the second alert', () => a.alerts.length === 2);
    const text = await (await fetch(await a.metricsUrl())).text();
    const malformed = ['not-json', 'oversized', 'not-an-object', 'bad-type', 'truncated']
      .map((reason) => metricValue(text, 'vigil_agent_malformed_events_total', { source: 'jsonl', reason }))
      .reduce((x, y) => x + y, 0);
    assert.ok(
      malformed >= 5,
      `malformed counted: ${malformed}\n${text
        .split('\n')
        .filter((l) => l.includes('malformed'))
        .join('\n')}`,
    );
    assert.equal(
      metricValue(text, 'vigil_agent_rule_matches_total', { rule: 'Shell ran', priority: 'Warning' }),
      2,
    );
    assert.equal(metricValue(text, 'vigil_agent_events_total', { source: 'jsonl', type: 'execve' }), 2);
    assert.ok(metricValue(text, 'vigil_agent_spool_depth_alerts') >= 2);
    const url = new URL(await a.metricsUrl());
    assert.equal((await fetch(new URL('/healthz', url))).status, 200);
    assert.equal((await fetch(new URL('/readyz', url))).status, 200);
  });

  it('reloads rules on change, and keeps the last good ruleset when the new one is broken', async () => {
    const rules = join(work, 'rules.yaml');
    writeFileSync(rules, shellRule('Shell ran'));
    const input = join(work, 'events.jsonl');
    writeFileSync(input, '');
    const a = agent(['--source', `jsonl:${input}`, '--rules', rules, '--data-dir', join(work, 'data')]);
    const url = await a.metricsUrl();
    writeFileSync(
      rules,
      '- rule: Broken\n  desc: x\n  condition: proc.name = (\n  output: x\n  priority: INFO\n',
    );
    await a.waitFor('the failed reload', () =>
      a.logs.some((l) => l['msg'] === 'rules reload failed; keeping the last good ruleset'),
    );
    const failed = a.logs.find((l) => l['msg'] === 'rules reload failed; keeping the last good ruleset');
    assert.match(JSON.stringify(failed?.['errors']), /rules\.yaml:3:\d+/);
    assert.equal(metricValue(await (await fetch(url)).text(), 'vigil_agent_rules_last_reload_success'), 0);
    appendFileSync(input, shellEvent(1) + '\n');
    await a.waitFor('an alert from the last good rules', () => a.alerts.length === 1);
    assert.equal(a.alerts[0]?.['rule'], 'Shell ran');

    writeFileSync(rules, shellRule('Shell ran, renamed'));
    await a.waitFor('the good reload', () => a.logs.some((l) => l['msg'] === 'rules reloaded'));
    assert.equal(metricValue(await (await fetch(url)).text(), 'vigil_agent_rules_last_reload_success'), 1);
    appendFileSync(input, shellEvent(2) + '\n');
    await a.waitFor('an alert from the new rules', () => a.alerts.length === 2);
    assert.equal(a.alerts[1]?.['rule'], 'Shell ran, renamed');
    // SIGHUP reloads too.
    a.child.kill('SIGHUP');
    await a.waitFor('the SIGHUP reload', () => a.logs.some((l) => l['reason'] === 'SIGHUP'));
  });

  it('loses no alert it printed (after spooling) when killed with SIGKILL', async () => {
    const rules = join(work, 'rules.yaml');
    writeFileSync(rules, shellRule('Shell ran'));
    const input = join(work, 'events.jsonl');
    writeFileSync(input, Array.from({ length: 200_000 }, (_v, i) => shellEvent(i)).join('\n') + '\n');
    const data = join(work, 'data');
    const a = agent(['--source', `jsonl:${input}`, '--rules', rules, '--data-dir', data]);
    await a.waitFor('alerts flowing', () => a.alerts.length >= 2000, 60_000);
    a.child.kill('SIGKILL');
    await a.exited();
    const printed = a.alerts.map((x) => x['id'] as string);
    const spool = openSpool({ path: join(data, 'spool.db') });
    try {
      const held = new Set(spool.peek({ limit: 1_000_000 }).map((s) => s.alert.id));
      const missing = printed.filter((id) => !held.has(id));
      assert.equal(
        missing.length,
        0,
        `${missing.length} of ${printed.length} printed alerts are not in the spool`,
      );
      assert.ok(held.size >= printed.length);
      console.log(`      killed after ${printed.length} alerts printed; the spool holds ${held.size}`);
    } finally {
      spool.close();
    }
  });

  it('refuses a bad configuration with the file, key and position', () => {
    const cfg = join(work, 'agent.yaml');
    writeFileSync(cfg, 'rules: [a.yaml]\nspool:\n  max_alerts: lots\n');
    const r = spawnSync(process.execPath, [vigil, 'agent', '--config', cfg], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /agent\.yaml:3:\d+: spool\.max_alerts: expected a positive integer, found "lots"/);
    const env = spawnSync(process.execPath, [vigil, 'agent', '--rules', 'x.yaml'], {
      encoding: 'utf8',
      env: { ...process.env, VIGIL_RULE_MATCHING: 'sometimes' },
    });
    assert.equal(env.status, 2);
    assert.match(
      env.stderr,
      /environment variable VIGIL_RULE_MATCHING: rule_matching: expected one of first, all/,
    );
  });
});
