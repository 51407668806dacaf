/**
 * The parser of Falco's condition language, following libsinsp's `filter/parser.cpp` rule for rule:
 * the same tokens, the same precedence (`not` > `and` > `or`), the same quirks, and the same
 * recursion-depth limit. It produces the tree of `ast.ts`.
 *
 * The grammar, as libsinsp reads it:
 *
 *     Expr       := OrExpr
 *     OrExpr     := AndExpr ('or' (blank AndExpr | '(' Expr ')'))*
 *     AndExpr    := NotExpr ('and' (blank NotExpr | '(' Expr ')'))*
 *     NotExpr    := ('not' space+)* ('not(' Expr ')' | Check)
 *     Check      := '(' Expr ')' | Field Condition | Transformer Condition | Identifier
 *     Condition  := 'exists' | NumOp (Transformer | Val | Number)
 *                 | StrOp (Modifier blank+ ListValue | Transformer | Val | QuotedStr | BareStr)
 *                 | ListOp ('(' (Str (',' Str)*)? ')' | Transformer | Val | Identifier)
 *     Field      := FieldName ('[' (QuotedStr | FieldArgBareStr) ']')?
 *     Identifier := [a-zA-Z]+[a-zA-Z0-9_]*       FieldName := Identifier ('.' Identifier)+
 *     BareStr    := [^()"'\s=,]+                  FieldArgBareStr := [^[\]"'\s]+
 *
 * Blanks between tokens are space, \t, \b, \r and \n. Word operators (`contains`, `glob`, ...) need a
 * blank after them; symbols (`=`, `<=`, ...) do not; `and`/`or` need a blank or `(`; `not` needs a
 * blank (or is written `not(`). A field on the right side is just a bare string (`a.b = c.d`
 * compares with the text "c.d"); comparing two fields takes `val(c.d)`.
 *
 * Positions are 0-based offsets with 1-based line and column; as in libsinsp both \r and \n start a
 * new line, and columns count UTF-16 code units.
 */
import type {
  BinaryOperator,
  CheckLeft,
  CheckRight,
  Expr,
  FieldRef,
  ListLiteral,
  ListRef,
  Literal,
  OperatorModifier,
  Position,
  TransformerArg,
  TransformerArgList,
  TransformerExpr,
  TransformerName,
  ValueOf,
} from './ast.js';
import { decodeQuotedBody } from './escaping.js';

/** libsinsp's default recursion-depth limit (`parser::set_max_depth`); Falco's rule loader uses 1000. */
export const DEFAULT_MAX_DEPTH = 100;

/** Options of {@link parseCondition}. */
export interface ParseOptions {
  /**
   * The recursion-depth limit, counted as libsinsp counts it: every grammar rule entered adds one,
   * so each level of parentheses costs about five. Default {@link DEFAULT_MAX_DEPTH}.
   */
  readonly maxDepth?: number;
}

/**
 * A condition that does not follow the grammar. `pos` is where the problem was found (the first
 * non-blank character there), `expected` what the grammar allows at that point, and `found` a short
 * quote of what is there instead.
 *
 * @example `expected a ']' token at 1:13, found "="`
 */
export class ConditionSyntaxError extends Error {
  readonly pos: Position;
  readonly expected: string;
  readonly found: string;

  constructor(expected: string, pos: Position, found: string) {
    super(`expected ${expected} at ${pos.line}:${pos.column}, found ${found}`);
    this.name = 'ConditionSyntaxError';
    this.pos = pos;
    this.expected = expected;
    this.found = found;
  }
}

/**
 * The {@link Position} of `offset` in `text`. Both \r and \n end a line, as in libsinsp (so \r\n
 * counts as two). Linear in `offset`; the parser itself uses a cached line table instead.
 */
