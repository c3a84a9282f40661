import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionTable } from '../../storage/schema.js';

export type SessionRow = Selectable<SessionTable>;

/** A session row to insert, with the signature that created it. */
export interface NewSession {
  session: Omit<SessionRow, 'id'>;
  signature: { signature: string; expires_at: number };
}

export class SessionsStore {
  constructor(private readonly db: Kysely<Database>) {}

  signatureSeen(applicationId: number, signature: string): Promise<boolean> {
    return this.db
      .selectFrom('session_signatures')
      .select('signature')
      .where('application_id', '=', applicationId)
      .where('signature', '=', signature)
      .executeTakeFirst()
      .then((row) => row !== undefined);
  }

  /** Records the signature and the session together; a replayed signature fails the unique key. */
  insertWithSignature(
    session: Omit<SessionRow, 'id'>,
    signature: { signature: string; expires_at: number },
  ): Promise<SessionRow> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('session_signatures')
        .values({ application_id: session.application_id, ...signature })
        .execute();
      return trx.insertInto('sessions').values(session).returningAll().executeTakeFirstOrThrow();
    });
  }

  /**
   * Records many sessions and their signatures in one transaction (group
   * commit). A signature already recorded is skipped: its slot in the result
   * is null. Returns the rows in the order given.
   */
  insertManyWithSignatures(items: ReadonlyArray<NewSession>): Promise<Array<SessionRow | null>> {
    return this.db.transaction().execute(async (trx) => {
      const replayed = new Set<string>();
      const byApp = new Map<number, string[]>();
      for (const { session, signature } of items) {
        const list = byApp.get(session.application_id);
        if (list) list.push(signature.signature);
        else byApp.set(session.application_id, [signature.signature]);
      }
      for (const [applicationId, signatures] of byApp) {
        const seen = await trx
          .selectFrom('session_signatures')
          .select('signature')
          .where('application_id', '=', applicationId)
          .where('signature', 'in', signatures)
          .execute();
        for (const row of seen) replayed.add(`${applicationId} ${row.signature}`);
      }
      const fresh = items.filter((item) => !replayed.has(`${item.session.application_id} ${item.signature.signature}`));
      if (fresh.length === 0) return items.map(() => null);
      await trx
        .insertInto('session_signatures')
        .values(fresh.map(({ session, signature }) => ({ application_id: session.application_id, ...signature })))
        .execute();
      const rows = await trx
        .insertInto('sessions')
        .values(fresh.map((item) => item.session))
        .returningAll()
        .execute();
      // RETURNING promises no order; token hashes are unique.
      const byHash = new Map(rows.map((row) => [row.token_hash, row]));
      return items.map((item) => {
        if (replayed.has(`${item.session.application_id} ${item.signature.signature}`)) return null;
        const row = byHash.get(item.session.token_hash);
        if (!row) throw new Error('an inserted session was not returned');
        return row;
      });
    });
  }

  byTokenHash(tokenHash: string): Promise<SessionRow | undefined> {
    return this.db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  async delete(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
  }

  async deleteByUser(applicationId: number, userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('application_id', '=', applicationId).where('user_id', '=', userId).execute();
  }

  async setUser(tokenHash: string, userId: number | null, now: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ user_id: userId, updated_at: now, last_used_at: now })
      .where('token_hash', '=', tokenHash)
      .execute();
  }

  /** Writes a batch of last-use times in one transaction. */
  async saveLastUse(entries: Array<[tokenHash: string, lastUsedAt: number]>): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const [tokenHash, lastUsedAt] of entries) {
        await trx
          .updateTable('sessions')
          .set({ last_used_at: lastUsedAt })
          .where('token_hash', '=', tokenHash)
          .where('last_used_at', '<', lastUsedAt)
          .execute();
      }
    });
  }

  async deleteIdleBefore(cutoff: number): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('last_used_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteSignaturesBefore(cutoff: number): Promise<void> {
    await this.db.deleteFrom('session_signatures').where('expires_at', '<', cutoff).execute();
  }
}
