import { type Kysely, sql } from 'kysely';
import type { DialectName } from '../dialect.js';

/** The user columns GET /users.json may sort by that can be NULL, with whether their index is unique. */
const NULLABLE_SORTS: Array<[column: string, unique: boolean]> = [
  ['login', true],
  ['email', true],
  ['full_name', false],
  ['phone', false],
  ['website', false],
  ['last_request_at', false],
  ['external_user_id', true],
  ['facebook_id', true],
  ['twitter_id', true],
  ['twitter_digits_id', true],
];

/**
 * User lists sort NULLs first ascending and last descending on both databases
 * (SQLite's and MongoDB's order, so QuickBlox's). SQLite indexes already hold
 * NULLs first; PostgreSQL's default btree puts them last, so its indexes are
 * rebuilt NULLS FIRST (same names, same uniqueness), and a sorted page still
 * walks an index in either direction instead of sorting every row.
 */
export function usersNullsFirst(dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      for (const [column, unique] of NULLABLE_SORTS) {
        const name = sql.id(`users_${column}`);
        await sql`drop index if exists ${name}`.execute(db);
        await sql`create ${sql.raw(unique ? 'unique ' : '')}index ${name} on users (application_id, ${sql.id(column)} nulls first)`.execute(
          db,
        );
      }
    },
  };
}
