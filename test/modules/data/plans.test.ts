import { type CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import type { ListQuery } from '../../../src/modules/data/query.js';
import { RecordsStore } from '../../../src/modules/data/records-store.js';
import type { Database } from '../../../src/storage/schema.js';
import { startServer, type TestServer } from '../../helpers/server.js';

/**
 * What PostgreSQL plans for record pages, with sorting priced out of reach
 * (enable_sort off): a plan that still sorts has no index that gives its order,
 * so on a large class it would sort every matching record for each page.
 */
describe('record pages on PostgreSQL', () => {
  let server: TestServer;
  let app: Credentials;
  let pool: pg.Pool;
  let db: Kysely<Database>;
  const sent: CompiledQuery[] = [];

  beforeAll(async () => {
    server = await startServer('postgres');
    app = await server.createApplication();
    await server.app.services.classes.create(app.application_id, {
      name: 'Planned',
      fields: { title: 'String', score: { type: 'Integer', indexed: true } },
    });
    const database = server.config.database;
    if (database.kind !== 'postgres') throw new Error('a PostgreSQL server was asked for');
    pool = new pg.Pool({ connectionString: database.url, max: 1 });
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      log: (event) => {
        if (event.level === 'query') sent.push(event.query);
      },
    });
  });
  afterAll(async () => {
    await db?.destroy();
    await server?.close();
  });

  /** The plan of the one page query the store sends for `query`. */
  async function planOf(query: Partial<ListQuery>): Promise<string> {
    const cls = await server.app.services.classes.require(app.application_id, 'Planned');
    const store = new RecordsStore(db, 'postgres');
    const base: ListQuery = {
      where: [],
      sort: null,
      skip: 0,
      limit: 100,
      last: false,
      count: false,
      include: null,
      exclude: null,
      groupBy: null,
      calcs: [],
    };
    sent.length = 0;
    await store.list(db, cls, { ...base, ...query }, { action: 'read', verdict: 'all', userId: null, tags: [] });
    const [page] = sent;
    if (!page) throw new Error('the store sent no query');
    return db.transaction().execute(async (trx) => {
      await sql`set local enable_sort = off`.execute(trx);
      const explained = await trx.executeQuery<{ 'QUERY PLAN': string }>({
        ...page,
        sql: `explain ${page.sql}`,
      });
      return explained.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
  }

  it('walk the primary key in the default order (_id), both ways', async () => {
    for (const direction of ['asc', 'desc'] as const) {
      const plan = await planOf({ sort: { ref: { name: '_id', type: 'Id', column: '_id' }, direction } });
      expect(plan).not.toMatch(/\bSort\b/);
      expect(plan).toMatch(/Index Scan( Backward)? using \S+_pkey/);
    }
    expect(await planOf({})).not.toMatch(/\bSort\b/);
  });

  it('walk an indexed field in its order', async () => {
    for (const direction of ['asc', 'desc'] as const) {
      const plan = await planOf({ sort: { ref: { name: 'score', type: 'Integer', column: 'f_score' }, direction } });
      expect(plan).not.toMatch(/\bSort\b/);
    }
  });
});
