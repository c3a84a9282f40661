import SQLite from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/storage/schema.js';
import type { TestServer } from './server.js';

/**
 * A second connection to a test server's database that records the SQL a store
 * sends through it, and says whether the database would sort to answer a
 * query: SQLite's plan says "USE TEMP B-TREE FOR ORDER BY"; PostgreSQL, with
 * sorting priced out of reach (enable_sort off), still shows a Sort node only
 * when no index gives the order. A query that sorts reads every row it matches
 * for each page, however few it returns.
 */
export interface PlanProbe {
  /** Hand this to the store under test. */
  db: Kysely<Database>;
  /** The queries sent through `db` since the last `take()`. */
  take(): CompiledQuery[];
  sorts(query: CompiledQuery): Promise<boolean>;
  close(): Promise<void>;
}

export function planProbe(server: TestServer): PlanProbe {
  let sent: CompiledQuery[] = [];
  const log = (event: { level: string; query: CompiledQuery }) => {
    if (event.level === 'query') sent.push(event.query);
  };
  const database = server.config.database;
  const take = () => {
    const taken = sent;
    sent = [];
    return taken;
  };
  if (database.kind === 'sqlite') {
    const connection = new SQLite(database.file);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }), log });
    return {
      db,
      take,
      async sorts(query) {
        const rows = connection.prepare(`explain query plan ${query.sql}`).all(...query.parameters) as Array<{ detail: string }>;
        return rows.some((row) => row.detail.includes('TEMP B-TREE FOR ORDER BY'));
      },
      close: () => db.destroy(),
    };
  }
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 1 }) }),
    log,
  });
  return {
    db,
    take,
    sorts: (query) =>
      db.transaction().execute(async (trx) => {
        await sql`set local enable_sort = off`.execute(trx);
        const plan = await trx.executeQuery<{ 'QUERY PLAN': string }>({ ...query, sql: `explain ${query.sql}` });
        return plan.rows.some((row) => /\bSort\b/.test(row['QUERY PLAN']));
      }),
    close: () => db.destroy(),
  };
}
