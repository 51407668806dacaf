/**
 * The filter compiler: turns a condition tree (macros and lists already expanded) into a
 * predicate over events, with libsinsp's semantics.
 *
 * All the work that does not depend on the event happens here, once: fields are resolved and
 * their arguments checked, operands are converted to the field's type (numbers parsed, `in` lists
 * turned into sets, globs and regexes compiled, addresses and networks parsed), operators are
 * checked against libsinsp's operator/type table. The result is a tree of closures; evaluating
 * `=`, `in`, `startswith` or `contains` on a string field allocates nothing.
 *
 * A field without a value makes every check on it false, `!=` included, as in libsinsp (a `not`
 * around the check makes it true).
 */
import type {
  BinaryCheck,
  BinaryOperator,
  CheckLeft,
  CheckRight,
  Expr,
  FieldRef,
  Literal,
  Position,
  TransformerArg,
  TransformerExpr,
  UnaryCheck,
} from './ast.js';
import type { Event } from '../event.js';
import type { FieldDef, FieldRegistry, FieldType, MultiValueMode } from '../fields/types.js';
import {
  boolSetTest,
  boolTest,
  ipSetTest,
  ipTest,
  kindLabel,
  netSetTest,
  netTest,
  numberSetTest,
  numberTest,
  operatorAllowed,
  pmatchTest,
  textSetTest,
  textTest,
  type IpTest,
  type TextTest,
} from './operators.js';
import { RegexSyntaxError } from './regex.js';
import {
  applyUnaryTransformer,
  asciiLower,
  getopt,
  isTextType,
  TransformerError,
  unaryTransformerOutput,
  type ValueShape,
} from './transformers.js';
import {
  operandText,
  parseBoolOperand,
  parseHexOperand,
  parseIpInto,
  parseIpOperand,
  parseNetOperand,
  parseNumberOperand,
  toBool,
  toByteString,
  toBytes,
  toNumber,
  toText,
  ValueConversionError,
  valueKindOf,
  type ValueKind,
} from './values.js';

/** A condition compiled for evaluation. */
export interface CompiledFilter {
  /** Whether `evt` satisfies the condition. */
  matches(evt: Event): boolean;
}

/**
 * A condition that is well-formed but cannot be compiled: unknown field, wrong argument, operator
 * not allowed for the field's type, operand not convertible, unresolved macro or list, bad
 * transformer use. `pos` points at the offending node.
 */
export class FilterCompileError extends Error {
  readonly pos: Position;

  constructor(message: string, pos: Position, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FilterCompileError';
    this.pos = pos;
  }
}

/** Compiles `expr` against the fields of `registry`; throws {@link FilterCompileError}. */
export function compileFilter(expr: Expr, registry: FieldRegistry): CompiledFilter {
  const predicate = new Compiler(registry).expr(expr);
  return { matches: predicate };
}

/**
 * Compiles the value of a field or transformer for outputs (`%proc.name`, `%tolower(fd.name)`):
 * the returned function yields the converted value — a string, number, boolean, an array for
 * list fields — or undefined when the event has none. Filter-only fields are rejected.
 */
export function compileValueExtractor(left: CheckLeft, registry: FieldRegistry): (evt: Event) => unknown {
  const source = new Compiler(registry).left(left, true);
  const kind = valueKindOf(source.shape.type);
  const get = source.get;
  const convertOne = (v: unknown): unknown =>
    v === undefined || v === null ? undefined : displayValue(kind, v);
  return (evt) => {
    const raw = get(evt);
    if (raw === undefined || raw === null) return undefined;
    if (Array.isArray(raw)) {
      const out: unknown[] = [];
      for (const item of raw as unknown[]) {
        const v = convertOne(item);
        if (v !== undefined) out.push(v);
      }
      if (!source.shape.isList && out.length === 0) return undefined;
      return source.shape.isList ? out : out.length === 1 ? out[0] : out;
    }
    return convertOne(raw);
  };
}

/**
 * Renders a value for an output line as Falco does: `<NA>` when missing, lists as
 * `(a,b,c)`, booleans as `true`/`false`, numbers in decimal, bytes as text.
 */
export function formatFieldValue(value: unknown): string {
  if (value === undefined || value === null) return '<NA>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Uint8Array) return toText(value) ?? '<NA>';
  if (Array.isArray(value)) return `(${value.map((v) => formatFieldValue(v)).join(',')})`;
  return JSON.stringify(value) ?? '<NA>';
}

