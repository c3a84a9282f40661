import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/** Accounts, applications, API keys, users and sessions. */
export function foundation(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('accounts')
        .addColumn('id', id, autoId(dialect))
        .addColumn('owner_email', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('account_key', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('applications')
        .addColumn('id', id, autoId(dialect))
        .addColumn('account_id', 'bigint', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('auth_key', 'text', (c) => c.notNull().unique())
        .addColumn('auth_secret', 'text', (c) => c.notNull())
        .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('login', 'text')
        .addColumn('email', 'text')
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('full_name', 'text')
        .addColumn('phone', 'text')
        .addColumn('website', 'text')
        .addColumn('facebook_id', 'text')
        .addColumn('twitter_id', 'text')
        .addColumn('twitter_digits_id', 'text')
        .addColumn('external_user_id', 'bigint')
        .addColumn('blob_id', 'bigint')
        .addColumn('custom_data', 'text')
        .addColumn('user_tags', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('last_request_at', 'bigint')
        .execute();
      // Logins and emails are unique within an application.
      await db.schema.createIndex('users_login').on('users').columns(['application_id', 'login']).unique().execute();
      await db.schema.createIndex('users_email').on('users').columns(['application_id', 'email']).unique().execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', id, autoId(dialect))
        .addColumn('public_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('nonce', 'bigint', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id']).execute();
      await db.schema.createIndex('sessions_last_used').on('sessions').columns(['last_used_at']).execute();

      await db.schema
        .createTable('session_signatures')
        .addColumn('application_id', 'bigint', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('session_signatures_pk', ['application_id', 'signature'])
        .execute();
      await db.schema.createIndex('session_signatures_expiry').on('session_signatures').columns(['expires_at']).execute();
    },
  };
}
