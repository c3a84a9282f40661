import { type Kysely, sql, type Transaction } from 'kysely';
import { type DialectName, isDeadlock } from '../../storage/dialect.js';
import type { Database } from '../../storage/schema.js';
import type { BookChanges, Contact } from './upload-plan.js';

/** Rows per statement: well under SQLite's and PostgreSQL's limits on bound parameters. */
const CHUNK = 200;

/** First key of the PostgreSQL advisory locks taken here (any constant no other lock uses); the second is the user id. */
const LOCK_NAMESPACE = 0x41_42_4b;
const ATTEMPTS = 3;

/** A book as an upload sees it, read inside the upload's transaction. */
export interface BookState {
  contacts: Contact[];
  /** How many other non-empty books the user has. */
  otherBooks: number;
}

export class AddressBookStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /** The contacts of a book in upload order. */
  contacts(userId: number, udid: string): Promise<Contact[]> {
    return contactsOf(this.db, userId, udid);
  }

  /**
   * Reads the book, asks `plan` what to change and writes that, all in one
   * transaction; an error thrown by `plan` writes nothing. A user's uploads
   * take turns, so each plans on the book it writes and the caps hold.
   */
  async write(userId: number, udid: string, now: number, plan: (book: BookState) => BookChanges): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction().execute(async (trx) => {
          await this.lockUser(trx, userId);
          const contacts = await contactsOf(trx, userId, udid);
          const others = await trx
            .selectFrom('address_book_contacts')
            .select((eb) => eb.fn.count<number>('udid').distinct().as('books'))
            .where('user_id', '=', userId)
            .where('udid', '<>', udid)
            .executeTakeFirstOrThrow();
          const changes = plan({ contacts, otherBooks: Number(others.books) });
          await apply(trx, userId, udid, now, changes);
        });
        return;
      } catch (error) {
        // Deleting the user cascades into these rows and can deadlock with an upload; the retry then meets the user gone.
        if (!isDeadlock(error) || attempt >= ATTEMPTS) throw error;
      }
    }
  }

  /** SQLite runs one transaction at a time; PostgreSQL needs a lock, held until commit. */
  private async lockUser(trx: Transaction<Database>, userId: number): Promise<void> {
    if (this.dialect !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(${LOCK_NAMESPACE}::int, ${userId % 2 ** 31}::int)`.execute(trx);
  }
}

function contactsOf(db: Kysely<Database>, userId: number, udid: string): Promise<Contact[]> {
  return db
    .selectFrom('address_book_contacts')
    .select(['phone', 'name'])
    .where('user_id', '=', userId)
    .where('udid', '=', udid)
    .orderBy('id')
    .execute();
}

async function apply(trx: Transaction<Database>, userId: number, udid: string, now: number, changes: BookChanges) {
  const book = trx.deleteFrom('address_book_contacts').where('user_id', '=', userId).where('udid', '=', udid);
  if (changes.clear) await book.execute();
  for (const phones of chunks(changes.deletions)) await book.where('phone', 'in', phones).execute();
  for (const contacts of chunks(changes.upserts)) {
    await trx
      .insertInto('address_book_contacts')
      .values(contacts.map((c) => ({ user_id: userId, udid, phone: c.phone, name: c.name, created_at: now, updated_at: now })))
      // An upload running at the same time may have added the phone since the book was read.
      .onConflict((oc) =>
        oc.columns(['user_id', 'udid', 'phone']).doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}
