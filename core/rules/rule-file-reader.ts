/**
 * Reads one rule file — YAML documents holding a sequence of items — into the
 * {@link RuleCollector}, checking every item's shape as Falco's rule reader does. Every problem
 * becomes a diagnostic with the file, line and column of the offending key or value; after a
 * problem the reader moves on to the next item, so one pass reports all of them.
 *
 * Scalars are read with YAML's failsafe schema: every value is a string, and booleans are parsed
 * here the way yaml-cpp (Falco's YAML library) does, so `version: 0.10` stays `0.10`.
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
  type Pair,
  type Scalar,
  type YAMLMap,
} from 'yaml';
import { parsePriority, type Priority } from '../priority.js';
import {
  CollectorError,
  SYSCALL_SOURCE,
  type RuleCollector,
  type RuleInfo,
  type RuleUpdate,
} from './collector.js';
import type { DiagnosticList, SourceFile } from './diagnostics.js';
import { formatSemVer, parseEngineVersion, parseSemVer, satisfies, type SemVer } from './engine-version.js';
import type { ExceptionEntry, RuleException } from './exceptions.js';
import { MappedText } from './mapped-text.js';
import { scalarOffsets } from './scalar-offsets.js';

/** What the reader needs besides the file. */
export interface ReaderContext {
  readonly diagnostics: DiagnosticList;
  readonly collector: RuleCollector;
  /** The engine version Vigil claims, checked against `required_engine_version`. */
  readonly engineVersion: SemVer;
  /** Plugins Vigil provides, name -> version, checked against `required_plugin_versions`. */
  readonly plugins: ReadonlyMap<string, string>;
}

/** A problem with one item; `at` is a global offset. */
class ItemError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
    this.name = 'ItemError';
  }
}

