import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireShared } from '../../test/support/shared.js';
import { eventFromRecord, type Event } from '../event.js';
import { createFieldRegistry } from '../fields/registry.js';
import { Priority } from '../priority.js';
import type { CompiledRule } from './compiled-rule.js';
import { loadRules, type Diagnostic, type LoadOptions, type LoadResult } from './loader.js';

const registry = createFieldRegistry();

function load(files: string | readonly [string, string][], options?: Partial<LoadOptions>): LoadResult {
  const sources =
    typeof files === 'string'
      ? [{ name: 'rules.yaml', text: files }]
      : files.map(([name, text]) => ({ name, text }));
  return loadRules(sources, { registry, ...options });
}

const errors = (r: LoadResult): Diagnostic[] => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: LoadResult): Diagnostic[] => r.diagnostics.filter((d) => d.severity === 'warning');

function show(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}${d.item === undefined ? '' : ` [${d.item}]`}`;
}

/** Asserts the load has no errors and returns its rule set. */
function ok(r: LoadResult) {
  assert.deepEqual(errors(r).map(show), []);
  assert.ok(r.ruleset !== undefined);
  return r.ruleset;
}

/** The 1-based line and column of the `nth` occurrence of `needle` in `text`. */
function posOf(text: string, needle: string, nth = 1): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i < nth; i++) {
    at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `${needle} not found`);
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - before.lastIndexOf('\n') };
}

function assertAt(
  d: Diagnostic | undefined,
  file: string,
  pos: { line: number; column: number },
  message: RegExp,
): void {
  assert.ok(d !== undefined, 'expected a diagnostic');
  assert.equal(d.file, file, show(d));
  assert.equal(d.line, pos.line, show(d));
  assert.equal(d.column, pos.column, show(d));
  assert.match(d.message, message, show(d));
}

const evt = (fields: Record<string, unknown>): Event => eventFromRecord(fields);

function matchNames(ruleset: NonNullable<LoadResult['ruleset']>, e: Event): string[] {
  const out: CompiledRule[] = [];
  const n = ruleset.match(e, out);
  return out.slice(0, n).map((r) => r.name);
}

const rule = (name: string, condition: string, extra = ''): string =>
  `- rule: ${name}
  desc: ${name} description
  condition: ${condition}
  output: "${name} fired (proc=%proc.name)"
  priority: WARNING
${extra}`;

describe('loadRules', () => {
  describe('reading lists, macros and rules', () => {
    it('loads a small rule file and matches events', () => {
      const r = load(`
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: Shell spawned
  desc: a shell started
  condition: spawned and proc.name in (shells)
  output: "shell %proc.name started by %proc.pname"
  priority: notice
  tags: [shell, process, shell]
`);
      const ruleset = ok(r);
      assert.deepEqual(r.counts, { rules: 1, enabledRules: 1, macros: 1, lists: 1 });
      const compiled = ruleset.get('Shell spawned') ?? assert.fail('rule');
      assert.equal(compiled.priority, Priority.Notice);
      assert.deepEqual(compiled.tags, ['process', 'shell']);
      assert.equal(compiled.description, 'a shell started');
      assert.equal(compiled.source, 'syscall');
      assert.equal(compiled.condition, 'spawned and proc.name in ( bash, sh )');
      assert.deepEqual(compiled.eventTypes, new Set(['execve']));
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'execve', 'proc.name': 'sh' })), [
        'Shell spawned',
      ]);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'execve', 'proc.name': 'cat' })), []);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'sh' })), []);
      assert.equal(
        compiled.output.render(evt({ 'proc.name': 'sh', 'proc.pname': 'sshd' })).text,
        'shell sh started by sshd',
      );
    });

    it('expands list items that name earlier lists; later list names are substituted as text', () => {
      const r = load(`
- list: a
  items: [x1, x2]
- list: b
  items: [a, c_later, y]
- list: c_later
  items: [z]
${rule('R', 'evt.type = open and proc.name in (b)')}`);
      const ruleset = ok(r);
      // b's items become [x1, x2, c_later, y] at list time; substituting the lists into the
      // condition in definition order then replaces the text 'c_later' as well, as Falco does.
      assert.equal(ruleset.get('R')?.condition, 'evt.type = open and proc.name in ( x1, x2, z , y )');
      const r2 = load(`
