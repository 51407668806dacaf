/**
 * The lists, macros and rules read from rule files, merged as Falco merges them, before any
 * condition is parsed.
 *
 * - Defining a name again replaces the earlier definition in place: it keeps its position in
 *   load order but becomes "visible" from the point of the redefinition (a macro then sees the
 *   macros defined before the redefinition).
 * - Appending (`append: true`, or `override: {key: append}`) extends an existing item: conditions,
 *   outputs and descriptions are joined with one space, list items and tags are added, exception
 *   values are added to the exception of the same name.
 * - Replacing (`override: {key: replace}`) overwrites the named keys of an existing rule.
 *
 * One counter numbers lists, macros and rules together, in the order they are read.
 */
import type { Priority } from '../priority.js';
import { normalizeException, ExceptionError, type RuleException } from './exceptions.js';
import { MappedText } from './mapped-text.js';

/** The event source the engine evaluates; rules for any other source are skipped. */
export const SYSCALL_SOURCE = 'syscall';

/** A collected list. `at` is the global offset of its definition. */
export interface ListInfo {
  readonly name: string;
  items: string[];
  readonly index: number;
  visibility: number;
  at: number;
}

/** A collected macro. */
export interface MacroInfo {
  readonly name: string;
  condition: MappedText;
  readonly index: number;
  visibility: number;
  at: number;
}

/** A collected rule. */
export interface RuleInfo {
  readonly name: string;
  condition: MappedText;
  output: MappedText;
  desc: string;
  priority: Priority;
  readonly source: string;
  enabled: boolean;
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  tags: Set<string>;
  exceptions: RuleException[];
  readonly index: number;
  visibility: number;
  at: number;
  /** The source has no engine here: the rule is kept for later appends but never compiled. */
  readonly unknownSource: boolean;
}

/** The keys of an append or replace update to a rule; absent keys are left alone. */
export interface RuleUpdate {
  readonly name: string;
  readonly at: number;
  readonly condition?: MappedText;
  readonly output?: MappedText;
  readonly desc?: string;
  readonly tags?: readonly string[];
  readonly exceptions?: readonly RuleException[];
  readonly priority?: Priority;
  readonly enabled?: boolean;
  readonly warnEvttypes?: boolean;
  readonly skipIfUnknownFilter?: boolean;
  /** Keys that were read and checked but have no effect in Vigil (`capture`, `capture_duration`). */
  readonly ignored?: readonly string[];
}

/** A definition or update that cannot be applied. `at` is the global offset to report. */
export class CollectorError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
    this.name = 'CollectorError';
  }
}

/** Receives warnings: global offset, message, item name. */
export type WarningSink = (at: number, message: string, item: string) => void;

function hasAnyValue(u: RuleUpdate): boolean {
  return (
    u.condition !== undefined ||
    u.output !== undefined ||
    u.desc !== undefined ||
    u.tags !== undefined ||
    u.exceptions !== undefined ||
    u.priority !== undefined ||
    u.enabled !== undefined ||
    u.warnEvttypes !== undefined ||
    u.skipIfUnknownFilter !== undefined ||
    (u.ignored !== undefined && u.ignored.length > 0)
  );
}

function joined(a: MappedText, b: MappedText): MappedText {
  return MappedText.concat([a, MappedText.synthetic(' ', a.locationOf(a.text.length)), b]);
}

/** Lists, macros and rules in load order, with Falco's merge rules. */
export class RuleCollector {
  readonly lists = new Map<string, ListInfo>();
  readonly macros = new Map<string, MacroInfo>();
  readonly rules = new Map<string, RuleInfo>();
  private next = 0;

  /**
   * @param isField whether a field name (as written, with argument) is known, for exceptions
   * @param warn receives warnings
   */
  constructor(
    private readonly isField: (name: string) => boolean,
    private readonly warn: WarningSink,
  ) {}

  /** Defines (or redefines in place) a list. */
  defineList(name: string, items: string[], at: number): void {
    const id = this.next++;
    const prev = this.lists.get(name);
    this.lists.set(name, { name, items, index: prev?.index ?? id, visibility: id, at });
  }

  /** Adds items to an existing list. */
  appendList(name: string, items: readonly string[], at: number): void {
    const prev = this.lists.get(name);
    if (prev === undefined) {
      throw new CollectorError(
        `List '${name}' appends items, but no list of that name was defined before: expected an earlier '- list: ${name}'`,
        at,
      );
    }
    prev.items.push(...items);
    prev.visibility = this.next++;
  }

  /** Defines (or redefines in place) a macro. */
  defineMacro(name: string, condition: MappedText, at: number): void {
    const id = this.next++;
    const prev = this.macros.get(name);
    this.macros.set(name, { name, condition, index: prev?.index ?? id, visibility: id, at });
  }

  /** Appends to an existing macro's condition. */
  appendMacro(name: string, condition: MappedText, at: number): void {
    const prev = this.macros.get(name);
    if (prev === undefined) {
      throw new CollectorError(
        `Macro '${name}' appends to its condition, but no macro of that name was defined before: expected an earlier '- macro: ${name}'`,
        at,
      );
    }
    prev.condition = joined(prev.condition, condition);
    prev.visibility = this.next++;
  }

