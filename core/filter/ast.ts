/**
 * The syntax tree of a Falco condition, as produced by the parser (`parser.ts`) and consumed by
 * the macro resolver, the event-type indexer and the compiler.
 *
 * The shapes follow libsinsp's filter grammar: `and`/`or`/`not`, macro identifiers, checks of a
 * field (or a transformer over fields) against a value, a list or another field (`val()`).
 * Every node carries the position where it starts in the condition text, so that errors can
 * point at it.
 */

/** Where a node starts in the condition text. `line` and `column` are 1-based; `offset` is 0-based. */
export interface Position {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** `a and b and c`: every child must hold. */
export interface AndExpr {
  readonly kind: 'and';
  readonly children: readonly Expr[];
  readonly pos: Position;
}

/** `a or b or c`: at least one child must hold. */
export interface OrExpr {
  readonly kind: 'or';
  readonly children: readonly Expr[];
  readonly pos: Position;
}

/** `not a`. */
export interface NotExpr {
  readonly kind: 'not';
  readonly child: Expr;
  readonly pos: Position;
}

/** A bare identifier in condition position: a reference to a macro, resolved before compiling. */
export interface MacroRef {
  readonly kind: 'macro';
  readonly name: string;
  readonly pos: Position;
}

/** A field, with its optional argument: `proc.name`, `proc.aname[2]`, `evt.arg[0]`, `x.y[""]`. */
export interface FieldRef {
  readonly kind: 'field';
  readonly name: string;
  /** The text between `[` and `]` after unquoting; undefined when there are no brackets. */
  readonly arg: string | undefined;
  readonly pos: Position;
}

/** The names of the transformers libsinsp knows. */
export type TransformerName =
  'tolower' | 'toupper' | 'b64' | 'basename' | 'len' | 'join' | 'concat' | 'getopt';

/** A parenthesised list of transformer arguments, as in `join("-", (fd.name, fd.directory))`. */
export interface TransformerArgList {
  readonly kind: 'arglist';
  readonly items: readonly TransformerArg[];
  readonly pos: Position;
}

/** One argument of a transformer. */
export type TransformerArg = FieldRef | TransformerExpr | Literal | TransformerArgList;

/** `tolower(proc.name)`, `getopt(proc.args, "nt:")[t]`, `concat(a, b, ...)`. */
export interface TransformerExpr {
  readonly kind: 'transformer';
  readonly name: TransformerName;
  readonly args: readonly TransformerArg[];
  /** The `[arg]` that may follow the closing parenthesis; undefined when absent. */
  readonly index: string | undefined;
  readonly pos: Position;
}

/** What can stand left of an operator. */
export type CheckLeft = FieldRef | TransformerExpr;

/** A single value: bare or quoted (quotes removed and escapes decoded). */
export interface Literal {
  readonly kind: 'value';
  readonly value: string;
  readonly quoted: boolean;
  readonly pos: Position;
}

/** `(a, b, "c d")` — the right side of `in`, `intersects`, `pmatch` and the modifiers. */
export interface ListLiteral {
  readonly kind: 'list';
  readonly items: readonly Literal[];
  readonly pos: Position;
}

/** A list named by identifier on the right side (`proc.name in shell_binaries`), left after list expansion. */
export interface ListRef {
  readonly kind: 'listref';
  readonly name: string;
  readonly pos: Position;
}

/** `val(proc.name)`: the right side is another field of the same event. */
export interface ValueOf {
  readonly kind: 'val';
  readonly field: FieldRef;
  readonly pos: Position;
}

/** What can stand right of a binary operator. */
export type CheckRight = Literal | ListLiteral | ListRef | ValueOf | TransformerExpr;

/** Operators that take no right side. */
export type UnaryOperator = 'exists';

/** Operators that take a right side. */
export type BinaryOperator =
  | '='
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'contains'
  | 'icontains'
  | 'bcontains'
  | 'startswith'
  | 'bstartswith'
  | 'endswith'
  | 'glob'
  | 'iglob'
  | 'regex'
  | 'pmatch'
  | 'in'
  | 'intersects';

/** `oneof` / `anyof` / `allof` between a string operator and a list. */
export type OperatorModifier = 'oneof' | 'anyof' | 'allof';

/** `proc.name exists`. */
export interface UnaryCheck {
  readonly kind: 'unary';
  readonly left: CheckLeft;
  readonly op: UnaryOperator;
  readonly pos: Position;
}

/** `proc.name = bash`, `fd.name startswith anyof (/etc, /root)`, `proc.pname = val(proc.name)`. */
export interface BinaryCheck {
  readonly kind: 'binary';
  readonly left: CheckLeft;
  readonly op: BinaryOperator;
  readonly modifier: OperatorModifier | undefined;
  readonly right: CheckRight;
  readonly pos: Position;
}

/** Any node that stands in condition position. */
export type Expr = AndExpr | OrExpr | NotExpr | MacroRef | UnaryCheck | BinaryCheck;