- list: b
  items: [a, y]
- list: a
  items: [x1]
${rule('R', 'evt.type = open and proc.cmdline = "b"')}`);
      // A list item naming a list defined later is not expanded at list time; nothing uses b.
      assert.ok(warnings(r2).some((w) => w.item === 'b' && /not used/.test(w.message)));
      assert.ok(warnings(r2).some((w) => w.item === 'a' && /not used/.test(w.message)));
    });

    it('appends to lists (legacy append warns) and redefines them with override replace', () => {
      const r = load(`
- list: l
  items: [a]
- list: l
  items: [b]
  append: true
- list: l
  items: [c]
  override:
    items: append
- list: m
  items: [old]
- list: m
  items: [new]
  override:
    items: replace
${rule('R', 'evt.type = open and proc.name in (l) and proc.pname in (m)')}`);
      const ruleset = ok(r);
      assert.equal(
        ruleset.get('R')?.condition,
        'evt.type = open and proc.name in ( a, b, c ) and proc.pname in ( new )',
      );
      assert.equal(warnings(r).filter((w) => /'append: true' is deprecated/.test(w.message)).length, 1);
      assert.equal(r.counts.lists, 2);
    });

    it('appends to macros with override append (joined with one space)', () => {
      const r = load(`
- macro: m
  condition: (proc.name = a
- macro: m
  condition: or proc.name = b)
  override:
    condition: append
${rule('R', 'evt.type = open and m')}`);
      const ruleset = ok(r);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'b' })), ['R']);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'c' })), []);
    });

    it('lets a macro use only macros defined before it, but rules use any macro', () => {
      const text = `
- macro: uses_later
  condition: evt.type = open and later
- macro: later
  condition: proc.name = cat
${rule('R', 'later and evt.type = open')}
${rule('S', 'evt.type = open and defined_after_rule')}
- macro: defined_after_rule
  condition: proc.name = dog
`;
      const r = load(text);
      assert.equal(r.ruleset, undefined);
      const errs = errors(r);
      assert.equal(errs.length, 1, errs.map(show).join('\n'));
      const where = posOf(text, 'open and later');
      assertAt(
        errs[0],
        'rules.yaml',
        { line: where.line, column: where.column + 'open and '.length },
        /^Undefined macro 'later'/,
      );
      assert.equal(errs[0]?.item, 'uses_later');
    });

    it('gives a redefined macro the visibility of its redefinition', () => {
      const r = load(`
- macro: a
  condition: proc.name = x
- macro: b
  condition: evt.type = open
- macro: a
  condition: b and proc.name = y
${rule('R', 'a')}`);
      const ruleset = ok(r);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'y' })), ['R']);
    });

    it('redefines rules in place, keeping their load order', () => {
      const r = load(`
${rule('First', 'evt.type = open and proc.name = cat')}
${rule('Second', 'evt.type = open')}
${rule('First', 'evt.type = open and proc.name != dog')}`);
      const ruleset = ok(r);
      assert.deepEqual(
        ruleset.rules.map((x) => x.name),
        ['First', 'Second'],
      );
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'cat2' })), ['First']);
      assert.deepEqual(matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': 'dog' })), ['Second']);
      assert.equal(r.counts.rules, 2);
    });

    it('reads booleans as yaml-cpp does and rejects other values', () => {
      const r = load(
        `${rule('A', 'evt.type = open', '  enabled: no\n')}${rule('B', 'evt.type = open', '  enabled: On\n')}`,
      );
      const ruleset = ok(r);
      assert.equal(ruleset.isEnabled('A'), false);
      assert.equal(ruleset.isEnabled('B'), true);
      const bad = load(rule('C', 'evt.type = open', '  enabled: maybe\n'));
      assert.match(
        errors(bad)[0]?.message ?? '',
        /'enabled' of rule 'C' must be true or false, found 'maybe'/,
      );
    });

    it('requires condition, output, desc and priority, and a valid priority', () => {
      const text = `
- rule: No output
  desc: d
  condition: evt.type = open
  priority: WARNING
- rule: Bad priority
  desc: d
  condition: evt.type = open
  output: o
  priority: severe
