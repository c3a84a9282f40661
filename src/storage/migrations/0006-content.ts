import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/**
 * Blobs (the Content API): the record of a file whose bytes live in the
 * BlobStore. `store_key` names the bytes of the completed version;
 * `pending_key` an upload handed out and not yet completed, until
 * `pending_expires_at`, after which the collector removes it.
 */
export function content(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('blobs')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        // A deleted user's blobs go too; their bytes are then orphans the collector finds.
        .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('uid', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('tag_list', 'text')
        .addColumn('size', 'bigint')
        .addColumn('blob_status', 'text')
        .addColumn('store_key', 'text')
        .addColumn('pending_key', 'text')
        .addColumn('pending_expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('set_completed_at', 'bigint')
        .execute();
      // A user's own blobs, newest first; also serves the cascade from users.
      await db.schema.createIndex('blobs_user').on('blobs').columns(['application_id', 'user_id', 'id']).execute();
      await db.schema.createIndex('blobs_user_id').on('blobs').column('user_id').execute();
      // Deleting a blob clears the avatars that point at it (UsersService.clearBlob).
      await db.schema.createIndex('users_blob_id').on('users').columns(['application_id', 'blob_id']).execute();
      // The collector's scan for expired uploads.
      await db.schema.createIndex('blobs_pending').on('blobs').column('pending_expires_at').execute();
    },
  };
}
