/**
 * The field registry: maps field names, as conditions and outputs write them, to definitions.
 *
 * @example
 * const registry = createFieldRegistry();
 * registry.lookup('evt.arg.flags');   // the evt.arg definition
 * registry.resolve('evt.arg.flags');  // { def: <evt.arg>, impliedArg: 'flags' }
 * registry.resolve('proc.name');      // { def: <proc.name>, impliedArg: undefined }
 */
import { builtinFields } from './catalogue.js';
import type { FieldDef, FieldLookup, FieldRegistry } from './types.js';

/**
 * Creates a registry with the built-in fields plus `extra` (plugin or test fields). An extra
 * field with the name of a built-in one replaces it.
 */
export function createFieldRegistry(extra?: Iterable<FieldDef>): FieldRegistry {
  const byName = new Map<string, FieldDef>();
  for (const def of builtinFields()) byName.set(def.name, def);
  if (extra !== undefined) for (const def of extra) byName.set(def.name, def);
  const dotted = [...byName.values()].filter((d) => d.dottedArg === true);
  const resolve = (name: string): FieldLookup | undefined => {
    const exact = byName.get(name);
    if (exact !== undefined) return { def: exact, impliedArg: undefined };
    // `evt.arg.flags`: the longest dotted-family name that prefixes it, with the rest as argument.
    let best: FieldDef | undefined;
    for (const def of dotted) {
      if (
        name.length > def.name.length + 1 &&
        name.startsWith(def.name) &&
        name.charCodeAt(def.name.length) === 46 &&
        (best === undefined || def.name.length > best.name.length)
      ) {
        best = def;
      }
    }
    return best === undefined ? undefined : { def: best, impliedArg: name.slice(best.name.length + 1) };
  };
  return {
    lookup: (name) => resolve(name)?.def,
    resolve,
    all(): Iterable<FieldDef> {
      return byName.values();
    },
  };
}
