/**
 * How catalogue entries are written: {@link defineField} turns a short spec into a
 * {@link FieldDef} with the standard way of reading values from an {@link Event}.
 *
 * Reading a field `name` with argument `arg`:
 * 1. the event's own record: `fields[name]` without argument; with one, `fields["name[arg]"]`
 *    and, for dotted families, `fields["name.arg"]` (how `sysdig -j -p '%evt.arg.flags'` keys it);
 * 2. extra keys the spec lists (`proc.aname[1]` is also `proc.pname`);
 * 3. a derivation from other fields of the record, when the spec has one (`fd.directory` from
 *    `fd.name`), so flat records that lack a derived field still answer it;
 * 4. the event's {@link FieldContext} (agent state), when there is one.
 *
 * `undefined` in the record means "not carried" and moves on; `null` means "carried, no value"
 * and stops, as sysdig's JSON writes fields it could not resolve.
 */
import type { Event } from '../event.js';
import type { FieldArgKind, FieldDef, FieldExtractor, FieldType, MultiValueMode } from './types.js';

/** The short form of a catalogue entry. */
export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly description: string;
  readonly isList?: boolean;
  readonly arg?: FieldArgKind;
  readonly dottedArg?: boolean;
  readonly filterOnly?: boolean;
  readonly noTransformer?: boolean;
  readonly noRhs?: boolean;
  readonly multi?: MultiValueMode;
  readonly typeForArg?: (arg: string) => FieldType | undefined;
  readonly checkArg?: (arg: string) => string | undefined;
  /** Other record keys holding the same value, tried in order after the field's own key. */
  readonly aliases?: (arg: string | undefined) => readonly string[];
  /** Computes the value from other fields when the record lacks it; undefined when it cannot. */
  readonly derive?: (arg: string | undefined) => FieldExtractor | undefined;
  /**
   * Replaces the record lookup for some arguments (returns undefined to keep the standard one);
   * the context is still asked when the replacement yields nothing.
   */
  readonly override?: (arg: string | undefined) => FieldExtractor | undefined;
}

/** Builds a {@link FieldDef} from a spec, with the standard extraction order. */
export function defineField(spec: FieldSpec): FieldDef {
  const def: FieldDef = {
    name: spec.name,
    type: spec.type,
    isList: spec.isList ?? false,
    arg: spec.arg ?? 'none',
    filterOnly: spec.filterOnly ?? false,
    noTransformer: spec.noTransformer ?? false,
    description: spec.description,
    ...(spec.dottedArg === true ? { dottedArg: true } : {}),
    ...(spec.noRhs === true ? { noRhs: true } : {}),
    ...(spec.multi !== undefined ? { multi: spec.multi } : {}),
    ...(spec.typeForArg !== undefined ? { typeForArg: spec.typeForArg } : {}),
    ...(spec.checkArg !== undefined ? { checkArg: spec.checkArg } : {}),
    extractor: (arg) => standardExtractor(spec, arg),
  };
  return def;
}

function standardExtractor(spec: FieldSpec, arg: string | undefined): FieldExtractor {
  const replaced = spec.override?.(arg);
  if (replaced !== undefined) {
    const name = spec.name;
    return (evt) => {
      const v = replaced(evt);
      if (v !== undefined) return v;
      const ctx = evt.context;
      return ctx === undefined ? undefined : ctx.resolve(name, arg, evt);
    };
  }
  const keys: string[] = [];
  if (arg === undefined) keys.push(spec.name);
  else {
    keys.push(`${spec.name}[${arg}]`);
    if (spec.dottedArg === true) keys.push(`${spec.name}.${arg}`);
  }
  if (spec.aliases !== undefined) keys.push(...spec.aliases(arg));
  const derived = spec.derive?.(arg);
  const name = spec.name;
  return readKeys(keys, derived, name, arg);
}

/**
 * The per-event reader: record keys in order, then the derivation, then the context. Written
 * out for one and two keys, the common cases, so that no array is walked.
 */
function readKeys(
  keys: readonly string[],
  derived: FieldExtractor | undefined,
  name: string,
  arg: string | undefined,
): FieldExtractor {
  const fallback = (evt: Event): unknown => {
    if (derived !== undefined) {
      const v = derived(evt);
      if (v !== undefined) return v;
    }
    const ctx = evt.context;
    return ctx === undefined ? undefined : ctx.resolve(name, arg, evt);
  };
  if (keys.length === 1) {
    const k0 = keys[0]!;
    return (evt) => {
      const v = evt.fields[k0];
      return v !== undefined ? v : fallback(evt);
    };
  }
  if (keys.length === 2) {
    const k0 = keys[0]!;
    const k1 = keys[1]!;
    return (evt) => {
      const f = evt.fields;
      let v = f[k0];
      if (v !== undefined) return v;
      v = f[k1];
      return v !== undefined ? v : fallback(evt);
    };
  }
  return (evt) => {
    const f = evt.fields;
    for (const k of keys) {
      const v = f[k];
      if (v !== undefined) return v;
    }
    return fallback(evt);
  };
}

/** A reader trying record keys in order (no derivation, no context): for derivations. */
export function firstRecordValue(keys: readonly string[]): (evt: Event) => unknown {
  return (evt) => {
    for (const k of keys) {
      const v = evt.fields[k];
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  };
}

/**
 * Reads the two ends of a connection as a reused two-item array (callers must not keep it):
 * `[client, server]` from the first pair of keys that has any value, else undefined.
 */
export function endpoints(pairs: ReadonlyArray<readonly [string, string]>): FieldExtractor {
  const scratch: unknown[] = [undefined, undefined];
  return (evt) => {
    const f = evt.fields;
    for (const [a, b] of pairs) {
      const va = f[a];
      const vb = f[b];
      if ((va !== undefined && va !== null) || (vb !== undefined && vb !== null)) {
        scratch[0] = va;
        scratch[1] = vb;
        return scratch;
      }
    }
    return undefined;
  };
}

/** Whether a spec argument is a plain non-negative index. */
export function isIndex(arg: string | undefined): arg is string {
  return arg !== undefined && /^[0-9]+$/.test(arg);
}
