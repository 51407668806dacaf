/**
 * Vigil's version, from package.json.
 */
import { readFileSync } from 'node:fs';

/** The version of this build of Vigil. */
export const version: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
