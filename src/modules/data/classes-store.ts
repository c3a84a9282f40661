import { type Kysely, type Selectable, sql } from 'kysely';
import { type DialectName, isUniqueViolation } from '../../storage/dialect.js';
import type { Database, DataClassTable } from '../../storage/schema.js';
import { columnsOf, type FieldDef, type FieldType, tableOf } from './fields.js';
import { RECORD_ACTIONS } from './permissions.js';

export type ClassRow = Selectable<DataClassTable>;

/** Column types per field type; the same words work in both dialects (SQLite reads their affinity). */
const COLUMN_TYPE: Record<FieldType, 'bigint' | 'double precision' | 'integer' | 'text'> = {
  Integer: 'bigint',
  Float: 'double precision',
  Boolean: 'integer',
  String: 'text',
  Array: 'text',
  File: 'text',
  Location: 'double precision',
  Date: 'bigint',
};

/** Predefined columns that get an index in every class table. */
const INDEXED_PREDEFINED = ['user_id', '_parent_id', 'created_at', 'updated_at'];

export class DuplicateClass extends Error {}

/**
 * The class catalogue and the DDL of each class's table. Table, column and
 * index names are built from the catalogue id and checked field names only
 * (see fields.ts); Kysely quotes them.
 */
export class ClassesStore {
  private readonly db: Kysely<Database>;
  constructor(
    db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {
    this.db = db;
  }

  byName(applicationId: number, name: string): Promise<ClassRow | undefined> {
    return this.db
      .selectFrom('data_classes')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  list(applicationId: number): Promise<ClassRow[]> {
    return this.db.selectFrom('data_classes').selectAll().where('application_id', '=', applicationId).orderBy('name').execute();
  }

  /** Ids of every class of an application (for _parent_id cascades across classes). */
  async ids(applicationId: number): Promise<number[]> {
    const rows = await this.db.selectFrom('data_classes').select('id').where('application_id', '=', applicationId).execute();
    return rows.map((row) => row.id);
  }

  /** The catalogue row and its table with indexes, in one transaction. */
  async create(applicationId: number, name: string, fields: FieldDef[], permissions: string, now: number): Promise<ClassRow> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('data_classes')
          .values({
            application_id: applicationId,
            name,
            fields: JSON.stringify(fields),
            permissions,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const table = tableOf(row.id);
        let create = trx.schema
          .createTable(table)
          .addColumn('_id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'bigint')
          .addColumn('_parent_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull());
        for (const action of RECORD_ACTIONS) {
          create = create
            .addColumn(`p_${action}`, 'text', (c) => c.notNull())
            .addColumn(`p_${action}_ids`, 'text')
            .addColumn(`p_${action}_groups`, 'text');
        }
        for (const field of fields) {
          for (const column of columnsOf(field)) create = create.addColumn(column, COLUMN_TYPE[field.type]);
        }
        await create.execute();
        for (const column of INDEXED_PREDEFINED) await createIndex(trx, this.dialect, table, [column]);
        for (const field of fields) if (field.indexed) await createIndex(trx, this.dialect, table, indexColumns(field));
        return row;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateClass(name);
      throw error;
    }
  }

  /** New field list and permissions, with the columns and indexes that follow, in one transaction. */
  async update(
    row: ClassRow,
    change: { fields: FieldDef[]; added: FieldDef[]; removed: FieldDef[]; indexed: FieldDef[]; unindexed: FieldDef[] },
    permissions: string,
    now: number,
  ): Promise<ClassRow> {
    const table = tableOf(row.id);
    return this.db.transaction().execute(async (trx) => {
      for (const field of [...change.removed, ...change.unindexed]) {
        for (const column of columnsOf(field)) await trx.schema.dropIndex(`${table}_${column}`).ifExists().execute();
      }
      for (const field of change.removed) {
        for (const column of columnsOf(field)) await trx.schema.alterTable(table).dropColumn(column).execute();
      }
      for (const field of change.added) {
        for (const column of columnsOf(field)) {
          await trx.schema.alterTable(table).addColumn(column, COLUMN_TYPE[field.type]).execute();
        }
      }
      for (const field of change.indexed) await createIndex(trx, this.dialect, table, indexColumns(field));
      return trx
        .updateTable('data_classes')
        .set({ fields: JSON.stringify(change.fields), permissions, updated_at: now })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  /** The catalogue row and the table, in one transaction. */
  async delete(row: ClassRow): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('data_classes').where('id', '=', row.id).execute();
      await trx.schema.dropTable(tableOf(row.id)).ifExists().execute();
    });
  }
}

/**
 * A field's index columns. A Location's starts with the latitude: near's
 * bounding box spans fewer degrees of latitude than of longitude (away from
 * the equator a degree of longitude is shorter), so fewer entries are read.
 */
function indexColumns(field: FieldDef): string[] {
  const columns = columnsOf(field);
  return field.type === 'Location' ? [...columns].reverse() : columns;
}

/**
 * Sorted queries end on `_id` (ties), so it closes every index and a sort
 * with a limit reads only the rows it returns; on PostgreSQL the first column
 * keeps missing values first, as the records store sorts them.
 */
function createIndex(trx: Kysely<Database>, dialect: DialectName, table: string, columns: string[]) {
  const items = columns.map((column, i) =>
    i === 0 && dialect === 'postgres' ? sql`${sql.ref(column)} nulls first` : sql`${sql.ref(column)}`,
  );
  let index = trx.schema
    .createIndex(`${table}_${columns[0]}`)
    .ifNotExists()
    .on(table)
    .expression(sql.join([...items, sql.ref('_id')]));
  // Most records have no parent, and every search by parent names one: those records need no entry (a page less per commit).
  if (columns[0] === '_parent_id') index = index.where(sql.ref('_parent_id'), 'is not', null);
  return index.execute();
}
