/**
 * Rule exceptions: their shape, their validation, and how they become condition text.
 *
 * An exception names fields, comparison operators (`comps`) and rows of values; an event that
 * matches any row is excluded. Falco compiles them textually, and so do we, to the character:
 *
 *     (CONDITION) and not (( f1 c1 v1 and  f2 c2 v2) or ( f1 c1 v3 and  f2 c2 v4))
 *
 * with one ` and not (...)` per exception that has values. With a single field (`fields: f`,
 * comps one of `in`, `pmatch`, `intersects`, default `in`), the values form one list:
 * ` and not (f in (v1, v2))`. Values containing blanks are quoted (see {@link quoteItem}); a value
 * that is itself a list is written `(a, b)`; a scalar value of a list operator is parenthesised.
 */
import type { BinaryOperator, OperatorModifier } from '../filter/ast.js';
import { parenthesize, quoteItem } from './item-quoting.js';
import { MappedText } from './mapped-text.js';

/** A `fields`, `comps` or value entry: a scalar, or a list of entries. */
export type ExceptionEntry = ExceptionScalar | ExceptionList;

/** A scalar entry with its text mapped to the file. */
export interface ExceptionScalar {
  readonly kind: 'scalar';
  readonly value: string;
  readonly text: MappedText;
}

/** A sequence entry. `at` is the global offset where it starts. */
export interface ExceptionList {
  readonly kind: 'list';
  readonly items: readonly ExceptionEntry[];
  readonly at: number;
}

/** One item under a rule's `exceptions`. `at` is the global offset of the item. */
export interface RuleException {
  readonly name: string;
  readonly fields: ExceptionEntry | undefined;
  readonly comps: ExceptionEntry | undefined;
  readonly values: readonly ExceptionEntry[];
  readonly at: number;
}

/** A malformed exception: `at` is the global offset to report, `message` what is wrong. */
export class ExceptionError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
    this.name = 'ExceptionError';
  }
}

const BINARY_OPERATORS: ReadonlySet<string> = new Set<BinaryOperator>([
  '=',
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'contains',
  'icontains',
  'bcontains',
  'startswith',
  'bstartswith',
  'endswith',
  'glob',
  'iglob',
  'regex',
  'pmatch',
  'in',
  'intersects',
]);
const MODIFIERS: ReadonlySet<string> = new Set<OperatorModifier>(['oneof', 'anyof', 'allof']);
const LIST_OPERATORS: ReadonlySet<string> = new Set(['in', 'intersects', 'pmatch']);

/** True for a comparison an exception may use: an operator, optionally with a modifier (`startswith anyof`). */
export function isExceptionOperator(comp: string): boolean {
  const parts = comp.trim().split(/\s+/);
  if (parts.length === 1) return BINARY_OPERATORS.has(parts[0] as string);
  return parts.length === 2 && BINARY_OPERATORS.has(parts[0] as string) && MODIFIERS.has(parts[1] as string);
}

/** True for operators whose right side is a list: `in`, `intersects`, `pmatch`, and modified operators. */
export function isListOperator(comp: string): boolean {
  const parts = comp.trim().split(/\s+/);
  return LIST_OPERATORS.has(parts[0] as string) || (parts.length === 2 && MODIFIERS.has(parts[1] as string));
}

function scalar(value: string, at: number): ExceptionScalar {
  return { kind: 'scalar', value, text: MappedText.synthetic(value, at) };
}

/**
 * Checks an exception's fields and comps and fills in the default comps (`=` for each field of a
 * field list, `in` for a single field). `isField` says whether a field name (with its argument,
 * as written) is known. Throws {@link ExceptionError}.
 */
export function normalizeException(ex: RuleException, isField: (name: string) => boolean): RuleException {
  const fields = ex.fields;
  if (fields === undefined) {
    throw new ExceptionError(
      `Exception '${ex.name}' has no 'fields': expected a field name or a list of field names`,
      ex.at,
    );
  }
  if (fields.kind === 'list') {
    let comps = ex.comps;
    if (comps === undefined)
      comps = { kind: 'list', items: fields.items.map(() => scalar('=', fields.at)), at: fields.at };
    if (comps.kind !== 'list' || comps.items.length !== fields.items.length) {
      const found = comps.kind === 'list' ? `${comps.items.length} comps` : 'a single comp';
      throw new ExceptionError(
        `Exception '${ex.name}': expected as many comps as fields (${fields.items.length}), found ${found}`,
        comps.kind === 'list' ? comps.at : comps.text.locationOf(0),
      );
    }
    for (const c of comps.items) {
      if (c.kind !== 'scalar' || !isExceptionOperator(c.value)) {
        const found = c.kind === 'scalar' ? `'${c.value}'` : 'a list';
        throw new ExceptionError(
          `Exception '${ex.name}': expected a comparison operator in comps, found ${found}`,
          c.kind === 'scalar' ? c.text.locationOf(0) : c.at,
        );
      }
    }
    for (const f of fields.items) {
      if (f.kind !== 'scalar') {
        throw new ExceptionError(
          `Exception '${ex.name}': expected a field name in fields, found a list`,
          f.at,
        );
      }
      if (!isField(f.value)) {
        throw new ExceptionError(
          `Exception '${ex.name}': '${f.value}' is not a supported filter field`,
          f.text.locationOf(0),
        );
      }
    }
    return { ...ex, comps };
  }
  const comps = ex.comps ?? scalar('in', fields.text.locationOf(0));
  if (comps.kind !== 'scalar') {
    throw new ExceptionError(
      `Exception '${ex.name}': fields is a single field, so comps must be a single operator too, found a list`,
      comps.at,
    );
  }
  const op = comps.value.trim().split(/\s+/);
  const allowed = op.length === 1 ? LIST_OPERATORS.has(op[0] as string) : isExceptionOperator(comps.value);
  if (!allowed) {
    throw new ExceptionError(
      `Exception '${ex.name}': with a single field, comps must be one of in, pmatch, intersects (or an operator with a modifier), found '${comps.value}'`,
      comps.text.locationOf(0),
    );
  }
  if (!isField(fields.value)) {
    throw new ExceptionError(
      `Exception '${ex.name}': '${fields.value}' is not a supported filter field`,
      fields.text.locationOf(0),
    );
  }
  return { ...ex, comps };
}