/** A converted value for display; addresses are kept as the text the source gave. */
function displayValue(kind: ValueKind, raw: unknown): unknown {
  switch (kind) {
    case 'string':
      return toText(raw);
    case 'bytes':
      return toBytes(raw);
    case 'number':
      return typeof raw === 'number' ? raw : toNumber(raw, 'int64');
    case 'bool':
      return toBool(raw);
    default:
      return typeof raw === 'string' ? raw : toText(raw);
  }
}

type Predicate = (evt: Event) => boolean;

/** Something that yields a value per event: a field, or a transformer over fields. */
interface Source {
  readonly shape: ValueShape;
  readonly multi: MultiValueMode;
  /** Raw field value, or a transformer's already converted value. */
  readonly get: (evt: Event) => unknown;
  /** The field, when the source is a plain field. */
  readonly field: FieldDef | undefined;
  /** How the source is written, for messages. */
  readonly label: string;
}

/** Whether a raw value counts as present. */
function present(raw: unknown): boolean {
  if (raw === undefined || raw === null) return false;
  if (Array.isArray(raw)) {
    for (const item of raw as unknown[]) if (item !== undefined && item !== null) return true;
    return false;
  }
  return true;
}

/** The address scratch buffer: parse, then compare right away (evaluation is synchronous). */
const IP_SCRATCH = new Uint32Array(4);
/** The second address of a field-to-field comparison. */
const IP_SCRATCH_RIGHT = new Uint32Array(4);

/** A test on one scalar raw value (converted inside). */
type ScalarTest = (raw: unknown) => boolean;

function textScalar(kind: ValueKind, test: TextTest): ScalarTest {
  if (kind === 'bytes') {
    return (raw) => {
      const b = toBytes(raw);
      return b !== undefined && test(b);
    };
  }
  return (raw) => {
    if (typeof raw === 'string') return test(raw);
    const s = toText(raw);
    return s !== undefined && test(s);
  };
}

function numberScalar(type: FieldType, test: (n: number) => boolean): ScalarTest {
  return (raw) => {
    const n =
      typeof raw === 'number' && Number.isInteger(raw) && type === 'int64' ? raw : toNumber(raw, type);
    return n !== undefined && test(n);
  };
}

function boolScalar(test: (b: boolean) => boolean): ScalarTest {
  return (raw) => {
    const b = toBool(raw);
    return b !== undefined && test(b);
  };
}

function ipScalar(test: IpTest): ScalarTest {
  return (raw) => {
    if (typeof raw !== 'string') return false;
    const family = parseIpInto(raw, IP_SCRATCH);
    return family !== 0 && test(family, IP_SCRATCH);
  };
}

/**
 * Applies a scalar test to a raw value that may hold several values: list fields (`every` for
 * `in`, `any` for `intersects`), ancestors (`any`), connection endpoints (`any`, or `every` for
 * `!=`).
 */
function overValues(test: ScalarTest, combine: 'any' | 'every'): (raw: unknown) => boolean {
  if (combine === 'any') {
    return (raw) => {
      if (raw === undefined || raw === null) return false;
      if (!Array.isArray(raw)) return test(raw);
      for (const item of raw as unknown[]) if (item !== undefined && item !== null && test(item)) return true;
      return false;
    };
  }
  return (raw) => {
    if (raw === undefined || raw === null) return false;
    if (!Array.isArray(raw)) return test(raw);
    let seen = false;
    for (const item of raw as unknown[]) {
      if (item === undefined || item === null) continue;
      if (!test(item)) return false;
      seen = true;
    }
    return seen;
  };
}

class Compiler {
  constructor(private readonly registry: FieldRegistry) {}

  expr(e: Expr): Predicate {
    switch (e.kind) {
      case 'and': {
        const parts = e.children.map((c) => this.expr(c));
        if (parts.length === 1) return parts[0]!;
        if (parts.length === 2) {
          const [a, b] = parts as [Predicate, Predicate];
          return (evt) => a(evt) && b(evt);
        }
        return (evt) => {
          for (const p of parts) if (!p(evt)) return false;
          return true;
        };
      }
      case 'or': {
        const parts = e.children.map((c) => this.expr(c));
        if (parts.length === 1) return parts[0]!;
        if (parts.length === 2) {
          const [a, b] = parts as [Predicate, Predicate];
          return (evt) => a(evt) || b(evt);
        }
        return (evt) => {
          for (const p of parts) if (p(evt)) return true;
          return false;
        };
      }
      case 'not': {
        const inner = this.expr(e.child);
        return (evt) => !inner(evt);
      }
      case 'macro':
        throw new FilterCompileError(`undefined macro ${e.name}`, e.pos);
      case 'unary':
        return this.unary(e);
      case 'binary':
        return this.binary(e);
    }
  }

