import assert from 'node:assert/strict';
import { eventFromRecord, type Event } from '../event.js';
import { createFieldRegistry } from '../fields/registry.js';
import type { EventTypes } from '../filter/event-types.js';
import { Priority } from '../priority.js';
import type { CompiledRule } from './compiled-rule.js';
import { compileOutput } from './output.js';
import { RuleSet } from './ruleset.js';

const registry = createFieldRegistry();
const output = compileOutput('%proc.name', registry);
const TRUE_EXPR = { kind: 'macro', name: 'test', pos: { offset: 0, line: 1, column: 1 } } as const;

/** A hand-made rule: `matches` is a plain predicate, and every call is counted. */
function makeRule(
  name: string,
  index: number,
  eventTypes: EventTypes,
  matches: (e: Event) => boolean = () => true,
  extra: { tags?: string[]; enabled?: boolean } = {},
): CompiledRule & { calls: number } {
  const rule = {
    name,
    description: name,
    priority: Priority.Warning,
    tags: extra.tags ?? [],
    source: 'syscall',
    condition: name,
    expr: TRUE_EXPR,
    output,
    eventTypes,
    enabled: extra.enabled ?? true,
    exceptionFields: [],
    index,
    calls: 0,
    matches(e: Event): boolean {
      rule.calls++;
      return matches(e);
    },
  };
  return rule;
}

const open = eventFromRecord({ 'evt.type': 'open', 'proc.name': 'cat' });
const exec = eventFromRecord({ 'evt.type': 'execve', 'proc.name': 'bash' });
const odd = eventFromRecord({ 'evt.type': 'not_a_known_type' });
const untyped = eventFromRecord({ 'proc.name': 'x' });

function names(rs: RuleSet, e: Event): string[] {
  const out: CompiledRule[] = [];
  const n = rs.match(e, out);
  return out.slice(0, n).map((r) => r.name);
}

describe('RuleSet', () => {
  it('evaluates only the rules indexed for the event type, in load order', () => {
    const a = makeRule('A', 0, new Set(['open']));
    const b = makeRule('B', 1, new Set(['execve']));
    const c = makeRule('C', 2, 'all');
    const rs = new RuleSet([c, b, a], { ruleMatching: 'all' });
    assert.deepEqual(names(rs, open), ['A', 'C']);
    assert.equal(b.calls, 0);
    assert.deepEqual(names(rs, exec), ['B', 'C']);
    assert.deepEqual(names(rs, odd), ['C']);
    assert.deepEqual(names(rs, untyped), ['C']);
    assert.deepEqual(
      rs.rules.map((r) => r.name),
      ['A', 'B', 'C'],
    );
  });

  it('keeps every-type rules in load order with typed ones', () => {
    const first = makeRule('All first', 0, 'all');
    const typed = makeRule('Open second', 1, new Set(['open']));
    const rs = new RuleSet([typed, first]);
    assert.deepEqual(names(rs, open), ['All first']);
    assert.equal(typed.calls, 0);
  });

  it('stops at the first match with rule_matching first', () => {
    const a = makeRule('A', 0, new Set(['open']), () => false);
    const b = makeRule('B', 1, new Set(['open']));
    const c = makeRule('C', 2, new Set(['open']));
    const rs = new RuleSet([a, b, c]);
    assert.equal(rs.ruleMatching, 'first');
    assert.deepEqual(names(rs, open), ['B']);
    assert.equal(c.calls, 0);
    const all = new RuleSet([a, b, c], { ruleMatching: 'all' });
    assert.deepEqual(names(all, open), ['B', 'C']);
  });

  it('evaluates rules with an empty type set for every event, as Falco does', () => {
    const never = makeRule('Never', 0, new Set<string>(), (e) => e.fields['proc.name'] === 'cat');
    const rs = new RuleSet([never]);
    assert.deepEqual(names(rs, open), ['Never']);
    assert.deepEqual(rs.eventTypes(), new Set());
  });

  it('subscribes to the union of enabled rules, or to all', () => {
    const a = makeRule('A', 0, new Set(['open', 'openat']));
    const b = makeRule('B', 1, new Set(['execve']));
    const c = makeRule('C', 2, 'all', undefined, { enabled: false });
    const rs = new RuleSet([a, b, c]);
    assert.deepEqual(rs.eventTypes(), new Set(['open', 'openat', 'execve']));
    rs.enable('C');
    assert.equal(rs.eventTypes(), 'all');
    rs.disable('C');
    rs.disable('A');
    assert.deepEqual(rs.eventTypes(), new Set(['execve']));
  });

  it('enables and disables by name, wildcard and tag', () => {
    const rules = [
      makeRule('Write below etc', 0, new Set(['open']), undefined, {
        tags: ['filesystem', 'mitre_persistence'],
      }),
      makeRule('Write below root', 1, new Set(['open']), undefined, { tags: ['filesystem'] }),
      makeRule('Shell in container', 2, new Set(['execve']), undefined, { tags: ['shell'], enabled: false }),
    ];
    const rs = new RuleSet(rules, { ruleMatching: 'all' });
    assert.equal(rs.enabledCount(), 2);
    assert.equal(rs.isEnabled('Shell in container'), false);
    assert.deepEqual(names(rs, exec), []);
    assert.equal(rs.enable('Shell in container'), 1);
    assert.deepEqual(names(rs, exec), ['Shell in container']);
    assert.equal(rs.disable('Write below *'), 2);
    assert.deepEqual(names(rs, open), []);
    assert.equal(rs.enableTags(['mitre_persistence']), 1);
    assert.deepEqual(names(rs, open), ['Write below etc']);
    assert.equal(rs.disableTags(['filesystem', 'shell']), 3);
    assert.equal(rs.enabledCount(), 0);
    assert.equal(rs.enable('No such rule'), 0);
    assert.equal(rs.enable('Write below r??t'), 0);
    assert.equal(rs.isEnabled('No such rule'), false);
  });

  it('reuses the output array and reports the count', () => {
    const a = makeRule('A', 0, new Set(['open']));
    const rs = new RuleSet([a]);
    const out: CompiledRule[] = [];
    assert.equal(rs.match(open, out), 1);
    assert.equal(rs.match(exec, out), 0);
    assert.equal(out.length, 1);
    assert.equal(out[0], a);
  });

  it('refuses two rules with the same name', () => {
    assert.throws(
      () => new RuleSet([makeRule('A', 0, 'all'), makeRule('A', 1, 'all')]),
      /two rules are named 'A'/,
    );
  });

  it('looks rules up by name', () => {
    const a = makeRule('A', 0, 'all');
    const rs = new RuleSet([a]);
    assert.equal(rs.get('A'), a);
    assert.equal(rs.get('B'), undefined);
  });
});