export function positionIn(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

// Character classes over ASCII, as bit flags; everything >= 0x80 is an ordinary string character.
const BLANK = 1; //       libsinsp's lex_blank: space \t \b \r \n
const SPACE = 2; //       POSIX [:space:]: space \t \n \v \f \r (used by `not` and the bare-string classes)
const LETTER = 4;
const IDENT = 8; //       [a-zA-Z0-9_]
const NOT_BARE = 16; //   ( ) " ' = , and NUL end a bare string (besides SPACE)
const NOT_ARG = 32; //    [ ] " ' and NUL end a bare field argument (besides SPACE)
const DIGIT = 64;
const HEXISH = 128; //    [0-9a-zA-Z], libsinsp's over-wide hex digit class

const CLASS = new Uint8Array(128);
for (const c of [0x20, 0x09, 0x08, 0x0d, 0x0a]) CLASS[c]! |= BLANK;
for (const c of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) CLASS[c]! |= SPACE | NOT_BARE | NOT_ARG;
for (let c = 0x41; c <= 0x5a; c++) CLASS[c]! |= LETTER | IDENT | HEXISH;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c]! |= LETTER | IDENT | HEXISH;
for (let c = 0x30; c <= 0x39; c++) CLASS[c]! |= IDENT | DIGIT | HEXISH;
CLASS[0x5f]! |= IDENT;
for (const ch of '()"\'=,\0') CLASS[ch.charCodeAt(0)]! |= NOT_BARE;
for (const ch of '[]"\'\0') CLASS[ch.charCodeAt(0)]! |= NOT_ARG;

/** Whether the code unit `c` (NaN past the end) has any of `flags`. */
function has(c: number, flags: number): boolean {
  return c < 128 && (CLASS[c]! & flags) !== 0;
}

/** Bare strings and bare field arguments take any non-ASCII character, but not the end of input. */
function isBareChar(c: number, stop: number): boolean {
  return c === c && (c >= 128 || (CLASS[c]! & stop) === 0);
}

const UNARY_OPERATORS = ['exists'] as const;
// Longer symbols first: '<=' before '<', '==' before '='.
const NUMERIC_OPERATORS = ['<=', '<', '>=', '>'] as const;
const SYMBOL_STRING_OPERATORS = ['==', '=', '!='] as const;
const WORD_STRING_OPERATORS = [
  'glob',
  'iglob',
  'contains',
  'icontains',
  'bcontains',
  'startswith',
  'bstartswith',
  'endswith',
  'regex',
] as const;
const LIST_OPERATORS = ['intersects', 'in', 'pmatch'] as const;
const MODIFIERS = ['oneof', 'anyof', 'allof'] as const;

/** Transformers taking exactly one field or transformer. */
const SINGLE_ARG_TRANSFORMERS = ['tolower', 'toupper', 'b64', 'basename', 'len'] as const;
/** Transformers taking a comma-separated argument list (arity is checked by the compiler). */
const MULTI_ARG_TRANSFORMERS = ['join', 'concat', 'getopt'] as const;
const TRANSFORMERS: readonly TransformerName[] = [...SINGLE_ARG_TRANSFORMERS, ...MULTI_ARG_TRANSFORMERS];

const ALL_OPERATORS = [
  ...UNARY_OPERATORS,
  ...NUMERIC_OPERATORS,
  ...SYMBOL_STRING_OPERATORS,
  ...WORD_STRING_OPERATORS,
  ...LIST_OPERATORS,
]
  .map((op) => `'${op}'`)
  .join(', ');
const TRANSFORMER_LIST = ['val', ...TRANSFORMERS].map((t) => `'${t}'`).join(', ');

/** One parse of one text. Not reusable: every public entry point makes a fresh one. */
class ConditionParser {
  private readonly text: string;
  private readonly length: number;
  private readonly maxDepth: number;
  private depth = 0;
  /** The cursor: the offset of the next character to read. */
  i: number;
  /** Offsets where lines start, built on the first position asked for in a multi-line text. */
  private lineStarts: number[] | undefined;

  constructor(text: string, start: number, maxDepth: number) {
    this.text = text;
    this.length = text.length;
    this.i = start;
    this.maxDepth = maxDepth;
  }

  // ---- the grammar ------------------------------------------------------------------------------

