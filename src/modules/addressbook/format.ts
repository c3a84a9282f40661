import type { UserJson } from '../users/format.js';

/** A registered user as compact=1 asks for it: only what links them to a contact. */
export function compactUser(user: UserJson): { id: number; phone: string | null } {
  return { id: user.id, phone: user.phone };
}