`;
      const r = load(text);
      const errs = errors(r);
      assert.equal(errs.length, 2, errs.map(show).join('\n'));
      assertAt(errs[0], 'rules.yaml', posOf(text, 'rule: No output'), /Rule 'No output' has no 'output'/);
      assertAt(
        errs[1],
        'rules.yaml',
        posOf(text, 'severe'),
        /Invalid priority 'severe'.*expected one of Emergency/,
      );
      assert.equal(errs[1]?.item, 'Bad priority');
    });

    it('warns about unknown keys and unknown top-level items', () => {
      const text = `
- rule: R
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
  colour: red
- something: else
`;
      const r = load(text);
      ok(r);
      const w = warnings(r);
      assertAt(
        w.find((d) => /colour/.test(d.message)),
        'rules.yaml',
        posOf(text, 'colour'),
        /Unknown key 'colour' in rule 'R'/,
      );
      assertAt(
        w.find((d) => /top level/.test(d.message)),
        'rules.yaml',
        posOf(text, 'something'),
        /Unknown top level item/,
      );
    });
  });

  describe('rule updates', () => {
    it('appends conditions, outputs, descriptions, tags and exceptions with override append', () => {
      const r = load(`
- rule: R
  desc: base
  condition: evt.type = open
  output: "opened"
  priority: ERROR
  tags: [a]
- rule: R
  desc: more
  condition: and proc.name = cat
  output: "by %proc.name"
  tags: [b]
  override:
    desc: append
    condition: append
    output: append
    tags: append
`);
      const ruleset = ok(r);
      const compiled = ruleset.get('R') ?? assert.fail('R');
      assert.equal(compiled.description, 'base more');
      assert.equal(compiled.condition, 'evt.type = open and proc.name = cat');
      assert.equal(compiled.output.render(evt({ 'proc.name': 'cat' })).text, 'opened by cat');
      assert.deepEqual(compiled.tags, ['a', 'b']);
    });

    it('replaces priority, enabled and tags with override replace', () => {
      const r = load(`
${rule('R', 'evt.type = open', '  tags: [old]\n')}
- rule: R
  priority: CRITICAL
  enabled: false
  tags: [new]
  override:
    priority: replace
    enabled: replace
    tags: replace
`);
      const ruleset = ok(r);
      assert.equal(ruleset.get('R')?.priority, Priority.Critical);
      assert.deepEqual(ruleset.get('R')?.tags, ['new']);
      assert.equal(ruleset.isEnabled('R'), false);
      assert.equal(r.counts.enabledRules, 0);
    });

    it('supports the legacy append: true for conditions, with a warning', () => {
      const r = load(`
${rule('R', 'evt.type = open')}
- rule: R
  condition: and proc.name = cat
  append: true
`);
      const ruleset = ok(r);
      assert.equal(ruleset.get('R')?.condition, 'evt.type = open and proc.name = cat');
      assert.ok(warnings(r).some((w) => /'append: true' is deprecated/.test(w.message)));
    });

    it('toggles a rule with the deprecated {rule, enabled} item', () => {
      const r = load(`
${rule('R', 'evt.type = open')}
- rule: R
  enabled: false
`);
      const ruleset = ok(r);
      assert.equal(ruleset.isEnabled('R'), false);
      assert.ok(warnings(r).some((w) => /only 'enabled' is deprecated/.test(w.message)));
      const missing = load('- rule: Ghost\n  enabled: true\n');
      assert.match(
        errors(missing)[0]?.message ?? '',
        /Rule 'Ghost' sets only 'enabled', but no rule of that name was defined before/,
      );
    });

    it('rejects invalid overrides, each at the offending key', () => {
      const text = `
${rule('R', 'evt.type = open')}
- rule: R
  priority: ERROR
  override:
    priority: append
- rule: R
  condition: and proc.name = x
  desc: extra
  override:
    condition: append
- rule: R
  override:
    output: replace
- rule: Missing
  condition: and x
  override:
    condition: append
- rule: R
  condition: and y
  append: true
  override:
    condition: append
- rule: R
  condition: x
  override:
    condition: merge
