import assert from 'node:assert/strict';
import type { BinaryOperator, CheckLeft, CheckRight, Expr, Position } from './ast.js';
import {
  conditionEventTypes,
  EVENT_TYPE_NAMES,
  EventTypeSearchError,
  type EventTypes,
} from './event-types.js';

// Trees are built by hand so these tests depend on nothing but the tree shape.
const P: Position = { offset: 0, line: 1, column: 1 };
const field = (name: string, arg?: string): CheckLeft => ({ kind: 'field', name, arg, pos: P });
const value = (v: string): CheckRight => ({ kind: 'value', value: v, quoted: false, pos: P });
const list = (...vs: string[]): CheckRight => ({
  kind: 'list',
  items: vs.map((v) => ({ kind: 'value', value: v, quoted: false, pos: P })),
  pos: P,
});
const check = (left: CheckLeft, op: BinaryOperator, right: CheckRight): Expr => ({
  kind: 'binary',
  left,
  op,
  modifier: undefined,
  right,
  pos: P,
});
const type = (op: BinaryOperator, right: CheckRight): Expr => check(field('evt.type'), op, right);
const and = (...children: Expr[]): Expr => ({ kind: 'and', children, pos: P });
const or = (...children: Expr[]): Expr => ({ kind: 'or', children, pos: P });
const not = (child: Expr): Expr => ({ kind: 'not', child, pos: P });
const procName = check(field('proc.name'), '=', value('cat'));

function names(t: EventTypes): string[] | 'all' {
  return t === 'all' ? 'all' : [...t].sort();
}

function complementOf(...excluded: string[]): string[] {
  return [...EVENT_TYPE_NAMES].filter((n) => !excluded.includes(n)).sort();
}

describe('conditionEventTypes', () => {
  it('takes the types of evt.type =, == and in', () => {
    assert.deepEqual(names(conditionEventTypes(type('=', value('open')))), ['open']);
    assert.deepEqual(names(conditionEventTypes(type('==', value('execve')))), ['execve']);
    assert.deepEqual(names(conditionEventTypes(type('in', list('openat', 'open', 'openat2')))), [
      'open',
      'openat',
      'openat2',
    ]);
  });

  it('treats checks of other fields, other operators and macros as matching every type', () => {
    assert.equal(conditionEventTypes(procName), 'all');
    assert.equal(conditionEventTypes(type('contains', value('open'))), 'all');
    assert.equal(conditionEventTypes(check(field('evt.type', 'x'), '=', value('open'))), 'all');
    assert.equal(conditionEventTypes({ kind: 'macro', name: 'spawned_process', pos: P }), 'all');
    assert.equal(conditionEventTypes(not(procName)), 'all');
  });

  it('intersects under and, unites under or', () => {
    const a = type('in', list('open', 'openat', 'execve'));
    const b = type('in', list('execve', 'connect'));
    assert.deepEqual(names(conditionEventTypes(and(a, b))), ['execve']);
    assert.deepEqual(names(conditionEventTypes(or(a, b))), ['connect', 'execve', 'open', 'openat']);
    assert.deepEqual(names(conditionEventTypes(and(a, procName))), ['execve', 'open', 'openat']);
    assert.equal(conditionEventTypes(or(a, procName)), 'all');
  });

  it('takes the complement for != and for a negated check', () => {
    assert.deepEqual(names(conditionEventTypes(type('!=', value('open')))), complementOf('open'));
    assert.deepEqual(
      names(conditionEventTypes(not(type('in', list('open', 'close'))))),
      complementOf('open', 'close'),
    );
    assert.deepEqual(names(conditionEventTypes(not(type('!=', value('open'))))), ['open']);
  });

  it('pushes negation down with De Morgan', () => {
    // not (evt.type = open and proc.name = cat) = evt.type != open or proc.name != cat: every type.
    assert.equal(conditionEventTypes(not(and(type('=', value('open')), procName))), 'all');
    // not (evt.type in (a, b) or evt.type = c) = not in (a, b) and != c.
    assert.deepEqual(
      names(conditionEventTypes(not(or(type('in', list('open', 'close')), type('=', value('read')))))),
      complementOf('open', 'close', 'read'),
    );
    // Double negation gives the set back.
    assert.deepEqual(names(conditionEventTypes(not(not(type('=', value('open')))))), ['open']);
    // not (not (evt.type = open) and proc.name = cat) = evt.type = open or proc.name != cat: every type.
    assert.equal(conditionEventTypes(not(and(not(type('=', value('open'))), procName))), 'all');
  });

  it('handles evt.type exists and its negation', () => {
    assert.equal(
      conditionEventTypes({ kind: 'unary', left: field('evt.type'), op: 'exists', pos: P }),
      'all',
    );
    assert.deepEqual(
      names(conditionEventTypes(not({ kind: 'unary', left: field('evt.type'), op: 'exists', pos: P }))),
      [],
    );
  });

  it('returns an empty set for contradictory checks', () => {
    assert.deepEqual(
      names(conditionEventTypes(and(type('=', value('open')), type('=', value('close'))))),
      [],
    );
  });

  it('keeps names missing from the table in positive sets', () => {
    assert.equal(EVENT_TYPE_NAMES.has('frobnicate'), false);
    assert.deepEqual(names(conditionEventTypes(type('=', value('frobnicate')))), ['frobnicate']);
  });

  it('knows the event types of the upstream rules and of sysdig -L', () => {
    for (const n of [
      'open',
      'openat',
      'openat2',
      'execve',
      'execveat',
      'connect',
      'accept4',
      'dup3',
      'memfd_create',
    ]) {
      assert.ok(EVENT_TYPE_NAMES.has(n), n);
    }
    for (const n of ['procexit', 'container', 'switch', 'signaldeliver', 'pluginevent', 'chown']) {
      assert.ok(EVENT_TYPE_NAMES.has(n), n);
    }
  });

  it('refuses evt.type compared with another field or through a transformer', () => {
    const val: CheckRight = {
      kind: 'val',
      field: { kind: 'field', name: 'proc.name', arg: undefined, pos: P },
      pos: P,
    };
    assert.throws(() => conditionEventTypes(type('=', val)), EventTypeSearchError);
    const lowered: CheckLeft = {
      kind: 'transformer',
      name: 'tolower',
      args: [{ kind: 'field', name: 'evt.type', arg: undefined, pos: P }],
      index: undefined,
      pos: P,
    };
    assert.throws(() => conditionEventTypes(check(lowered, '=', value('open'))), /transformer/);
    // Through a transformer but with an operator that does not define types: neutral, no error.
    assert.equal(conditionEventTypes(check(lowered, 'contains', value('open'))), 'all');
  });
});
