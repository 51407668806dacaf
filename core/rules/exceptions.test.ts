import assert from 'node:assert/strict';
import {
  applyExceptions,
  ExceptionError,
  isExceptionOperator,
  isListOperator,
  normalizeException,
  type ExceptionEntry,
  type RuleException,
} from './exceptions.js';
import { MappedText } from './mapped-text.js';

const s = (value: string, at = 5000): ExceptionEntry => ({
  kind: 'scalar',
  value,
  text: MappedText.verbatim(value, at),
});
const l = (...items: ExceptionEntry[]): ExceptionEntry => ({ kind: 'list', items, at: 4000 });
const ex = (
  name: string,
  fields: ExceptionEntry | undefined,
  comps: ExceptionEntry | undefined,
  values: ExceptionEntry[],
): RuleException => ({
  name,
  fields,
  comps,
  values,
  at: 3000,
});
const known = new Set(['proc.name', 'fd.name', 'proc.pname', 'proc.aname[2]', 'fd.directory']);
const isField = (n: string) => known.has(n);
const cond = MappedText.verbatim('evt.type = open', 100);

function build(...exceptions: RuleException[]): { text: string; fields: string[] } {
  const r = applyExceptions(
    cond,
    exceptions.map((e) => normalizeException(e, isField)),
  );
  return { text: r.condition.text, fields: r.fields };
}

describe('exceptions', () => {
  it('compiles field lists to Falco text, character for character', () => {
    const r = build(
      ex('known_writers', l(s('proc.name'), s('fd.name')), l(s('='), s('startswith')), [
        l(s('nginx'), s('/usr/bin')),
        l(s('apache'), s('/bin/apache')),
      ]),
    );
    assert.equal(
      r.text,
      '(evt.type = open) and not (( proc.name = nginx and  fd.name startswith /usr/bin) or ( proc.name = apache and  fd.name startswith /bin/apache))',
    );
    assert.deepEqual(r.fields.sort(), ['fd.name', 'proc.name']);
  });

  it('defaults comps to = for each field', () => {
    const r = build(ex('e', l(s('proc.name'), s('proc.pname')), undefined, [l(s('a'), s('b'))]));
    assert.equal(r.text, '(evt.type = open) and not (( proc.name = a and  proc.pname = b))');
  });

  it('writes list values in parentheses and quotes values with blanks', () => {
    const r = build(
      ex('e', l(s('proc.name'), s('fd.name')), l(s('in'), s('=')), [l(l(s('a'), s('b c')), s('/tmp/x y'))]),
    );
    assert.equal(r.text, '(evt.type = open) and not (( proc.name in (a, "b c") and  fd.name = "/tmp/x y"))');
  });

  it('parenthesises a scalar value of a list operator', () => {
    const r = build(
      ex('e', l(s('proc.name')), l(s('in')), [l(s('bash'))]),
      ex('f', l(s('proc.name')), l(s('pmatch')), [l(s('(/a, /b)'))]),
    );
    assert.equal(
      r.text,
      '(evt.type = open) and not (( proc.name in (bash))) and not (( proc.name pmatch (/a, /b)))',
    );
  });

  it('compiles a single field to one in-list, defaulting comps to in', () => {
    const r = build(ex('e', s('proc.name'), undefined, [s('bash'), s('my shell')]));
    assert.equal(r.text, '(evt.type = open) and not (proc.name in (bash, "my shell"))');
    const p = build(ex('e', s('fd.name'), s('pmatch'), [s('/etc')]));
    assert.equal(p.text, '(evt.type = open) and not (fd.name pmatch (/etc))');
  });

  it('adds nothing for exceptions without values', () => {
    assert.equal(build(ex('e', s('proc.name'), undefined, [])).text, '(evt.type = open)');
    assert.equal(build(ex('e', l(s('proc.name')), undefined, [])).text, '(evt.type = open)');
  });

  it('validates fields and comps', () => {
    assert.throws(() => normalizeException(ex('e', undefined, undefined, []), isField), /has no 'fields'/);
    assert.throws(
      () => normalizeException(ex('e', l(s('proc.name'), s('fd.name')), l(s('=')), []), isField),
      /expected as many comps as fields \(2\), found 1 comps/,
    );
    assert.throws(
      () => normalizeException(ex('e', l(s('proc.name')), l(s('like')), []), isField),
      /comparison operator/,
    );
    assert.throws(
      () => normalizeException(ex('e', l(s('proc.nome')), undefined, []), isField),
      /'proc.nome' is not a supported filter field/,
    );
    assert.throws(
      () => normalizeException(ex('e', s('proc.name'), s('='), []), isField),
      /must be one of in, pmatch, intersects/,
    );
    assert.throws(
      () => normalizeException(ex('e', s('proc.name'), l(s('in')), []), isField),
      /single operator/,
    );
    const err = (() => {
      try {
        normalizeException(ex('e', l(s('bad.field', 777)), undefined, []), isField);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ExceptionError);
    assert.equal(err.at, 777);
  });

  it('rejects rows that do not fit the fields', () => {
    const e = normalizeException(
      ex('e', l(s('proc.name'), s('fd.name')), undefined, [l(s('only-one'))]),
      isField,
    );
    assert.throws(() => applyExceptions(cond, [e]), /expected each row of values to have 2 entries/);
    const single = normalizeException(ex('e', s('proc.name'), undefined, [l(s('a'))]), isField);
    assert.throws(() => applyExceptions(cond, [single]), /expected each value to be a string/);
  });

  it('knows operators and list operators', () => {
    for (const op of ['=', '!=', 'startswith', 'in', 'pmatch', 'startswith anyof', 'endswith oneof']) {
      assert.ok(isExceptionOperator(op), op);
    }
    for (const op of ['like', 'exists', 'startswith everyof', '']) assert.ok(!isExceptionOperator(op), op);
    assert.ok(isListOperator('in') && isListOperator('intersects') && isListOperator('startswith anyof'));
    assert.ok(!isListOperator('='));
  });

  it('maps exception text back to the YAML values', () => {
    const e = normalizeException(ex('e', l(s('proc.name', 200)), undefined, [l(s('nginx', 300))]), isField);
    const r = applyExceptions(cond, [e]).condition;
    assert.equal(r.at[r.text.indexOf('proc.name')], 200);
    assert.equal(r.at[r.text.indexOf('nginx')], 300);
    assert.equal(r.at[r.text.indexOf('evt.type')], 100);
  });
});
