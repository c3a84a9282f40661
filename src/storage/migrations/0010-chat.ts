import type { Kysely } from 'kysely';
import type { DialectName } from '../dialect.js';

/**
 * Chat history: dialogs, one row per occupant with that user's state (unread
 * counter, hidden, notifications, and a copy of the dialog's sort key so a
 * user's dialog list is one index range), messages, and per-user hiding of
 * messages (a row per hidden message, never a copy of it). Unread counters
 * change with each write, never by counting at read time.
 */
export function chat(_dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('chat_dialogs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        /** 1 public group, 2 group, 3 private. */
        .addColumn('type', 'integer', (c) => c.notNull())
        /** The creator; no foreign key: a deleted user's dialogs stay readable. */
        .addColumn('user_id', 'bigint', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('photo', 'text')
        /** JSON array of the occupants' ids, ascending (the wire form; chat_occupants is the index). */
        .addColumn('occupants_ids', 'text', (c) => c.notNull())
        /** Private dialogs only: "<low id>:<high id>", unique per application, so a pair has one dialog. */
        .addColumn('private_pair', 'text')
        .addColumn('is_join_required', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('data_class', 'text')
        /** JSON object of the custom data, typed by the class named in data_class. */
        .addColumn('data', 'text')
        .addColumn('last_message', 'text')
        .addColumn('last_message_date_sent', 'bigint')
        .addColumn('last_message_user_id', 'bigint')
        .addColumn('last_message_id', 'text')
        /** last_message_date_sent, or the creation second before the first message: the non-null sort key of lists. */
        .addColumn('sort_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('chat_dialogs_private_pair')
        .on('chat_dialogs')
        .columns(['application_id', 'private_pair'])
        .unique()
        .execute();
      // Public dialogs are listed for everyone: their own range, in the default order.
      await db.schema
        .createIndex('chat_dialogs_by_type')
        .on('chat_dialogs')
        .columns(['application_id', 'type', 'sort_at', 'id'])
        .execute();

      await db.schema
        .createTable('chat_occupants')
        .addColumn('dialog_id', 'text', (c) => c.notNull().references('chat_dialogs.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.notNull())
        .addColumn('application_id', 'bigint', (c) => c.notNull())
        .addColumn('unread_count', 'bigint', (c) => c.notNull().defaultTo(0))
        /** 1 once the user deleted the dialog for themselves; a new message shows it again. */
        .addColumn('hidden', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('notifications', 'integer', (c) => c.notNull().defaultTo(1))
        /** The dialog's sort_at, kept here so the user's list is one index range. */
        .addColumn('sort_at', 'bigint', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('chat_occupants_pk', ['dialog_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('chat_occupants_by_user')
        .on('chat_occupants')
        .columns(['application_id', 'user_id', 'hidden', 'sort_at', 'dialog_id'])
        .execute();

      // A user's unread messages over all dialogs, kept with the per-dialog counters.
      await db.schema
        .createTable('chat_unread_totals')
        .addColumn('user_id', 'bigint', (c) => c.primaryKey())
        .addColumn('total', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();

      await db.schema
        .createTable('chat_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('dialog_id', 'text', (c) => c.notNull().references('chat_dialogs.id').onDelete('cascade'))
        .addColumn('application_id', 'bigint', (c) => c.notNull())
        .addColumn('sender_id', 'bigint', (c) => c.notNull())
        .addColumn('recipient_id', 'bigint')
        .addColumn('message', 'text', (c) => c.notNull())
        /** Unix seconds. */
        .addColumn('date_sent', 'bigint', (c) => c.notNull())
        /** JSON array of attachment objects. */
        .addColumn('attachments', 'text', (c) => c.notNull())
        /** ",image,video," : the attachments' types, for the attachments.type filter. */
        .addColumn('attachment_types', 'text', (c) => c.notNull())
        /** JSON object of the message's custom parameters. */
        .addColumn('custom', 'text', (c) => c.notNull())
        .addColumn('markable', 'integer', (c) => c.notNull().defaultTo(0))
        /** ",1,5," : who read / received it; the comma form lets SQL test membership. */
        .addColumn('read_ids', 'text', (c) => c.notNull())
        .addColumn('delivered_ids', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // The default order, and keyset-friendly paging within a dialog.
      await db.schema
        .createIndex('chat_messages_by_dialog')
        .on('chat_messages')
        .columns(['dialog_id', 'date_sent', 'id'])
        .execute();

      await db.schema
        .createTable('chat_hidden_messages')
        .addColumn('message_id', 'text', (c) => c.notNull().references('chat_messages.id').onDelete('cascade'))
        .addColumn('user_id', 'bigint', (c) => c.notNull())
        .addColumn('dialog_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('chat_hidden_messages_pk', ['message_id', 'user_id'])
        .execute();
      await db.schema
        .createIndex('chat_hidden_messages_by_user')
        .on('chat_hidden_messages')
        .columns(['user_id', 'dialog_id'])
        .execute();
    },
  };
}