/** A value as condition text: quoted if needed, mapped to where the value was written. */
function valueText(entry: ExceptionScalar): MappedText {
  const quoted = quoteItem(entry.value);
  return quoted === entry.value ? entry.text : MappedText.synthetic(quoted, entry.text.locationOf(0));
}

function listText(entry: ExceptionList, ex: RuleException): MappedText {
  const parts: MappedText[] = [MappedText.synthetic('(', entry.at)];
  entry.items.forEach((item, i) => {
    if (item.kind !== 'scalar') {
      throw new ExceptionError(`Exception '${ex.name}': expected a value, found a nested list`, item.at);
    }
    if (i > 0) parts.push(MappedText.synthetic(', ', entry.at));
    parts.push(valueText(item));
  });
  parts.push(MappedText.synthetic(')', entry.at));
  return MappedText.concat(parts);
}

/**
 * Appends the exceptions to `condition` as Falco does, returning the new condition and the
 * exception fields (which Falco adds to the alert's output fields). Exceptions must have been
 * normalized. Throws {@link ExceptionError} for values that do not fit the fields.
 */
export function applyExceptions(
  condition: MappedText,
  exceptions: readonly RuleException[],
): { condition: MappedText; fields: string[] } {
  const fieldsSeen = new Set<string>();
  const parts: MappedText[] = [
    MappedText.synthetic('(', condition.locationOf(0)),
    condition,
    MappedText.synthetic(')', condition.locationOf(condition.text.length)),
  ];
  for (const ex of exceptions) {
    const fields = ex.fields;
    const comps = ex.comps;
    if (fields === undefined || comps === undefined) continue;
    const clause: MappedText[] = [];
    const syn = (s: string): MappedText => MappedText.synthetic(s, ex.at);
    if (fields.kind === 'scalar' && comps.kind === 'scalar') {
      for (const value of ex.values) {
        if (value.kind !== 'scalar') {
          throw new ExceptionError(
            `Exception '${ex.name}': with a single field, expected each value to be a string, found a list`,
            value.at,
          );
        }
        if (clause.length === 0) clause.push(syn('('), fields.text, syn(' '), comps.text, syn(' ('));
        else clause.push(syn(', '));
        clause.push(valueText(value));
        fieldsSeen.add(fields.value);
      }
      if (clause.length > 0) clause.push(syn('))'));
    } else if (fields.kind === 'list' && comps.kind === 'list') {
      let rows = 0;
      clause.push(syn('('));
      for (const row of ex.values) {
        const cells = row.kind === 'list' ? row.items : undefined;
        if (cells === undefined || cells.length !== fields.items.length) {
          const found = cells === undefined ? 'a single value' : `${cells.length} values`;
          throw new ExceptionError(
            `Exception '${ex.name}': expected each row of values to have ${fields.items.length} entries (one per field), found ${found}`,
            row.kind === 'list' ? row.at : row.text.locationOf(0),
          );
        }
        if (rows > 0) clause.push(syn(' or '));
        clause.push(syn('('));
        cells.forEach((cell, k) => {
          const field = fields.items[k] as ExceptionScalar;
          const comp = comps.items[k] as ExceptionScalar;
          let value: MappedText;
          if (cell.kind === 'list') value = listText(cell, ex);
          else if (isListOperator(comp.value)) {
            const wrapped = parenthesize(cell.value);
            value =
              wrapped === cell.value ? cell.text : MappedText.synthetic(wrapped, cell.text.locationOf(0));
          } else value = valueText(cell);
          if (k > 0) clause.push(syn(' and '));
          clause.push(syn(' '), field.text, syn(' '), comp.text, syn(' '), value);
          fieldsSeen.add(field.value);
        });
        clause.push(syn(')'));
        rows++;
      }
      clause.push(syn(')'));
      if (rows === 0) clause.length = 0;
    }
    if (clause.length > 0) parts.push(syn(' and not '), ...clause);
  }
  return { condition: MappedText.concat(parts), fields: [...fieldsSeen] };
}
