/**
 * Rule output formats (`output: "shell in %container.name (cmd=%proc.cmdline)"`), compiled once
 * at load time and rendered for each alert.
 *
 * The syntax is libsinsp's event formatter:
 * - `%field`, `%field[arg]` (`%proc.aname[2]`), dotted argument forms (`%evt.arg.flags`) and
 *   transformers (`%tolower(fd.name)`); everything else is literal text;
 * - `%NNfield` pads or truncates the value to NN characters;
 * - the token is the longest text after `%` that parses as a field or transformer AND compiles:
 *   `%proc.name.` is `proc.name` followed by a literal `.`;
 * - a missing value prints `<NA>` (Falco always formats rule outputs that way; a leading `*`,
 *   which asks for exactly that, is accepted and dropped);
 * - a `%` at the end, or one that no field follows, is an error at load time.
 *
 * Besides the text, rendering yields the values of the fields the format names — Falco's
 * `output_fields` — keyed by the field as written (`proc.aname[2]`). As in Falco, a transformer
 * contributes the fields it reads, not its transformed value.
 */
import type { Event } from '../event.js';
import type { FieldRegistry } from '../fields/types.js';
import type { CheckLeft, TransformerArg } from '../filter/ast.js';
import { compileValueExtractor, formatFieldValue } from '../filter/compiler.js';
import { parseOutputField } from '../filter/parser.js';
import { printField } from '../filter/print.js';

/** A format that cannot be compiled. `offset` is where the problem is, in the format as given. */
export class OutputFormatError extends Error {
  constructor(
    readonly offset: number,
    readonly expected: string,
    readonly found: string,
    detail?: string,
  ) {
    super(`expected ${expected}, found ${found}${detail === undefined ? '' : ` (${detail})`}`);
    this.name = 'OutputFormatError';
  }
}

/** The output of one alert. */
export interface RenderedOutput {
  /** The format with every token replaced by its value. */
  readonly text: string;
  /**
   * Each field the format reads, as written, mapped to its raw value, `null` when missing.
   * Values are JSON-ready: 64-bit integers beyond 2^53 become decimal strings, byte buffers
   * and other objects their printed form.
   */
  readonly fields: Record<string, unknown>;
}

/** A compiled output format. */
export interface OutputFormatter {
  /** The format as given. */
  readonly format: string;
  /** The keys of {@link RenderedOutput.fields}, in order of first appearance. */
  readonly fieldNames: readonly string[];
  /** Renders the output for one event. Allocates: call it for alerts, not for every event. */
  render(evt: Event): RenderedOutput;
}

/** Options of {@link compileOutput}. */
export interface OutputOptions {
  /**
   * Fields to report in {@link RenderedOutput.fields} without printing them (Falco reports a
   * rule's exception fields this way). Names that do not compile are left out.
   */
  readonly extraFields?: readonly string[];
}

type Extractor = (evt: Event) => unknown;

/** A piece of the rendered text: literal, a field key's value, or a transformer's value. */
type Piece =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'key'; readonly key: number; readonly width: number }
  | { readonly kind: 'computed'; readonly extract: Extractor; readonly width: number };

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

function quote(text: string): string {
  return JSON.stringify(text.length > 24 ? text.slice(0, 24) + '…' : text);
}

/** Converts a raw field value into something `JSON.stringify` writes as Falco would. */
export function jsonFieldValue(raw: unknown): unknown {
  if (raw === undefined || raw === null) return null;
  switch (typeof raw) {
    case 'string':
    case 'boolean':
      return raw;
    case 'number':
      return Number.isFinite(raw) ? raw : String(raw);
    case 'bigint':
      return raw >= BigInt(Number.MIN_SAFE_INTEGER) && raw <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(raw)
        : raw.toString();
    default:
      if (Array.isArray(raw)) return raw.map(jsonFieldValue);
      return formatFieldValue(raw);
  }
}

function fitWidth(text: string, width: number): string {
  if (width === 0) return text;
  return text.length >= width ? text.slice(0, width) : text + ' '.repeat(width - text.length);
}

/**
 * Compiles an output format against a field registry. Throws {@link OutputFormatError} with the
 * offset of the offending `%` token.
 *
 * @example compileOutput('shell spawned (user=%user.name cmd=%proc.cmdline)', registry)
 */