  parseWhole(): Expr {
    if (this.length === 0) throw this.error('a condition', 0);
    const expr = this.parseOr();
    if (this.i !== this.length) throw this.error("'and', 'or' or the end of the condition", this.i);
    return expr;
  }

  private parseOr(): Expr {
    this.enter();
    const start = this.i;
    this.skipBlanks();
    const first = this.parseAnd();
    let children: Expr[] | undefined;
    this.skipBlanks();
    while (this.text.startsWith('or', this.i)) {
      this.i += 2;
      const child = this.parseAfterLogical('or') ?? this.parseAnd();
      (children ??= [first]).push(child);
      this.skipBlanks();
    }
    this.leave();
    return children === undefined ? first : { kind: 'or', children, pos: this.pos(start) };
  }

  private parseAnd(): Expr {
    this.enter();
    const start = this.i;
    this.skipBlanks();
    const first = this.parseNot();
    let children: Expr[] | undefined;
    this.skipBlanks();
    while (this.text.startsWith('and', this.i)) {
      this.i += 3;
      const child = this.parseAfterLogical('and') ?? this.parseNot();
      (children ??= [first]).push(child);
      this.skipBlanks();
    }
    this.leave();
    return children === undefined ? first : { kind: 'and', children, pos: this.pos(start) };
  }

  /**
   * After `and`/`or`: a blank (returns undefined: the caller parses the next operand) or `(` (returns
   * the parenthesised expression). Anything else is an error: `a andb` is not `a and b`.
   */
  private parseAfterLogical(word: string): Expr | undefined {
    if (this.skipBlanks()) return undefined;
    if (this.code(this.i) === 0x28) {
      this.i++;
      return this.parseEmbedded();
    }
    throw this.error(`a blank or '(' after '${word}'`, this.i, false);
  }

  private parseNot(): Expr {
    this.enter();
    const start = this.i;
    this.skipBlanks();
    let negate = false;
    // `not` followed by POSIX spaces, as often as written; an even count cancels out, as in libsinsp.
    while (this.text.startsWith('not', this.i) && has(this.code(this.i + 3), SPACE)) {
      this.i += 4;
      while (has(this.code(this.i), SPACE)) this.i++;
      negate = !negate;
    }
    let child: Expr;
    if (this.text.startsWith('not(', this.i)) {
      this.i += 4;
      negate = !negate;
      child = this.parseEmbedded();
    } else {
      child = this.parseCheck();
    }
    this.leave();
    return negate ? { kind: 'not', child, pos: this.pos(start) } : child;
  }

  /** The rest of a parenthesised expression, just after its `(`. */
  private parseEmbedded(): Expr {
    this.enter();
    this.skipBlanks();
    const child = this.parseOr();
    this.skipBlanks();
    this.expectChar(0x29, "a ')' token");
    this.leave();
    return child;
  }

  private parseCheck(): Expr {
    this.enter();
    const start = this.i;
    this.skipBlanks();
    if (this.code(this.i) === 0x28) {
      this.i++;
      const inner = this.parseEmbedded();
      this.leave();
      return inner;
    }
    let left: CheckLeft | undefined;
    const fieldEnd = this.fieldNameEnd(this.i);
    if (fieldEnd >= 0) {
      left = this.parseFieldRemainder(fieldEnd, start);
    } else {
      const transformer = this.transformerAt(this.i);
      if (transformer !== undefined) {
        this.i += transformer.length + 1;
        left = this.parseTransformerRemainder(transformer, start);
      }
    }
    if (left !== undefined) {
      const check = this.parseCondition(left, start);
      this.leave();
      return check;
    }
    const identEnd = this.identifierEnd(this.i);
    if (identEnd >= 0) {
      const name = this.text.slice(this.i, identEnd);
      this.i = identEnd;
      this.leave();
      return { kind: 'macro', name, pos: this.pos(start) };
    }
    throw this.error("a '(' token, a field check, or an identifier", this.i);
  }

