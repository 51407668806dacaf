/**
 * Turns the collected lists, macros and rules into compiled rules, in Falco's order:
 *
 * 1. lists: an item naming a list defined before it is replaced by that list's items;
 * 2. macros: lists are substituted into each condition, which is parsed; then, in load order,
 *    each macro's references are resolved against the macros visible to it (those defined
 *    before it, or before its latest redefinition);
 * 3. rules: exceptions are appended to the condition, lists substituted, the condition parsed,
 *    macros resolved (all macros are visible to rules), the condition compiled, its event types
 *    computed; the output is compiled too.
 *
 * Every problem is reported with its file position (conditions keep a per-character map back to
 * the YAML they were built from), and compilation carries on so one run reports them all.
 */
import type { FieldRegistry } from '../fields/types.js';
import type { Expr, Position, TransformerArg } from '../filter/ast.js';
import { compileFilter, FilterCompileError } from '../filter/compiler.js';
import { conditionEventTypes, EventTypeSearchError, type EventTypes } from '../filter/event-types.js';
import { resolveMacros } from '../filter/macros.js';
import { ConditionSyntaxError, parseCondition, parseOutputField } from '../filter/parser.js';
import type { RuleCollector, RuleInfo } from './collector.js';
import type { CompiledRule } from './compiled-rule.js';
import type { DiagnosticList } from './diagnostics.js';
import { applyExceptions, ExceptionError } from './exceptions.js';
import { substituteList } from './list-substitution.js';
import type { MappedText } from './mapped-text.js';
import { compileOutput, OutputFormatError, type OutputFormatter } from './output.js';

/** Falco's rule loader raises libsinsp's parser depth limit to this. */
export const MAX_CONDITION_DEPTH = 1000;

/** A rule matching more event types than this gets a performance warning, as in Falco. */
export const MAX_EVENT_TYPES_WITHOUT_WARNING = 100;

const CONTAINER_INFO = '%container.info';

/** What compilation needs. */
export interface CompileContext {
  readonly registry: FieldRegistry;
  readonly diagnostics: DiagnosticList;
}

/** The outcome of {@link compileCollected}. */
export interface CompileOutcome {
  /** Rules that compiled, in load order. */
  readonly rules: CompiledRule[];
  /** Rules of the evaluated source that were defined (compiled or not). */
  readonly defined: number;
}

/** Calls `fn` with the position of every node in the tree. */
function forEachPosition(expr: Expr, fn: (pos: Position) => void): void {
  const arg = (a: TransformerArg): void => {
    fn(a.pos);
    if (a.kind === 'transformer') a.args.forEach(arg);
    else if (a.kind === 'arglist') a.items.forEach(arg);
  };
  fn(expr.pos);
  switch (expr.kind) {
    case 'and':
    case 'or':
      for (const c of expr.children) forEachPosition(c, fn);
      return;
    case 'not':
      forEachPosition(expr.child, fn);
      return;
    case 'macro':
      return;
    case 'unary':
      arg(expr.left);
      return;
    case 'binary': {
      arg(expr.left);
      const r = expr.right;
      fn(r.pos);
      if (r.kind === 'list') r.items.forEach((i) => fn(i.pos));
      else if (r.kind === 'val') fn(r.field.pos);
      else if (r.kind === 'transformer') r.args.forEach(arg);
      return;
    }
  }
}

/** Field names in the tree that the registry does not know. */
function unknownFields(expr: Expr, registry: FieldRegistry): string[] {
  const out: string[] = [];
  const arg = (a: TransformerArg): void => {
    if (a.kind === 'field' && registry.lookup(a.name) === undefined) out.push(a.name);
    else if (a.kind === 'transformer') a.args.forEach(arg);
    else if (a.kind === 'arglist') a.items.forEach(arg);
  };
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'and':
      case 'or':
        e.children.forEach(walk);
        return;
      case 'not':
        walk(e.child);
        return;
      case 'macro':
        return;
      case 'unary':
        arg(e.left);
        return;
      case 'binary':
        arg(e.left);
        if (e.right.kind === 'val') arg(e.right.field);
        else if (e.right.kind === 'transformer') arg(e.right);
        return;
    }
  };
  walk(expr);
  return out;
}

/** Compiles everything the collector holds; see the module comment. */
export function compileCollected(collector: RuleCollector, ctx: CompileContext): CompileOutcome {
  return new Compilation(collector, ctx).run();
}

class Compilation {
  /** Which text each parsed node's position is relative to (a macro's or a rule's condition). */
  private readonly owners = new WeakMap<Position, { text: MappedText; macro: string | undefined }>();
  private readonly lists: { name: string; items: string[] }[] = [];
  private readonly usedLists = new Set<string>();
  private readonly usedMacros = new Set<string>();
  /** Macros resolved so far (name -> tree); broken macros are left out. */
  private readonly macroTrees = new Map<string, Expr>();
  private readonly brokenMacros = new Set<string>();

