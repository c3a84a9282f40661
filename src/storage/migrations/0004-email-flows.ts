import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/**
 * Password reset and email confirmation: the single-use tokens their mails
 * carry (stored only as hashes), and whether a user's email still awaits
 * confirmation.
 */
export function emailFlows(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // 0 only while a sign-up under require_email_confirmation awaits its link; existing users count as confirmed.
      await db.schema
        .alterTable('users')
        .addColumn('email_confirmed', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();

      await db.schema
        .createTable('user_email_tokens')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        // The address the link went to: the link stops working if the user's email changes.
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      // One live token per user and purpose; this index also serves the cascade from users.
      await db.schema.createIndex('user_email_tokens_user').on('user_email_tokens').columns(['user_id', 'purpose']).execute();
    },
  };
}