  /** A field whose name ends at `nameEnd` (the cursor is at its start), with its optional `[arg]`. */
  private parseFieldRemainder(nameEnd: number, start: number): FieldRef {
    this.enter();
    const name = this.text.slice(this.i, nameEnd);
    this.i = nameEnd;
    const arg = this.parseOptionalArg();
    this.leave();
    return { kind: 'field', name, arg, pos: this.pos(start) };
  }

  /** `[arg]` right after a field or a transformer (no blank before `[` or inside it); undefined if absent. */
  private parseOptionalArg(): string | undefined {
    if (this.code(this.i) !== 0x5b) return undefined;
    this.i++;
    let arg: string;
    const quotedClose = this.quotedClose(this.i);
    if (quotedClose >= 0) {
      arg = decodeQuotedBody(this.text, this.i, quotedClose);
      this.i = quotedClose + 1;
    } else {
      let end = this.i;
      while (isBareChar(this.code(end), SPACE | NOT_ARG)) end++;
      if (end === this.i) {
        throw this.error('a valid field argument: a quoted string or a bare string', this.i, false);
      }
      arg = this.text.slice(this.i, end);
      this.i = end;
    }
    this.expectChar(0x5d, "a ']' token");
    return arg;
  }

  /**
   * The rest of a transformer, the cursor just past `name(`. Single-argument transformers take a
   * field or another transformer, as in libsinsp; `join`, `concat` and `getopt` take a list of
   * fields, transformers, quoted strings, numbers and parenthesised lists of those.
   */
  private parseTransformerRemainder(name: TransformerName, start: number): TransformerExpr {
    this.enter();
    this.skipBlanks();
    const args: TransformerArg[] = [];
    if ((SINGLE_ARG_TRANSFORMERS as readonly string[]).includes(name)) {
      const arg = this.parseFieldOrTransformer();
      if (arg === undefined) {
        throw this.error(`a field or a nested valid transformer: ${TRANSFORMER_LIST}`, this.i);
      }
      args.push(arg);
      this.skipBlanks();
    } else if (this.code(this.i) !== 0x29) {
      for (;;) {
        args.push(this.parseTransformerArg(true));
        this.skipBlanks();
        if (this.code(this.i) !== 0x2c) break;
        this.i++;
        this.skipBlanks();
      }
    }
    this.expectChar(0x29, "a ')' token closing the transformer");
    const index = this.parseOptionalArg();
    this.leave();
    return { kind: 'transformer', name, args, index, pos: this.pos(start) };
  }

  /** A field or a transformer at the cursor, or undefined (cursor unmoved) when neither starts here. */
  private parseFieldOrTransformer(): FieldRef | TransformerExpr | undefined {
    const start = this.i;
    const transformer = this.transformerAt(start);
    if (transformer !== undefined) {
      this.i += transformer.length + 1;
      return this.parseTransformerRemainder(transformer, start);
    }
    const fieldEnd = this.fieldNameEnd(start);
    if (fieldEnd >= 0) return this.parseFieldRemainder(fieldEnd, start);
    return undefined;
  }

  /** One argument of a multi-argument transformer; `allowList` admits one level of `( ... )`. */
  private parseTransformerArg(allowList: boolean): TransformerArg {
    this.enter();
    const start = this.i;
    let arg: TransformerArg | undefined = this.parseFieldOrTransformer();
    if (arg === undefined) {
      const quotedClose = this.quotedClose(start);
      if (quotedClose >= 0) {
        arg = this.literal(decodeQuotedBody(this.text, start, quotedClose), true, start);
        this.i = quotedClose + 1;
      } else {
        const numberEnd = this.numberEnd(start);
        if (numberEnd >= 0) {
          arg = this.literal(this.text.slice(start, numberEnd), false, start);
          this.i = numberEnd;
        } else if (allowList && this.code(start) === 0x28) {
          arg = this.parseTransformerArgList();
        } else {
          const what = allowList
            ? 'a field, a transformer, a quoted string, a number or a parenthesised list'
            : 'a field, a transformer, a quoted string or a number';
          throw this.error(`${what} as transformer argument`, start);
        }
      }
    }
    this.leave();
    return arg;
  }

