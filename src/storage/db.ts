import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteAdapter, type SqliteDatabase, SqliteDialect, sql } from 'kysely';
import type PG from 'pg';
import type { Config } from '../config.js';
import type { DialectName } from './dialect.js';
import type { Database } from './schema.js';

export interface Storage {
  db: Kysely<Database>;
  dialect: DialectName;
  close(): Promise<void>;
}

/** SQLite DDL is transactional, so let migrations run inside one transaction. */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class SwitchboardSqliteDialect extends SqliteDialect {
  override createAdapter() {
    return new TransactionalSqliteAdapter();
  }
}

// Loaded only for PostgreSQL: on the embedded default the driver would be idle memory.
const require = createRequire(import.meta.url);

// PostgreSQL bigint (int8) arrives as a string by default; our ids and
// millisecond times fit in a double.
function pgTypes(pg: typeof PG) {
  return {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === 20) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format);
    },
  };
}

export function openStorage(database: Config['database']): Storage {
  if (database.kind === 'sqlite') {
    mkdirSync(dirname(database.file), { recursive: true });
    const connection = new SQLite(database.file);
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SwitchboardSqliteDialect({ database: withStatementCache(connection) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const pg = require('pg') as typeof PG;
  const pool = new pg.Pool({ connectionString: database.url, max: 10, types: pgTypes(pg) });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

const STATEMENT_CACHE_MAX = 500;

/**
 * Kysely prepares every query anew; preparing costs more than running most of
 * ours. Statements are kept by SQL text (the most recently used 500), and one
 * that is still being iterated (a streamed query) is never handed out twice.
 */
function withStatementCache(connection: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    prepare(sql: string) {
      const cached = cache.get(sql);
      if (cached && !cached.busy) {
        // Most recently used last, so the first key is the one to evict.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = connection.prepare(sql);
      if (!cached) {
        if (cache.size >= STATEMENT_CACHE_MAX) cache.delete(cache.keys().next().value as string);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

export async function isReachable(storage: Storage): Promise<boolean> {
  try {
    await sql`select 1`.execute(storage.db);
    return true;
  } catch {
    return false;
  }
}
