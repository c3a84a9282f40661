import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/** Address books: a user's contacts, one book per device udid ('' is the user's global book). */
export function addressBook(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('address_book_contacts')
        .addColumn('id', id, autoId(dialect))
        // A deleted user leaves no contacts behind.
        .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
        // '' rather than null: a null would make every global-book row distinct to the unique index.
        .addColumn('udid', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('phone', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // A contact is keyed by phone within its book; this index also serves the cascade from users.
      await db.schema
        .createIndex('address_book_contacts_phone')
        .on('address_book_contacts')
        .columns(['user_id', 'udid', 'phone'])
        .unique()
        .execute();
      // Books are read back in upload order.
      await db.schema
        .createIndex('address_book_contacts_order')
        .on('address_book_contacts')
        .columns(['user_id', 'udid', 'id'])
        .execute();
    },
  };
}
