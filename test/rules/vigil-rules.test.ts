/**
 * Vigil's default ruleset: it loads cleanly, each rule fires on the activity it describes (and
 * only that rule), stays quiet on look-alike activity, and raises nothing on the recorded captures.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { loadRules } from '../../core/rules/loader.js';
import type { CompiledRule } from '../../core/rules/ruleset.js';
import type { RuleSet } from '../../core/rules/ruleset.js';
import { projectRoot, requireShared } from '../support/shared.js';

const inPod = {
  'container.id': '3f2a9c1b7d4e',
  'k8s.pod.name': 'web-1',
  'k8s.ns.name': 'shop',
  'user.name': 'root',
};
const exec = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  'evt.type': 'execve',
  'evt.dir': '<',
  'proc.name': name,
  'proc.cmdline': `${name} -x`,
  'proc.pname': 'runc',
  ...extra,
});
const open = (
  file: string,
  flags: string,
  proc: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  'evt.type': 'openat',
  'evt.dir': '<',
  'evt.arg.flags': flags,
  'fd.name': file,
  'fd.typechar': 'f',
  'fd.num': 5,
  'proc.name': proc,
  'container.id': 'host',
  ...extra,
});

/** One event per rule that must raise exactly that rule. */
const firing: readonly [string, Record<string, unknown>][] = [
  ['Vigil shell started in a container', exec('bash', inPod)],
  ['Vigil secret file read', open('/etc/shadow', 'O_RDONLY', 'python3')],
  ['Vigil write below a binary directory', open('/usr/bin/ls', 'O_WRONLY|O_TRUNC', 'curl')],
  ['Vigil package manager in a container', exec('apt-get', inPod)],
  ['Vigil network tool started', exec('ncat', { 'container.id': 'host' })],
  [
    'Vigil connection to a mining pool port',
    {
      'evt.type': 'connect',
      'evt.dir': '<',
      'fd.typechar': '4',
      'fd.sip': '203.0.113.9',
      'fd.sport': 3333,
      'fd.name': '10.0.0.2:40000->203.0.113.9:3333',
      'proc.name': 'xmrig',
      'container.id': 'host',
    },
  ],
  [
    'Vigil service account token read',
    open('/var/run/secrets/kubernetes.io/serviceaccount/token', 'O_RDONLY', 'curl', inPod),
  ],
  [
    'Vigil log file cleared',
    {
      'evt.type': 'unlinkat',
      'evt.dir': '<',
      'fd.name': '/var/log/auth.log',
      'proc.name': 'rm',
      'container.id': 'host',
    },
  ],
  ['Vigil namespace escape tool', exec('nsenter', inPod)],
  [
    'Vigil program run from a temporary directory',
    exec('payload', { 'proc.exepath': '/tmp/payload', 'container.id': 'host' }),
  ],
];

/** Look-alike activity that must raise nothing. */
const quiet: readonly [string, Record<string, unknown>][] = [
  ['a shell on the host', exec('bash', { 'container.id': 'host' })],
  ['sshd reading /etc/shadow', open('/etc/shadow', 'O_RDONLY', 'sshd')],
  ['dpkg writing a binary', open('/usr/bin/ls', 'O_WRONLY', 'dpkg')],
  ['reading a binary', open('/usr/bin/ls', 'O_RDONLY', 'curl')],
  [
    'a connection to port 443',
    {
      'evt.type': 'connect',
      'evt.dir': '<',
      'fd.typechar': '4',
      'fd.sport': 443,
      'proc.name': 'curl',
      'container.id': 'host',
    },
  ],
  ['appending to a log', open('/var/log/app.log', 'O_WRONLY|O_APPEND', 'app')],
  ['a program from /usr/bin', exec('ls', { 'proc.exepath': '/usr/bin/ls', 'container.id': 'host' })],
];

describe('Vigil default ruleset (rules/vigil-rules.yaml)', () => {
  let ruleset: RuleSet;
  before(() => {
    const file = join(projectRoot, 'rules', 'vigil-rules.yaml');
    const result = loadRules([{ name: file, text: readFileSync(file, 'utf8') }], {
      registry: createFieldRegistry(),
      ruleMatching: 'all',
    });
    assert.deepEqual(result.diagnostics, []);
    assert.ok(result.ruleset !== undefined);
    ruleset = result.ruleset;
  });

  const fired = (fields: Record<string, unknown>): string[] => {
    const out: CompiledRule[] = [];
    const n = ruleset.match({ fields }, out);
    return out.slice(0, n).map((r) => r.name);
  };

  it('has a firing test for every rule', () => {
    assert.deepEqual(ruleset.rules.map((r) => r.name).sort(), firing.map(([name]) => name).sort());
  });

  for (const [rule, fields] of firing) {
    it(`fires: ${rule}`, () => assert.deepEqual(fired(fields), [rule]));
  }
  for (const [what, fields] of quiet) {
    it(`stays quiet: ${what}`, () => assert.deepEqual(fired(fields), []));
  }

  it('raises nothing on the recorded captures', function () {
    const dir = requireShared(this, 'captures/scap');
    let events = 0;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.falco.jsonl'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        if (line === '') continue;
        events++;
        assert.deepEqual(
          fired(JSON.parse(line) as Record<string, unknown>),
          [],
          `${f}: ${line.slice(0, 200)}`,
        );
      }
    }
    assert.ok(events > 5000);
  });
});
