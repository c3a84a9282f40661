import type { Kysely } from 'kysely';
import type { DialectName } from '../dialect.js';

/** Indexes for every documented user filter and sort, and the tag table behind by_tags. */
export function usersApi(_dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users_tags')
        .addColumn('application_id', 'bigint', (c) => c.notNull())
        .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('tag', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('users_tags_pk', ['user_id', 'tag'])
        .execute();
      await db.schema.createIndex('users_tags_lookup').on('users_tags').columns(['application_id', 'tag', 'user_id']).execute();

      for (const column of ['full_name', 'phone', 'website', 'created_at', 'updated_at', 'last_request_at']) {
        await db.schema.createIndex(`users_${column}`).on('users').columns(['application_id', column]).execute();
      }
      // Ids from other registries identify one user each (social sign-in finds users by them).
      for (const column of ['external_user_id', 'facebook_id', 'twitter_id', 'twitter_digits_id']) {
        await db.schema.createIndex(`users_${column}`).on('users').columns(['application_id', column]).unique().execute();
      }
      // (application_id, id) is covered by the id primary key plus the application filter;
      // an explicit index lets "where application_id = ? order by id" walk it in order.
      await db.schema.createIndex('users_app_id').on('users').columns(['application_id', 'id']).execute();
    },
  };
}
