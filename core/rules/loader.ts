/**
 * The Falco rule loader: rule files in, a {@link RuleSet} and diagnostics out.
 *
 * Files are read in order into one collection (so a later file can append to, override or
 * redefine what an earlier one defined), then compiled as a whole. Semantics follow Falco's rule
 * loader; see the modules this one wires together:
 * - rule-file-reader.ts: YAML items, versions, append/override, the deprecated forms;
 * - collector.ts: how definitions, appends and replacements merge;
 * - rule-compiler.ts: lists, macros, exceptions, conditions, outputs, event types.
 *
 * Loading never stops at the first problem: every error and warning is reported with file,
 * line and column, which is what `vigil rules check` prints. When there is any error, no rule
 * set is returned.
 */
import type { FieldRegistry } from '../fields/types.js';
import { compileValueExtractor } from '../filter/compiler.js';
import { parseOutputField } from '../filter/parser.js';
import { priorityAtLeast, type Priority } from '../priority.js';
import { RuleCollector } from './collector.js';
import { DiagnosticList, SourceSet, type Diagnostic } from './diagnostics.js';
import { BUILTIN_PLUGIN_VERSIONS, parseSemVer, VIGIL_ENGINE_VERSION } from './engine-version.js';
import { compileCollected } from './rule-compiler.js';
import { readRuleFile } from './rule-file-reader.js';
import { RuleSet, type RuleMatching } from './ruleset.js';

export type { Diagnostic } from './diagnostics.js';

/** One rule file: its name (the path, for messages) and its text. */
export interface RuleSource {
  readonly name: string;
  readonly text: string;
}

/** How to load. */
export interface LoadOptions {
  /** The fields conditions and outputs may use. */
  readonly registry: FieldRegistry;
  /** Rules less severe than this are left out of the rule set (Falco's `priority` setting). */
  readonly minPriority?: Priority;
  /** Default `first`, as in Falco. */
  readonly ruleMatching?: RuleMatching;
  /** The engine version to check `required_engine_version` against; default {@link VIGIL_ENGINE_VERSION}. */
  readonly engineVersion?: string;
}

/** What loading produced. */
export interface LoadResult {
  /** The compiled rules, or undefined when any error was found. */
  readonly ruleset: RuleSet | undefined;
  /** Every error and warning, in the order found. */
  readonly diagnostics: Diagnostic[];
  readonly counts: {
    /** Rules of the `syscall` source defined across the files (after merging). */
    readonly rules: number;
    /** Rules enabled in the rule set (after the priority filter); 0 when there is none. */
    readonly enabledRules: number;
    readonly macros: number;
    readonly lists: number;
  };
}

/**
 * Loads rule files, in order, into a rule set.
 *
 * @example
 *   const { ruleset, diagnostics } = loadRules([{ name: 'rules.yaml', text }], { registry });
 *   for (const d of diagnostics) console.log(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`);
 */
export function loadRules(sources: readonly RuleSource[], options: LoadOptions): LoadResult {
  const engineText = options.engineVersion ?? VIGIL_ENGINE_VERSION;
  const engineVersion = parseSemVer(engineText);
  if (engineVersion === undefined)
    throw new RangeError(`engineVersion must be a semver string, got '${engineText}'`);
  const { registry } = options;

  const files = new SourceSet();
  const diagnostics = new DiagnosticList(files);
  const isField = (name: string): boolean => {
    const parsed = parseOutputField(name, 0);
    if (parsed === undefined || parsed.end !== name.length || parsed.node.kind !== 'field') return false;
    try {
      compileValueExtractor(parsed.node, registry);
      return true;
    } catch {
      return false;
    }
  };
  const collector = new RuleCollector(isField, (at, message, item) => diagnostics.warning(at, message, item));
  for (const source of sources) {
    readRuleFile(files.add(source.name, source.text), {
      diagnostics,
      collector,
      engineVersion,
      plugins: BUILTIN_PLUGIN_VERSIONS,
    });
  }
  const compiled = compileCollected(collector, { registry, diagnostics });

  const { minPriority } = options;
  const kept =
    minPriority === undefined
      ? compiled.rules
      : compiled.rules.filter((r) => priorityAtLeast(r.priority, minPriority));
  const ruleset = diagnostics.hasErrors
    ? undefined
    : new RuleSet(kept, options.ruleMatching === undefined ? {} : { ruleMatching: options.ruleMatching });
  return {
    ruleset,
    diagnostics: diagnostics.items,
    counts: {
      rules: compiled.defined,
      enabledRules: ruleset?.enabledCount() ?? 0,
      macros: collector.macros.size,
      lists: collector.lists.size,
    },
  };
}