  /**
   * Defines (or redefines in place) a rule. `rule.index` and `rule.visibility` are assigned
   * here; `unknownSource` must already say whether the source is evaluated.
   */
  defineRule(rule: Omit<RuleInfo, 'index' | 'visibility'>): void {
    const prev = this.rules.get(rule.name);
    if (prev !== undefined && prev.source !== rule.source) {
      throw new CollectorError(
        `Rule '${rule.name}' was defined before with source '${prev.source}': expected the same source, found '${rule.source}'`,
        rule.at,
      );
    }
    const exceptions = this.checkExceptions(rule.name, rule.exceptions, !rule.unknownSource);
    const id = this.next++;
    this.rules.set(rule.name, { ...rule, exceptions, index: prev?.index ?? id, visibility: id });
  }

  /** Applies an append update (`append: true` or `override: {key: append}`) to an existing rule. */
  appendRule(update: RuleUpdate): void {
    const prev = this.rules.get(update.name);
    if (prev === undefined) {
      throw new CollectorError(
        `Rule '${update.name}' appends to an existing rule, but no rule of that name was defined before`,
        update.at,
      );
    }
    if (!hasAnyValue(update)) {
      throw new CollectorError(
        `Rule '${update.name}' appends nothing: expected a condition, output, desc, tags or exceptions to append`,
        update.at,
      );
    }
    if (update.condition !== undefined && update.condition.text.length > 0) {
      prev.condition = joined(prev.condition, update.condition);
    }
    if (update.output !== undefined && update.output.text.length > 0)
      prev.output = joined(prev.output, update.output);
    if (update.desc !== undefined && update.desc.length > 0) prev.desc = `${prev.desc} ${update.desc}`;
    if (update.tags !== undefined) for (const tag of update.tags) prev.tags.add(tag);
    for (const ex of update.exceptions ?? []) {
      const existing = prev.exceptions.findIndex((e) => e.name === ex.name);
      if (existing < 0) {
        if (ex.values.length === 0) {
          throw new CollectorError(
            `Exception '${ex.name}' is new to rule '${update.name}', so it needs values: expected a 'values' list`,
            ex.at,
          );
        }
        prev.exceptions.push(this.normalize(ex, !prev.unknownSource));
        continue;
      }
      if (ex.fields !== undefined || ex.comps !== undefined) {
        throw new CollectorError(
          `Exception '${ex.name}' already exists in rule '${update.name}': only values can be appended, found fields or comps`,
          ex.at,
        );
      }
      const target = prev.exceptions[existing] as RuleException;
      prev.exceptions[existing] = { ...target, values: [...target.values, ...ex.values] };
    }
    prev.visibility = this.next++;
  }

  /** Applies a replace update (`override: {key: replace}`) to an existing rule. */
  replaceRule(update: RuleUpdate): void {
    const prev = this.rules.get(update.name);
    if (prev === undefined) {
      throw new CollectorError(
        `Rule '${update.name}' replaces keys of an existing rule, but no rule of that name was defined before`,
        update.at,
      );
    }
    if (!hasAnyValue(update)) {
      throw new CollectorError(
        `Rule '${update.name}' replaces nothing: expected at least one key to replace`,
        update.at,
      );
    }
    if (update.condition !== undefined) prev.condition = update.condition;
    if (update.output !== undefined) prev.output = update.output;
    if (update.desc !== undefined) prev.desc = update.desc;
    if (update.tags !== undefined) prev.tags = new Set(update.tags);
    if (update.exceptions !== undefined) {
      prev.exceptions = this.checkExceptions(update.name, update.exceptions, !prev.unknownSource);
    }
    if (update.priority !== undefined) prev.priority = update.priority;
    if (update.enabled !== undefined) prev.enabled = update.enabled;
    if (update.warnEvttypes !== undefined) prev.warnEvttypes = update.warnEvttypes;
    if (update.skipIfUnknownFilter !== undefined) prev.skipIfUnknownFilter = update.skipIfUnknownFilter;
    prev.visibility = this.next++;
  }

  /** The deprecated `{rule, enabled}` item: switches an existing rule on or off. */
  enableRule(name: string, enabled: boolean, at: number): void {
    const prev = this.rules.get(name);
    if (prev === undefined) {
      throw new CollectorError(
        `Rule '${name}' sets only 'enabled', but no rule of that name was defined before`,
        at,
      );
    }
    prev.enabled = enabled;
  }

  /** Validates an exception; fields are checked only for rules of a source we evaluate. */
  private normalize(ex: RuleException, checkFields: boolean): RuleException {
    try {
      return normalizeException(ex, checkFields ? this.isField : () => true);
    } catch (err) {
      if (err instanceof ExceptionError) throw new CollectorError(err.message, err.at);
      throw err;
    }
  }

  private checkExceptions(
    rule: string,
    exceptions: readonly RuleException[],
    checkFields: boolean,
  ): RuleException[] {
    const seen = new Set<string>();
    return exceptions.map((ex) => {
      if (seen.has(ex.name)) this.warn(ex.at, `Rule '${rule}' has two exceptions named '${ex.name}'`, rule);
      seen.add(ex.name);
      return this.normalize(ex, checkFields);
    });
  }
}
