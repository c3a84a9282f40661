import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, UserEmailTokenTable } from '../../storage/schema.js';
import type { UserChanges, UserRow } from './store.js';

export type EmailTokenRow = Selectable<UserEmailTokenTable>;
export type EmailTokenPurpose = UserEmailTokenTable['purpose'];

/** The SQL of the single-use links that password reset and email confirmation mail out. */
export class EmailTokensStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a new token, replacing the user's earlier ones of the same purpose: only the newest link works. */
  issue(values: Insertable<UserEmailTokenTable>): Promise<EmailTokenRow> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('user_email_tokens')
        .where('user_id', '=', values.user_id)
        .where('purpose', '=', values.purpose)
        .execute();
      return trx.insertInto('user_email_tokens').values(values).returningAll().executeTakeFirstOrThrow();
    });
  }

  latest(userId: number, purpose: EmailTokenPurpose): Promise<EmailTokenRow | undefined> {
    return this.db
      .selectFrom('user_email_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  byHash(tokenHash: string): Promise<EmailTokenRow | undefined> {
    return this.db.selectFrom('user_email_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('user_email_tokens').where('id', '=', id).execute();
  }

  /**
   * Uses up an unused, unexpired token and applies the changes to its user,
   * in one transaction; of two requests with the same token only one gets
   * the row. Undefined when the token cannot be used, or when the user's
   * email is no longer the one the link was sent to.
   */
  redeem(tokenHash: string, purpose: EmailTokenPurpose, now: number, changes: UserChanges): Promise<UserRow | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const token = await trx
        .updateTable('user_email_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', tokenHash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      if (!token) return undefined;
      return trx
        .updateTable('users')
        .set(changes)
        .where('application_id', '=', token.application_id)
        .where('id', '=', token.user_id)
        .where('email', '=', token.email)
        .returningAll()
        .executeTakeFirst();
    });
  }
}