`;
      const r = load(text);
      assert.equal(r.ruleset, undefined);
      const errs = errors(r);
      assert.equal(errs.length, 6, errs.map(show).join('\n'));
      assertAt(
        errs[0],
        'rules.yaml',
        posOf(text, 'priority: append'),
        /Key 'priority' cannot be appended to: expected 'priority: replace'/,
      );
      assertAt(
        errs[1],
        'rules.yaml',
        posOf(text, 'desc: extra'),
        /Unexpected key 'desc' in rule 'R': no entry for it under 'override'/,
      );
      assertAt(
        errs[2],
        'rules.yaml',
        posOf(text, 'output: replace'),
        /override for 'output' but no 'output' key/,
      );
      assertAt(
        errs[3],
        'rules.yaml',
        posOf(text, 'rule: Missing'),
        /Rule 'Missing' appends to an existing rule, but no rule of that name was defined before/,
      );
      assertAt(
        errs[4],
        'rules.yaml',
        posOf(text, 'override:', 5),
        /'override' and 'append: true' cannot be used together/,
      );
      assertAt(
        errs[5],
        'rules.yaml',
        posOf(text, 'merge'),
        /Invalid override operation for key 'condition': expected append or replace, found 'merge'/,
      );
    });
  });

  describe('exceptions', () => {
    const base = `
- rule: Write below etc
  desc: d
  condition: evt.type = open and fd.name startswith /etc
  output: "write %fd.name by %proc.name"
  priority: ERROR
  exceptions:
    - name: known_writers
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [apt, /etc/apt]
    - name: known_procs
      fields: proc.name
      values: [puppet, "chef client"]
`;
    it('excludes events that match an exception row', () => {
      const ruleset = ok(load(base));
      const compiled = ruleset.get('Write below etc') ?? assert.fail('rule');
      assert.equal(
        compiled.condition,
        '(evt.type = open and fd.name startswith /etc) and not (( proc.name = apt and  fd.name startswith /etc/apt)) and not (proc.name in (puppet, "chef client"))',
      );
      const fire = (name: string, file: string) =>
        matchNames(ruleset, evt({ 'evt.type': 'open', 'proc.name': name, 'fd.name': file }));
      assert.deepEqual(fire('vi', '/etc/passwd'), ['Write below etc']);
      assert.deepEqual(fire('apt', '/etc/apt/sources.list'), []);
      assert.deepEqual(fire('apt', '/etc/passwd'), ['Write below etc']);
      assert.deepEqual(fire('chef client', '/etc/x'), []);
      assert.deepEqual([...compiled.exceptionFields].sort(), ['fd.name', 'proc.name']);
      assert.deepEqual(compiled.output.fieldNames, ['fd.name', 'proc.name']);
    });

    it('appends values to an existing exception and adds new exceptions', () => {
      const ruleset = ok(
        load(`${base}
- rule: Write below etc
  exceptions:
    - name: known_writers
      values:
        - [dpkg, /etc/dpkg]
    - name: by_parent
      fields: [proc.pname]
      values: [[systemd]]
  override:
    exceptions: append
`),
      );
      const fire = (name: string, pname: string, file: string) =>
        matchNames(
          ruleset,
          evt({ 'evt.type': 'open', 'proc.name': name, 'proc.pname': pname, 'fd.name': file }),
        );
      assert.deepEqual(fire('dpkg', 'x', '/etc/dpkg/status'), []);
      assert.deepEqual(fire('vi', 'systemd', '/etc/x'), []);
      assert.deepEqual(fire('vi', 'bash', '/etc/x'), ['Write below etc']);
    });

    it('reports malformed exceptions where they are written', () => {
      const text = `
- rule: R
  desc: d
  condition: evt.type = open
  output: o
  priority: ERROR
  exceptions:
    - name: e1
      fields: [proc.name, fd.nmae]
      values: [[a, b]]
`;
      const r = load(text);
      assertAt(
        errors(r)[0],
        'rules.yaml',
        posOf(text, 'fd.nmae'),
        /'fd.nmae' is not a supported filter field/,
      );
    });
  });

  describe('sources and versions', () => {
    it('skips rules of other sources with a warning', () => {
      const text = `
- rule: Audit
  desc: d
  condition: ka.verb = create
  output: o
  priority: WARNING
  source: k8s_audit
