/**
 * The loaded rules, indexed by event type, and the hot path that matches events against them.
 *
 * Like Falco's `evttype_index_ruleset`, each event type has the list of enabled rules that can
 * match it, in load order; a rule that matches every type is in every list. Events of a type no
 * list names go through the rules that match every type (and rules whose type set is empty,
 * which Falco also evaluates for every event). With `rule_matching: first` (Falco's default)
 * matching stops at the first rule that fires; with `all` every rule that fires is reported.
 *
 * Falco appends a re-enabled rule at the end of its lists; here lists are always in load order,
 * whatever the order of enable and disable calls.
 */
import type { Event } from '../event.js';
import type { CompiledRule } from './compiled-rule.js';

export type { CompiledRule } from './compiled-rule.js';

/** Whether matching stops at the first rule that fires (`first`) or reports every one (`all`). */
export type RuleMatching = 'first' | 'all';

/** Options of {@link RuleSet}. */
export interface RuleSetOptions {
  /** Default `first`, as in Falco. */
  readonly ruleMatching?: RuleMatching;
}

function wildcardMatcher(pattern: string): (name: string) => boolean {
  if (!pattern.includes('*')) return (name) => name === pattern;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`, 's');
  return (name) => re.test(name);
}

function matchesEveryType(rule: CompiledRule): boolean {
  return rule.eventTypes === 'all' || rule.eventTypes.size === 0;
}

/** Compiled rules with their enabled state and event-type index. */
export class RuleSet {
  /** How matching proceeds; see {@link RuleMatching}. */
  readonly ruleMatching: RuleMatching;
  private readonly ordered: readonly CompiledRule[];
  private readonly byName = new Map<string, CompiledRule>();
  private readonly enabledRules = new Set<CompiledRule>();
  private byType = new Map<string, CompiledRule[]>();
  private everyType: CompiledRule[] = [];
  private subscription: ReadonlySet<string> | 'all' = new Set();

  /**
   * @param rules the rules, each with a unique name; they are tried in order of
   *   {@link CompiledRule.index}. Each starts enabled or disabled as its rule file said.
   */
  constructor(rules: readonly CompiledRule[], options?: RuleSetOptions) {
    this.ruleMatching = options?.ruleMatching ?? 'first';
    this.ordered = [...rules].sort((a, b) => a.index - b.index);
    for (const rule of this.ordered) {
      if (this.byName.has(rule.name)) throw new Error(`RuleSet: two rules are named '${rule.name}'`);
      this.byName.set(rule.name, rule);
      if (rule.enabled) this.enabledRules.add(rule);
    }
    this.reindex();
  }

  /**
   * Matches one event: writes the rules that fire into `out` from index 0 and returns how many
   * (at most one with `first`). `out` is reused across calls and never shrunk; read only the
   * first N entries. Allocates nothing once `out` has grown to the largest match count.
   */
  match(evt: Event, out: CompiledRule[]): number {
    const type = evt.fields['evt.type'];
    const list = (typeof type === 'string' ? this.byType.get(type) : undefined) ?? this.everyType;
    const first = this.ruleMatching === 'first';
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const rule = list[i] as CompiledRule;
      if (rule.matches(evt)) {
        out[n++] = rule;
        if (first) break;
      }
    }
    return n;
  }

  /**
   * The event types some enabled rule can match — what a sensor must deliver — or `'all'` when
   * an enabled rule matches every type.
   */
  eventTypes(): ReadonlySet<string> | 'all' {
    return this.subscription;
  }

  /** Every rule, enabled or not, in load order. */
  get rules(): readonly CompiledRule[] {
    return this.ordered;
  }

  /** The rule called `name`, or undefined. */
  get(name: string): CompiledRule | undefined {
    return this.byName.get(name);
  }

  /** Whether the rule called `name` is enabled (false for unknown names). */
  isEnabled(name: string): boolean {
    const rule = this.byName.get(name);
    return rule !== undefined && this.enabledRules.has(rule);
  }

  /** How many rules are enabled. */
  enabledCount(): number {
    return this.enabledRules.size;
  }

  /**
   * Enables the rules whose name equals `pattern`, or matches it when it contains `*`
   * wildcards (`"Write below *"`). Returns how many rules the pattern matched.
   */
  enable(pattern: string): number {
    return this.setEnabled(
      this.ordered.filter((r) => wildcardMatcher(pattern)(r.name)),
      true,
    );
  }

  /** Disables the rules matching `pattern` (see {@link enable}); returns how many matched. */
  disable(pattern: string): number {
    return this.setEnabled(
      this.ordered.filter((r) => wildcardMatcher(pattern)(r.name)),
      false,
    );
  }

  /** Enables every rule carrying at least one of `tags`; returns how many matched. */
  enableTags(tags: Iterable<string>): number {
    const wanted = new Set(tags);
    return this.setEnabled(
      this.ordered.filter((r) => r.tags.some((t) => wanted.has(t))),
      true,
    );
  }

  /** Disables every rule carrying at least one of `tags`; returns how many matched. */
  disableTags(tags: Iterable<string>): number {
    const wanted = new Set(tags);
    return this.setEnabled(
      this.ordered.filter((r) => r.tags.some((t) => wanted.has(t))),
      false,
    );
  }

  private setEnabled(rules: readonly CompiledRule[], enabled: boolean): number {
    for (const rule of rules) {
      if (enabled) this.enabledRules.add(rule);
      else this.enabledRules.delete(rule);
    }
    if (rules.length > 0) this.reindex();
    return rules.length;
  }

  /** Rebuilds the per-type lists and the subscription; runs on load and on enable/disable only. */
  private reindex(): void {
    const enabled = this.ordered.filter((r) => this.enabledRules.has(r));
    const names = new Set<string>();
    let all = false;
    for (const rule of enabled) {
      if (rule.eventTypes === 'all') all = true;
      else for (const name of rule.eventTypes) names.add(name);
    }
    this.everyType = enabled.filter(matchesEveryType);
    const byType = new Map<string, CompiledRule[]>();
    for (const name of names) {
      byType.set(
        name,
        enabled.filter((r) => matchesEveryType(r) || (r.eventTypes !== 'all' && r.eventTypes.has(name))),
      );
    }
    this.byType = byType;
    this.subscription = all ? 'all' : names;
  }
}