const LIST_KEYS = ['list', 'items', 'append', 'override'];
const MACRO_KEYS = ['macro', 'condition', 'append', 'override'];
const RULE_KEYS = [
  'rule',
  'condition',
  'output',
  'desc',
  'priority',
  'source',
  'enabled',
  'capture',
  'capture_duration',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'tags',
  'exceptions',
  'append',
  'override',
];
const EXCEPTION_KEYS = ['name', 'fields', 'comps', 'values'];
const PLUGIN_KEYS = ['name', 'version', 'alternatives'];
const RULE_APPENDABLE: ReadonlySet<string> = new Set(['condition', 'output', 'desc', 'tags', 'exceptions']);
const RULE_REPLACEABLE: ReadonlySet<string> = new Set([
  'condition',
  'output',
  'desc',
  'priority',
  'tags',
  'exceptions',
  'enabled',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
]);
const TRUE_WORDS: ReadonlySet<string> = new Set([
  'true',
  'True',
  'TRUE',
  'yes',
  'Yes',
  'YES',
  'on',
  'On',
  'ON',
  'y',
  'Y',
]);
const FALSE_WORDS: ReadonlySet<string> = new Set([
  'false',
  'False',
  'FALSE',
  'no',
  'No',
  'NO',
  'off',
  'Off',
  'OFF',
  'n',
  'N',
]);
const NULL_WORDS: ReadonlySet<string> = new Set(['', '~', 'null', 'Null', 'NULL']);
const IDENTIFIER = /^[a-zA-Z]+[a-zA-Z0-9_]*$/;
const BARE_STRING = /^[^()"'\s=,]+$/;

const WARN_APPEND =
  "'append: true' is deprecated: put an 'override' mapping with 'KEY: append' entries instead (e.g. override: {condition: append})";

/** Reads the YAML documents of `file` into the collector, reporting problems as diagnostics. */
export function readRuleFile(file: SourceFile, ctx: ReaderContext): void {
  new FileReader(file, ctx).read();
}

class FileReader {
  private doc: Document.Parsed | undefined;

  constructor(
    private readonly file: SourceFile,
    private readonly ctx: ReaderContext,
  ) {}

  read(): void {
    const docs = parseAllDocuments(this.file.text, {
      lineCounter: this.file.lines,
      prettyErrors: false,
      schema: 'failsafe',
      uniqueKeys: true,
    });
    for (const doc of docs) {
      this.doc = doc;
      for (const w of doc.warnings)
        this.ctx.diagnostics.warning(this.file.global(w.pos[0]), `YAML: ${w.message}`);
      if (doc.errors.length > 0) {
        // A malformed document is not interpreted: its structure is a guess.
        for (const e of doc.errors) {
          this.ctx.diagnostics.error(this.file.global(e.pos[0]), `Malformed YAML: ${e.message}`);
        }
        continue;
      }
      const contents = this.deref(doc.contents);
      if (contents === null || this.isNull(contents)) continue;
      if (!isSeq(contents)) {
        this.ctx.diagnostics.error(
          this.at(contents),
          `Rules content must be a sequence of items (- list: ..., - macro: ..., - rule: ...), found ${this.describe(contents)}`,
        );
        continue;
      }
      for (const raw of contents.items) {
        const item = this.deref(raw);
        if (item === null || this.isNull(item)) continue;
        this.readItem(item);
      }
    }
  }

  private readItem(item: YamlNode): void {
    let name: string | undefined;
    try {
      if (!isMap(item)) {
        throw new ItemError(
          `Each item must be a mapping (list, macro, rule, required_engine_version or required_plugin_versions), found ${this.describe(item)}`,
          this.at(item),
        );
      }
      if (this.pair(item, 'required_engine_version') !== undefined) this.readEngineVersion(item);
      else if (this.pair(item, 'required_plugin_versions') !== undefined) this.readPluginVersions(item);
      else if (this.pair(item, 'list') !== undefined) {
        name = this.optionalName(item, 'list');
        this.readList(item);
      } else if (this.pair(item, 'macro') !== undefined) {
        name = this.optionalName(item, 'macro');
        this.readMacro(item);
      } else if (this.pair(item, 'rule') !== undefined) {
        name = this.optionalName(item, 'rule');
        this.readRule(item);
      } else {
        const keys = item.items.map((p) => this.keyName(p)).filter((k) => k !== undefined);
        this.ctx.diagnostics.warning(
          this.at(item),
          `Unknown top level item: expected one of list, macro, rule, required_engine_version, required_plugin_versions; found keys ${keys.join(', ')}`,
        );
      }
    } catch (err) {
      if (err instanceof ItemError || err instanceof CollectorError)
        this.ctx.diagnostics.error(err.at, err.message, name);
      else throw err;
    }
  }

  // ---- items --------------------------------------------------------------------------------

  private readEngineVersion(item: YAMLMap): void {
    this.warnUnknownKeys(item, ['required_engine_version'], 'required_engine_version item', undefined);
    const { value, node } = this.requiredString(item, 'required_engine_version', 'required_engine_version');
    const required = parseEngineVersion(value);
    if (required === undefined) {
      throw new ItemError(
        `Unable to parse engine version '${value}': expected a semver string like "0.57.0"`,
        this.at(node),
      );
    }
    if (!satisfies(this.ctx.engineVersion, required)) {
      throw new ItemError(
        `Rules require engine version ${formatSemVer(required)}, but Vigil implements engine version ${formatSemVer(this.ctx.engineVersion)}`,
        this.at(node),
      );
    }
  }

  private readPluginVersions(item: YAMLMap): void {
    this.warnUnknownKeys(item, ['required_plugin_versions'], 'required_plugin_versions item', undefined);
    const seq = this.deref(this.pair(item, 'required_plugin_versions')?.value);
    if (seq === null || !isSeq(seq)) {
      throw new ItemError(
        `required_plugin_versions must be a sequence of {name, version} mappings, found ${this.describe(seq)}`,
        this.at(seq, this.at(item)),
      );
    }
    for (const raw of seq.items) {
      const entry = this.deref(raw);
      if (entry === null || !isMap(entry)) {
        throw new ItemError(
          `Plugin requirement must be a mapping with name and version, found ${this.describe(entry)}`,
          this.at(entry, this.at(seq)),
        );
      }
      this.warnUnknownKeys(entry, PLUGIN_KEYS, 'plugin requirement', undefined);
      const wanted: { name: string; version: string; at: number }[] = [];
      const primary = this.pluginRequirement(entry);
      wanted.push(primary);
      const altNode = this.deref(this.pair(entry, 'alternatives')?.value);
      if (altNode !== null && !this.isNull(altNode)) {
        if (!isSeq(altNode)) {
          throw new ItemError(
            `Plugin alternatives must be a sequence of {name, version} mappings, found ${this.describe(altNode)}`,
            this.at(altNode),
          );
        }
        for (const rawAlt of altNode.items) {
          const alt = this.deref(rawAlt);
          if (alt === null || !isMap(alt)) {
            throw new ItemError(
              `Plugin alternative must be a mapping with name and version, found ${this.describe(alt)}`,
              this.at(alt, this.at(altNode)),
            );
          }
          wanted.push(this.pluginRequirement(alt));
        }
      }
      const names = new Set<string>();
      for (const w of wanted) {
        if (names.has(w.name))
          throw new ItemError(
            `Plugin '${w.name}' is listed twice among alternatives: expected each plugin once`,
            w.at,
          );
        names.add(w.name);
      }
      const satisfied = wanted.some((w) => {
        const provided = this.ctx.plugins.get(w.name);
        const have = provided === undefined ? undefined : parseSemVer(provided);
        const need = parseSemVer(w.version);
        return have !== undefined && need !== undefined && satisfies(have, need);
      });
      if (!satisfied) {
        const provided = [...this.ctx.plugins].map(([n, v]) => `${n} ${v}`).join(', ');
        const alternatives = wanted.map((w) => `${w.name} >= ${w.version}`).join(' or ');
        throw new ItemError(
          `Rules require plugin ${alternatives}, which Vigil does not provide (it provides: ${provided || 'none'})`,
          primary.at,
        );
      }
    }
  }

  private pluginRequirement(entry: YAMLMap): { name: string; version: string; at: number } {
    const { value: name, node } = this.requiredString(entry, 'name', 'plugin requirement');
    const { value: version, node: vnode } = this.requiredString(entry, 'version', `plugin '${name}'`);
    if (parseSemVer(version) === undefined) {
      throw new ItemError(
        `Invalid required version '${version}' for plugin '${name}': expected a semver string like "0.4.0"`,
        this.at(vnode),
      );
    }
    return { name, version, at: this.at(node) };
  }

  private readList(item: YAMLMap): void {
    const { value: name, node: nameNode } = this.requiredString(item, 'list', 'list');
    this.warnUnknownKeys(item, LIST_KEYS, `list '${name}'`, name);
    if (!BARE_STRING.test(name)) {
      this.ctx.diagnostics.warning(
        this.at(nameNode),
        `List name '${name}' is not a bare string ([^()"'\\s=,]+), so conditions cannot refer to it`,
        name,
      );
    }
    const items = this.stringSeq(item, 'items', `list '${name}'`, true) ?? [];
    const append = this.legacyAppend(item, name);
    const override = this.readOverrides(item, new Set(['items']), new Set(['items']), name);
    if (append && override.size > 0) throw this.appendWithOverride(item);
    if (append || override.get('items') === 'append')
      this.ctx.collector.appendList(name, items, this.at(item));
    else this.ctx.collector.defineList(name, items, this.at(item));
  }

  private readMacro(item: YAMLMap): void {
    const { value: name, node: nameNode } = this.requiredString(item, 'macro', 'macro');
    this.warnUnknownKeys(item, MACRO_KEYS, `macro '${name}'`, name);
    if (!IDENTIFIER.test(name)) {
      this.ctx.diagnostics.warning(
        this.at(nameNode),
        `Macro name '${name}' is not an identifier ([a-zA-Z]+[a-zA-Z0-9_]*), so conditions cannot refer to it`,
        name,
      );
    }
    const condition = this.mapped(this.requiredString(item, 'condition', `macro '${name}'`).node);
    const append = this.legacyAppend(item, name);
    const override = this.readOverrides(item, new Set(['condition']), new Set(['condition']), name);
    if (append && override.size > 0) throw this.appendWithOverride(item);
    if (append || override.get('condition') === 'append')
      this.ctx.collector.appendMacro(name, condition, this.at(item));
    else this.ctx.collector.defineMacro(name, condition, this.at(item));
  }

  private readRule(item: YAMLMap): void {
    const { value: name } = this.requiredString(item, 'rule', 'rule');
    this.warnUnknownKeys(item, RULE_KEYS, `rule '${name}'`, name);
    const append = this.legacyAppend(item, name);
    const override = this.readOverrides(item, RULE_APPENDABLE, RULE_REPLACEABLE, name);
    if (append && override.size > 0) throw this.appendWithOverride(item);
    const at = this.at(item);
    const what = `rule '${name}'`;

    if (override.size > 0) {
      // Every overridable key present must be named under `override`, and vice versa.
      const present = new Set(
        [...RULE_APPENDABLE, ...RULE_REPLACEABLE].filter((k) => this.pair(item, k) !== undefined),
      );
      for (const [key] of override) {
        if (!present.has(key)) {
          const pair = this.pair(item, 'override') as Pair;
          throw new ItemError(
            `${what} has an override for '${key}' but no '${key}' key: expected '${key}' beside 'override'`,
            this.at(pair.value as YamlNode | null, at),
          );
        }
      }
      for (const key of present) {
        if (!override.has(key)) {
          throw new ItemError(
            `Unexpected key '${key}' in ${what}: no entry for it under 'override' (expected '${key}: append' or '${key}: replace')`,
            this.keyAt(item, key),
          );
        }
      }
      const appendKeys = [...override].filter(([, op]) => op === 'append').map(([k]) => k);
      const replaceKeys = [...override].filter(([, op]) => op === 'replace').map(([k]) => k);
      if (appendKeys.length > 0) this.ctx.collector.appendRule(this.ruleUpdate(item, name, appendKeys));
      if (replaceKeys.length > 0) this.ctx.collector.replaceRule(this.ruleUpdate(item, name, replaceKeys));
      return;
    }

    if (append) {
      const keys = ['condition', 'exceptions'].filter((k) => this.pair(item, k) !== undefined);
      this.ctx.collector.appendRule(this.ruleUpdate(item, name, keys));
      return;
    }

    const defining = ['condition', 'output', 'desc', 'priority'].some(
      (k) => this.pair(item, k) !== undefined,
    );
    if (!defining) {
      const enabled = this.optionalBool(item, 'enabled', what);
      if (enabled === undefined) {
        throw new ItemError(
          `${what} has no condition, output, desc or priority: expected a full rule definition, or 'enabled' to switch an existing rule`,
          at,
        );
      }
      this.ctx.diagnostics.warning(
        at,
        "A rule item with only 'enabled' is deprecated: add 'override: {enabled: replace}' beside 'enabled'",
        name,
      );
      this.ctx.collector.enableRule(name, enabled, at);
      return;
    }

    const condition = this.mapped(this.requiredString(item, 'condition', what).node);
    const output = trimMapped(this.mapped(this.requiredString(item, 'output', what).node));
    const desc = this.requiredString(item, 'desc', what).value;
    const priority = this.priority(item, what);
    const sourceNode = this.optionalString(item, 'source', what);
    const source = sourceNode?.value ?? SYSCALL_SOURCE;
    const unknownSource = source !== SYSCALL_SOURCE;
    if (unknownSource)
      this.ctx.diagnostics.warning(
        this.at(sourceNode?.node ?? null, at),
        `Unknown source ${source}, skipping`,
        name,
      );
    const rule: Omit<RuleInfo, 'index' | 'visibility'> = {
      name,
      condition,
      output,
      desc,
      priority,
      source,
      enabled: this.optionalBool(item, 'enabled', what) ?? true,
      warnEvttypes: this.optionalBool(item, 'warn_evttypes', what) ?? true,
      skipIfUnknownFilter: this.optionalBool(item, 'skip-if-unknown-filter', what) ?? false,
      tags: new Set(this.stringSeq(item, 'tags', what, false) ?? []),
      exceptions: this.exceptions(item, what, false) ?? [],
      at,
      unknownSource,
    };
    this.ctx.collector.defineRule(rule);
  }

  /** Reads the keys an append or replace update names. */
  private ruleUpdate(item: YAMLMap, name: string, keys: readonly string[]): RuleUpdate {
    const what = `rule '${name}'`;
    let u: RuleUpdate = { name, at: this.at(item) };
    for (const key of keys) {
      switch (key) {
        case 'condition':
          u = { ...u, condition: this.mapped(this.requiredString(item, 'condition', what).node) };
          break;
        case 'output':
          u = { ...u, output: trimMapped(this.mapped(this.requiredString(item, 'output', what).node)) };
          break;
        case 'desc':
          u = { ...u, desc: this.requiredString(item, 'desc', what).value };
          break;
        case 'tags':
          u = { ...u, tags: this.stringSeq(item, 'tags', what, true) ?? [] };
          break;
        case 'exceptions':
          u = { ...u, exceptions: this.exceptions(item, what, true) ?? [] };
          break;
        case 'priority':
          u = { ...u, priority: this.priority(item, what) };
          break;
        case 'enabled':
          u = { ...u, enabled: this.requiredBool(item, 'enabled', what) };
          break;
        case 'warn_evttypes':
          u = { ...u, warnEvttypes: this.requiredBool(item, 'warn_evttypes', what) };
          break;
        case 'skip-if-unknown-filter':
          u = { ...u, skipIfUnknownFilter: this.requiredBool(item, 'skip-if-unknown-filter', what) };
          break;
        case 'capture':
          // Vigil takes no captures: the key is checked and recorded, and has no effect.
          this.requiredBool(item, 'capture', what);
          u = { ...u, ignored: [...(u.ignored ?? []), key] };
          break;
        case 'capture_duration':
          this.requiredString(item, 'capture_duration', what);
          u = { ...u, ignored: [...(u.ignored ?? []), key] };
          break;
      }
    }
    return u;
  }

  private priority(item: YAMLMap, what: string): Priority {
    const { value, node } = this.requiredString(item, 'priority', what);
    const p = parsePriority(value);
    if (p === undefined) {
      throw new ItemError(
        `Invalid priority '${value}' in ${what}: expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational (or Info), Debug`,
        this.at(node),
      );
    }
    return p;
  }

  private exceptions(item: YAMLMap, what: string, appending: boolean): RuleException[] | undefined {
    const node = this.deref(this.pair(item, 'exceptions')?.value);
    if (node === null || this.isNull(node)) return undefined;
    if (!isSeq(node)) {
      throw new ItemError(
        `'exceptions' of ${what} must be a sequence of exceptions, found ${this.describe(node)}`,
        this.at(node),
      );
    }
    const out: RuleException[] = [];
    for (const raw of node.items) {
      const ex = this.deref(raw);
      if (ex === null || !isMap(ex)) {
        throw new ItemError(
          `Each exception of ${what} must be a mapping with name, fields, comps and values, found ${this.describe(ex)}`,
          this.at(ex, this.at(node)),
        );
      }
      const { value: name } = this.requiredString(ex, 'name', `an exception of ${what}`);
      this.warnUnknownKeys(ex, EXCEPTION_KEYS, `exception '${name}'`, undefined);
      const fieldsNode = this.deref(this.pair(ex, 'fields')?.value);
      const compsNode = this.deref(this.pair(ex, 'comps')?.value);
      const valuesNode = this.deref(this.pair(ex, 'values')?.value);
      let values: ExceptionEntry[] = [];
      if (valuesNode !== null && !this.isNull(valuesNode)) {
        if (!isSeq(valuesNode)) {
          throw new ItemError(
            `Values of exception '${name}' must be a sequence, found ${this.describe(valuesNode)}`,
            this.at(valuesNode),
          );
        }
        values = valuesNode.items.map((v) =>
          this.entry(this.deref(v), `exception '${name}'`, this.at(valuesNode)),
        );
      } else if (appending) {
        this.ctx.diagnostics.warning(
          this.at(ex),
          `Exception '${name}' is appended or replaced without values`,
        );
      }
      out.push({
        name,
        fields:
          fieldsNode === null || this.isNull(fieldsNode)
            ? undefined
            : this.entry(fieldsNode, `exception '${name}'`, this.at(ex)),
        comps:
          compsNode === null || this.isNull(compsNode)
            ? undefined
            : this.entry(compsNode, `exception '${name}'`, this.at(ex)),
        values,
        at: this.at(ex),
      });
    }
    return out;
  }

  private entry(node: YamlNode | null, what: string, fallback: number): ExceptionEntry {
    if (node === null) throw new ItemError(`Empty entry in ${what}: expected a string or a list`, fallback);
    if (isScalar(node)) {
      const value = this.scalarValue(node);
      if (value.length === 0)
        throw new ItemError(`Empty value in ${what}: expected a non-empty string`, this.at(node));
      return { kind: 'scalar', value, text: this.mapped(node) };
    }
    if (isSeq(node)) {
      return {
        kind: 'list',
        items: node.items.map((n) => this.entry(this.deref(n), what, this.at(node))),
        at: this.at(node),
      };
    }
    throw new ItemError(
      `Entry in ${what} must be a string or a list, found ${this.describe(node)}`,
      this.at(node),
    );
  }

  // ---- keys and values ----------------------------------------------------------------------

  /** Reads `override`: key -> append | replace, checking each against what the item allows. */
  private readOverrides(
    item: YAMLMap,
    appendable: ReadonlySet<string>,
    replaceable: ReadonlySet<string>,
    name: string,
  ): Map<string, 'append' | 'replace'> {
    const out = new Map<string, 'append' | 'replace'>();
    const pair = this.pair(item, 'override');
    if (pair === undefined) return out;
    const node = this.deref(pair.value);
    if (node === null || !isMap(node)) {
      throw new ItemError(
        `'override' must be a mapping of KEY: append or KEY: replace, found ${this.describe(node)}`,
        this.at(node, this.keyAt(item, 'override')),
      );
    }
    for (const p of node.items) {
      const key = this.keyName(p);
      const keyAt = this.at(p.key as YamlNode | null, this.at(node));
      const valueNode = this.deref(p.value);
      const op = valueNode !== null && isScalar(valueNode) ? this.scalarValue(valueNode) : undefined;
      if (key === undefined)
        throw new ItemError(
          `Override keys must be strings, found ${this.describe(p.key as YamlNode)}`,
          keyAt,
        );
      const canAppend = appendable.has(key);
      const canReplace = replaceable.has(key);
      if (op === 'append') {
        if (!canAppend) {
          throw new ItemError(
            canReplace
              ? `Key '${key}' cannot be appended to: expected '${key}: replace'`
              : `Key '${key}' cannot be overridden: expected one of ${[...new Set([...appendable, ...replaceable])].join(', ')}`,
            keyAt,
          );
        }
        out.set(key, 'append');
      } else if (op === 'replace') {
        if (!canReplace) {
          throw new ItemError(
            canAppend
              ? `Key '${key}' cannot be replaced: expected '${key}: append'`
              : `Key '${key}' cannot be overridden: expected one of ${[...new Set([...appendable, ...replaceable])].join(', ')}`,
            keyAt,
          );
        }
        out.set(key, 'replace');
      } else {
        const allowed = [canAppend ? 'append' : '', canReplace ? 'replace' : '']
          .filter((s) => s !== '')
          .join(' or ');
        throw new ItemError(
          `Invalid override operation for key '${key}': expected ${allowed || 'nothing (the key cannot be overridden)'}, found ${op === undefined ? this.describe(valueNode) : `'${op}'`}`,
          this.at(valueNode, keyAt),
        );
      }
    }
    if (out.size === 0)
      this.ctx.diagnostics.warning(this.at(node, this.at(item)), "'override' is empty", name);
    return out;
  }

  private legacyAppend(item: YAMLMap, name: string): boolean {
    const append = this.optionalBool(item, 'append', `item '${name}'`) ?? false;
    if (append) this.ctx.diagnostics.warning(this.keyAt(item, 'append'), WARN_APPEND, name);
    return append;
  }

  private appendWithOverride(item: YAMLMap): ItemError {
    return new ItemError(
      "Keys 'override' and 'append: true' cannot be used together: expected only 'override' (with 'KEY: append' entries)",
      this.keyAt(item, 'override'),
    );
  }

  private warnUnknownKeys(
    map: YAMLMap,
    allowed: readonly string[],
    what: string,
    item: string | undefined,
  ): void {
    for (const p of map.items) {
      const key = this.keyName(p);
      if (key !== undefined && !allowed.includes(key)) {
        this.ctx.diagnostics.warning(
          this.at(p.key as YamlNode | null, this.at(map)),
          `Unknown key '${key}' in ${what}: expected one of ${allowed.join(', ')}`,
          item,
        );
      }
    }
  }

  private optionalName(item: YAMLMap, key: string): string | undefined {
    const node = this.deref(this.pair(item, key)?.value);
    return node !== null && isScalar(node) ? this.scalarValue(node) : undefined;
  }

  private requiredString(map: YAMLMap, key: string, what: string): { value: string; node: Scalar } {
    const found = this.optionalString(map, key, what);
    if (found === undefined) {
      throw new ItemError(
        `${capitalize(what)} has no '${key}': expected a '${key}' key with a non-empty string`,
        this.at(map),
      );
    }
    return found;
  }

  private optionalString(
    map: YAMLMap,
    key: string,
    what: string,
  ): { value: string; node: Scalar } | undefined {
    const pair = this.pair(map, key);
    if (pair === undefined) return undefined;
    const node = this.deref(pair.value);
    const at = this.at(node, this.keyAt(map, key));
    if (node === null || this.isNull(node)) {
      throw new ItemError(`'${key}' of ${what} is empty: expected a non-empty string`, at);
    }
    if (!isScalar(node))
      throw new ItemError(`'${key}' of ${what} must be a string, found ${this.describe(node)}`, at);
    const value = this.scalarValue(node);
    if (value.length === 0)
      throw new ItemError(`'${key}' of ${what} is empty: expected a non-empty string`, at);
    return { value, node };
  }

  private requiredBool(map: YAMLMap, key: string, what: string): boolean {
    const value = this.optionalBool(map, key, what);
    if (value === undefined)
      throw new ItemError(`${capitalize(what)} has no '${key}': expected true or false`, this.at(map));
    return value;
  }

  private optionalBool(map: YAMLMap, key: string, what: string): boolean | undefined {
    const found = this.optionalString(map, key, what);
    if (found === undefined) return undefined;
    if (TRUE_WORDS.has(found.value)) return true;
    if (FALSE_WORDS.has(found.value)) return false;
    throw new ItemError(
      `'${key}' of ${what} must be true or false, found '${found.value}'`,
      this.at(found.node),
    );
  }

  /** A sequence of strings; undefined when the key is absent (an error when `required`). */
  private stringSeq(map: YAMLMap, key: string, what: string, required: boolean): string[] | undefined {
    const pair = this.pair(map, key);
    if (pair === undefined) {
      if (required)
        throw new ItemError(
          `${capitalize(what)} has no '${key}': expected a sequence of strings`,
          this.at(map),
        );
      return undefined;
    }
    const node = this.deref(pair.value);
    if (node === null || !isSeq(node)) {
      throw new ItemError(
        `'${key}' of ${what} must be a sequence of strings, found ${this.describe(node)}`,
        this.at(node, this.keyAt(map, key)),
      );
    }
    return node.items.map((raw) => {
      const v = this.deref(raw);
      if (v === null || !isScalar(v)) {
        throw new ItemError(
          `Each entry of '${key}' in ${what} must be a string, found ${this.describe(v)}`,
          this.at(v, this.at(node)),
        );
      }
      return this.scalarValue(v);
    });
  }

  private pair(map: YAMLMap, key: string): Pair | undefined {
    return map.items.find((p) => this.keyName(p) === key);
  }

  private keyName(p: Pair): string | undefined {
    const k = p.key;
    return isScalar(k) ? String(k.value) : undefined;
  }

  private keyAt(map: YAMLMap, key: string): number {
    const p = this.pair(map, key);
    return this.at((p?.key ?? null) as YamlNode | null, this.at(map));
  }

  private deref(node: unknown): YamlNode | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node))
      return (this.doc === undefined ? null : (node.resolve(this.doc) as YamlNode | undefined)) ?? null;
    return node as YamlNode;
  }

  private isNull(node: YamlNode): boolean {
    return isScalar(node) && node.type === 'PLAIN' && NULL_WORDS.has(String(node.value));
  }

  private scalarValue(node: Scalar): string {
    return String(node.value);
  }

  /** The global offset where `node` starts (or `fallback`). */
  private at(node: YamlNode | null | undefined, fallback?: number): number {
    const start = node?.range?.[0];
    if (start !== undefined) return this.file.global(start);
    return fallback ?? this.file.global(0);
  }

  private describe(node: YamlNode | null | undefined): string {
    if (node === null || node === undefined || this.isNull(node)) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a sequence';
    if (isScalar(node)) return `the string '${String(node.value)}'`;
    return 'an unsupported YAML node';
  }

  /** A scalar's value with each character mapped to its place in the file. */
  private mapped(node: Scalar): MappedText {
    const value = this.scalarValue(node);
    const range = node.range ?? [0, 0, 0];
    const offsets = scalarOffsets(value, node.type, this.file.text, range[0], range[1]);
    return new MappedText(
      value,
      offsets.map((o) => this.file.global(o)),
    );
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Falco trims rule outputs; trimming keeps each remaining character's place. */
function trimMapped(text: MappedText): MappedText {
  const s = text.text;
  let start = 0;
  let end = s.length;
  while (start < end && /\s/.test(s[start] as string)) start++;
  while (end > start && /\s/.test(s[end - 1] as string)) end--;
  return start === 0 && end === s.length ? text : text.slice(start, end);
}
