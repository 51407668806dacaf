/**
 * Runs libsinsp's own parser and escaping cases (the `parse`, `unescape` and `escape` kinds of
 * shared/conformance/falco-filter-cases.jsonl) against our parser and escaping functions.
 *
 * Cases whose note says so are also re-parsed with a blank before and after, and with every space
 * turned into \n and into \t, as libsinsp's test does. Prints the pass counts per kind and every
 * failure with its reason; requires at least 98% to pass.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { quoteString, unescapeQuoted } from '../../core/filter/escaping.js';
import { ConditionSyntaxError, parseCondition } from '../../core/filter/parser.js';
import { requireShared } from '../support/shared.js';

interface ConformanceCase {
  readonly kind: string;
  readonly src: string;
  readonly line: number;
  readonly test: string;
  readonly condition?: string;
  readonly valid?: boolean;
  readonly error?: string | boolean;
  readonly note?: string;
  readonly quoted?: string;
  readonly input?: string;
  readonly expect?: unknown;
}

/** What went wrong with one case, or undefined when it passed. */
type Verdict = string | undefined;

const KINDS = ['parse', 'unescape', 'escape'] as const;

function outcome(condition: string): { ok: true } | { ok: false; err: unknown } {
  try {
    parseCondition(condition);
    return { ok: true };
  } catch (err) {
    return { ok: false, err };
  }
}

/** Checks one parse of `condition` against the expected validity (and error text, when given). */
function judgeParse(condition: string, c: ConformanceCase, variant: string): Verdict {
  const got = outcome(condition);
  const label = variant === '' ? '' : ` (${variant})`;
  if (!got.ok && !(got.err instanceof ConditionSyntaxError)) {
    return `threw a non-syntax error${label}: ${String(got.err)}`;
  }
  if (c.valid === true && !got.ok) return `rejected${label}: ${(got.err as Error).message}`;
  if (c.valid === false && got.ok) return `accepted${label}, libsinsp rejects it`;
  if (c.valid === false && !got.ok && typeof c.error === 'string') {
    const message = (got.err as Error).message;
    if (!message.includes(c.error))
      return `rejected as expected${label} but said "${message}", not "${c.error}"`;
  }
  return undefined;
}

function judge(c: ConformanceCase): Verdict {
  switch (c.kind) {
    case 'parse': {
      const condition = c.condition ?? '';
      const variants: [string, string][] = [[condition, '']];
      if (c.note?.includes('re-parses') === true) {
        variants.push([` ${condition} `, 'padded with blanks']);
        variants.push([condition.replaceAll(' ', '\n'), 'spaces as \\n']);
        variants.push([condition.replaceAll(' ', '\t'), 'spaces as \\t']);
      }
      for (const [text, variant] of variants) {
        const verdict = judgeParse(text, c, variant);
        if (verdict !== undefined) return verdict;
      }
      return undefined;
    }
    case 'unescape': {
      const quoted = c.quoted ?? '';
      try {
        const value = unescapeQuoted(quoted);
        if (c.error === true) return `decoded to ${JSON.stringify(value)}, libsinsp rejects it`;
        return value === c.expect
          ? undefined
          : `decoded to ${JSON.stringify(value)}, want ${JSON.stringify(c.expect)}`;
      } catch (err) {
        if (!(err instanceof ConditionSyntaxError)) return `threw a non-syntax error: ${String(err)}`;
        return c.error === true ? undefined : `rejected: ${err.message}`;
      }
    }
    case 'escape': {
      const quoted = quoteString(c.input ?? '');
      if (quoted !== c.expect) return `quoted as ${quoted}, want ${String(c.expect)}`;
      // The quoted form must also read back as the input.
      const back = unescapeQuoted(quoted);
      return back === c.input ? undefined : `reads back as ${JSON.stringify(back)}`;
    }
    default:
      return `unknown kind ${c.kind}`;
  }
}

describe('conformance: libsinsp parser and escaping cases', function () {
  let cases: ConformanceCase[] = [];

  before(function () {
    const file = requireShared(this, 'conformance/falco-filter-cases.jsonl');
    cases = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as ConformanceCase)
      .filter((c) => (KINDS as readonly string[]).includes(c.kind));
  });

  it('passes at least 98% of the parse, unescape and escape cases', function () {
    assert.ok(cases.length > 0, 'no cases of the kinds parse, unescape, escape were found');
    const failures: string[] = [];
    for (const kind of KINDS) {
      const ofKind = cases.filter((c) => c.kind === kind);
      let passed = 0;
      for (const c of ofKind) {
        const verdict = judge(c);
        if (verdict === undefined) passed++;
        else
          failures.push(
            `${kind} ${c.test} (line ${c.line}) ${JSON.stringify(c.condition ?? c.quoted ?? c.input)}: ${verdict}`,
          );
      }
      console.log(`      ${kind}: ${passed}/${ofKind.length} pass`);
    }
    for (const failure of failures) console.log(`      FAIL ${failure}`);
    const rate = (cases.length - failures.length) / cases.length;
    assert.ok(
      rate >= 0.98,
      `${failures.length} of ${cases.length} cases fail (${(rate * 100).toFixed(1)}% pass)`,
    );
  });
});