${rule('Sys', 'evt.type = open')}`;
      const r = load(text);
      const ruleset = ok(r);
      assert.equal(ruleset.get('Audit'), undefined);
      assert.equal(r.counts.rules, 1);
      assertAt(
        warnings(r).find((w) => /source/.test(w.message)),
        'rules.yaml',
        posOf(text, 'k8s_audit'),
        /^Unknown source k8s_audit, skipping$/,
      );
    });

    it('checks required_engine_version', () => {
      assert.deepEqual(errors(load('- required_engine_version: 0.57.0\n')), []);
      assert.deepEqual(errors(load('- required_engine_version: 12\n')), []);
      const text = '- required_engine_version: 0.99.0\n';
      assertAt(
        errors(load(text))[0],
        'rules.yaml',
        posOf(text, '0.99.0'),
        /Rules require engine version 0.99.0, but Vigil implements engine version 0.63.0/,
      );
      assert.match(
        errors(load('- required_engine_version: banana\n'))[0]?.message ?? '',
        /Unable to parse engine version 'banana'/,
      );
      assert.deepEqual(errors(load('- required_engine_version: 0.99.0\n', { engineVersion: '0.99.1' })), []);
    });

    it('treats the container plugin as built in and rejects other plugins', () => {
      assert.deepEqual(
        errors(load('- required_plugin_versions:\n    - name: container\n      version: 0.4.0\n')),
        [],
      );
      const text = `- required_plugin_versions:
    - name: k8saudit
      version: 0.7.0
      alternatives:
        - name: k8saudit-eks
          version: 0.4.0
`;
      assertAt(
        errors(load(text))[0],
        'rules.yaml',
        posOf(text, 'k8saudit'),
        /plugin k8saudit >= 0.7.0 or k8saudit-eks >= 0.4.0, which Vigil does not provide \(it provides: container/,
      );
      const alt = `- required_plugin_versions:
    - name: k8saudit
      version: 0.7.0
      alternatives:
        - name: container
          version: 0.1.0
`;
      assert.deepEqual(errors(load(alt)), []);
      assert.match(
        errors(load('- required_plugin_versions:\n    - name: container\n      version: 9.0.0\n'))[0]
          ?.message ?? '',
        /container >= 9.0.0/,
      );
    });
  });

  describe('conditions and outputs', () => {
    it('warns when a rule matches too many event types, unless told not to', () => {
      const text = `${rule('Every', 'proc.name = cat')}${rule('Most', 'evt.type != open')}${rule('Quiet', 'proc.name = dog', '  warn_evttypes: false\n')}${rule('Never', 'evt.type = open and evt.type = close')}`;
      const r = load(text);
      ok(r);
      const w = warnings(r);
      assertAt(
        w.find((d) => d.item === 'Every'),
        'rules.yaml',
        posOf(text, 'rule: Every'),
        /matches every event type/,
      );
      assert.match(
        w.find((d) => d.item === 'Most')?.message ?? '',
        /matches \d+ event types \(more than 100\)/,
      );
      assert.match(w.find((d) => d.item === 'Never')?.message ?? '', /matches no event type/);
      assert.equal(
        w.find((d) => d.item === 'Quiet'),
        undefined,
      );
    });

    it('validates outputs at load, pointing into the output', () => {
      const text = `
- rule: R
  desc: d
  condition: evt.type = open
  output: "file %fd.name by %proc.nmae"
  priority: ERROR
