import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/db.js';
import { PreparedQuery } from '../../src/storage/prepared.js';
import { createPostgresDatabase, type Dialect, dialects } from '../helpers/server.js';

// A scratch table outside the schema: the queries are typed loosely on purpose.
type Loose = Kysely<any>;

describe.each(dialects)('PreparedQuery (%s)', (dialect: Dialect) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  const db = () => storage.db as unknown as Loose;

  beforeAll(async () => {
    if (dialect === 'postgres') {
      const database = await createPostgresDatabase();
      storage = openStorage({ kind: 'postgres', url: database.url });
      cleanup = () => database.drop();
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-prepared-'));
      storage = openStorage({ kind: 'sqlite', file: join(dir, 'db.sqlite') });
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    }
    await sql`create table scratch (k text primary key, n integer not null, label text)`.execute(storage.db);
  });

  afterAll(async () => {
    await storage.close();
    await cleanup();
  });

  it('runs the query compiled once with each call’s values, also inside a transaction', async () => {
    const upsert = new PreparedQuery(['k', 'n', 'label'], (v) =>
      db()
        .insertInto('scratch')
        .values({ k: v.k, n: v.n, label: v.label })
        .onConflict((oc) => oc.column('k').doUpdateSet((eb) => ({ n: eb.ref('excluded.n') }))),
    );
    const byN = new PreparedQuery(['min'], (v) => db().selectFrom('scratch').selectAll().where('n', '>=', v.min).orderBy('k'));
    await upsert.execute(storage.db, { k: 'a', n: 1, label: 'first' });
    await upsert.execute(storage.db, { k: 'b', n: 2, label: null });
    await storage.db.transaction().execute(async (trx) => {
      await upsert.execute(trx, { k: 'a', n: 5, label: 'ignored on conflict' });
      expect(await byN.execute(trx, { min: 3 })).toEqual([{ k: 'a', n: 5, label: 'first' }]);
    });
    expect(await byN.execute(storage.db, { min: 0 })).toEqual([
      { k: 'a', n: 5, label: 'first' },
      { k: 'b', n: 2, label: null },
    ]);
    expect(await byN.execute(storage.db, { min: 6 })).toEqual([]);
  });

  it('refuses at construction a query that does not bind every named value exactly once', () => {
    expect(() => new PreparedQuery(['a', 'b'], (v) => db().selectFrom('scratch').selectAll().where('k', '=', v.a))).toThrow(
      'b not bound exactly once',
    );
    expect(
      () => new PreparedQuery(['a'], (v) => db().selectFrom('scratch').selectAll().where('k', '=', v.a).where('label', '=', v.a)),
    ).toThrow('not one of the named values');
    expect(
      () => new PreparedQuery(['a'], (v) => db().selectFrom('scratch').selectAll().where('k', '=', v.a).where('n', '=', 3)),
    ).toThrow('not one of the named values');
  });
});
