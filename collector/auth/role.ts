/**
 * Roles of API callers, in increasing power: a `viewer` reads alerts and agents, a `responder`
 * also acts on them (quarantine, release), an `admin` also manages the collector (tokens,
 * configuration). Each role includes the ones below it.
 */

/** Every role, least powerful first. */
export const ROLES = ['viewer', 'responder', 'admin'] as const;

/** A role a token carries and a route requires. */
export type Role = (typeof ROLES)[number];

/** Parses a role name (exact, lower case); undefined when it names none. */
export function parseRole(text: string): Role | undefined {
  return (ROLES as readonly string[]).includes(text) ? (text as Role) : undefined;
}

/**
 * True when `role` may do what `required` may.
 *
 * @example roleAtLeast('admin', 'responder') === true; roleAtLeast('viewer', 'responder') === false
 */
export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}
