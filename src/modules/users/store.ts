import { type ExpressionBuilder, type Insertable, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import { type DialectName, syncIdentity } from '../../storage/dialect.js';
import type { Database, UserTable } from '../../storage/schema.js';
import type { Filter, Order } from './filters.js';

export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserChanges = Updateable<UserTable>;

/** Columns that hold a sign-in provider's id for the user; each is unique per application. */
export type ProviderColumn = 'facebook_id' | 'twitter_id' | 'firebase_uid' | 'custom_identity_uid';

/** Columns a single user can be found by. */
export type LookupColumn = 'login' | 'email' | 'phone' | 'facebook_id' | 'twitter_id' | 'twitter_digits_id' | 'external_user_id';

/** Who a push event addresses (see UsersService.recipientIds). */
export interface RecipientSelector {
  userIds: number[];
  externalIds: number[];
  tagsAny: string[];
  tagsAll: string[];
  tagsExclude: string[];
}

export interface Page {
  offset: number;
  limit: number;
}

/** What a re-import overwrites (everything but the id and the application). */
const IMPORTED_COLUMNS = [
  'login',
  'email',
  'password_hash',
  'full_name',
  'phone',
  'website',
  'facebook_id',
  'twitter_id',
  'twitter_digits_id',
  'firebase_uid',
  'custom_identity_uid',
  'external_user_id',
  'blob_id',
  'custom_data',
  'user_tags',
  'email_confirmed',
  'created_at',
  'updated_at',
] as const;

/** Sortable user columns that are never NULL. */
const NOT_NULL_SORTS = new Set(['id', 'created_at', 'updated_at']);
const SQL_OPS = { gt: '>', lt: '<', ge: '>=', le: '<=', eq: '=', ne: '<>' } as const;
const PHONES_PER_QUERY = 500;

export class UsersStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /** Inserts a user and their tags in one transaction. */
  insert(values: NewUserRow, tags: string[]): Promise<UserRow> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('users').values(values).returningAll().executeTakeFirstOrThrow();
      await insertTags(trx, row.application_id, row.id, tags);
      return row;
    });
  }

  /** Updates a user, replacing their tags when given, in one transaction. */
  update(applicationId: number, id: number, changes: UserChanges, tags: string[] | undefined): Promise<UserRow | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('users')
        .set(changes)
        .where('application_id', '=', applicationId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (row && tags !== undefined) {
        await trx.deleteFrom('users_tags').where('user_id', '=', id).execute();
        await insertTags(trx, applicationId, id, tags);
      }
      return row;
    });
  }

  /** Deletes a user; their sessions and tags go with them (foreign keys cascade). */
  async delete(applicationId: number, id: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('users')
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Users whose avatar is this blob lose it (the blob was deleted); index users_blob_id. */
  async clearBlob(applicationId: number, blobId: number, now: number): Promise<number> {
    const result = await this.db
      .updateTable('users')
      .set({ blob_id: null, updated_at: now })
      .where('application_id', '=', applicationId)
      .where('blob_id', '=', blobId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  byId(applicationId: number, id: number): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The email addresses of these users (one recipient batch of a push event), those that have one. */
  async emailsOf(applicationId: number, ids: number[]): Promise<Array<{ id: number; email: string }>> {
    if (ids.length === 0) return [];
    // By id alone, the application checked on the rows: with `application_id = ?` in SQL, SQLite read
    // every user of the application that has an email (users_email) for each batch.
    const rows = await this.db.selectFrom('users').select(['id', 'email', 'application_id']).where('id', 'in', ids).execute();
    const out: Array<{ id: number; email: string }> = [];
    for (const row of rows) if (row.application_id === applicationId && row.email) out.push({ id: row.id, email: row.email });
    return out;
  }

  by(applicationId: number, column: LookupColumn, value: string | number): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where(column, '=', value as never)
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
  }

  byLogin(applicationId: number, login: string): Promise<UserRow | undefined> {
    return this.by(applicationId, 'login', login);
  }

  byEmail(applicationId: number, email: string): Promise<UserRow | undefined> {
    return this.by(applicationId, 'email', email);
  }

  /** Users with any of the phones (index users_phone), by id; in chunks under both databases' parameter limits. */
  async byPhones(applicationId: number, phones: string[]): Promise<UserRow[]> {
    const rows: UserRow[] = [];
    for (let i = 0; i < phones.length; i += PHONES_PER_QUERY) {
      const chunk = phones.slice(i, i + PHONES_PER_QUERY);
      rows.push(
        ...(await this.db
          .selectFrom('users')
          .selectAll()
          .where('application_id', '=', applicationId)
          .where('phone', 'in', chunk)
          .execute()),
      );
    }
    // A user has one phone, so chunks of distinct phones never return a user twice.
    return rows.sort((a, b) => a.id - b.id);
  }

  /**
   * The user whose provider column holds this id, inserted from values when
   * there is none, in one transaction. When two first sign-ins race, the
   * unique index lets one insert win and the other reads the winner's row.
   * A clash on another unique column (login, email) still throws.
   */
  findOrCreateBy(
    applicationId: number,
    column: ProviderColumn,
    value: string,
    values: Omit<NewUserRow, 'application_id' | ProviderColumn>,
  ): Promise<{ row: UserRow; created: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const find = () =>
        trx
          .selectFrom('users')
          .selectAll()
          .where('application_id', '=', applicationId)
          .where(column, '=', value)
          .executeTakeFirst();
      const existing = await find();
      if (existing) return { row: existing, created: false };
      const inserted = await trx
        .insertInto('users')
        .values({ ...values, application_id: applicationId, [column]: value })
        .onConflict((oc) => oc.columns(['application_id', column]).doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) return { row: inserted, created: true };
      const winner = await find();
      if (!winner) throw new Error(`users.${column} conflict without a row`);
      return { row: winner, created: false };
    });
  }

  /** A page of users matching every filter. */
  listPage(applicationId: number, filters: Filter[], order: Order | null, page: Page): Promise<UserRow[]> {
    const direction = order?.direction ?? 'asc';
    // NULLs first ascending, last descending, as SQLite does by itself (migration 0011 indexes PostgreSQL so).
    // Said only for columns that can be NULL: PostgreSQL would not walk a plain index for "id asc nulls first".
    const field = order?.field ?? 'id';
    const postgres = this.dialect === 'postgres' && !NOT_NULL_SORTS.has(field);
    // SQLite has no statistics: with an eq or in filter on another column it still walked the sort
    // column's index in order, through the whole application when fewer rows than a page match (18-37 ms
    // at 200,000 users), instead of the filter's index and a sort of the few rows. A unary `+` takes the
    // sort columns out of the running (only then: an unfiltered page walks its index, as it should).
    const selective = this.dialect === 'sqlite' && filters.some((f) => (f.op === 'eq' || f.op === 'in') && f.field !== field);
    const sortBy = (column: string) => (selective ? sql`+${sql.ref(column)}` : sql.ref(column));
    return this.matching(applicationId, filters)
      .selectAll()
      .orderBy(sortBy(field), (ob) => {
        if (direction === 'asc') return postgres ? ob.asc().nullsFirst() : ob.asc();
        return postgres ? ob.desc().nullsLast() : ob.desc();
      })
      .orderBy(sortBy('id'), direction)
      .offset(page.offset)
      .limit(page.limit)
      .execute();
  }

  /** How many users match every filter. */
  async count(applicationId: number, filters: Filter[]): Promise<number> {
    const row = await this.matching(applicationId, filters)
      .select((eb) => eb.fn.countAll<number>().as('total'))
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }

  private matching(applicationId: number, filters: Filter[]) {
    return this.db
      .selectFrom('users')
      .where('application_id', '=', applicationId)
      .where((eb) => eb.and(filters.map((filter) => condition(eb, filter))));
  }

  /** Users whose full name contains the text, ignoring case. */
  async byFullName(applicationId: number, text: string, page: Page) {
    const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const base = this.db
      .selectFrom('users')
      .where('application_id', '=', applicationId)
      .where(sql<boolean>`lower(full_name) like ${pattern} escape '\\'`);
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy('id').offset(page.offset).limit(page.limit).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(total.total) };
  }

  /**
   * Ids of the users a push event addresses, ascending after `afterId`, at
   * most `limit`: those named by id or external id (when any are named),
   * narrowed by tags (any of, all of, none of).
   */
  async recipientIds(applicationId: number, selector: RecipientSelector, afterId: number, limit: number): Promise<number[]> {
    const tagged = (tags: string[]) =>
      this.db.selectFrom('users_tags').select('user_id').where('application_id', '=', applicationId).where('tag', 'in', tags);
    let query = this.db.selectFrom('users').select('id').where('application_id', '=', applicationId).where('id', '>', afterId);
    const { userIds, externalIds, tagsAny, tagsAll, tagsExclude } = selector;
    // At most one condition is an IN list of user ids, the rest probe users_tags by its primary key:
    // SQLite binds every such list to the same index column and loops over their product (two tag
    // lists at 200,000 users: seconds per batch), and an OR of ids and external ids walked the
    // application's users from afterId on.
    const filters: Array<{ tags: string[] }> = [
      ...(tagsAny.length > 0 ? [{ tags: tagsAny }] : []),
      ...tagsAll.map((tag) => ({ tags: [tag] })),
    ];
    if (userIds.length > 0 || externalIds.length > 0) {
      const byExternal = this.db
        .selectFrom('users')
        .select('id')
        .where('application_id', '=', applicationId)
        .where('external_user_id', 'in', externalIds);
      if (externalIds.length === 0) query = query.where('id', 'in', userIds);
      else if (userIds.length === 0) query = query.where('id', 'in', byExternal);
      else
        query = query.where('id', 'in', this.db.selectFrom('users').select('id').where('id', 'in', userIds).unionAll(byExternal));
    } else {
      const driving = filters.shift();
      if (driving) query = query.where('id', 'in', tagged(driving.tags));
    }
    for (const { tags } of filters) {
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('users_tags as t').select('t.user_id').whereRef('t.user_id', '=', 'users.id').where('t.tag', 'in', tags),
        ),
      );
    }
    if (tagsExclude.length > 0) query = query.where('id', 'not in', tagged(tagsExclude));
    const rows = await query.orderBy('id').limit(limit).execute();
    return rows.map((row) => row.id);
  }

  /** Users with any of the tags. */
  async byTags(applicationId: number, tags: string[], page: Page) {
    const matching = this.db
      .selectFrom('users_tags')
      .select('user_id')
      .where('application_id', '=', applicationId)
      .where('tag', 'in', tags);
    // The total from the tags alone (an index-only count): each tag row is its user's, in the user's
    // application, and goes with the user (foreign key, on delete cascade).
    const [rows, total] = await Promise.all([
      this.db
        .selectFrom('users')
        .selectAll()
        .where('application_id', '=', applicationId)
        .where('id', 'in', matching)
        .orderBy('id')
        .offset(page.offset)
        .limit(page.limit)
        .execute(),
      matching
        .clearSelect()
        .select((eb) => eb.fn.count<number>('user_id').distinct().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(total.total) };
  }

  /**
   * Writes imported users, keeping their ids, in one transaction: new ids are
   * inserted, ids of this application updated, and their tags replaced.
   * Returns the ids that belong to another application (left untouched).
   */
  importBatch(applicationId: number, users: Array<{ row: NewUserRow & { id: number }; tags: string[] }>): Promise<number[]> {
    return this.db.transaction().execute(async (trx) => {
      const ids = users.map((u) => u.row.id);
      const taken = await trx
        .selectFrom('users')
        .select('id')
        .where('id', 'in', ids)
        .where('application_id', '<>', applicationId)
        .execute();
      const foreign = new Set(taken.map((t) => t.id));
      const mine = users.filter((u) => !foreign.has(u.row.id));
      if (mine.length === 0) return [...foreign];
      const inserted = await trx
        .insertInto('users')
        .values(mine.map((u) => u.row))
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet((eb) => {
              const set: Record<string, unknown> = {};
              for (const column of IMPORTED_COLUMNS) set[column] = eb.ref(`excluded.${column}`);
              return set;
            })
            // A sign-up in another application may take one of these ids after the check above
            // (PostgreSQL, before syncIdentity): that user is left alone and the line counts as foreign.
            .where('users.application_id', '=', applicationId),
        )
        .returning('id')
        .execute();
      const written = new Set(inserted.map((r) => r.id));
      for (const u of mine) if (!written.has(u.row.id)) foreign.add(u.row.id);
      if (written.size === 0) return [...foreign];
      // Only the rows written: a foreign id's tags belong to the other application's user.
      await trx
        .deleteFrom('users_tags')
        .where('user_id', 'in', [...written])
        .execute();
      const tags = mine
        .filter((u) => written.has(u.row.id))
        .flatMap((u) => u.tags.map((tag) => ({ application_id: applicationId, user_id: u.row.id, tag })));
      if (tags.length > 0) await trx.insertInto('users_tags').values(tags).execute();
      await syncIdentity(trx, this.dialect, 'users');
      return [...foreign];
    });
  }

  /**
   * After a bulk import on PostgreSQL: until autovacuum gets to it (after
   * about a tenth of a table changes), the planner has no statistics for what
   * was imported and guesses plans that read the whole application (the plan
   * audit: 14-84 ms instead of under 2.5 ms at 200k users). SQLite has none
   * by design; its queries are written for that.
   */
  async refreshStatistics(): Promise<void> {
    if (this.dialect === 'postgres') await sql`analyze users, users_tags`.execute(this.db);
  }

  /** Users of an application with ids above `afterId`, in id order, for export. */
  exportPage(applicationId: number, afterId: number, limit: number): Promise<UserRow[]> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * Writes a batch of last-request times in one transaction. A time only ever
   * moves forward: another node may have written a later one already.
   */
  async saveLastRequest(entries: Array<[userId: number, at: number]>): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const [userId, at] of entries) {
        await trx
          .updateTable('users')
          .set({ last_request_at: at })
          .where('id', '=', userId)
          .where((eb) => eb.or([eb('last_request_at', 'is', null), eb('last_request_at', '<', at)]))
          .execute();
      }
    });
  }
}

function insertTags(trx: Kysely<Database>, applicationId: number, userId: number, tags: string[]) {
  if (tags.length === 0) return Promise.resolve();
  return trx
    .insertInto('users_tags')
    .values(tags.map((tag) => ({ application_id: applicationId, user_id: userId, tag })))
    .execute();
}

/** One filter as SQL; field names come from a fixed list, values are bound parameters. */
function condition(eb: ExpressionBuilder<Database, 'users'>, filter: Filter) {
  const column = sql.ref<string | number>(filter.field);
  switch (filter.op) {
    case 'in':
      return eb(column, 'in', filter.values);
    case 'between':
      return eb.and([eb(column, '>=', filter.values[0] ?? null), eb(column, '<=', filter.values[1] ?? null)]);
    default:
      return eb(column, SQL_OPS[filter.op], filter.values[0] ?? null);
  }
}
