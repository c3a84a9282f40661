import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture, PASSWORD } from './fixture.js';

/** The official SDK's QB.data against the server: every call it has, with what it sends and how it reads the answers. */
describe.each(dialects)('QB.data with the official SDK (%s)', (dialect) => {
  let fx: DataFixture;
  let QB: any;
  let cls: string;

  beforeAll(async () => {
    fx = await dataFixture(dialect, { sdkuser: '' });
    cls = fx.className('Car');
    const made = await fx.admin('POST', '/class.json', {
      name: cls,
      fields: {
        make: 'String',
        value: { type: 'Integer', indexed: true },
        price: 'Float',
        used: 'Boolean',
        tags: 'Array',
        photo: 'File',
      },
    });
    expect(made.status).toBe(201);
    QB = createSdk(fx.server, fx.app);
    await call((cb) => QB.createSession({ login: 'sdkuser', password: PASSWORD }, cb));
  });
  afterAll(async () => {
    await fx?.close();
  });

  /** GET over the global agent (which trusts the test certificate), bytes kept. */
  const download = (url: string) =>
    new Promise<{ status: number; body: Buffer; type: string | undefined }>((done, fail) => {
      https
        .get(url, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: res.headers['content-type'] }),
          );
        })
        .on('error', fail);
    });

  it('creates records and lists them with filters, sort, limit, output and count', async () => {
    const input = [
      { make: 'BMW', value: 70, price: 9.5, used: true, tags: ['a', 'b'] },
      { make: 'Audi', value: 40, price: 5, used: false, tags: ['b'] },
      { make: 'Audi', value: 90, price: 12.25, used: true, tags: [] },
      { make: 'Fiat', value: 55, price: 3, used: false, tags: ['c', 'a'] },
      { make: 'BMW', value: 20, price: 1, used: true, tags: ['a'] },
    ];
    const created = [];
    for (const record of input) {
      const res = await call((cb) => QB.data.create(cls, record, cb));
      expect(res).toMatchObject(record);
      expect(res._id).toMatch(/^[0-9a-f]{24}$/);
      expect(res.user_id).toBe(fx.users.sdkuser?.id);
      created.push(res);
    }
    const rows = created;
    const filters = { make: { in: ['BMW', 'Audi'] }, value: { gt: 30 }, sort_desc: 'value', limit: 2 };
    const expected = rows
      .filter((r) => ['BMW', 'Audi'].includes(r.make) && r.value > 30)
      .sort((x, y) => y.value - x.value)
      .slice(0, 2);
    const page = await call((cb) => QB.data.list(cls, filters, cb));
    expect(page).toMatchObject({ class_name: cls, skip: 0, limit: 2 });
    expect(page.items.map((i: any) => i._id)).toEqual(expected.map((r) => r._id));
    const projected = await call((cb) => QB.data.list(cls, { output: { include: ['make', 'value'] }, used: true }, cb));
    expect(projected.items.map((i: any) => Object.keys(i).sort())).toEqual(
      rows.filter((r) => r.used).map(() => ['_id', 'make', 'value']),
    );
    const tagged = await call((cb) => QB.data.list(cls, { tags: { all: ['a', 'c'] } }, cb));
    expect(tagged.items.map((i: any) => i._id)).toEqual(
      rows.filter((r) => r.tags.includes('a') && r.tags.includes('c')).map((r) => r._id),
    );
    const count = await call((cb) => QB.data.list(cls, { count: 1, price: { lte: 5 } }, cb));
    expect(count).toEqual({ class_name: cls, count: rows.filter((r) => r.price <= 5).length });
    const all = await call((cb) => QB.data.list(cls, cb));
    expect(all.items.map((i: any) => i._id)).toEqual(rows.map((r) => r._id));
  });

  it('updates with fields and operators, and reports errors the way the SDK reads them', async () => {
    const rec = await call((cb) => QB.data.create(cls, { make: 'Kia', value: 1, tags: ['x'] }, cb));
    const updated = await call((cb) =>
      QB.data.update(cls, { _id: rec._id, make: 'Kia2', inc: { value: 4 }, push: { tags: ['y', 'z'] }, pull: { tags: 'x' } }, cb),
    );
    expect(updated).toMatchObject({ _id: rec._id, make: 'Kia2', value: 5, tags: ['y', 'z'] });
    expect(updated.updated_at).toBeGreaterThanOrEqual(rec.updated_at);
    const error = await call((cb) => QB.data.update(cls, { _id: rec._id, value: 'many' }, cb)).catch((e) => e);
    expect(error).toMatchObject({ code: 422, detail: { value: [expect.any(String)] } });
    const missing = await call((cb) => QB.data.create('NoSuchClass', { a: 1 }, cb)).catch((e) => e);
    expect(missing).toMatchObject({ code: 404, detail: ['Not Found'] });
  });

  it('deletes by id, by ids and by criteria', async () => {
    const make = async (n: number) => (await call((cb) => QB.data.create(cls, { make: 'Del', value: n }, cb)))._id as string;
    const one = await make(1);
    expect(await call((cb) => QB.data.delete(cls, one, cb))).toEqual({ deleted: [one], deletedCount: 1 });
    const two = [await make(2), await make(3)];
    const byIds = await call((cb) => QB.data.delete(cls, [...two, '0'.repeat(24)], cb));
    expect(byIds).toEqual({ deleted: two, deletedCount: 2 });
    await make(10);
    await make(20);
    await make(30);
    const byCriteria = await call((cb) => QB.data.delete(cls, { make: 'Del', value: { gte: 20 } }, cb));
    expect(byCriteria).toEqual({ deleted: null, deletedCount: 2 });
    const left = await call((cb) => QB.data.list(cls, { make: 'Del' }, cb));
    expect(left.items.map((i: any) => i.value)).toEqual([10]);
    const gone = await call((cb) => QB.data.delete(cls, one, cb)).catch((e) => e);
    expect(gone.code).toBe(404);
  });

  it('uploads a file, serves its exact bytes at fileUrl, and deletes it', async () => {
    const rec = await call((cb) => QB.data.create(cls, { make: 'Photo' }, cb));
    const bytes = randomBytes(200_000);
    const uploaded = await call((cb) =>
      QB.data.uploadFile(cls, { id: rec._id, field_name: 'photo', file: bytes, name: 'car.png' }, cb),
    );
    expect(uploaded).toEqual({
      _id: rec._id,
      file_id: expect.stringMatching(/^[0-9a-f]+$/),
      size: bytes.length,
      name: 'car.png',
      content_type: 'image/png',
    });
    const url = QB.data.fileUrl(cls, { id: rec._id, field_name: 'photo' });
    const got = await download(url);
    expect(got.status).toBe(200);
    expect(got.type).toBe('image/png');
    expect(got.body.equals(bytes)).toBe(true);
    const viaDownload = await call<string>((cb) => QB.data.downloadFile(cls, { id: rec._id, field_name: 'photo' }, cb));
    expect(viaDownload).toBe(url);
    const listed = await call((cb) => QB.data.list(cls, { _id: rec._id }, cb));
    expect(listed.items[0].photo).toEqual({
      file_id: uploaded.file_id,
      name: 'car.png',
      content_type: 'image/png',
      size: bytes.length,
    });
    // A second upload replaces the first.
    const second = randomBytes(1000);
    await call((cb) => QB.data.uploadFile(cls, { id: rec._id, field_name: 'photo', file: second, name: 'b.jpg' }, cb));
    expect((await download(url)).body.equals(second)).toBe(true);
    expect(await call((cb) => QB.data.deleteFile(cls, { id: rec._id, field_name: 'photo' }, cb))).toBe(true);
    expect((await download(url)).status).toBe(404);
    expect((await call((cb) => QB.data.list(cls, { _id: rec._id }, cb))).items[0].photo).toBeNull();
    const again = await call((cb) => QB.data.deleteFile(cls, { id: rec._id, field_name: 'photo' }, cb)).catch((e) => e);
    expect(again.code).toBe(404);
  });
});
