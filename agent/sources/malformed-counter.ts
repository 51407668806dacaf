/**
 * Counts malformed input by reason token, bounded: sources report a small fixed set of tokens,
 * but a bug (a detail passed as the reason) must not grow the table without limit.
 */

/** Distinct reason tokens kept before the rest are folded into `other`. */
const MAX_REASONS = 32;

/** A bounded tally of malformed input by reason. */
export class MalformedCounter {
  private readonly byReason = new Map<string, number>();
  private totalCount = 0;

  /** Counts one malformed unit. */
  count(reason: string): void {
    this.totalCount++;
    const key = this.byReason.has(reason) || this.byReason.size < MAX_REASONS ? reason : 'other';
    this.byReason.set(key, (this.byReason.get(key) ?? 0) + 1);
  }

  /** All malformed units counted so far. */
  get total(): number {
    return this.totalCount;
  }

  /** A copy of the counts, keyed by reason. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.byReason);
  }
}