  private unary(e: UnaryCheck): Predicate {
    const source = this.left(e.left, false);
    const get = source.get;
    return (evt) => present(get(evt));
  }

  // ---------------------------------------------------------------------------------------------
  // Left side: fields and transformers

  /** Resolves a field reference: definition, argument, type. */
  private fieldRef(ref: FieldRef, forOutput: boolean): Source {
    const found = this.registry.resolve(ref.name);
    if (found === undefined) throw new FilterCompileError(`unknown field '${ref.name}'`, ref.pos);
    const def = found.def;
    if (found.impliedArg !== undefined && ref.arg !== undefined) {
      throw new FilterCompileError(
        `field '${ref.name}' already names its argument; expected no '[${ref.arg}]' after it`,
        ref.pos,
      );
    }
    const arg = found.impliedArg ?? ref.arg;
    const label =
      arg === undefined ? def.name : found.impliedArg !== undefined ? ref.name : `${def.name}[${arg}]`;
    checkArgument(def, arg, ref);
    if (forOutput && def.filterOnly) {
      throw new FilterCompileError(
        `field '${def.name}' can be used only in conditions, not in outputs`,
        ref.pos,
      );
    }
    let type = def.type;
    if (def.typeForArg !== undefined && arg !== undefined) {
      const t = def.typeForArg(arg);
      if (t === undefined)
        throw new FilterCompileError(`unknown event argument '${arg}' for field '${def.name}'`, ref.pos);
      type = t;
    }
    return {
      shape: { type, isList: def.isList },
      multi: def.multi ?? 'any',
      get: def.extractor(arg),
      field: def,
      label,
    };
  }

  left(left: CheckLeft, forOutput: boolean): Source {
    return left.kind === 'field' ? this.fieldRef(left, forOutput) : this.transformer(left, forOutput);
  }

  private transformer(t: TransformerExpr, forOutput: boolean): Source {
    if (t.index !== undefined && t.name !== 'getopt') {
      throw new FilterCompileError(`transformer '${t.name}' does not support field arguments`, t.pos);
    }
    const label = `${t.name}(...)`;
    switch (t.name) {
      case 'tolower':
      case 'toupper':
      case 'b64':
      case 'basename':
      case 'len': {
        if (t.args.length !== 1) {
          throw new FilterCompileError(
            `transformer '${t.name}' expects one argument, found ${t.args.length}`,
            t.pos,
          );
        }
        const input = this.transformerInput(t.args[0]!, t, forOutput);
        let shape: ValueShape;
        try {
          shape = unaryTransformerOutput(t.name, input.shape);
        } catch (err) {
          if (err instanceof TransformerError)
            throw new FilterCompileError(err.message, t.pos, { cause: err });
          throw err;
        }
        const read = convertedReader(input);
        const name = t.name;
        const inShape = input.shape;
        return {
          shape,
          multi: 'any',
          get: (evt) => {
            const v = read(evt);
            return v === undefined ? undefined : applyUnaryTransformer(name, inShape, v);
          },
          field: undefined,
          label,
        };
      }
      case 'join':
        return this.join(t, forOutput, label);
      case 'concat':
        return this.concat(t, forOutput, label);
      case 'getopt':
        return this.getopt(t, forOutput, label);
    }
  }

  /** An argument of a transformer that must be a field or another transformer. */
  private transformerInput(arg: TransformerArg, t: TransformerExpr, forOutput: boolean): Source {
    if (arg.kind === 'field') {
      const source = this.fieldRef(arg, forOutput);
      if (source.field?.noTransformer === true) {
        throw new FilterCompileError(`field '${source.label}' does not support transformers`, arg.pos);
      }
      return source;
    }
    if (arg.kind === 'transformer') return this.transformer(arg, forOutput);
    throw new FilterCompileError(
      `transformer '${t.name}' expects a field or a transformer as argument`,
      arg.pos,
    );
  }

