import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/**
 * Push notifications: device subscriptions, events (one-shot and scheduled)
 * with their delivery counters, one row per delivered occurrence (the lease
 * that makes every occurrence go out once, whichever node claims it), and
 * per-application gateway credentials (encrypted).
 */
export function push(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('push_subscriptions')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('udid', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('bundle_identifier', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // One subscription per device, channel and app bundle: subscribing again replaces it.
      await db.schema
        .createIndex('push_subscriptions_device')
        .on('push_subscriptions')
        .columns(['application_id', 'udid', 'channel', 'bundle_identifier'])
        .unique()
        .execute();
      // A user's subscriptions (listing, delivery); also serves the cascade from users.
      await db.schema.createIndex('push_subscriptions_user').on('push_subscriptions').columns(['user_id', 'channel']).execute();

      await db.schema
        .createTable('push_events')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('notification_type', 'text', (c) => c.notNull())
        /** apns, apns_voip, gcm, email, or null for a universal push. */
        .addColumn('push_type', 'text')
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('date', 'bigint')
        .addColumn('end_date', 'bigint')
        .addColumn('period', 'bigint')
        .addColumn('occured_count', 'bigint', (c) => c.notNull().defaultTo(0))
        /** JSON: user_ids, external_user_ids, tags_any, tags_all, tags_exclude. */
        .addColumn('recipients', 'text', (c) => c.notNull())
        /** When the next occurrence is due, or null when none is. */
        .addColumn('next_run_at', 'bigint')
        .addColumn('sent_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('removed_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('push_events_owner').on('push_events').columns(['application_id', 'user_id', 'id']).execute();
      await db.schema.createIndex('push_events_user_id').on('push_events').column('user_id').execute();
      await db.schema.createIndex('push_events_due').on('push_events').column('next_run_at').execute();

      // Inserting (event_id, occurrence) is the claim: the primary key lets exactly one node win it.
      await db.schema
        .createTable('push_event_runs')
        .addColumn('event_id', 'bigint', (c) => c.notNull().references('push_events.id').onDelete('cascade'))
        .addColumn('occurrence', 'bigint', (c) => c.notNull())
        .addColumn('claimed_by', 'text', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addPrimaryKeyConstraint('push_event_runs_pk', ['event_id', 'occurrence'])
        .execute();

      await db.schema
        .createTable('push_credentials')
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        /** apns or fcm */
        .addColumn('service', 'text', (c) => c.notNull())
        /** AES-256-GCM of the JSON credentials, under the key from PUSH_CREDENTIALS_KEY. */
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('push_credentials_pk', ['application_id', 'service'])
        .execute();
    },
  };
}
