import { type Kysely, sql } from 'kysely';

/**
 * Indexes for three blob queries that read every blob of an application (or
 * of the store) to answer (measured at 200,000 blobs, SQLite):
 * - the owner's page of all the application's blobs, newest first, sorted
 *   every row (13 ms): `(application_id, id)`;
 * - the bytes in use when `blob_storage_limit` is set, summed over every row
 *   on each upload plan and completion, the latter inside the write lock
 *   (55 ms): covered by `(application_id, blob_status, size)`;
 * - `blob gc` asking which stored objects some blob still refers to, a full
 *   scan per 500 objects (30 ms, ~12 s per run at 200,000 objects): partial
 *   indexes on the two keys.
 */
export function contentIndexes() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('blobs_app_id').on('blobs').columns(['application_id', 'id']).execute();
      await db.schema.createIndex('blobs_usage').on('blobs').columns(['application_id', 'blob_status', 'size']).execute();
      for (const column of ['store_key', 'pending_key']) {
        await db.schema
          .createIndex(`blobs_${column}`)
          .on('blobs')
          .column(column)
          .where(sql.ref(column), 'is not', null)
          .execute();
      }
    },
  };
}