  /** `( arg, arg, ... )` inside a transformer's arguments; the cursor is on `(`. */
  private parseTransformerArgList(): TransformerArgList {
    const start = this.i;
    this.i++;
    this.skipBlanks();
    const items: TransformerArg[] = [];
    if (this.code(this.i) !== 0x29) {
      for (;;) {
        items.push(this.parseTransformerArg(false));
        this.skipBlanks();
        if (this.code(this.i) !== 0x2c) break;
        this.i++;
        this.skipBlanks();
      }
    }
    this.expectChar(0x29, "a ',' or a ')' token");
    return { kind: 'arglist', items, pos: this.pos(start) };
  }

  /** The operator and right side of a check whose left side is parsed; `start` is where the check began. */
  private parseCondition(left: CheckLeft, start: number): Expr {
    this.enter();
    this.skipBlanks();
    if (this.text.startsWith('exists', this.i)) {
      this.i += 6;
      this.leave();
      return { kind: 'unary', left, op: 'exists', pos: this.pos(start) };
    }
    let op: BinaryOperator | undefined;
    let modifier: OperatorModifier | undefined;
    let right: CheckRight;
    if ((op = this.matchSymbol(NUMERIC_OPERATORS)) !== undefined) {
      right = this.parseNumberValue();
    } else if (
      (op = this.matchSymbol(SYMBOL_STRING_OPERATORS) ?? this.matchWord(WORD_STRING_OPERATORS)) !== undefined
    ) {
      modifier = this.matchModifier();
      right = modifier === undefined ? this.parseStringValue(true) : this.parseListValue(false);
    } else if ((op = this.matchSymbol(LIST_OPERATORS)) !== undefined) {
      right = this.parseListValue(true);
    } else {
      throw this.error(`a valid check operator: one of ${ALL_OPERATORS}`, this.i);
    }
    this.leave();
    return { kind: 'binary', left, op, modifier, right, pos: this.pos(start) };
  }

  /**
   * `oneof`/`anyof`/`allof` after a string operator: lower case, a blank on both sides, followed by a
   * list or a list name. Otherwise the word is an ordinary value (`proc.name == oneof` compares with
   * "oneof"; in `proc.name == anyof and x` the `and` is the logical operator, not a list name).
   * On a match the cursor moves to the list.
   */
  private matchModifier(): OperatorModifier | undefined {
    const at = this.blanksEnd(this.i);
    if (at === this.i) return undefined;
    for (const modifier of MODIFIERS) {
      if (!this.text.startsWith(modifier, at) || !has(this.code(at + modifier.length), BLANK)) continue;
      const next = this.blanksEnd(at + modifier.length);
      if (this.code(next) !== 0x28) {
        const identEnd = this.identifierEnd(next);
        if (identEnd < 0) return undefined;
        const word = this.text.slice(next, identEnd);
        if (word === 'and' || word === 'or') return undefined;
      }
      this.i = next;
      return modifier;
    }
    return undefined;
  }

  private parseNumberValue(): CheckRight {
    this.enter();
    this.skipBlanks();
    const start = this.i;
    const transformed = this.tryTransformerOrVal();
    if (transformed !== undefined) {
      this.leave();
      return transformed;
    }
    const end = this.numberEnd(start);
    if (end < 0)
      throw this.error(`a number value or a field with a valid transformer: ${TRANSFORMER_LIST}`, start);
    this.i = end;
    this.leave();
    return this.literal(this.text.slice(start, end), false, start);
  }