`;
      const r = load(text);
      assertAt(
        errors(r)[0],
        'rules.yaml',
        posOf(text, 'proc.nmae'),
        /Invalid output: expected a field or transformer after '%'/,
      );
    });

    it('skips rules with unknown fields when skip-if-unknown-filter is set', () => {
      const r = load(
        rule('R', 'evt.type = open and proc.future_field = 1', '  skip-if-unknown-filter: true\n'),
      );
      assert.deepEqual(errors(r), []);
      assert.ok(r.ruleset !== undefined);
      assert.equal(r.ruleset.get('R'), undefined);
      assert.match(warnings(r).find((w) => w.item === 'R')?.message ?? '', /skip-if-unknown-filter/);
      const strict = load(rule('R', 'evt.type = open and proc.future_field = 1'));
      assert.equal(errors(strict).length, 1);
    });

    it('allows conditions nested deeper than libsinsp default, up to Falco loader limit', () => {
      const nest = (n: string, depth: number) => '('.repeat(depth) + n + ')'.repeat(depth);
      ok(load(rule('Deep', `"${nest('evt.type = open', 60)}"`)));
      const tooDeep = load(rule('TooDeep', `"${nest('evt.type = open', 400)}"`));
      assert.equal(errors(tooDeep).length, 1);
    });

    it('strips the deprecated %container.info with a warning', () => {
      const r = load(
        rule('R', 'evt.type = open').replace('(proc=%proc.name)', '(proc=%proc.name %container.info)'),
      );
      const ruleset = ok(r);
      assert.equal(ruleset.get('R')?.output.render(evt({ 'proc.name': 'x' })).text, 'R fired (proc=x )');
      assert.ok(warnings(r).some((w) => /%container.info is deprecated/.test(w.message)));
    });

    it('warns about macros and lists nothing uses', () => {
      const text = `
- list: unused_list
  items: [a]
- macro: unused_macro
  condition: proc.name = a
