import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

describe.each(dialects)('custom objects (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let QB: any;
  let apiKey: string;
  let owner: { id: number };
  let other: { id: number };
  let ownerToken: string;
  let otherToken: string;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    apiKey = await server.app.services.apps.createApiKey(app.application_id);
    owner = await server.createUser(app.application_id, 'owner', 'password-123');
    other = await server.createUser(app.application_id, 'other', 'password-123');
    await server.app.services.users.update(app.application_id, { userId: null, via: 'apikey' }, other.id, {
      tag_list: 'golf,man',
    });
    QB = createSdk(server, app);
    await call((cb) => QB.createSession({ login: 'owner', password: 'password-123' }, cb));
    ownerToken = QB.service.getSession().token;
    otherToken = await tokenFor('other');
    const status = await admin('POST', '/class.json', {
      name: 'Car',
      fields: {
        make: 'String',
        value: { type: 'Integer', indexed: true },
        price: 'Float',
        used: 'Boolean',
        tags: 'Array',
        spot: 'Location',
        sold: 'Date',
        photo: 'File',
      },
    });
    expect(status.status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function tokenFor(login: string): Promise<string> {
    const sdk = createSdk(server, app);
    await call((cb) => sdk.createSession({ login, password: 'password-123' }, cb));
    return sdk.service.getSession().token;
  }
  const admin = (method: string, path: string, json?: unknown) =>
    server.request(method, path, { headers: { authorization: `ApiKey ${apiKey}` }, ...(json ? { json } : {}) });
  const as = (token: string, method: string, path: string, opts: { json?: unknown; form?: Record<string, string> } = {}) =>
    server.request(method, path, { headers: { 'qb-token': token }, ...opts });

  it('manages classes over REST with an API key only, and migrates fields on a class with data', async () => {
    expect((await as(ownerToken, 'POST', '/class.json', { json: { name: 'Nope', fields: {} } })).status).toBe(403);
    const created = await admin('POST', '/class.json', { name: 'Note', fields: { title: 'String' } });
    expect(created.json.class).toMatchObject({ name: 'Note', fields: [{ name: 'title', type: 'String', indexed: false }] });
    expect((await admin('POST', '/class.json', { name: 'Note', fields: {} })).status).toBe(422);
    expect((await admin('POST', '/class.json', { name: 'Bad"; drop table users; --', fields: {} })).status).toBe(422);
    expect((await admin('POST', '/class.json', { name: 'Bad', fields: { 'x"y': 'String' } })).status).toBe(422);
    const record = await as(ownerToken, 'POST', '/data/Note.json', { json: { title: 'first' } });
    expect(record.status).toBe(201);
    const changed = await admin('PUT', '/class/Note.json', { add_fields: { stars: 'Integer' }, remove_fields: ['title'] });
    expect(changed.status).toBe(200);
    expect(changed.json.class.fields).toEqual([{ name: 'stars', type: 'Integer', indexed: false }]);
    const list = await as(ownerToken, 'GET', '/data/Note.json');
    expect(list.json.items).toHaveLength(1);
    expect(list.json.items[0]).toMatchObject({ _id: record.json._id, stars: null });
    expect(list.json.items[0]).not.toHaveProperty('title');
    expect((await admin('GET', '/class.json')).json.items.map((i: any) => i.class.name)).toEqual(['Car', 'Note']);
    expect((await admin('DELETE', '/class/Note.json')).status).toBe(200);
    expect((await as(ownerToken, 'GET', '/data/Note.json')).status).toBe(404);
  });

  it('creates, lists, updates and deletes with the SDK, values typed by the class', async () => {
    const created = await call((cb) =>
      QB.data.create('Car', { make: 'BMW', value: 70, price: 9.5, used: true, tags: ['a', 'b'], spot: [10, 20] }, cb),
    );
    expect(created).toMatchObject({ make: 'BMW', value: 70, price: 9.5, used: true, tags: ['a', 'b'], spot: [10, 20] });
    expect(created._id).toMatch(/^[0-9a-f]{24}$/);
    expect(created.user_id).toBe(owner.id);
    expect(typeof created.created_at).toBe('number');
    expect(created._parent_id).toBeNull();
    const found = await call((cb) => QB.data.list('Car', { value: { gt: 50 }, _id: created._id }, cb));
    expect(found.items.map((i: any) => i._id)).toEqual([created._id]);
    const updated = await call((cb) => QB.data.update('Car', { _id: created._id, make: 'Audi' }, cb));
    expect(updated.make).toBe('Audi');
    const deleted = await call((cb) => QB.data.delete('Car', created._id, cb));
    expect(deleted.deletedCount).toBe(1);
    expect((await as(ownerToken, 'GET', `/data/Car/${created._id}.json`)).json.items).toEqual([]);
  });

  it('answers every operator with the rows computed independently', async () => {
    const cls = `Q${randomBytes(3).toString('hex')}`;
    await admin('POST', '/class.json', {
      name: cls,
      fields: { n: 'Integer', f: 'Float', s: 'String', b: 'Boolean', a: 'Array', d: 'Date', loc: 'Location' },
    });
    const data = Array.from({ length: 12 }, (_, i) => ({
      n: i,
      f: i / 2,
      s: `name${i % 4}`,
      b: i % 2 === 0,
      a: [`t${i % 3}`, `u${i % 2}`],
      d: 1_700_000_000 + i * 86_400,
      loc: [i * 0.01, 0],
    }));
    const ids: string[] = [];
    for (const record of data) ids.push((await as(ownerToken, 'POST', `/data/${cls}.json`, { json: record })).json._id);
    const rows = data.map((r, i) => ({ ...r, _id: ids[i] }));
    const q = async (query: string) => {
      const res = await as(ownerToken, 'GET', `/data/${cls}.json?${query}`);
      expect(res.status, `${query}: ${res.text}`).toBe(200);
      return res.json;
    };
    const expectIds = async (query: string, keep: (r: (typeof rows)[number]) => boolean) =>
      expect((await q(query)).items.map((i: any) => i._id).sort(), query).toEqual(
        rows
          .filter(keep)
          .map((r) => r._id)
          .sort(),
      );
    await expectIds('n=3', (r) => r.n === 3);
    await expectIds('n[lt]=3', (r) => r.n < 3);
    await expectIds('n[lte]=3', (r) => r.n <= 3);
    await expectIds('n[gt]=9', (r) => r.n > 9);
    await expectIds('n[gte]=9', (r) => r.n >= 9);
    await expectIds('n[ne]=9', (r) => r.n !== 9);
    await expectIds('n[in]=1,2,11', (r) => [1, 2, 11].includes(r.n));
    await expectIds('n[nin]=1,2,11', (r) => ![1, 2, 11].includes(r.n));
    await expectIds('f[gt]=4.5', (r) => r.f > 4.5);
    await expectIds('s=name1', (r) => r.s === 'name1');
    await expectIds('s[ctn]=me2', (r) => r.s.includes('me2'));
    await expectIds('s[in]=name1,name3', (r) => ['name1', 'name3'].includes(r.s));
    await expectIds('b=true', (r) => r.b);
    await expectIds('b[ne]=true', (r) => !r.b);
    await expectIds('a=t1', (r) => r.a.includes('t1'));
    await expectIds('a[in]=t1,t2', (r) => r.a.includes('t1') || r.a.includes('t2'));
    await expectIds('a[nin]=t1,t2', (r) => !r.a.includes('t1') && !r.a.includes('t2'));
    await expectIds('a[all]=t1,u1', (r) => r.a.includes('t1') && r.a.includes('u1'));
    await expectIds('n[or]=1,5', (r) => [1, 5].includes(r.n));
    await expectIds('n[or]=1&s[or]=name2', (r) => r.n === 1 || r.s === 'name2');
    await expectIds(`d[gte]=${1_700_000_000 + 5 * 86_400}`, (r) => r.d >= 1_700_000_000 + 5 * 86_400);
    await expectIds('d[lt]=2023-11-16T00:00:00Z', (r) => r.d * 1000 < Date.parse('2023-11-16T00:00:00Z'));
    // 0.01 degree of longitude at the equator is about 1112 m.
    await expectIds('loc[near]=0,0;2500', (r) => (r.loc[0] ?? 0) * 111_195 <= 2500);
    const near = await q('loc[near]=0.05,0;1200');
    // Nearest first.
    expect(near.items[0].n).toBe(5);
    expect(near.items.map((i: any) => i.n).sort()).toEqual([4, 5, 6]);

    expect((await q('sort_desc=n&limit=3')).items.map((i: any) => i.n)).toEqual([11, 10, 9]);
    expect((await q('sort_asc=s&skip=2&limit=2')).items.map((i: any) => i.s)).toEqual(['name0', 'name1']);
    expect((await q('limit=-1')).items.map((i: any) => i._id)).toEqual([ids[11]]);
    expect(await q('n[gt]=5&count=1')).toEqual({ class_name: cls, count: 6 });
    const included = await q('output%5Binclude%5D=n,s&limit=1');
    expect(Object.keys(included.items[0]).sort()).toEqual(['_id', 'n', 's']);
    const excluded = await q('output[exclude]=_id,a,loc&limit=1');
    expect(excluded.items[0]).not.toHaveProperty('_id');
    expect(excluded.items[0]).not.toHaveProperty('a');
    expect(excluded.items[0]).toHaveProperty('n');
    const grouped = await q('group_by=s&n[calc]=sum');
    const sums = new Map<string, number>();
    for (const r of rows) sums.set(r.s, (sums.get(r.s) ?? 0) + r.n);
    expect(grouped.items).toEqual([...sums].sort().map(([s, n]) => ({ s, n })));

    for (const bad of [
      'n[gt]=abc',
      'nope=1',
      'n[zz]=1',
      'loc[near]=1,2',
      'loc[near]=500,0;10',
      'sort_asc=a',
      'n[calc]=avg',
      "s'%3B--=1",
    ]) {
      const res = await as(ownerToken, 'GET', `/data/${cls}.json?${bad}`);
      expect(res.status, bad).toBe(422);
      expect(res.json.errors).toBeDefined();
    }
    // A value is only ever a bound parameter.
    expect((await q(`s=${encodeURIComponent("x' or '1'='1")}`)).items).toEqual([]);
  });

  it('applies the update operators, and concurrent increments are never lost', async () => {
    const rec = (await as(ownerToken, 'POST', '/data/Car.json', { json: { value: 1, tags: ['a', 'b', 'c', '5', '9'] } })).json;
    const put = (form: Record<string, string>) => as(ownerToken, 'PUT', `/data/Car/${rec._id}.json`, { form });
    expect((await put({ 'inc[value]': '5' })).json.value).toBe(6);
    expect((await put({ 'pull[tags]': 'a' })).json.tags).toEqual(['b', 'c', '5', '9']);
    expect((await put({ 'pull[tags][gt]': '6' })).json.tags).toEqual(['b', 'c', '5']);
    expect((await put({ 'pull_all[tags][]': 'b,c' })).json.tags).toEqual(['5']);
    expect((await put({ 'push[tags][]': 'x,y' })).json.tags).toEqual(['5', 'x', 'y']);
    expect((await put({ 'pop[tags]': '1' })).json.tags).toEqual(['5', 'x']);
    expect((await put({ 'pop[tags]': '-1' })).json.tags).toEqual(['x']);
    expect((await put({ 'add_to_set[tags]': 'x,z' })).json.tags).toEqual(['x', 'z']);
    expect((await put({ 'tags[1]': 'w' })).json.tags).toEqual(['x', 'w']);
    expect((await put({ 'inc[make]': '1' })).status).toBe(422);
    expect((await put({ 'inc[value]': 'abc' })).status).toBe(422);
    await Promise.all(Array.from({ length: 20 }, () => put({ 'inc[value]': '1' })));
    expect((await as(ownerToken, 'GET', `/data/Car/${rec._id}.json`)).json.items[0].value).toBe(26);
  });

  it('enforces record and class permissions on reads, counts, updates and deletes', async () => {
    const cls = `P${randomBytes(3).toString('hex')}`;
    await admin('POST', '/class.json', { name: cls, fields: { n: 'Integer' } });
    const mk = async (n: number, permissions?: Record<string, string>) =>
      (await as(ownerToken, 'POST', `/data/${cls}.json`, { form: { n: String(n), ...permissions } })).json._id;
    const open = await mk(1);
    const secret = await mk(2, { 'permissions[read][access]': 'owner' });
    const forGroup = await mk(3, { 'permissions[read][access]': 'open_for_groups', 'permissions[read][groups]': 'golf' });
    const forOther = await mk(4, {
      'permissions[read][access]': 'open_for_users_ids',
      'permissions[read][ids]': String(other.id),
      'permissions[delete][access]': 'open_for_users_ids',
      'permissions[delete][ids]': String(other.id),
    });
    const seen = async (token: string) =>
      (await as(token, 'GET', `/data/${cls}.json?sort_asc=n`)).json.items.map((i: any) => i._id);
    expect(await seen(ownerToken)).toEqual([open, secret, forGroup, forOther]);
    expect(await seen(otherToken)).toEqual([open, forGroup, forOther]);
    expect((await as(otherToken, 'GET', `/data/${cls}.json?count=1`)).json.count).toBe(3);
    const appSession = createSdk(server, app);
    await call((cb) => appSession.createSession(cb));
    expect(await seen(appSession.service.getSession().token)).toEqual([open]);
    expect((await admin('GET', `/data/${cls}.json?count=1`)).json.count).toBe(4);
    expect((await as(otherToken, 'PUT', `/data/${cls}/${open}.json`, { form: { n: '9' } })).status).toBe(403);
    expect((await as(otherToken, 'DELETE', `/data/${cls}/${open}.json`)).status).toBe(403);
    const report = await as(otherToken, 'DELETE', `/data/${cls}/${open},${forOther},${'0'.repeat(24)}.json`);
    expect(report.json).toEqual({
      SuccessfullyDeleted: { ids: [forOther] },
      NotFound: { ids: ['0'.repeat(24)] },
      WrongPermissions: { ids: [open] },
    });
    expect((await as(otherToken, 'DELETE', `/data/${cls}/by_criteria.json`, { form: { 'n[gte]': '0' } })).json).toEqual({
      total_deleted: 0,
    });
    await admin('PUT', `/class/${cls}.json`, { permissions: { read: { access: 'owner', use_class: true } } });
    expect(await seen(otherToken)).toEqual([]);
    expect((await as(otherToken, 'GET', `/data/${cls}.json?count=1`)).json.count).toBe(0);
    await admin('PUT', `/class/${cls}.json`, { permissions: { create: { access: 'not_allowed' } } });
    expect((await as(otherToken, 'POST', `/data/${cls}.json`, { json: { n: 1 } })).status).toBe(403);
  });

  it('deletes children with their parent, across classes and recursively, and by criteria with the SDK', async () => {
    await admin('POST', '/class.json', { name: 'Review', fields: { text: 'String' } });
    const movie = (await as(ownerToken, 'POST', '/data/Car.json', { json: { make: 'parent' } })).json._id;
    const review = (await as(ownerToken, 'POST', '/data/Review.json', { json: { text: 'r', _parent_id: movie } })).json._id;
    const reply = (await as(ownerToken, 'POST', '/data/Review.json', { json: { text: 'rr', _parent_id: review } })).json._id;
    expect((await as(ownerToken, 'GET', `/data/Review.json?_parent_id=${movie}`)).json.items.map((i: any) => i._id)).toEqual([
      review,
    ]);
    await call((cb) => QB.data.delete('Car', movie, cb));
    expect((await as(ownerToken, 'GET', `/data/Review/${review},${reply}.json`)).json.items).toEqual([]);
    await as(ownerToken, 'POST', '/data/Review.json', { json: { text: 'gone' } });
    const byCriteria = await call((cb) => QB.data.delete('Review', { text: 'gone' }, cb));
    expect(byCriteria.deletedCount).toBe(1);
  });

  it('uploads, downloads and deletes file fields with the SDK', async () => {
    const rec = (await as(ownerToken, 'POST', '/data/Car.json', { json: { make: 'file' } })).json;
    const bytes = randomBytes(70_000);
    const uploaded = await call((cb) =>
      QB.data.uploadFile('Car', { id: rec._id, field_name: 'photo', file: bytes, name: 'car.png' }, cb),
    );
    expect(uploaded).toMatchObject({ _id: rec._id, size: bytes.length, name: 'car.png', content_type: 'image/png' });
    const url = QB.data.fileUrl('Car', { id: rec._id, field_name: 'photo' });
    const download = await server.request('GET', url.replace(/^https:\/\/[^/]+/, ''));
    expect(download.status).toBe(200);
    expect(Buffer.from(download.text, 'latin1').length).toBeGreaterThan(0);
    const listed = (await as(ownerToken, 'GET', `/data/Car/${rec._id}.json`)).json.items[0];
    expect(listed.photo).toMatchObject({ file_id: uploaded.file_id, size: bytes.length });
    expect((await as(otherToken, 'DELETE', `/data/Car/${rec._id}/file.json`, { form: { field_name: 'photo' } })).status).toBe(
      403,
    );
    await call((cb) => QB.data.deleteFile('Car', { id: rec._id, field_name: 'photo' }, cb));
    expect((await server.request('GET', url.replace(/^https:\/\/[^/]+/, ''))).status).toBe(404);
    expect((await as(ownerToken, 'POST', `/data/Car/${rec._id}/file.json`, { form: { field_name: 'photo' } })).status).toBe(422);
  });

  it('creates and updates in bulk with multi.json, all or nothing', async () => {
    const created = await as(ownerToken, 'POST', '/data/Car/multi.json', {
      form: { 'record[1][make]': 'm1', 'record[1][value]': '1', 'record[2][make]': 'm2' },
    });
    expect(created.status).toBe(201);
    expect(created.json.items.map((i: any) => i.make)).toEqual(['m1', 'm2']);
    const bad = await as(ownerToken, 'POST', '/data/Car/multi.json', {
      form: { 'record[1][make]': 'ok', 'record[2][value]': 'abc' },
    });
    expect(bad.status).toBe(422);
    expect((await as(ownerToken, 'GET', '/data/Car.json?make=ok&count=1')).json.count).toBe(0);
    const [a, b] = created.json.items.map((i: any) => i._id);
    const updated = await as(ownerToken, 'PUT', '/data/Car/multi.json', {
      form: { 'record[1][_id]': a, 'record[1][make]': 'u1', 'record[2][_id]': b, 'record[2][inc][value]': '1' },
    });
    expect(updated.status).toBe(200);
    expect(updated.json.items.map((i: any) => i.make)).toEqual(['u1', 'm2']);
  });
});
