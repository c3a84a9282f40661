import { type Insertable, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { DialectName } from '../../storage/dialect.js';
import type { BlobTable, Database } from '../../storage/schema.js';

export type BlobRow = Selectable<BlobTable>;
export type NewBlobRow = Insertable<BlobTable>;
export type BlobChanges = Updateable<BlobTable>;

export class ContentStore {
  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
  ) {}

  insert(values: NewBlobRow): Promise<BlobRow> {
    return this.db.insertInto('blobs').values(values).returningAll().executeTakeFirstOrThrow();
  }

  byId(applicationId: number, id: number): Promise<BlobRow | undefined> {
    return this.db
      .selectFrom('blobs')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  byUid(uid: string): Promise<BlobRow | undefined> {
    return this.db.selectFrom('blobs').selectAll().where('uid', '=', uid).executeTakeFirst();
  }

  /** A page of blobs, newest first: a user's own, or the whole application's (userId undefined). */
  async page(applicationId: number, userId: number | null | undefined, offset: number, limit: number) {
    let query = this.db.selectFrom('blobs').where('application_id', '=', applicationId);
    if (userId !== undefined) query = userId === null ? query.where('user_id', 'is', null) : query.where('user_id', '=', userId);
    const [rows, count] = await Promise.all([
      query.selectAll().orderBy('id', 'desc').offset(offset).limit(limit).execute(),
      query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(count.n) };
  }

  update(applicationId: number, id: number, changes: BlobChanges): Promise<BlobRow | undefined> {
    return this.db
      .updateTable('blobs')
      .set(changes)
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Marks the pending upload complete, if the application's total stays
   * within `storageLimit` (null: no limit). One transaction; on PostgreSQL the
   * application's blobs are locked so two completions cannot both squeeze in.
   * Returns the updated row and the bytes it replaced, or 'over-limit'.
   */
  completeUpload(
    applicationId: number,
    id: number,
    pendingKey: string,
    size: number,
    storageLimit: number | null,
    now: number,
  ): Promise<{ row: BlobRow; replacedKey: string | null } | 'over-limit' | 'gone'> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') {
        await sql`select pg_advisory_xact_lock(${applicationId}, 6)`.execute(trx);
      }
      const current = await trx
        .selectFrom('blobs')
        .selectAll()
        .where('application_id', '=', applicationId)
        .where('id', '=', id)
        .where('pending_key', '=', pendingKey)
        .executeTakeFirst();
      if (!current) return 'gone';
      if (storageLimit !== null) {
        const used = await trx
          .selectFrom('blobs')
          .select((eb) => eb.fn.sum<number>('size').as('total'))
          .where('application_id', '=', applicationId)
          .where('blob_status', '=', 'complete')
          .where('id', '<>', id)
          .executeTakeFirstOrThrow();
        if (Number(used.total ?? 0) + size > storageLimit) return 'over-limit';
      }
      const row = await trx
        .updateTable('blobs')
        .set({
          store_key: pendingKey,
          pending_key: null,
          pending_expires_at: null,
          size,
          blob_status: 'complete',
          set_completed_at: now,
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { row, replacedKey: current.store_key };
    });
  }

  /** Bytes used by the application's completed blobs. */
  async usedBytes(applicationId: number): Promise<number> {
    const used = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.sum<number>('size').as('total'))
      .where('application_id', '=', applicationId)
      .where('blob_status', '=', 'complete')
      .executeTakeFirstOrThrow();
    return Number(used.total ?? 0);
  }

  delete(applicationId: number, id: number): Promise<BlobRow | undefined> {
    return this.db
      .deleteFrom('blobs')
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Uploads handed out before `now` and never completed: blobs that never got
   * bytes are deleted, completed blobs only forget their pending new version.
   * One transaction; returns the keys whose bytes may now be removed.
   */
  expireUploads(now: number): Promise<{ keys: string[]; blobsDeleted: number }> {
    return this.db.transaction().execute(async (trx) => {
      const expired = await trx
        .selectFrom('blobs')
        .select(['id', 'pending_key', 'blob_status'])
        .where('pending_expires_at', '<', now)
        .execute();
      const never = expired.filter((row) => row.blob_status !== 'complete').map((row) => row.id);
      const stale = expired.filter((row) => row.blob_status === 'complete').map((row) => row.id);
      for (let i = 0; i < never.length; i += 500) {
        await trx
          .deleteFrom('blobs')
          .where('id', 'in', never.slice(i, i + 500))
          .execute();
      }
      for (let i = 0; i < stale.length; i += 500) {
        await trx
          .updateTable('blobs')
          .set({ pending_key: null, pending_expires_at: null })
          .where('id', 'in', stale.slice(i, i + 500))
          .execute();
      }
      return { keys: expired.flatMap((row) => (row.pending_key ? [row.pending_key] : [])), blobsDeleted: never.length };
    });
  }

  /** Of these keys, those some blob still refers to (as its bytes or its pending upload). */
  async referenced(keys: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = await this.db
        .selectFrom('blobs')
        .select(['store_key', 'pending_key'])
        .where((eb) => eb.or([eb('store_key', 'in', chunk), eb('pending_key', 'in', chunk)]))
        .execute();
      for (const row of rows) {
        if (row.store_key) found.add(row.store_key);
        if (row.pending_key) found.add(row.pending_key);
      }
    }
    return found;
  }
}