  constructor(
    private readonly collector: RuleCollector,
    private readonly ctx: CompileContext,
  ) {}

  run(): CompileOutcome {
    this.compileLists();
    this.compileMacros();
    const out = this.compileRules();
    this.warnUnused();
    return out;
  }

  private compileLists(): void {
    for (const list of this.collector.lists.values()) {
      const items: string[] = [];
      for (const item of list.items) {
        const ref = this.collector.lists.get(item);
        // Falco inlines the referenced list's own items (one level), when defined earlier.
        if (ref !== undefined && ref.index < list.visibility) {
          this.usedLists.add(ref.name);
          items.push(...ref.items);
        } else items.push(item);
      }
      this.lists.push({ name: list.name, items });
    }
  }

  private substituteLists(text: MappedText): MappedText {
    let out = text;
    for (const list of this.lists) {
      const r = substituteList(out, list.name, list.items);
      if (r.used) this.usedLists.add(list.name);
      out = r.text;
    }
    return out;
  }

  /** Parses a condition, reporting syntax errors; registers node positions for later errors. */
  private parse(text: MappedText, item: string, kind: 'macro' | 'rule'): Expr | undefined {
    try {
      const expr = parseCondition(text.text, { maxDepth: MAX_CONDITION_DEPTH });
      const owner = { text, macro: kind === 'macro' ? item : undefined };
      forEachPosition(expr, (pos) => this.owners.set(pos, owner));
      return expr;
    } catch (err) {
      if (!(err instanceof ConditionSyntaxError)) throw err;
      this.ctx.diagnostics.error(
        text.locationOf(err.pos.offset),
        `Invalid ${kind} condition: expected ${err.expected}, found ${err.found}`,
        item,
      );
      return undefined;
    }
  }

  /** The global offset of a node position, in whichever condition text the node came from. */
  private locate(pos: Position, fallback: MappedText): number {
    return (this.owners.get(pos)?.text ?? fallback).locationOf(pos.offset);
  }

  /** `" (in macro 'NAME')"` when the node at `pos` came from a macro's condition, else ''. */
  private inMacro(pos: Position): string {
    const macro = this.owners.get(pos)?.macro;
    return macro === undefined ? '' : ` (in macro '${macro}')`;
  }

  /** Resolves macros in `expr`, reporting problems; undefined when any reference failed. */
  private resolve(
    expr: Expr,
    visible: ReadonlyMap<string, Expr>,
    text: MappedText,
    item: string,
  ): Expr | undefined {
    const r = resolveMacros(expr, visible);
    for (const name of r.used) this.usedMacros.add(name);
    let ok = true;
    for (const p of r.problems) {
      ok = false;
      // A reference to a macro that is itself broken was reported with that macro.
      if (p.kind === 'undefined' && this.brokenMacros.has(p.name)) continue;
      this.ctx.diagnostics.error(this.locate(p.pos, text), p.message, item);
    }
    return ok ? r.expr : undefined;
  }

  private compileMacros(): void {
    const parsed = new Map<string, { expr: Expr; text: MappedText }>();
    for (const macro of this.collector.macros.values()) {
      const text = this.substituteLists(macro.condition);
      const expr = this.parse(text, macro.name, 'macro');
      if (expr === undefined) this.brokenMacros.add(macro.name);
      else parsed.set(macro.name, { expr, text });
    }
    for (const macro of this.collector.macros.values()) {
      const entry = parsed.get(macro.name);
      if (entry === undefined) continue;
      const visible = new Map<string, Expr>();
      for (const other of this.collector.macros.values()) {
        if (other.index >= macro.visibility) continue;
        // Earlier macros are already resolved; later-indexed but visible ones (a redefinition
        // made this macro see them) are still raw and get resolved through this macro's view.
        const tree = this.macroTrees.get(other.name) ?? parsed.get(other.name)?.expr;
        if (tree !== undefined && !this.brokenMacros.has(other.name)) visible.set(other.name, tree);
      }
      const resolved = this.resolve(entry.expr, visible, entry.text, macro.name);
      if (resolved === undefined) this.brokenMacros.add(macro.name);
      else this.macroTrees.set(macro.name, resolved);
    }
  }

  private compileRules(): CompileOutcome {
    const rules: CompiledRule[] = [];
    let defined = 0;
    for (const info of this.collector.rules.values()) {
      if (info.unknownSource) continue;
      defined++;
      const compiled = this.compileRule(info, rules.length);
      if (compiled !== undefined) rules.push(compiled);
    }
    return { rules, defined };
  }