  private parseStringValue(allowTransformer: true): CheckRight;
  private parseStringValue(allowTransformer: false): Literal;
  private parseStringValue(allowTransformer: boolean): CheckRight {
    this.enter();
    this.skipBlanks();
    const start = this.i;
    if (allowTransformer) {
      const transformed = this.tryTransformerOrVal();
      if (transformed !== undefined) {
        this.leave();
        return transformed;
      }
    }
    let value: Literal;
    const quotedClose = this.quotedClose(start);
    if (quotedClose >= 0) {
      value = this.literal(decodeQuotedBody(this.text, start, quotedClose), true, start);
      this.i = quotedClose + 1;
    } else {
      let end = start;
      while (isBareChar(this.code(end), SPACE | NOT_BARE)) end++;
      if (end === start) {
        const what = allowTransformer
          ? `a string value or a field with a valid transformer: ${TRANSFORMER_LIST}`
          : 'a string value';
        throw this.error(what, start);
      }
      value = this.literal(this.text.slice(start, end), false, start);
      this.i = end;
    }
    this.leave();
    return value;
  }

  /**
   * The right side of `in`/`intersects`/`pmatch` (`allowTransformer`) or of a modifier: a literal
   * list, a transformer or `val()` (list operators only), or the name of a list.
   */
  private parseListValue(allowTransformer: boolean): ListLiteral | ListRef | ValueOf | TransformerExpr {
    this.enter();
    this.skipBlanks();
    const start = this.i;
    if (this.code(start) === 0x28) {
      this.i++;
      this.skipBlanks();
      const items: Literal[] = [];
      if (this.code(this.i) !== 0x29) {
        for (;;) {
          items.push(this.parseStringValue(false));
          this.skipBlanks();
          if (this.code(this.i) !== 0x2c) break;
          this.i++;
        }
      }
      this.expectChar(0x29, "a ',' or a ')' token");
      this.leave();
      return { kind: 'list', items, pos: this.pos(start) };
    }
    if (allowTransformer) {
      const transformed = this.tryTransformerOrVal();
      if (transformed !== undefined) {
        this.leave();
        return transformed;
      }
    }
    const identEnd = this.identifierEnd(start);
    if (identEnd < 0) {
      const what = allowTransformer
        ? `a list, an identifier, or a field with a valid transformer: ${TRANSFORMER_LIST}`
        : 'a list or an identifier';
      throw this.error(what, start);
    }
    this.i = identEnd;
    this.leave();
    return { kind: 'listref', name: this.text.slice(start, identEnd), pos: this.pos(start) };
  }

  /** A transformer or `val(field)` on the right side, or undefined (cursor unmoved) when none starts here. */
  private tryTransformerOrVal(): ValueOf | TransformerExpr | undefined {
    const start = this.i;
    if (this.text.startsWith('val(', start)) {
      this.enter();
      this.i += 4;
      this.skipBlanks();
      const fieldStart = this.i;
      const fieldEnd = this.fieldNameEnd(fieldStart);
      if (fieldEnd < 0) throw this.error("a field within 'val' transformer", fieldStart);
      const field = this.parseFieldRemainder(fieldEnd, fieldStart);
      this.skipBlanks();
      this.expectChar(0x29, "a ')' token closing the transformer");
      // libsinsp parses `val(x.y)[z]` and rejects it when compiling; the tree has no place for it.
      if (this.code(this.i) === 0x5b) {
        throw this.error("the end of the value (transformer 'val' does not support field arguments)", this.i);
      }
      this.leave();
      return { kind: 'val', field, pos: this.pos(start) };
    }
    const transformer = this.transformerAt(start);
    if (transformer === undefined) return undefined;
    this.i += transformer.length + 1;
    return this.parseTransformerRemainder(transformer, start);
  }

  // ---- tokens -----------------------------------------------------------------------------------

  private code(at: number): number {
    return this.text.charCodeAt(at);
  }

  /** Skips libsinsp's blanks; true when there were any. */
  private skipBlanks(): boolean {
    const end = this.blanksEnd(this.i);
    const moved = end !== this.i;
    this.i = end;
    return moved;
  }

  private blanksEnd(at: number): number {
    while (has(this.code(at), BLANK)) at++;
    return at;
  }

  /** The end of `[a-zA-Z]+[a-zA-Z0-9_]*` at `at`, or -1. */
  private identifierEnd(at: number): number {
    if (!has(this.code(at), LETTER)) return -1;
    at++;
    while (has(this.code(at), IDENT)) at++;
    return at;
  }