${rule('R', 'evt.type = open')}`;
      const w = warnings(load(text));
      assertAt(
        w.find((d) => d.item === 'unused_list'),
        'rules.yaml',
        posOf(text, 'list: unused_list'),
        /List 'unused_list' is not used/,
      );
      assertAt(
        w.find((d) => d.item === 'unused_macro'),
        'rules.yaml',
        posOf(text, 'macro: unused_macro'),
        /Macro 'unused_macro' is not used/,
      );
    });
  });

  describe('the rule set', () => {
    it('drops rules below the minimum priority', () => {
      const text = `${rule('Warn', 'evt.type = open')}${rule('Crit', 'evt.type = open').replace('WARNING', 'CRITICAL')}${rule('Dbg', 'evt.type = open').replace('WARNING', 'DEBUG')}`;
      const r = load(text, { minPriority: Priority.Warning });
      const ruleset = ok(r);
      assert.deepEqual(
        ruleset.rules.map((x) => x.name),
        ['Warn', 'Crit'],
      );
      assert.equal(r.counts.rules, 3);
      assert.equal(r.counts.enabledRules, 2);
    });

    it('reports every matching rule with rule_matching all', () => {
      const text = `${rule('A', 'evt.type = open')}${rule('B', 'proc.name = cat', '  warn_evttypes: false\n')}`;
      const first = ok(load(text));
      const all = ok(load(text, { ruleMatching: 'all' }));
      const e = evt({ 'evt.type': 'open', 'proc.name': 'cat' });
      assert.deepEqual(matchNames(first, e), ['A']);
      assert.deepEqual(matchNames(all, e), ['A', 'B']);
      assert.deepEqual(all.eventTypes(), 'all');
    });
  });

  describe('error positions', () => {
    it('reports malformed YAML at its position and keeps loading other files', () => {
      const broken = `- rule: R
  condition: [evt.type = open
- macro: m
`;
      const r = load([
        ['broken.yaml', broken],
        ['good.yaml', rule('Good', 'evt.type = open')],
      ]);
      assert.equal(r.ruleset, undefined);
      const errs = errors(r);
      assert.equal(errs.length, 1, errs.map(show).join('\n'));
      // The unterminated flow sequence is noticed where the next item starts.
      assertAt(
        errs[0],
        'broken.yaml',
        { line: 3, column: 1 },
        /^Malformed YAML: Flow sequence .*end with a \]/,
      );
      const indent = load('- rule: R\n  desc: x\n   bad: indent\n');
      assertAt(
        errors(indent)[0],
        'rules.yaml',
        { line: 2, column: 9 },
        /^Malformed YAML: Nested mappings are not allowed/,
      );
      assert.equal(r.counts.rules, 1);
    });

    it('reports an unknown macro at its line and column, also in block scalars', () => {
      const text = `
- macro: ok_macro
  condition: evt.type = open
- rule: R
  desc: d
  condition: >
    ok_macro and
    not known_bad_thing
  output: o
  priority: ERROR
`;
      const r = load(text);
      assertAt(
        errors(r)[0],
        'rules.yaml',
        posOf(text, 'known_bad_thing'),
        /^Undefined macro 'known_bad_thing'/,
      );
      assert.equal(errors(r)[0]?.item, 'R');
    });

    it('reports a bad escape in a condition inside the string', () => {
      const text = `
- rule: R
  desc: d
  condition: evt.type = open and proc.name = "a\\qb"
  output: o
  priority: ERROR
`;
      const r = load(text);
      const d = errors(r)[0];
      assertAt(d, 'rules.yaml', posOf(text, '\\q'), /^Invalid rule condition: expected /);
    });

    it('reports a syntax error in an appended condition in the file that appended it', () => {
      const base = rule('R', 'evt.type = open');
      const extra = `- rule: R
  condition: and proc.name == == x
  override:
    condition: append
`;
      const r = load([
        ['base.yaml', base],
        ['local.yaml', extra],
      ]);
      const d = errors(r)[0];
      assertAt(d, 'local.yaml', posOf(extra, '== x'), /^Invalid rule condition: expected .*, found "="/);
    });

    it('reports an invalid check inside a macro at the macro, naming it', () => {
      const text = `
- macro: opened
  condition: >
    evt.type = open and
    proc.nmae = cat
${rule('R', 'opened and fd.name contains x')}`;
      const d = errors(load(text))[0];
      assertAt(
        d,
        'rules.yaml',
        posOf(text, 'proc.nmae'),
        /^Invalid rule condition: .*proc\.nmae.* \(in macro 'opened'\)$/,
      );
      assert.equal(d?.item, 'R');
    });

    it('reports a bad override at the override key', () => {
      const text = `${rule('R', 'evt.type = open')}- rule: R
  priority: ERROR
  override:
    priority: append
`;
      assertAt(errors(load(text))[0], 'rules.yaml', posOf(text, 'priority: append'), /cannot be appended to/);
    });

    it('reports every error of every file in one pass', () => {
      const r = load([
        [
          'a.yaml',
          `${rule('A', 'evt.type = open and no_such_macro')}${rule('B', 'evt.type = open and proc.name = ')}`,
        ],
        ['b.yaml', `${rule('C', 'evt.type = open').replace('WARNING', 'LOUD')}- list: l\n  items: oops\n`],
      ]);
      assert.equal(r.ruleset, undefined);
      assert.deepEqual(
        errors(r).map((d) => `${d.file}:${d.item ?? ''}`),
        ['b.yaml:C', 'b.yaml:l', 'a.yaml:A', 'a.yaml:B'],
      );
    });
  });

  describe('upstream rules', () => {
    it('loads falco_rules.yaml then falco-incubating_rules.yaml with no errors', function () {
      const dir = requireShared(this, 'falco-rules');
      const files = ['falco_rules.yaml', 'falco-incubating_rules.yaml'].map((f): [string, string] => [
        f,
        readFileSync(join(dir, f), 'utf8'),
      ]);
      const r = load(files);
      const ruleset = ok(r);
      console.log(
        `      upstream: ${r.counts.rules} rules (${r.counts.enabledRules} enabled), ${r.counts.macros} macros, ${r.counts.lists} lists, ${warnings(r).length} warnings`,
      );
      assert.equal(r.counts.rules, 56);
      assert.equal(ruleset.rules.length, 56);
      assert.ok(r.counts.macros > 100 && r.counts.lists > 50);
      for (const compiled of ruleset.rules) {
        assert.notEqual(compiled.eventTypes, 'all', compiled.name);
      }
      const types = ruleset.eventTypes();
      assert.ok(types !== 'all' && types.has('execve') && types.has('openat'));
      const typesOf = (name: string): string[] => {
        const t = ruleset.get(name)?.eventTypes ?? assert.fail(name);
        return t === 'all' ? ['all'] : [...t].sort();
      };
      assert.deepEqual(typesOf('Terminal shell in container'), ['execve', 'execveat']);
      assert.deepEqual(typesOf('Read sensitive file untrusted'), ['open', 'openat', 'openat2']);
      assert.deepEqual(typesOf('Linux Kernel Module Injection Detected'), ['finit_module', 'init_module']);
    });
  });
});
