import type { Kysely, Selectable } from 'kysely';
import { type DialectName, syncIdentity } from '../../storage/dialect.js';
import type { AccountTable, ApiKeyTable, ApplicationTable, Database } from '../../storage/schema.js';

export type AccountRow = Selectable<AccountTable>;
export type ApplicationRow = Selectable<ApplicationTable>;
export type ApiKeyRow = Selectable<ApiKeyTable>;

export class AppsStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  insertAccount(values: Omit<AccountRow, 'id'>): Promise<AccountRow> {
    return this.db.insertInto('accounts').values(values).returningAll().executeTakeFirstOrThrow();
  }

  firstAccount(): Promise<AccountRow | undefined> {
    return this.db.selectFrom('accounts').selectAll().orderBy('id').limit(1).executeTakeFirst();
  }

  accountByKey(accountKey: string): Promise<AccountRow | undefined> {
    return this.db.selectFrom('accounts').selectAll().where('account_key', '=', accountKey).executeTakeFirst();
  }

  accountById(id: number): Promise<AccountRow | undefined> {
    return this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertApplication(values: Omit<ApplicationRow, 'id'> & { id?: number }): Promise<ApplicationRow> {
    const row = await this.db.insertInto('applications').values(values).returningAll().executeTakeFirstOrThrow();
    if (values.id !== undefined) await syncIdentity(this.db, this.dialect, 'applications');
    return row;
  }

  application(id: number): Promise<ApplicationRow | undefined> {
    return this.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Replaces an application's settings JSON; false when there is no such application. */
  async updateSettings(id: number, settings: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('applications')
      .set({ settings, updated_at: now })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  applications(): Promise<ApplicationRow[]> {
    return this.db.selectFrom('applications').selectAll().orderBy('id').execute();
  }

  insertApiKey(values: Omit<ApiKeyRow, 'id'>): Promise<ApiKeyRow> {
    return this.db.insertInto('api_keys').values(values).returningAll().executeTakeFirstOrThrow();
  }

  apiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
  }
}
