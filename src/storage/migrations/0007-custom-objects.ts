import type { Kysely } from 'kysely';
import { autoId, type DialectName, idType } from '../dialect.js';

/**
 * Custom objects: the catalogue of classes. Each class's records live in a
 * table of their own, `co_<id>`, created and altered at run time by the data
 * module's store; `fields` and `permissions` are JSON.
 */
export function customObjects(dialect: DialectName) {
  const id = idType(dialect);
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('data_classes')
        .addColumn('id', id, autoId(dialect))
        .addColumn('application_id', 'bigint', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('fields', 'text', (c) => c.notNull())
        .addColumn('permissions', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('data_classes_name', ['application_id', 'name'])
        .execute();
    },
  };
}
