/**
 * Test support for the peer sources (Tetragon, Tracee): loads Falco's upstream rules with
 * extra test rules written against their macros, so a test can show that a mapped event is
 * matched by rules written the way upstream writes them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Event } from '../../core/event.js';
import { createFieldRegistry } from '../../core/fields/registry.js';
import { loadRules } from '../../core/rules/loader.js';
import type { CompiledRule } from '../../core/rules/ruleset.js';

/** Matches events against upstream rules plus `extraRules`; returns the names of matching rules. */
export type RuleMatcher = (evt: Event) => string[];

/**
 * Loads `falco-rules/falco_rules.yaml` from the shared directory followed by `extraRules` (YAML)
 * and returns a matcher reporting every rule that fires. Throws with the loader's errors when
 * the rules do not load.
 */
export function upstreamRuleMatcher(sharedDir: string, extraRules: string): RuleMatcher {
  const upstreamPath = join(sharedDir, 'falco-rules', 'falco_rules.yaml');
  const loaded = loadRules(
    [
      { name: upstreamPath, text: readFileSync(upstreamPath, 'utf8') },
      { name: 'test-rules.yaml', text: extraRules },
    ],
    { registry: createFieldRegistry(), ruleMatching: 'all' },
  );
  const ruleset = loaded.ruleset;
  if (ruleset === undefined) {
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    throw new Error(`rules did not load: ${errors.join('; ')}`);
  }
  const out: CompiledRule[] = [];
  return (evt) => {
    const n = ruleset.match(evt, out);
    return out.slice(0, n).map((r) => r.name);
  };
}
