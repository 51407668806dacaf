/**
 * Catalogue: user and group fields (`user.*`, `group.*`) — the identity a process runs as.
 *
 * Names and types follow libsinsp; descriptions are ours. An unknown uid is 4294967295 (-1 as
 * unsigned 32-bit), so `user.uid = -1` and `user.uid = 4294967295` are the same check.
 */
import type { FieldDef } from './types.js';
import { defineField, type FieldSpec } from './catalogue-support.js';

const specs: FieldSpec[] = [
  { name: 'user.uid', type: 'uint32', description: 'User id the process runs as.' },
  { name: 'user.name', type: 'charbuf', description: 'Name of the user the process runs as.' },
  { name: 'user.homedir', type: 'charbuf', description: 'Home directory of the user.' },
  { name: 'user.shell', type: 'charbuf', description: 'Login shell of the user.' },
  { name: 'user.loginuid', type: 'int64', description: 'Audit login user id (auid); -1 when not set.' },
  { name: 'user.loginname', type: 'charbuf', description: 'Name of the audit login user.' },
  { name: 'group.gid', type: 'uint32', description: 'Group id the process runs as.' },
  { name: 'group.name', type: 'charbuf', description: 'Name of the group the process runs as.' },
];

/** The user and group fields. */
export function userFields(): FieldDef[] {
  return specs.map(defineField);
}
