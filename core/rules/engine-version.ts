/**
 * Versions the rule loader checks: the Falco engine version Vigil claims to implement (rule files
 * state `required_engine_version`), and the plugins Vigil provides natively (rule files state
 * `required_plugin_versions`).
 */

/**
 * The Falco rules-engine version Vigil implements: the rule file semantics and condition grammar
 * of Falco's engine 0.63.0 (operator modifiers, transformers, `override`, exceptions).
 */
export const VIGIL_ENGINE_VERSION = '0.63.0';

/**
 * Plugins whose fields Vigil provides itself, with the plugin version whose field set it covers.
 * Falco's `container` plugin supplies `container.*` (and the container parts of `k8s.*`); Vigil's
 * agent fills those fields from its own container and pod metadata.
 */
export const BUILTIN_PLUGIN_VERSIONS: ReadonlyMap<string, string> = new Map([['container', '0.5.0']]);

/** A parsed `major.minor.patch` version. */
export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Parses `x.y.z` (a pre-release or build suffix is accepted and ignored). Returns undefined for
 * anything else.
 */
export function parseSemVer(text: string): SemVer | undefined {
  const m = SEMVER.exec(text.trim());
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/**
 * Reads a `required_engine_version` value: a semver string, or the legacy bare number `N` that
 * Falco reads as `0.N.0`.
 */
export function parseEngineVersion(text: string): SemVer | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { major: 0, minor: Number(trimmed), patch: 0 };
  return parseSemVer(trimmed);
}

/** Orders versions: negative when `a` is older than `b`. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * True when something at version `provided` satisfies a requirement for `required`: the same
 * major version, and not older.
 */
export function satisfies(provided: SemVer, required: SemVer): boolean {
  return provided.major === required.major && compareSemVer(provided, required) >= 0;
}

/** Prints a version as `x.y.z`. */
export function formatSemVer(v: SemVer): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}
