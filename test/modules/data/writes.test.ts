import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClassesService } from '../../../src/modules/data/classes.js';
import { ClassesStore } from '../../../src/modules/data/classes-store.js';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/**
 * Creates that arrive together share a transaction (record-writer.ts), and
 * class definitions are kept for a second (classes.ts): every create must
 * still land, answer exactly what is stored, and a class changed by another
 * process must show within that second.
 */
describe.each(dialects)('custom-object writes (%s)', (dialect) => {
  let fx: DataFixture;
  let token: string;

  beforeAll(async () => {
    fx = await dataFixture(dialect, { ann: '' });
    token = fx.users.ann?.token as string;
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('stores every one of many creates sent at once, across classes, each answered as stored', async () => {
    const [one, two] = [fx.className('GcA'), fx.className('GcB')];
    for (const name of [one, two]) {
      await fx.admin('POST', '/class.json', {
        name,
        fields: { n: 'Integer', s: 'String', a: 'Array', loc: 'Location', d: 'Date' },
      });
    }
    const bodies = Array.from({ length: 60 }, (_, i) => ({
      cls: i % 3 === 0 ? two : one,
      // Records name different fields, so one batch mixes column sets.
      json: i % 2 === 0 ? { n: i, s: `s${i}`, a: [i, `x${i}`] } : { n: i, loc: [i / 10, -i / 10], d: 1_700_000_000 + i },
    }));
    const answers = await Promise.all(bodies.map((b) => fx.as(token, 'POST', `/data/${b.cls}.json`, { json: b.json })));
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 201));
    expect(new Set(answers.map((a) => a.json._id)).size).toBe(bodies.length);
    for (const name of [one, two]) {
      const stored = (await fx.as(token, 'GET', `/data/${name}.json?sort_asc=n`)).json.items;
      const mine = answers.filter((_, i) => bodies[i]?.cls === name).map((a) => a.json);
      expect(stored.map((r: any) => r.n)).toEqual(
        bodies
          .filter((b) => b.cls === name)
          .map((b) => b.json.n)
          .sort((x, y) => x - y),
      );
      for (const answer of mine) {
        const { permissions, ...fields } = answer;
        expect(stored.find((r: any) => r._id === answer._id)).toEqual(fields);
        expect(permissions).toEqual({ read: { access: 'open' }, update: { access: 'owner' }, delete: { access: 'owner' } });
      }
    }
  });

  it('refuses text PostgreSQL cannot store (NUL) on both databases, alone among many', async () => {
    const name = fx.className('Nul');
    await fx.admin('POST', '/class.json', { name, fields: { s: 'String', a: 'Array' } });
    const bodies = [{ s: 'a\u0000b' }, { a: ['ok', 'x\u0000'] }, { s: 'fine' }];
    const answers = await Promise.all(bodies.map((json) => fx.as(token, 'POST', `/data/${name}.json`, { json })));
    expect(answers.map((a) => a.status)).toEqual([422, 422, 201]);
    expect((await fx.as(token, 'GET', `/data/${name}.json?count=1`)).json.count).toBe(1);
    for (const query of ['s=a\u0000', 'a=x\u0000', 's[ctn]=\u0000', 'a[in]=\u0000']) {
      const res = await fx.as(token, 'GET', `/data/${name}.json?${query.replaceAll('\u0000', '%00')}`);
      expect({ query, status: res.status }).toEqual({ query, status: 422 });
    }
    const id = answers[2]?.json._id;
    for (const json of [{ push: { a: 'x\u0000' } }, { a: { '0': 'y\u0000' } }, { s: '\u0000' }]) {
      expect((await fx.as(token, 'PUT', `/data/${name}/${id}.json`, { json })).status).toBe(422);
    }
  });

  it('a refused create among many fails alone', async () => {
    const name = fx.className('GcC');
    await fx.admin('POST', '/class.json', { name, fields: { n: 'Integer' } });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => fx.as(token, 'POST', `/data/${name}.json`, { json: { n: i === 7 ? 'seven' : i } })),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map((_, i) => (i === 7 ? 422 : 201)));
    expect((await fx.as(token, 'GET', `/data/${name}.json?count=1`)).json.count).toBe(19);
  });

  it('removing a File field from a class with records deletes the bytes of its files, and only those', async () => {
    const name = fx.className('Files');
    await fx.admin('POST', '/class.json', { name, fields: { n: 'Integer', photo: 'File', scan: 'File' } });
    const keys = async () => {
      const out: string[] = [];
      for await (const item of fx.server.app.services.records.blobStore.list('data')) out.push(item.key);
      return out.sort();
    };
    const before = await keys();
    const upload = (id: string, field: string) => {
      const boundary = 'RMFIELD';
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="field_name"\r\n\r\n${field}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\n${field} of ${id}\r\n--${boundary}--\r\n`;
      return fx.as(token, 'POST', `/data/${name}/${id}/file.json`, {
        body,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      });
    };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = (await fx.as(token, 'POST', `/data/${name}.json`, { json: { n: i } })).json._id;
      expect((await upload(id, 'photo')).status).toBe(200);
      expect((await upload(id, 'scan')).status).toBe(200);
      ids.push(id);
    }
    const withFiles = await keys();
    expect(withFiles.length - before.length).toBe(6);
    const changed = await fx.admin('PUT', `/class/${name}.json`, { remove_fields: ['photo'] });
    expect(changed.status, changed.text).toBe(200);
    let left = await keys();
    for (let i = 0; i < 50 && left.length !== before.length + 3; i++) {
      await new Promise((done) => setTimeout(done, 20));
      left = await keys();
    }
    expect(left.length - before.length).toBe(3);
    // The scans are still there and still served.
    for (const id of ids) {
      const res = await fx.as(token, 'GET', `/data/${name}/${id}/file.json?field_name=scan`);
      expect(res.text).toBe(`scan of ${id}`);
    }
  });

  it('sees a class changed by another process within a second, and its own changes at once', async () => {
    const name = fx.className('Ttl');
    await fx.admin('POST', '/class.json', { name, fields: { n: 'Integer' } });
    expect((await fx.as(token, 'POST', `/data/${name}.json`, { json: { n: 1 } })).status).toBe(201);
    // Another process on the same database (as the CLI is): its own catalogue, its own memory.
    const elsewhere = new ClassesService(
      new ClassesStore(fx.server.app.services.storage.db, fx.server.app.services.storage.dialect),
      fx.server.clock,
    );
    await elsewhere.update(fx.app.application_id, name, { add_fields: { extra: 'String' } });
    const early = await fx.as(token, 'POST', `/data/${name}.json`, { json: { n: 2, extra: 'x' } });
    const later = async () => {
      fx.server.clock.advance(1001);
      return fx.as(token, 'POST', `/data/${name}.json`, { json: { n: 3, extra: 'y' } });
    };
    // Within the second the kept definition answers (the test clock stands still); after it, the new one does.
    expect(early.status).toBe(422);
    expect((await later()).status).toBe(201);
    // Changes through this server show at once.
    await fx.admin('PUT', `/class/${name}.json`, { permissions: { create: { access: 'not_allowed' } } });
    expect((await fx.as(token, 'POST', `/data/${name}.json`, { json: { n: 4 } })).status).toBe(403);
    await fx.admin('DELETE', `/class/${name}.json`);
    expect((await fx.as(token, 'GET', `/data/${name}.json`)).status).toBe(404);
  });

  it('a field removed or a class deleted by another process within that second is never a 500; writes apply once', async () => {
    const name = fx.className('Gone');
    await fx.admin('POST', '/class.json', { name, fields: { n: 'Integer', scan: 'File' } });
    const created = await fx.as(token, 'POST', `/data/${name}.json`, { json: { n: 1 } });
    expect(created.status).toBe(201);
    const id = created.json._id as string;
    const elsewhere = new ClassesService(
      new ClassesStore(fx.server.app.services.storage.db, fx.server.app.services.storage.dialect),
      fx.server.clock,
    );
    let serial = 0;
    /** Leaves this server keeping a definition with a field whose column another process has just dropped. */
    const stale = async (field = `gone${++serial}`) => {
      await elsewhere.update(fx.app.application_id, name, { add_fields: { [field]: 'String' } });
      fx.server.clock.advance(1001);
      const seen = await fx.as(token, 'GET', `/data/${name}/${id}.json`);
      expect(Object.keys(seen.json.items[0])).toContain(field);
      await elsewhere.update(fx.app.application_id, name, { remove_fields: [field] });
    };
    const rows = async () =>
      (await fx.as(token, 'GET', `/data/${name}.json?sort_asc=n`)).json.items as Array<Record<string, unknown>>;

    // Each call below first meets the dropped column, and is answered from the fresh definition.
    await stale();
    const list = await fx.as(token, 'GET', `/data/${name}.json`);
    expect(list.status).toBe(200);
    expect(list.json.items).toEqual([expect.objectContaining({ _id: id, n: 1 })]);
    expect(Object.keys(list.json.items[0])).not.toContain(`gone${serial}`);

    await stale();
    const bumped = await fx.as(token, 'PUT', `/data/${name}/${id}.json`, { json: { inc: { n: 10 } } });
    expect(bumped.status).toBe(200);
    expect(bumped.json.n).toBe(11);

    await stale();
    const many = await fx.as(token, 'POST', `/data/${name}/multi.json`, { json: { record: { 1: { n: 20 }, 2: { n: 21 } } } });
    expect(many.status).toBe(201);
    expect((await rows()).map((r) => r.n)).toEqual([11, 20, 21]);

    await stale();
    const second = (await rows())[1]?._id as string;
    expect((await fx.as(token, 'DELETE', `/data/${name}/${second}.json`)).status).toBe(200);
    expect((await rows()).map((r) => r.n)).toEqual([11, 21]);

    // An upload's body is read once, so it is not run again: when its File field went meanwhile, a clear 409 and
    // its bytes not kept; the next one sees the change.
    const blobs = async () => {
      const out: string[] = [];
      for await (const item of fx.server.app.services.records.blobStore.list('data')) out.push(item.key);
      return out.length;
    };
    const upload = () =>
      fx.as(token, 'POST', `/data/${name}/${id}/file.json`, {
        body: `--B\r\nContent-Disposition: form-data; name="field_name"\r\n\r\nscan\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n`,
        headers: { 'content-type': 'multipart/form-data; boundary=B' },
      });
    await stale(); // an unrelated column gone: the upload does not touch it
    expect((await upload()).status).toBe(200);
    const before = await blobs();
    fx.server.clock.advance(1001);
    await fx.as(token, 'GET', `/data/${name}/${id}.json`);
    await elsewhere.update(fx.app.application_id, name, { remove_fields: ['scan'] });
    const refused = await upload();
    expect(refused.status).toBe(409);
    expect(refused.json).toEqual({ errors: { base: ['The class changed while this request ran; send it again'] } });
    for (let waited = 0; (await blobs()) > before && waited < 50; waited++) await new Promise((done) => setTimeout(done, 20));
    expect(await blobs()).toBe(before);
    expect((await upload()).status).toBe(422);

    // Deleted elsewhere: the kept definition names a table that is gone; the answer is the 404 of any unknown class.
    await stale();
    await elsewhere.delete(fx.app.application_id, name);
    expect((await fx.as(token, 'PUT', `/data/${name}/${id}.json`, { json: { n: 4 } })).status).toBe(404);
    expect((await fx.as(token, 'GET', `/data/${name}.json`)).status).toBe(404);
  });
});

describe('record writer batches', () => {
  it('retries a failed batch record by record, so only the bad record fails', async () => {
    const { RecordWriter } = await import('../../../src/modules/data/record-writer.js');
    const committed: string[] = [];
    let transactions = 0;
    const store = {
      async transaction<T>(work: (db: unknown) => Promise<T>): Promise<T> {
        transactions++;
        const pending: string[] = [];
        const result = await work(pending);
        committed.push(...pending);
        return result;
      },
      async insertRows(db: string[], _cls: unknown, rows: Array<Record<string, unknown>>) {
        if (rows.some((row) => row._id === 'bad')) throw new Error('refused by the database');
        db.push(...rows.map((row) => String(row._id)));
      },
    };
    const writer = new RecordWriter(store as never);
    const cls = (table: string) => ({ table }) as never;
    const ids = ['a', 'b', 'bad', 'c', 'd'];
    const outcomes = await Promise.allSettled(ids.map((id, i) => writer.insert(cls(i % 2 ? 't1' : 't2'), { _id: id })));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(committed.sort()).toEqual(['a', 'b', 'c', 'd']);
    // One batch for all five, then one transaction each.
    expect(transactions).toBe(1 + ids.length);
    // A later batch starts clean.
    await writer.insert(cls('t1'), { _id: 'e' });
    expect(committed).toContain('e');
    expect(transactions).toBe(2 + ids.length);
  });
});