  /** The end of an identifier followed by at least one `.identifier`, or -1. */
  private fieldNameEnd(at: number): number {
    let end = this.identifierEnd(at);
    if (end < 0) return -1;
    let dots = 0;
    while (this.code(end) === 0x2e && has(this.code(end + 1), LETTER)) {
      end = this.identifierEnd(end + 1);
      dots++;
    }
    return dots > 0 ? end : -1;
  }

  /** The transformer whose `name(` starts at `at` (no blank before the parenthesis), if any. */
  private transformerAt(at: number): TransformerName | undefined {
    if (!has(this.code(at), LETTER)) return undefined;
    for (const name of TRANSFORMERS) {
      if (this.code(at + name.length) === 0x28 && this.text.startsWith(name, at)) return name;
    }
    return undefined;
  }

  /**
   * The end of a number at `at`, or -1: `0[xX][0-9a-zA-Z]+` or `[+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)?`,
   * longest match first as libsinsp's POSIX regexes do.
   */
  private numberEnd(at: number): number {
    const c0 = this.code(at);
    const c1 = this.code(at + 1);
    if (c0 === 0x30 && (c1 === 0x78 || c1 === 0x58) && has(this.code(at + 2), HEXISH)) {
      let end = at + 3;
      while (has(this.code(end), HEXISH)) end++;
      return end;
    }
    let end = c0 === 0x2b || c0 === 0x2d ? at + 1 : at;
    if (!has(this.code(end), DIGIT)) return -1;
    while (has(this.code(end), DIGIT)) end++;
    if (this.code(end) === 0x2e) end++;
    while (has(this.code(end), DIGIT)) end++;
    const e = this.code(end);
    const sign = this.code(end + 1);
    if ((e === 0x65 || e === 0x45) && (sign === 0x2b || sign === 0x2d) && has(this.code(end + 2), DIGIT)) {
      end += 3;
      while (has(this.code(end), DIGIT)) end++;
    }
    return end;
  }

  /**
   * The offset of the closing quote of a quoted string opening at `at`, or -1 when there is none (or
   * no quote at `at`). As in libsinsp, a quote right after a backslash never closes the string, and
   * the end of input or a NUL means the string is unterminated.
   */
  private quotedClose(at: number): number {
    const delimiter = this.code(at);
    if (delimiter !== 0x22 && delimiter !== 0x27) return -1;
    let prev = delimiter;
    for (let i = at + 1; i < this.length; i++) {
      const c = this.code(i);
      if (c === 0) return -1;
      if (c === delimiter && prev !== 0x5c) return i;
      prev = c;
    }
    return -1;
  }

  /** Matches one of `symbols` at the cursor (no blank needed after it) and moves past it. */
  private matchSymbol<T extends string>(symbols: readonly T[]): T | undefined {
    for (const symbol of symbols) {
      if (this.text.startsWith(symbol, this.i)) {
        this.i += symbol.length;
        return symbol;
      }
    }
    return undefined;
  }

  /** Matches one of `words` followed by a blank at the cursor and moves past the word. */
  private matchWord<T extends string>(words: readonly T[]): T | undefined {
    for (const word of words) {
      if (this.text.startsWith(word, this.i) && has(this.code(this.i + word.length), BLANK)) {
        this.i += word.length;
        return word;
      }
    }
    return undefined;
  }

  private expectChar(code: number, expected: string): void {
    if (this.code(this.i) !== code) throw this.error(expected, this.i);
    this.i++;
  }

  private literal(value: string, quoted: boolean, start: number): Literal {
    return { kind: 'value', value, quoted, pos: this.pos(start) };
  }

  // ---- depth, positions, errors -----------------------------------------------------------------

  /** Counts one level of recursion, as libsinsp's depth guard does on entering a grammar rule. */
  private enter(): void {
    if (++this.depth >= this.maxDepth) {
      throw this.error(`nesting within the depth limit of ${this.maxDepth}`, this.i, false);
    }
  }

  private leave(): void {
    this.depth--;
  }

