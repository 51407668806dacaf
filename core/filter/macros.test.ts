import assert from 'node:assert/strict';
import type { Expr, Position } from './ast.js';
import { resolveMacros } from './macros.js';

const at = (offset: number): Position => ({ offset, line: 1, column: offset + 1 });
const ref = (name: string, offset = 0): Expr => ({ kind: 'macro', name, pos: at(offset) });
const leaf = (fieldName: string, v: string): Expr => ({
  kind: 'binary',
  left: { kind: 'field', name: fieldName, arg: undefined, pos: at(0) },
  op: '=',
  modifier: undefined,
  right: { kind: 'value', value: v, quoted: false, pos: at(0) },
  pos: at(0),
});
const and = (...children: Expr[]): Expr => ({ kind: 'and', children, pos: at(0) });
const not = (child: Expr): Expr => ({ kind: 'not', child, pos: at(0) });

function show(e: Expr): string {
  switch (e.kind) {
    case 'and':
    case 'or':
      return `${e.kind}(${e.children.map(show).join(', ')})`;
    case 'not':
      return `not(${show(e.child)})`;
    case 'macro':
      return `@${e.name}`;
    case 'unary':
      return 'unary';
    case 'binary':
      return `${e.left.kind === 'field' ? e.left.name : '?'}=${e.right.kind === 'value' ? e.right.value : '?'}`;
  }
}

describe('resolveMacros', () => {
  it('substitutes macros, recursively, and reports which were used', () => {
    const macros = new Map<string, Expr>([
      ['shell', leaf('proc.name', 'bash')],
      ['spawned', leaf('evt.type', 'execve')],
      ['shell_spawned', and(ref('spawned'), ref('shell'))],
    ]);
    const r = resolveMacros(and(ref('shell_spawned'), not(ref('shell'))), macros);
    assert.equal(show(r.expr), 'and(and(evt.type=execve, proc.name=bash), not(proc.name=bash))');
    assert.deepEqual([...r.used].sort(), ['shell', 'shell_spawned', 'spawned']);
    assert.deepEqual(r.problems, []);
  });

  it('reports undefined macros with their position and leaves them in place', () => {
    const r = resolveMacros(and(leaf('proc.name', 'cat'), not(ref('nope', 17))), new Map());
    assert.equal(r.problems.length, 1);
    const p = r.problems[0];
    assert.equal(p?.kind, 'undefined');
    assert.equal(p?.name, 'nope');
    assert.equal(p?.pos.offset, 17);
    assert.match(p?.message ?? '', /^Undefined macro 'nope'/);
    assert.equal(show(r.expr), 'and(proc.name=cat, not(@nope))');
  });

  it('reports undefined macros met inside other macros, at their own position', () => {
    const inner = and(leaf('proc.name', 'x'), ref('missing', 9));
    const r = resolveMacros(ref('outer'), new Map([['outer', inner]]));
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]?.name, 'missing');
    assert.equal(r.problems[0]?.pos.offset, 9);
  });

  it('detects reference loops instead of recursing forever', () => {
    const macros = new Map<string, Expr>([
      ['a', and(leaf('proc.name', 'x'), ref('b'))],
      ['b', not(ref('a'))],
    ]);
    const r = resolveMacros(ref('a'), macros);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]?.kind, 'loop');
    assert.match(r.problems[0]?.message ?? '', /a -> b -> a/);
  });

  it('returns the same tree when there is nothing to resolve', () => {
    const tree = and(leaf('proc.name', 'cat'), not(leaf('fd.name', '/etc')));
    assert.equal(resolveMacros(tree, new Map()).expr, tree);
  });
});
