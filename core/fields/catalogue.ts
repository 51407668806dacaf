/**
 * The catalogue of built-in fields: every field the upstream Falco rules use, the fields of
 * sysdig's JSON exports, and the rest of the common syscall fields, by class.
 */
import type { FieldDef } from './types.js';
import { containerFields } from './catalogue-container.js';
import { eventFields } from './catalogue-evt.js';
import { descriptorFields } from './catalogue-fd.js';
import { processFields } from './catalogue-proc.js';
import { userFields } from './catalogue-user.js';

/** Builds the definitions of every built-in field. */
export function builtinFields(): FieldDef[] {
  return [...eventFields(), ...processFields(), ...userFields(), ...descriptorFields(), ...containerFields()];
}