  pos(offset: number): Position {
    let starts = this.lineStarts;
    if (starts === undefined) {
      starts = [0];
      for (let i = 0; i < this.length; i++) {
        const c = this.code(i);
        if (c === 0x0a || c === 0x0d) starts.push(i + 1);
      }
      this.lineStarts = starts;
    }
    if (starts.length === 1) return { offset, line: 1, column: offset + 1 };
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { offset, line: lo + 1, column: offset - starts[lo]! + 1 };
  }

  /**
   * An error at `at`: by default the position moves over blanks to the offending token, so that
   * `evt.arg["x" = 1` reports the `=` rather than the blank before it.
   */
  error(expected: string, at: number, skipBlanks = true): ConditionSyntaxError {
    const where = skipBlanks ? this.blanksEnd(at) : at;
    return new ConditionSyntaxError(expected, this.pos(where), this.describe(where));
  }

  /** A short quote of the text at `at`: one punctuation character, or a run up to the next blank. */
  private describe(at: number): string {
    if (at >= this.length) return 'the end of the condition';
    const c = this.code(at);
    if (c < 128 && !has(c, IDENT) && c !== 0x2e && c !== 0x2f) return JSON.stringify(this.text[at]);
    let end = at;
    while (end < this.length && end - at < 24) {
      const d = this.code(end);
      if (d < 128 && (has(d, SPACE | BLANK) || (!has(d, IDENT) && d !== 0x2e && d !== 0x2f))) break;
      end++;
    }
    const more = end < this.length && end - at >= 24 ? '…' : '';
    return JSON.stringify(this.text.slice(at, end) + more);
  }

  /** For {@link parseOutputField}: a field or transformer at the cursor, or undefined. */
  parseOutputOperand(): CheckLeft | undefined {
    const start = this.i;
    const transformer = this.transformerAt(start);
    if (transformer !== undefined) {
      this.i += transformer.length + 1;
      return this.parseTransformerRemainder(transformer, start);
    }
    const nameEnd = this.fieldNameEnd(start);
    if (nameEnd < 0) return undefined;
    try {
      return this.parseFieldRemainder(nameEnd, start);
    } catch (err) {
      if (!(err instanceof ConditionSyntaxError)) throw err;
      // A `[` that does not open a valid argument is output text after the field.
      this.i = nameEnd;
      return { kind: 'field', name: this.text.slice(start, nameEnd), arg: undefined, pos: this.pos(start) };
    }
  }
}

/**
 * Parses a whole condition into its syntax tree. Throws {@link ConditionSyntaxError} when the text
 * does not follow the grammar or nests deeper than `options.maxDepth` (default 100, libsinsp's; the
 * rule loader passes 1000).
 *
 * @example parseCondition('proc.name in (bash, sh) and not fd.name startswith /tmp')
 */
export function parseCondition(text: string, options?: ParseOptions): Expr {
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1) {
    throw new RangeError(`maxDepth must be a positive integer, got ${String(maxDepth)}`);
  }
  return new ConditionParser(text, 0, maxDepth).parseWhole();
}

/**
 * Parses one output operand starting at `offset` in an output format string: a field with its
 * optional argument (`proc.aname[2]`, `evt.arg.flags`) or one transformer expression
 * (`tolower(fd.name)`). Returns the node and the offset just past it, or undefined when nothing
 * parses there. A `[` that does not open a valid argument is left as text after the field. Never
 * throws.
 *
 * @example parseOutputField('user=%user.name cmd=%proc.cmdline', 6) // { node: user.name, end: 15 }
 */
export function parseOutputField(text: string, offset: number): { node: CheckLeft; end: number } | undefined {
  if (!(offset >= 0 && offset < text.length)) return undefined;
  const parser = new ConditionParser(text, offset, DEFAULT_MAX_DEPTH);
  try {
    const node = parser.parseOutputOperand();
    return node === undefined ? undefined : { node, end: parser.i };
  } catch (err) {
    if (err instanceof ConditionSyntaxError) return undefined;
    throw err;
  }
}
