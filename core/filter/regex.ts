/**
 * The `regex` operator: RE2 syntax (via re2js, which runs in linear time whatever the pattern),
 * anchored at both ends as libsinsp does (`evt.source regex 'sys.*'` matches `syscall`,
 * `evt.source regex 'yscal.*'` does not). Patterns are compiled once, at compile time.
 */
import { RE2JS } from 're2js';

/** A compiled, fully anchored regular expression. */
export interface Regex {
  /** Whether the whole of `value` matches. */
  matches(value: string): boolean;
}

/** Thrown for a pattern RE2 rejects; the message says why. */
export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

/** Compiles `pattern`; throws {@link RegexSyntaxError} when it is not valid RE2. */
export function compileRegex(pattern: string): Regex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new RegexSyntaxError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  return { matches: (value) => re.matches(value) };
}