  /** A single text value from a transformer argument: a literal, a field or a transformer (no lists). */
  private textItem(
    arg: TransformerArg,
    t: TransformerExpr,
    forOutput: boolean,
  ): (evt: Event) => string | undefined {
    if (arg.kind === 'value') {
      const text = operandText(arg.value);
      return () => text;
    }
    if (arg.kind === 'arglist') {
      throw new FilterCompileError(`transformer '${t.name}' does not accept a list here`, arg.pos);
    }
    const source = this.transformerInput(arg, t, forOutput);
    if (source.shape.isList) {
      throw new FilterCompileError(
        `transformer '${t.name}' does not accept the list field '${source.label}' here`,
        arg.pos,
      );
    }
    const read = convertedReader(source);
    return (evt) => renderText(read(evt));
  }

  private join(t: TransformerExpr, forOutput: boolean, label: string): Source {
    const [sepArg, listArg] = t.args;
    if (t.args.length !== 2 || sepArg === undefined || listArg === undefined || listArg.kind !== 'arglist') {
      throw new FilterCompileError(
        `transformer 'join' expects a separator and a parenthesised list: join(sep, (a, b, ...))`,
        t.pos,
      );
    }
    const sep = this.textItem(sepArg, t, forOutput);
    const items = listArg.items.map((item) => this.textItem(item, t, forOutput));
    return {
      shape: { type: 'charbuf', isList: false },
      multi: 'any',
      get: (evt) => {
        const s = sep(evt);
        if (s === undefined) return undefined;
        let out = '';
        for (let i = 0; i < items.length; i++) {
          const v = items[i]!(evt);
          if (v === undefined) return undefined;
          out = i === 0 ? v : out + s + v;
        }
        return out;
      },
      field: undefined,
      label,
    };
  }

  private concat(t: TransformerExpr, forOutput: boolean, label: string): Source {
    if (t.args.length < 2) {
      throw new FilterCompileError(
        `transformer 'concat' expects at least two arguments, found ${t.args.length}`,
        t.pos,
      );
    }
    const items = t.args.map((item) => this.textItem(item, t, forOutput));
    return {
      shape: { type: 'charbuf', isList: false },
      multi: 'any',
      get: (evt) => {
        let out = '';
        for (const item of items) {
          const v = item(evt);
          if (v === undefined) return undefined;
          out += v;
        }
        return out;
      },
      field: undefined,
      label,
    };
  }

