/**
 * Field types and definitions: what the compiler needs to know about every Falco field.
 *
 * A {@link FieldDef} describes one field (or one family of fields sharing a name and taking an
 * argument, like `proc.aname[N]` or `evt.arg.NAME`) and knows how to pull its raw value out of an
 * {@link Event}. The compiler converts raw values to the field's {@link FieldType} and applies
 * operators; the registry maps names (including the dotted argument form) to definitions.
 */
import type { Event } from '../event.js';

/**
 * The type of a field's value, after libsinsp's parameter types (`PT_*`), folded to the
 * distinctions that change which operators apply and how operands are read.
 *
 * - `charbuf`: a string (PT_CHARBUF); `fspath`/`fsrelpath`: a path (PT_FSPATH, PT_FSRELPATH)
 * - `bytebuf`: raw bytes (PT_BYTEBUF)
 * - `int64`, `uint64` and the narrower widths; `port` (PT_PORT), `l4proto`, `sockfamily`, `flags`
 *   (PT_FLAGS*), `mode`, `uid`, `gid`, `fd`, `pid`, `errno`: numbers
 * - `double`: a floating point number
 * - `bool`: PT_BOOL
 * - `ipaddr` (PT_IPADDR, also v4/v6 only), `ipnet` (PT_IPNET)
 * - `reltime`, `abstime`: times in nanoseconds
 * - `dynamic`: PT_DYNAMIC (`evt.rawarg`): the real type depends on the argument; see
 *   {@link FieldDef.typeForArg}
 */
export type FieldType =
  | 'charbuf'
  | 'fspath'
  | 'fsrelpath'
  | 'bytebuf'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'port'
  | 'l4proto'
  | 'sockfamily'
  | 'flags'
  | 'mode'
  | 'uid'
  | 'gid'
  | 'fd'
  | 'pid'
  | 'errno'
  | 'double'
  | 'bool'
  | 'ipaddr'
  | 'ipnet'
  | 'reltime'
  | 'abstime'
  | 'dynamic';

/**
 * Whether a field takes an argument in brackets (or, with {@link FieldDef.dottedArg}, after a
 * dot), and of which kind. libsinsp's EPF_ARG_REQUIRED / EPF_ARG_ALLOWED / EPF_ARG_INDEX /
 * EPF_ARG_KEY, folded:
 *
 * - `none`: `proc.name`; `proc.name[1]` is an error
 * - `index`: optional non-negative number: `proc.aname`, `proc.aname[2]`
 * - `index-required`: a number is required: `fd.types[0]` style fields that need one
 * - `key`: optional free-form key: `proc.env`, `proc.env[HOME]`
 * - `key-required`: a key is required: `evt.around[T]`
 * - `index-or-key-required`: a number or a name is required: `evt.arg[0]`, `evt.arg[fd]`,
 *   `evt.arg.fd`, `container.mount.dest[/etc]`
 */
export type FieldArgKind =
  'none' | 'index' | 'index-required' | 'key' | 'key-required' | 'index-or-key-required';

/**
 * How the compiler combines several values that one extraction returns for a field that is not a
 * list (libsinsp's special comparisons):
 *
 * - `any`: the check holds when it holds for any value (`proc.aname` without index: any
 *   ancestor), whatever the operator
 * - `endpoints`: the values are the two ends of a connection (`fd.ip`, `fd.port`, `fd.net`,
 *   `fd.proto`): positive operators need one end to match, `!=` needs every end to differ
 */
export type MultiValueMode = 'any' | 'endpoints';

/** Reads one field's raw value from an event; created once per compiled check. */
export type FieldExtractor = (evt: Event) => unknown;

/** A field the engine can extract and compare. */
export interface FieldDef {
  /** The field's name without argument: `proc.aname`, `evt.arg`. */
  readonly name: string;
  readonly type: FieldType;
  /** The field yields a list of values (libsinsp's EPF_IS_LIST): `in` means every value is in the set. */
  readonly isList: boolean;
  readonly arg: FieldArgKind;
  /**
   * The argument may be written after a dot: `evt.arg.flags` is `evt.arg` with argument `flags`
   * (libsinsp's evt.arg, evt.rawarg, evt.type.is families). {@link FieldRegistry.resolve} returns
   * the argument of the dotted form.
   */
  readonly dottedArg?: boolean;
  /** The field may be used in conditions but not in outputs (libsinsp's EPF_FILTER_ONLY). */
  readonly filterOnly: boolean;
  /** Transformers may not be applied to this field (libsinsp's EPF_NO_TRANSFORMER). */
  readonly noTransformer: boolean;
  /** The field can neither take nor be a `val()` right side (libsinsp's EPF_NO_RHS). */
  readonly noRhs?: boolean;
  /** How several extracted values of a non-list field combine; `any` when absent. */
  readonly multi?: MultiValueMode;
  /** One line for `vigil fields` and error messages. */
  readonly description: string;
  /**
   * For argument-dependent types (`evt.rawarg.res` is an errno, `evt.rawarg.flags` flags):
   * returns the type for `arg`, or undefined when the argument is unknown (a compile error).
   */
  typeForArg?(arg: string): FieldType | undefined;
  /**
   * Validates an argument beyond its kind (e.g. `evt.type.is.open` needs a known event name).
   * Returns an error message, or undefined when the argument is fine.
   */
  checkArg?(arg: string): string | undefined;
  /**
   * Returns the function that pulls the raw value out of an event for argument `arg` (already
   * validated against {@link arg}). Called once at compile time; the returned function runs per
   * event and should not allocate in the common case.
   *
   * Raw values are what a source delivered: a string, number, bigint, boolean, `Uint8Array`
   * (bytes), an array (list fields, or several candidates — see {@link multi}), or
   * `undefined`/`null` when the event carries none. The compiler converts them to {@link type}.
   * An array returned here may be reused by the next call: consumers must not keep it.
   */
  extractor(arg: string | undefined): FieldExtractor;
}

/** The result of looking a field name up: the definition, and the argument a dotted name implies. */
export interface FieldLookup {
  readonly def: FieldDef;
  /**
   * The argument carried by the name itself: `flags` for `evt.arg.flags`; undefined for a plain
   * name such as `proc.name`. A bracketed argument may not be added when this is set.
   */
  readonly impliedArg: string | undefined;
}

/** All fields known to one engine. */
export interface FieldRegistry {
  /**
   * The definition of a field name as written in a condition or output (without any `[arg]`):
   * an exact name such as `proc.aname`, or a dotted-argument form such as `evt.arg.flags`, which
   * yields the `evt.arg` family. Undefined when unknown. Use {@link resolve} to also learn the
   * argument a dotted name carries.
   */
  lookup(name: string): FieldDef | undefined;
  /**
   * Like {@link lookup}, with the argument a dotted name implies: `evt.rawarg.res` resolves to
   * the `evt.rawarg` definition with `impliedArg` `res`. Exact names win over dotted forms
   * (`evt.type.is` is its own field, not `evt.type` with argument `is`).
   */
  resolve(name: string): FieldLookup | undefined;
  /** Every field, for listings. */
  all(): Iterable<FieldDef>;
}