export function compileOutput(
  format: string,
  registry: FieldRegistry,
  options?: OutputOptions,
): OutputFormatter {
  // Falco prefixes rule outputs with `*` (print <NA> for missing values); that is our only mode.
  const shift = format.startsWith('*') ? 1 : 0;
  const fmt = format.slice(shift);
  if (fmt.length === 0) throw new OutputFormatError(shift, 'a non-empty output format', 'an empty string');

  const keys: string[] = [];
  const keyExtractors: Extractor[] = [];
  const keyIndex = new Map<string, number>();
  const addKey = (key: string, extract: Extractor): number => {
    const known = keyIndex.get(key);
    if (known !== undefined) return known;
    keys.push(key);
    keyExtractors.push(extract);
    keyIndex.set(key, keys.length - 1);
    return keys.length - 1;
  };
  // A transformer reports the plain fields it reads (recursively through nested transformers).
  const addInnerFields = (arg: TransformerArg): void => {
    switch (arg.kind) {
      case 'field':
        try {
          addKey(printField(arg), compileValueExtractor(arg, registry));
        } catch {
          // The transformer compiled with this field inside; a field the extractor rejects on
          // its own is simply not reported.
        }
        return;
      case 'transformer':
        arg.args.forEach(addInnerFields);
        return;
      case 'arglist':
        arg.items.forEach(addInnerFields);
        return;
      case 'value':
        return;
    }
  };

  const pieces: Piece[] = [];
  let textStart = 0;
  let j = 0;
  while (j < fmt.length) {
    if (fmt[j] !== '%') {
      j++;
      continue;
    }
    if (j > textStart) pieces.push({ kind: 'text', text: fmt.slice(textStart, j) });
    let k = j + 1;
    if (k >= fmt.length)
      throw new OutputFormatError(j + shift, "a field name after '%'", 'the end of the output');
    while (isDigit(fmt[k])) k++;
    const width = k > j + 1 ? Number(fmt.slice(j + 1, k)) : 0;
    if (k >= fmt.length) {
      throw new OutputFormatError(
        k + shift,
        "a field name after the width in '%" + fmt.slice(j + 1, k) + "'",
        'the end of the output',
      );
    }

    // The longest text after `%` that both parses and compiles is the token.
    let limit = fmt.length;
    let token: { node: CheckLeft; end: number; extract: Extractor } | undefined;
    let lastProblem: string | undefined;
    while (limit > k) {
      const parsed = parseOutputField(limit === fmt.length ? fmt : fmt.slice(0, limit), k);
      if (parsed === undefined) {
        limit--;
        continue;
      }
      try {
        const def = parsed.node.kind === 'field' ? registry.lookup(parsed.node.name) : undefined;
        if (def?.filterOnly === true) {
          throw new Error(
            `${parsed.node.kind === 'field' ? parsed.node.name : ''} can be used in conditions only`,
          );
        }
        token = { node: parsed.node, end: parsed.end, extract: compileValueExtractor(parsed.node, registry) };
        break;
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        lastProblem ??= err.message;
        limit = Math.min(limit, parsed.end) - 1;
      }
    }
    if (token === undefined) {
      throw new OutputFormatError(
        k + shift,
        "a field or transformer after '%' (e.g. %proc.name, %tolower(fd.name))",
        quote(fmt.slice(k, k + 40).split(/\s/)[0] ?? ''),
        lastProblem,
      );
    }
    if (token.node.kind === 'field') {
      pieces.push({ kind: 'key', key: addKey(printField(token.node), token.extract), width });
    } else {
      token.node.args.forEach(addInnerFields);
      pieces.push({ kind: 'computed', extract: token.extract, width });
    }
    j = token.end;
    textStart = j;
  }
  if (textStart < fmt.length) pieces.push({ kind: 'text', text: fmt.slice(textStart) });

  for (const name of options?.extraFields ?? []) {
    if (keyIndex.has(name)) continue;
    const parsed = parseOutputField(name, 0);
    if (parsed === undefined || parsed.end !== name.length) continue;
    try {
      addKey(name, compileValueExtractor(parsed.node, registry));
    } catch {
      // Exception fields were validated when the rule was read; one the extractor rejects is
      // simply not reported.
    }
  }

  return {
    format,
    fieldNames: keys,
    render(evt: Event): RenderedOutput {
      const raw = keyExtractors.map((extract) => extract(evt));
      let text = '';
      for (const piece of pieces) {
        switch (piece.kind) {
          case 'text':
            text += piece.text;
            break;
          case 'key':
            text += fitWidth(formatFieldValue(raw[piece.key]), piece.width);
            break;
          case 'computed':
            text += fitWidth(formatFieldValue(piece.extract(evt)), piece.width);
            break;
        }
      }
      const fields: Record<string, unknown> = {};
      keys.forEach((key, i) => {
        fields[key] = jsonFieldValue(raw[i]);
      });
      return { text, fields };
    },
  };
}
