import { type ColumnDefinitionBuilder, type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

/** Column builder for an auto-incrementing integer primary key in either dialect. */
export function autoId(dialect: DialectName) {
  return (column: ColumnDefinitionBuilder) =>
    dialect === 'sqlite' ? column.primaryKey().autoIncrement() : column.primaryKey().generatedByDefaultAsIdentity();
}

/** The integer type used for ids and unix-millisecond times. */
export function idType(dialect: DialectName): 'integer' | 'bigint' {
  return dialect === 'sqlite' ? 'integer' : 'bigint';
}

/** True when a database error is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when a row names a parent that does not exist (any more), in either dialect. */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * True when a statement names a table or column the database does not have: a schema another
 * process (the CLI, another node) changed after this one read it.
 */
export function isMissingTableOrColumn(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e?.code === '42P01' || e?.code === '42703') return true;
  return e?.code === 'SQLITE_ERROR' && /^(no such (table|column)|table \S+ has no column named)/.test(e.message ?? '');
}

/** True when PostgreSQL aborted the transaction to break a deadlock; running it again may succeed. */
export function isDeadlock(error: unknown): boolean {
  return (error as { code?: string })?.code === '40P01';
}

/**
 * After rows were inserted with explicit ids, move PostgreSQL's identity
 * sequence past them so later generated ids do not collide.
 */
export async function syncIdentity(db: Kysely<Database>, dialect: DialectName, table: string): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`select setval(pg_get_serial_sequence(${table}, 'id'), greatest((select max(id) from ${sql.table(table)}), 1))`.execute(
    db,
  );
}
