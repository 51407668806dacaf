/**
 * Reading a source's options (from the agent configuration) with errors that name the source,
 * the key and what was expected, and that catch misspelt keys instead of ignoring them.
 */

/** Constraints on a numeric option. */
export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/**
 * Typed access to one source's options. Read every key the source knows, then call
 * {@link finish}, which throws for keys nobody read.
 *
 * @example
 *   const o = new SourceOptions('jsonl', spec.options);
 *   const follow = o.boolean('follow', true);
 *   o.finish();
 */
export class SourceOptions {
  private readonly read = new Set<string>();

  constructor(
    private readonly source: string,
    private readonly options: Readonly<Record<string, unknown>>,
  ) {}

  /** A boolean option, or `fallback` when absent. */
  boolean(key: string, fallback: boolean): boolean {
    const v = this.take(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.error(key, 'true or false', v);
    return v;
  }

  /** A number option within `rule`, or `fallback` when absent. */
  number(key: string, fallback: number, rule: NumberRule = {}): number {
    const v = this.take(key);
    if (v === undefined) return fallback;
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (rule.integer !== true || Number.isInteger(v)) &&
      (rule.min === undefined || v >= rule.min) &&
      (rule.max === undefined || v <= rule.max);
    if (!ok) throw this.error(key, describeRule(rule), v);
    return v;
  }

  /** One of `allowed`, or `fallback` when absent. */
  choice<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const v = this.take(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw this.error(key, `one of ${allowed.join(', ')}`, v);
    }
    return v as T;
  }

  /** Throws for option keys that no reader asked for (most likely misspelt). */
  finish(): void {
    const unknown = Object.keys(this.options).filter((k) => !this.read.has(k));
    if (unknown.length > 0) {
      const known = [...this.read].sort().join(', ') || 'none';
      throw new Error(`source ${this.source}: unknown option ${unknown.join(', ')} (known: ${known})`);
    }
  }

  private take(key: string): unknown {
    this.read.add(key);
    return Object.hasOwn(this.options, key) ? this.options[key] : undefined;
  }

  private error(key: string, expected: string, got: unknown): Error {
    return new Error(`source ${this.source}: option ${key} must be ${expected}, got ${JSON.stringify(got)}`);
  }
}

function describeRule(rule: NumberRule): string {
  const kind = rule.integer === true ? 'an integer' : 'a number';
  if (rule.min !== undefined && rule.max !== undefined) return `${kind} from ${rule.min} to ${rule.max}`;
  if (rule.min !== undefined) return `${kind} >= ${rule.min}`;
  if (rule.max !== undefined) return `${kind} <= ${rule.max}`;
  return kind;
}
