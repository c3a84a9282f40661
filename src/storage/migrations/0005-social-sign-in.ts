import type { Kysely } from 'kysely';
import type { DialectName } from '../dialect.js';

/**
 * Ids for the sign-in providers that have no QuickBlox user field: the
 * Firebase user id of phone sign-in, and the user id a custom identity
 * provider answers with. Each identifies one user per application.
 */
export function socialSignIn(_dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const column of ['firebase_uid', 'custom_identity_uid']) {
        await db.schema.alterTable('users').addColumn(column, 'text').execute();
        await db.schema.createIndex(`users_${column}`).on('users').columns(['application_id', column]).unique().execute();
      }
    },
  };
}