  private compileRule(info: RuleInfo, index: number): CompiledRule | undefined {
    const { diagnostics, registry } = this.ctx;
    const item = info.name;

    let condition = info.condition;
    let exceptionFields: string[] = [];
    if (info.exceptions.length > 0) {
      try {
        const r = applyExceptions(condition, info.exceptions);
        condition = r.condition;
        exceptionFields = r.fields;
      } catch (err) {
        if (!(err instanceof ExceptionError)) throw err;
        diagnostics.error(err.at, err.message, item);
        return undefined;
      }
    }

    let outputText = info.output;
    for (
      let at = outputText.text.indexOf(CONTAINER_INFO);
      at >= 0;
      at = outputText.text.indexOf(CONTAINER_INFO)
    ) {
      diagnostics.warning(
        outputText.locationOf(at),
        '%container.info is deprecated and is dropped from the output: container fields are added to alerts anyway',
        item,
      );
      outputText = outputText.replace(at, at + CONTAINER_INFO.length, '');
    }
    let output: OutputFormatter | undefined;
    try {
      output = compileOutput(outputText.text, registry, { extraFields: exceptionFields });
    } catch (err) {
      if (!(err instanceof OutputFormatError)) throw err;
      const token = parseOutputField(outputText.text, err.offset);
      const unknown = token?.node.kind === 'field' && registry.lookup(token.node.name) === undefined;
      if (unknown && info.skipIfUnknownFilter) {
        diagnostics.warning(
          outputText.locationOf(err.offset),
          `Rule skipped (skip-if-unknown-filter): invalid output: ${err.message}`,
          item,
        );
        return undefined;
      }
      diagnostics.error(outputText.locationOf(err.offset), `Invalid output: ${err.message}`, item);
    }

    const text = this.substituteLists(condition);
    const parsed = this.parse(text, item, 'rule');
    if (parsed === undefined) return undefined;
    const expr = this.resolve(parsed, this.macroTrees, text, item);
    if (expr === undefined) return undefined;

    let matches: CompiledRule['matches'];
    try {
      const filter = compileFilter(expr, registry);
      matches = filter.matches.bind(filter);
    } catch (err) {
      if (!(err instanceof FilterCompileError)) throw err;
      const pos = err.pos;
      if (info.skipIfUnknownFilter && unknownFields(expr, registry).length > 0) {
        diagnostics.warning(
          this.locate(pos, text),
          `Rule skipped (skip-if-unknown-filter): ${err.message}${this.inMacro(pos)}`,
          item,
        );
        return undefined;
      }
      diagnostics.error(
        this.locate(pos, text),
        `Invalid rule condition: ${err.message}${this.inMacro(pos)}`,
        item,
      );
      return undefined;
    }

    let eventTypes: EventTypes;
    try {
      eventTypes = conditionEventTypes(expr);
    } catch (err) {
      if (!(err instanceof EventTypeSearchError)) throw err;
      diagnostics.error(this.locate(err.pos, text), err.message + this.inMacro(err.pos), item);
      return undefined;
    }
    if (info.warnEvttypes) this.warnEventTypes(eventTypes, info);
    if (output === undefined) return undefined;

    return {
      name: info.name,
      description: info.desc,
      priority: info.priority,
      tags: [...info.tags].sort(),
      source: info.source,
      condition: text.text,
      expr,
      output,
      eventTypes,
      enabled: info.enabled,
      exceptionFields,
      index,
      matches,
    };
  }

  private warnEventTypes(types: EventTypes, info: RuleInfo): void {
    let message: string | undefined;
    if (types === 'all') {
      message =
        'Rule matches every event type (no evt.type check narrows its condition), so it runs on every event: a significant performance cost';
    } else if (types.size === 0) {
      message = 'Rule matches no event type (its evt.type checks exclude each other), so it can never fire';
    } else if (types.size > MAX_EVENT_TYPES_WITHOUT_WARNING) {
      message = `Rule matches ${types.size} event types (more than ${MAX_EVENT_TYPES_WITHOUT_WARNING}): a significant performance cost; narrow it with an evt.type check`;
    }
    if (message !== undefined) this.ctx.diagnostics.warning(info.at, message, info.name);
  }

  private warnUnused(): void {
    for (const macro of this.collector.macros.values()) {
      if (!this.usedMacros.has(macro.name)) {
        this.ctx.diagnostics.warning(
          macro.at,
          `Macro '${macro.name}' is not used by any rule or macro`,
          macro.name,
        );
      }
    }
    for (const list of this.collector.lists.values()) {
      if (!this.usedLists.has(list.name)) {
        this.ctx.diagnostics.warning(
          list.at,
          `List '${list.name}' is not used by any rule, macro or list`,
          list.name,
        );
      }
    }
  }
}
