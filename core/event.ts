/**
 * The event model every part of Vigil shares.
 *
 * An event is a record keyed by Falco field names (`evt.type`, `proc.name`, `fd.name`, and
 * `proc.aname[2]` where a source delivered a field with its argument). Sources fill what they
 * know. Fields a source did not carry — process ancestry, container and pod metadata — are asked
 * of the optional {@link FieldContext}, which the agent backs with its state; in a pure replay
 * there is none, and such fields are simply missing.
 *
 * A missing value is `undefined` or `null`. Checks on a missing value are false (as in libsinsp),
 * and outputs print it as `<NA>`.
 */
export interface Event {
  /** Field values as the source delivered them. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Resolves derived fields from agent state; absent in pure replay. */
  readonly context?: FieldContext | undefined;
}

/** Resolves a field the event itself does not carry. */
export interface FieldContext {
  /**
   * Returns the value of `field` (with `arg` where the field takes one) for `evt`, or
   * `undefined` when it is not known.
   */
  resolve(field: string, arg: string | undefined, evt: Event): unknown;
}

/** Wraps a flat record (one parsed JSON line) as an {@link Event} with no context. */
export function eventFromRecord(fields: Readonly<Record<string, unknown>>, context?: FieldContext): Event {
  return context === undefined ? { fields } : { fields, context };
}
