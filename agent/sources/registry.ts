/**
 * The registry of event sources: every {@link SourceFactory} the agent knows, looked up by name,
 * and the parser for `--source NAME:TARGET`.
 *
 * Adding a source is one file exporting a factory and one line in {@link sourceFactories}.
 */
import type { EventSource, SourceFactory, SourceSpec } from './source.js';
import { jsonlSourceFactory } from './jsonl-source.js';
import { sysdigSourceFactory } from './sysdig-source.js';
import { tetragonSourceFactory } from './tetragon-source.js';
import { traceeSourceFactory } from './tracee-source.js';
import { procfsSourceFactory } from './procfs-source.js';
import { ebpfSourceFactory } from './ebpf/ebpf-source.js';

/** Every source, in the order `--help` lists them. */
export const sourceFactories: readonly SourceFactory[] = [
  jsonlSourceFactory,
  sysdigSourceFactory,
  tetragonSourceFactory,
  traceeSourceFactory,
  procfsSourceFactory,
  ebpfSourceFactory,
];

/** The factory registered under `name`, or undefined. */
export function findSourceFactory(
  name: string,
  factories: readonly SourceFactory[] = sourceFactories,
): SourceFactory | undefined {
  return factories.find((f) => f.name === name);
}

/** A parsed `--source` value: the factory and the spec to create the source with, or why not. */
export type ParsedSourceFlag =
  | { readonly ok: true; readonly factory: SourceFactory; readonly spec: SourceSpec }
  | { readonly ok: false; readonly error: string };

/**
 * Parses `--source NAME:TARGET` (or a bare `NAME`). Only the first colon separates: the target
 * keeps its own (`jsonl:unix:/run/x.sock`). Options come from the configuration, not the flag.
 *
 * @example
 *   parseSourceFlag('jsonl:/var/log/falco.jsonl') // { ok: true, factory: jsonl, spec: { target: '/var/log/falco.jsonl', ... } }
 *   parseSourceFlag('nope:x')                     // { ok: false, error: 'unknown source "nope" (known: jsonl, ...)' }
 */
export function parseSourceFlag(
  flag: string,
  options: Readonly<Record<string, unknown>> = {},
  factories: readonly SourceFactory[] = sourceFactories,
): ParsedSourceFlag {
  const colon = flag.indexOf(':');
  const name = colon < 0 ? flag : flag.slice(0, colon);
  const target = colon < 0 ? '' : flag.slice(colon + 1);
  if (name === '') return { ok: false, error: `--source ${JSON.stringify(flag)}: expected NAME:TARGET` };
  const factory = findSourceFactory(name, factories);
  if (factory === undefined) {
    const known = factories.map((f) => f.name).join(', ');
    return { ok: false, error: `unknown source ${JSON.stringify(name)} (known: ${known})` };
  }
  return { ok: true, factory, spec: { target, options } };
}

/**
 * Parses a `--source` value and creates the source. Throws an Error naming the problem: an
 * unknown source, a missing target, a bad option.
 */
export function createSourceFromFlag(
  flag: string,
  options: Readonly<Record<string, unknown>> = {},
  factories: readonly SourceFactory[] = sourceFactories,
): EventSource {
  const parsed = parseSourceFlag(flag, options, factories);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.factory.create(parsed.spec);
}

/** One line per source for `--help`: name, description and example. */
export function describeSources(factories: readonly SourceFactory[] = sourceFactories): string {
  const width = Math.max(...factories.map((f) => f.name.length));
  return factories
    .map((f) => `  ${f.name.padEnd(width)}  ${f.description} (e.g. --source ${f.example})`)
    .join('\n');
}
