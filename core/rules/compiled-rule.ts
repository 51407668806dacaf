/**
 * A rule ready to evaluate: what the loader produces and the rule set indexes.
 */
import type { Event } from '../event.js';
import type { Expr } from '../filter/ast.js';
import type { EventTypes } from '../filter/event-types.js';
import type { Priority } from '../priority.js';
import type { OutputFormatter } from './output.js';

/** One loaded, compiled rule. Immutable; whether it is enabled is the {@link RuleSet}'s state. */
export interface CompiledRule {
  readonly name: string;
  readonly description: string;
  readonly priority: Priority;
  /** Sorted, without duplicates (Falco keeps tags as a set). */
  readonly tags: readonly string[];
  /** The event source; only `syscall` rules are loaded. */
  readonly source: string;
  /**
   * The condition as it was compiled: appends joined, exceptions applied, lists substituted
   * (macros are resolved on the tree, so their names still appear here).
   */
  readonly condition: string;
  /** The condition's tree with every macro resolved: what {@link matches} evaluates. */
  readonly expr: Expr;
  /** The output format with its compiled formatter. */
  readonly output: OutputFormatter;
  /** The event types the condition can match. */
  readonly eventTypes: EventTypes;
  /** Whether the rule file left the rule enabled. */
  readonly enabled: boolean;
  /** Fields the rule's exceptions compare (reported in alerts alongside the output fields). */
  readonly exceptionFields: readonly string[];
  /** Position in load order (0-based): the order in which rules are tried. */
  readonly index: number;
  /** The compiled condition. Pure and allocation-free on the hot path. */
  matches(evt: Event): boolean;
}
