/**
 * Prints a condition tree back as condition text.
 *
 * Used to show a rule's condition after macros and lists were expanded (`vigil rules check
 * --expand`, error messages) and to hand expanded conditions to other Falco-language
 * implementations in differential tests. Every `and`/`or` group is parenthesised, so the text
 * never depends on precedence (older parsers reject mixing `and` and `or` without brackets).
 */
import type { CheckLeft, CheckRight, Expr, FieldRef, Literal, TransformerArg } from './ast.js';
import { needsQuoting, quoteString } from './escaping.js';

/** Returns condition text that parses back to an equivalent tree. */
export function printCondition(expr: Expr): string {
  switch (expr.kind) {
    case 'and':
    case 'or':
      return expr.children.map((c) => group(c)).join(` ${expr.kind} `);
    case 'not':
      return `not ${group(expr.child)}`;
    case 'macro':
      return expr.name;
    case 'unary':
      return `${printLeft(expr.left)} ${expr.op}`;
    case 'binary': {
      const mod = expr.modifier !== undefined ? ` ${expr.modifier}` : '';
      return `${printLeft(expr.left)} ${expr.op}${mod} ${printRight(expr.right)}`;
    }
  }
}

function group(expr: Expr): string {
  return expr.kind === 'and' || expr.kind === 'or' || expr.kind === 'not'
    ? `(${printCondition(expr)})`
    : printCondition(expr);
}

/** Prints a field with its argument: `proc.aname[2]`, `x.y["a b"]`. */
export function printField(field: FieldRef): string {
  if (field.arg === undefined) return field.name;
  const bare = field.arg !== '' && /^[^\][\s"']+$/.test(field.arg);
  return `${field.name}[${bare ? field.arg : quoteString(field.arg)}]`;
}

function printLeft(left: CheckLeft): string {
  return left.kind === 'field' ? printField(left) : printTransformerArg(left);
}

function printLiteral(lit: Literal): string {
  return needsQuoting(lit.value) ? quoteString(lit.value) : lit.value;
}

function printRight(right: CheckRight): string {
  switch (right.kind) {
    case 'value':
      return printLiteral(right);
    case 'list':
      return `(${right.items.map(printLiteral).join(', ')})`;
    case 'listref':
      return right.name;
    case 'val':
      return `val(${printField(right.field)})`;
    case 'transformer':
      return printTransformerArg(right);
  }
}

function printTransformerArg(arg: TransformerArg): string {
  switch (arg.kind) {
    case 'field':
      return printField(arg);
    case 'value':
      return quoteString(arg.value);
    case 'arglist':
      return `(${arg.items.map(printTransformerArg).join(', ')})`;
    case 'transformer': {
      const index =
        arg.index === undefined ? '' : `[${needsQuoting(arg.index) ? quoteString(arg.index) : arg.index}]`;
      return `${arg.name}(${arg.args.map(printTransformerArg).join(', ')})${index}`;
    }
  }
}