  private getopt(t: TransformerExpr, forOutput: boolean, label: string): Source {
    const [argsArg, optsArg] = t.args;
    if (t.args.length !== 2 || argsArg === undefined || optsArg === undefined) {
      throw new FilterCompileError(
        `transformer 'getopt' expects two arguments: getopt(args, "optstring")`,
        t.pos,
      );
    }
    if (optsArg.kind !== 'value' || !optsArg.quoted) {
      throw new FilterCompileError(
        `transformer 'getopt' expects a quoted option string as second argument`,
        optsArg.pos,
      );
    }
    const optstring = optsArg.value;
    let readArgs: (evt: Event) => readonly string[] | undefined;
    if (argsArg.kind === 'arglist') {
      const items = argsArg.items.map((item) => this.textItem(item, t, forOutput));
      readArgs = (evt) => {
        const out: string[] = [];
        for (const item of items) {
          const v = item(evt);
          if (v === undefined) return undefined;
          out.push(v);
        }
        return out;
      };
    } else if (argsArg.kind === 'field' || argsArg.kind === 'transformer') {
      const source = this.transformerInput(argsArg, t, forOutput);
      if (!source.shape.isList && !isTextType(source.shape.type)) {
        throw new FilterCompileError(
          `transformer 'getopt' expects a list or a string of arguments`,
          argsArg.pos,
        );
      }
      const read = convertedReader(source);
      const isList = source.shape.isList;
      // A string of arguments (proc.args) is split on blanks, as the command line was.
      readArgs = (evt) => {
        const v = read(evt);
        if (v === undefined) return undefined;
        if (isList) return (v as unknown[]).map((x) => renderText(x) ?? '');
        const s = renderText(v);
        return s === undefined ? undefined : s.split(/\s+/).filter((w) => w.length > 0);
      };
    } else {
      throw new FilterCompileError(
        `transformer 'getopt' expects a list of arguments as first argument`,
        argsArg.pos,
      );
    }
    const index = t.index;
    if (index !== undefined) {
      if (index.length === 0)
        throw new FilterCompileError(`transformer 'getopt' expects an option letter in [ ]`, t.pos);
      return {
        shape: { type: 'charbuf', isList: false },
        multi: 'any',
        get: (evt) => {
          const args = readArgs(evt);
          return args === undefined ? undefined : getopt(args, optstring).byOption.get(index);
        },
        field: undefined,
        label,
      };
    }
    return {
      shape: { type: 'charbuf', isList: true },
      multi: 'any',
      get: (evt) => {
        const args = readArgs(evt);
        return args === undefined ? undefined : getopt(args, optstring).values;
      },
      field: undefined,
      label,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Checks

  private binary(e: BinaryCheck): Predicate {
    const source = this.left(e.left, false);
    const kind: ValueKind | 'list' = source.shape.isList ? 'list' : valueKindOf(source.shape.type);
    const op = e.op;
    if (!operatorAllowed(kind, op)) {
      throw new FilterCompileError(
        `operator '${op}' is not supported for ${kindLabel(kind)} field '${source.label}'` +
          ` (${source.shape.type}${source.shape.isList ? ' list' : ''})`,
        e.pos,
      );
    }
    const right = e.right;
    if (right.kind === 'listref') throw new FilterCompileError(`undefined list ${right.name}`, right.pos);
    const get = source.get;

    if (right.kind === 'val' || right.kind === 'transformer') {
      if (e.modifier !== undefined) {
        throw new FilterCompileError(`operator modifier '${e.modifier}' needs a list of values`, right.pos);
      }
      return this.dynamicCheck(e, source, right);
    }

    if (e.modifier !== undefined) {
      if (right.kind !== 'list') {
        throw new FilterCompileError(
          `operator modifier '${e.modifier}' needs a parenthesised list of values`,
          right.pos,
        );
      }
      if (kind === 'list') {
        throw new FilterCompileError(
          `operator modifiers do not apply to list field '${source.label}'`,
          e.pos,
        );
      }
      const tests = right.items.map((item) => this.valueTest(source, op, [item]));
      const count = tests.length;
      if (count === 0) return () => false;
      switch (e.modifier) {
        case 'anyof':
          return (evt) => {
            const raw = get(evt);
            for (const t of tests) if (t(raw)) return true;
            return false;
          };
        case 'allof':
          return (evt) => {
            const raw = get(evt);
            for (const t of tests) if (!t(raw)) return false;
            return true;
          };
        case 'oneof':
          return (evt) => {
            const raw = get(evt);
            let hits = 0;
            for (const t of tests) if (t(raw) && ++hits > 1) return false;
            return hits === 1;
          };
      }
    }

    const listOp = op === 'in' || op === 'intersects' || op === 'pmatch';
    if (listOp && right.kind !== 'list') {
      throw new FilterCompileError(`operator '${op}' expects a parenthesised list of values`, right.pos);
    }
    if (!listOp && right.kind === 'list') {
      throw new FilterCompileError(`operator '${op}' expects a single value, found a list`, right.pos);
    }
    const items = right.kind === 'list' ? right.items : [right];
    const test = this.valueTest(source, op, items);
    return (evt) => test(get(evt));
  }

  /**
   * Builds the test of `op` with literal operand(s) `items` on the raw value of `source`,
   * handling several values (lists, ancestors, endpoints).
   */
  private valueTest(
    source: Source,
    op: BinaryOperator,
    items: readonly Literal[],
  ): (raw: unknown) => boolean {
    const type = source.shape.type;
    const kind = valueKindOf(type);
    const scalar = this.scalarTest(kind, type, op, items, source);
    if (source.shape.isList) {
      // List fields: `in` needs every value in the set, `intersects` any.
      return overValues(scalar, op === 'in' ? 'every' : 'any');
    }
    const every = source.multi === 'endpoints' && op === '!=';
    return overValues(scalar, every ? 'every' : 'any');
  }

  private scalarTest(
    kind: ValueKind,
    type: FieldType,
    op: BinaryOperator,
    items: readonly Literal[],
    source: Source,
  ): ScalarTest {
    const isSet = op === 'in' || op === 'intersects';
    const convert = <T>(item: Literal, f: (text: string) => T): T => {
      try {
        return f(item.value);
      } catch (err) {
        if (err instanceof ValueConversionError || err instanceof RegexSyntaxError) {
          throw new FilterCompileError(
            `invalid operand for ${kindLabel(kind)} field '${source.label}' (${type}): ${err.message}`,
            item.pos,
            { cause: err },
          );
        }
        throw err;
      }
    };
    switch (kind) {
      case 'string': {
        for (const item of items) {
          if (item.value.includes('\0')) {
            throw new FilterCompileError(`string operands may not contain NUL bytes`, item.pos);
          }
        }
        const texts = items.map((i) => operandText(i.value));
        if (op === 'pmatch') return textScalar(kind, pmatchTest(texts));
        if (isSet) return textScalar(kind, textSetTest(texts));
        return textScalar(
          kind,
          convert(items[0]!, () => textTest(op, texts[0]!)),
        );
      }
      case 'bytes': {
        const hex = op === 'bcontains' || op === 'bstartswith';
        const bytes = items.map((i) =>
          hex ? convert(i, parseHexOperand) : toByteString(operandText(i.value)),
        );
        if (isSet) return textScalar(kind, textSetTest(bytes));
        return textScalar(kind, textTest(op, bytes[0]!));
      }
      case 'number': {
        const nums = items.map((i) => convert(i, (t) => parseNumberOperand(t, type)));
        return numberScalar(type, isSet ? numberSetTest(nums) : numberTest(op, nums[0]!));
      }
      case 'bool': {
        const bools = items.map((i) => convert(i, parseBoolOperand));
        return boolScalar(isSet ? boolSetTest(bools) : boolTest(op, bools[0]!));
      }
      case 'ip': {
        const ips = items.map((i) => convert(i, parseIpOperand));
        return ipScalar(isSet ? ipSetTest(ips) : ipTest(op, ips[0]!));
      }
      case 'net': {
        const nets = items.map((i) => convert(i, parseNetOperand));
        return ipScalar(isSet ? netSetTest(nets) : netTest(op, nets[0]!));
      }
    }
  }

  /** A check whose right side is another field (`val()`) or a transformer, read per event. */
  private dynamicCheck(
    e: BinaryCheck,
    source: Source,
    right: Exclude<CheckRight, { kind: 'listref' }>,
  ): Predicate {
    let other: Source;
    if (right.kind === 'val') {
      other = this.fieldRef(right.field, false);
      if (other.field?.noRhs === true) {
        throw new FilterCompileError(`field '${other.label}' cannot be used inside val()`, right.pos);
      }
    } else if (right.kind === 'transformer') {
      other = this.transformer(right, false);
    } else {
      throw new FilterCompileError(`unexpected right side`, right.pos);
    }
    if (source.field?.noRhs === true) {
      throw new FilterCompileError(`field '${source.label}' cannot be compared with another field`, e.pos);
    }
    const op = e.op;
    if (op === 'regex' || op === 'bcontains' || op === 'bstartswith' || op === 'pmatch') {
      throw new FilterCompileError(`operator '${op}' needs a literal value on its right side`, right.pos);
    }
    const lk = valueKindOf(source.shape.type);
    const rk = valueKindOf(other.shape.type);
    const comparable = lk === rk || (lk === 'net' && rk === 'ip') || (lk === 'ip' && rk === 'net');
    if (!comparable) {
      throw new FilterCompileError(
        `cannot compare '${source.label}' (${source.shape.type}) with '${other.label}' (${other.shape.type})`,
        right.pos,
      );
    }
    const compare = dynamicCompare(lk, source.shape.type, op);
    const lget = source.get;
    const rget = other.get;
    const every = source.multi === 'endpoints' && op === '!=';
    return (evt) => {
      const r = rget(evt);
      if (r === undefined || r === null) return false;
      const l = lget(evt);
      if (l === undefined || l === null) return false;
      // Several right values (a list, or several candidates) match when any of them does.
      const one = (lv: unknown): boolean => {
        if (!Array.isArray(r)) return compare(lv, r);
        for (const x of r as unknown[]) if (x !== undefined && x !== null && compare(lv, x)) return true;
        return false;
      };
      if (!Array.isArray(l)) return one(l);
      let seen = false;
      for (const item of l as unknown[]) {
        if (item === undefined || item === null) continue;
        const ok = one(item);
        if (every && !ok) return false;
        if (!every && ok) return true;
        seen = true;
      }
      return every && seen;
    };
  }
}

/** Checks a field's argument against what the field accepts. */
function checkArgument(def: FieldDef, arg: string | undefined, ref: FieldRef): void {
  const isIndex = arg !== undefined && /^[0-9]+$/.test(arg);
  switch (def.arg) {
    case 'none':
      if (arg !== undefined)
        throw new FilterCompileError(`field '${def.name}' does not take an argument`, ref.pos);
      break;
    case 'index':
      if (arg !== undefined && !isIndex) {
        throw new FilterCompileError(`field '${def.name}' expects a numeric index, found '${arg}'`, ref.pos);
      }
      break;
    case 'index-required':
      if (!isIndex) {
        throw new FilterCompileError(
          `field '${def.name}' requires a numeric index${arg === undefined ? '' : `, found '${arg}'`}`,
          ref.pos,
        );
      }
      break;
    case 'key':
      break;
    case 'key-required':
    case 'index-or-key-required':
      if (arg === undefined || arg.length === 0) {
        throw new FilterCompileError(`field '${def.name}' requires an argument`, ref.pos);
      }
      break;
  }
  if (arg !== undefined && def.checkArg !== undefined) {
    const problem = def.checkArg(arg);
    if (problem !== undefined) throw new FilterCompileError(problem, ref.pos);
  }
}

/** Reads a source's value converted to its kind (lists as arrays of converted items). */
function convertedReader(source: Source): (evt: Event) => unknown {
  const kind = valueKindOf(source.shape.type);
  const type = source.shape.type;
  const get = source.get;
  const one = (v: unknown): unknown => {
    switch (kind) {
      case 'string':
        return toText(v);
      case 'bytes':
        return toBytes(v);
      case 'number':
        return toNumber(v, type);
      case 'bool':
        return toBool(v);
      default:
        return typeof v === 'string' ? v : undefined;
    }
  };
  const isList = source.shape.isList;
  return (evt) => {
    const raw = get(evt);
    if (raw === undefined || raw === null) return undefined;
    if (Array.isArray(raw)) {
      const out: unknown[] = [];
      for (const item of raw as unknown[]) {
        const v = item === undefined || item === null ? undefined : one(item);
        if (v !== undefined) out.push(v);
      }
      if (isList) return out;
      return out.length > 0 ? out[0] : undefined;
    }
    const v = one(raw);
    return isList && v !== undefined ? [v] : v;
  };
}

/** Text of a converted value for `join`/`concat`/`getopt`. */
function renderText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  return formatFieldValue(v);
}

/** Compares two converted-or-raw values of the same kind with `op`. */
function dynamicCompare(
  kind: ValueKind,
  type: FieldType,
  op: BinaryOperator,
): (l: unknown, r: unknown) => boolean {
  switch (kind) {
    case 'string':
    case 'bytes': {
      const conv = kind === 'bytes' ? toBytes : toText;
      return (l, r) => {
        const a = conv(l);
        const b = conv(r);
        if (a === undefined || b === undefined) return false;
        switch (op) {
          case '=':
          case '==':
          case 'in':
          case 'intersects':
            return a === b;
          case '!=':
            return a !== b;
          case '<':
            return a < b;
          case '<=':
            return a <= b;
          case '>':
            return a > b;
          case '>=':
            return a >= b;
          case 'contains':
            return a.includes(b);
          case 'icontains':
            return asciiLower(a).includes(asciiLower(b));
          case 'startswith':
            return a.startsWith(b);
          case 'endswith':
            return a.endsWith(b);
          default:
            return textTest(op, b)(a);
        }
      };
    }
    case 'number':
      return (l, r) => {
        const a = toNumber(l, type);
        const b = toNumber(r, type);
        if (a === undefined || b === undefined) return false;
        return numberTest(op, b)(a);
      };
    case 'bool':
      return (l, r) => {
        const a = toBool(l);
        const b = toBool(r);
        if (a === undefined || b === undefined) return false;
        return op === '!=' ? a !== b : a === b;
      };
    default:
      return (l, r) => {
        if (typeof l !== 'string' || typeof r !== 'string') return false;
        const fa = parseIpInto(l, IP_SCRATCH);
        const fb = parseIpInto(r, IP_SCRATCH_RIGHT);
        if (fa === 0 || fb === 0) return false;
        const same =
          fa === fb &&
          IP_SCRATCH[0] === IP_SCRATCH_RIGHT[0] &&
          IP_SCRATCH[1] === IP_SCRATCH_RIGHT[1] &&
          IP_SCRATCH[2] === IP_SCRATCH_RIGHT[2] &&
          IP_SCRATCH[3] === IP_SCRATCH_RIGHT[3];
        return op === '!=' ? !same : same;
      };
  }
}
