import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type RawResponse } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/**
 * Bad input on every custom-object route: unknown classes and fields, values
 * of the wrong type, malformed near, unknown operators, SQL in names and
 * values, files over 32 MB. Each answer is a 4xx with a QuickBlox JSON error,
 * never a 500, and nothing is written.
 */
describe.each(dialects)('custom-object bad input (%s)', (dialect) => {
  let fx: DataFixture;
  let token: string;
  let cls: string;
  let rec: { _id: string };

  beforeAll(async () => {
    fx = await dataFixture(dialect, { ann: '' });
    token = fx.users.ann?.token as string;
    cls = fx.className('Bad');
    await fx.admin('POST', '/class.json', {
      name: cls,
      fields: { n: 'Integer', f: 'Float', s: 'String', b: 'Boolean', a: 'Array', d: 'Date', loc: 'Location', file: 'File' },
    });
    rec = (await fx.as(token, 'POST', `/data/${cls}.json`, { json: { n: 1, s: 'keep', a: ['x'], loc: [1, 1] } })).json;
  });
  afterAll(async () => {
    await fx?.close();
  });

  /** A refused request: the status asked for, a JSON `errors`, never a 5xx. */
  function refused(res: RawResponse, status: number, what: string) {
    expect({ what, status: res.status, errors: res.json?.errors !== undefined }).toEqual({ what, status, errors: true });
  }
  /** Everything in the class, read by the API key: the witness that nothing was written. */
  const snapshot = async () => (await fx.admin('GET', `/data/${cls}.json?limit=100`)).json.items;

  it('answers 404 for a class that does not exist, on every route', async () => {
    const id = rec._id;
    const cases: Array<[string, string]> = [
      ['GET', '/data/Nope.json'],
      ['POST', '/data/Nope.json'],
      ['GET', `/data/Nope/${id}.json`],
      ['PUT', `/data/Nope/${id}.json`],
      ['DELETE', `/data/Nope/${id}.json`],
      ['DELETE', `/data/Nope/${id},${id}.json`],
      ['PUT', '/data/Nope/by_criteria.json'],
      ['DELETE', '/data/Nope/by_criteria.json'],
      ['POST', '/data/Nope/multi.json'],
      ['PUT', '/data/Nope/multi.json'],
      ['DELETE', `/data/Nope/${id}/file.json`],
    ];
    for (const [method, path] of cases) {
      const res = await fx.as(token, method, path, method === 'GET' ? {} : { json: { record: [{ n: 1 }] } });
      refused(res, 404, `${method} ${path}`);
    }
    refused(await fx.admin('GET', '/class/Nope.json'), 404, 'class show');
    refused(await fx.admin('DELETE', '/class/Nope.json'), 404, 'class delete');
    refused(await fx.admin('PUT', '/class/Nope.json', { add_fields: { x: 'String' } }), 404, 'class update');
    // An id that is not a record id, or a record that does not exist.
    refused(await fx.as(token, 'PUT', `/data/${cls}/${'0'.repeat(24)}.json`, { json: { n: 1 } }), 404, 'no record');
    refused(await fx.as(token, 'DELETE', `/data/${cls}/${'0'.repeat(24)}.json`), 404, 'no record');
    for (const path of [`/data/${cls}/xyz.json`, `/data/${cls}/${'g'.repeat(24)}.json`]) {
      const res = await fx.as(token, 'GET', path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.json?.errors, path).toBeDefined();
    }
  });

  it('refuses unknown fields and values of the wrong type on create, in bulk and on update; nothing is written', async () => {
    const before = await snapshot();
    const bad: Array<Record<string, unknown>> = [
      { nope: 1 },
      { n: 'abc' },
      { n: 1.5 },
      { n: '12abc' },
      { n: 1e300 },
      { f: 'NaN' },
      { f: 'Infinity' },
      { f: '1,5' },
      { b: 'yes' },
      { b: 2 },
      { d: 'yesterday' },
      { d: 'x'.repeat(100) },
      { loc: [200, 0] },
      { loc: [0, 91] },
      { loc: 'a,b' },
      { loc: [1] },
      { loc: [1, 2, 3] },
      { a: [{ o: 1 }] },
      { a: [[1]] },
      { a: Array.from({ length: 1001 }, () => 'x') },
      { s: { o: 1 } },
      { s: 'x'.repeat(70_000) },
      { file: 'x' },
      { _parent_id: 'not-an-id' },
      { permissions: { read: { access: 'everyone' } } },
      { permissions: { read: { access: 'open_for_users_ids', ids: 'abc' } } },
      { permissions: { read: { access: 'open_for_groups' } } },
      { permissions: { write: { access: 'open' } } },
      { permissions: 'open' },
    ];
    for (const body of bad) {
      refused(
        await fx.as(token, 'POST', `/data/${cls}.json`, { json: { s: 'new', ...body } }),
        422,
        `create ${JSON.stringify(body).slice(0, 80)}`,
      );
      refused(
        await fx.as(token, 'POST', `/data/${cls}/multi.json`, { json: { record: [{ s: 'bulk-ok' }, { s: 'bulk', ...body }] } }),
        422,
        `bulk ${JSON.stringify(body).slice(0, 80)}`,
      );
      refused(
        await fx.as(token, 'PUT', `/data/${cls}/${rec._id}.json`, { json: { s: 'changed', ...body } }),
        422,
        `update ${JSON.stringify(body).slice(0, 80)}`,
      );
    }
    // Not a record at all.
    for (const body of ['[1,2]', '"text"', '{"n":', 'null']) {
      const res = await fx.as(token, 'POST', `/data/${cls}.json`, { body, headers: { 'content-type': 'application/json' } });
      expect(res.status, body).toBeGreaterThanOrEqual(400);
      expect(res.status, body).toBeLessThan(500);
      expect(res.json?.errors, body).toBeDefined();
    }
    refused(await fx.as(token, 'POST', `/data/${cls}/multi.json`, { json: { record: [] } }), 422, 'empty bulk');
    refused(
      await fx.as(token, 'POST', `/data/${cls}/multi.json`, { json: { record: Array.from({ length: 101 }, () => ({ n: 1 })) } }),
      422,
      'bulk of 101',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('refuses malformed near, bad operators, unknown fields and bad paging in queries', async () => {
    const queries = [
      'loc[near]=1,2',
      'loc[near]=a,b;3',
      'loc[near]=1,2;-5',
      'loc[near]=1,2;x',
      'loc[near]=200,0;5',
      'loc[near]=0,95;5',
      'loc[near]=',
      'loc[near]=1;2;3',
      'loc[near][]=1,2;3',
      'n[gt]=abc',
      'n[lt]=1.5',
      'n[in]=1,x',
      'f[gte]=ten',
      'b=maybe',
      'd[gt]=someday',
      '_id=123',
      '_id[in]=abc',
      'user_id=me',
      'n[zz]=1',
      'n[$where]=1',
      'n[regex]=.*',
      'n[in]=',
      'n[or]=',
      's[ctn]=',
      'nope=1',
      'nope[gt]=1',
      'sort_asc=nope',
      'sort_desc=a',
      'sort_asc=loc',
      'sort_asc=file',
      'output[include]=nope',
      'output[exclude]=n,nope',
      'output=n',
      'group_by=nope',
      'group_by=a',
      'group_by=s&s[calc]=sum',
      'group_by=s&n[calc]=median',
      'n[calc]=sum',
      'limit=abc',
      'limit=-2',
      'skip=-1',
      'skip=1.5',
      `n[in]=${Array.from({ length: 101 }, (_, i) => i).join(',')}`,
    ];
    for (const query of queries) {
      refused(await fx.as(token, 'GET', `/data/${cls}.json?${query}`), 422, `GET ?${query}`);
    }
    const before = await snapshot();
    for (const query of ['n[zz]=1', 'loc[near]=1,2', 'nope=1', 'n[gt]=abc']) {
      const [key, value] = query.split('=') as [string, string];
      refused(
        await fx.as(token, 'DELETE', `/data/${cls}/by_criteria.json`, { form: { [key]: value } }),
        422,
        `DELETE by ${query}`,
      );
      refused(
        await fx.as(token, 'PUT', `/data/${cls}/by_criteria.json`, {
          form: { [`search_criteria[${key.replace('[', '][')}`.replace(/\]?$/, ']')]: value, s: 'x' },
        }),
        422,
        `PUT by ${query}`,
      );
    }
    refused(
      await fx.as(token, 'PUT', `/data/${cls}/by_criteria.json`, { json: { search_criteria: 'n=1', s: 'x' } }),
      422,
      'criteria not an object',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('never lets a name or a value reach SQL: injection attempts are refused or matched literally', async () => {
    const before = await snapshot();
    const names = [
      "n' or '1'='1",
      'n"; drop table data_classes; --',
      'n) or (1=1',
      'n/**/or/**/1',
      'f_n',
      'p_read',
      '_id; delete',
      'n\u0000',
    ];
    for (const name of names) {
      const key = encodeURIComponent(name);
      for (const query of [`${key}=1`, `${key}[gt]=1`, `sort_asc=${key}`, `output[include]=${key}`, `group_by=${key}`]) {
        refused(await fx.as(token, 'GET', `/data/${cls}.json?${query}`), 422, `GET ?${query}`);
      }
      refused(await fx.as(token, 'POST', `/data/${cls}.json`, { json: { [name]: 1 } }), 422, `create ${name}`);
      refused(await fx.as(token, 'PUT', `/data/${cls}/${rec._id}.json`, { json: { inc: { [name]: 1 } } }), 422, `inc ${name}`);
      // f_n and p_read are fine names (columns f_f_n, f_p_read; tables co_<id>); the rest cannot name fields or classes.
      if (!['f_n', 'p_read'].includes(name)) {
        const field = { name: `X${randomBytes(2).toString('hex')}`, fields: { [name]: 'String' } };
        refused(await fx.admin('POST', '/class.json', field), 422, `field ${name}`);
        refused(await fx.admin('POST', '/class.json', { name, fields: {} }), 422, `class ${name}`);
      }
      const path = await fx.as(token, 'GET', `/data/${encodeURIComponent(name)}.json`);
      expect(path.status, name).toBeGreaterThanOrEqual(400);
      expect(path.status, name).toBeLessThan(500);
    }
    // Values are bound parameters: they match only records that hold them, literally.
    const evil = ["' or '1'='1", "keep' --", '%', '_', '\\', 'keep%', "'); drop table data_classes; --"];
    for (const value of evil) {
      const made = await fx.as(token, 'POST', `/data/${cls}.json`, { json: { s: value, a: [value] } });
      expect(made.status).toBe(201);
      for (const query of [
        `s=${encodeURIComponent(value)}`,
        `a=${encodeURIComponent(value)}`,
        `s[in]=${encodeURIComponent(value)}`,
      ]) {
        const found = await fx.as(token, 'GET', `/data/${cls}.json?${query}`);
        expect(
          found.json.items.map((i: any) => i._id),
          query,
        ).toEqual([made.json._id]);
      }
      const ctn = await fx.as(token, 'GET', `/data/${cls}.json?s[ctn]=${encodeURIComponent(value)}&limit=100`);
      const all = await snapshot();
      expect(ctn.json.items.map((i: any) => i._id).sort()).toEqual(
        all
          .filter((r: any) => typeof r.s === 'string' && r.s.includes(value))
          .map((r: any) => r._id)
          .sort(),
      );
      expect((await fx.as(token, 'DELETE', `/data/${cls}/${made.json._id}.json`)).status).toBe(200);
    }
    expect(await snapshot()).toEqual(before);
    expect((await fx.admin('GET', '/class.json')).json.items.map((i: any) => i.class.name)).toContain(cls);
    // Field names that look like the table's own columns stay fields.
    const odd = fx.className('Odd');
    const oddClass = { name: odd, fields: { n: 'Integer', f_n: 'Integer', p_read: 'String' } };
    expect((await fx.admin('POST', '/class.json', oddClass)).status).toBe(201);
    const made = await fx.as(token, 'POST', `/data/${odd}.json`, { json: { n: 1, f_n: 2, p_read: 'owner' } });
    expect(made.json).toMatchObject({ n: 1, f_n: 2, p_read: 'owner', permissions: { read: { access: 'open' } } });
    const found = await fx.as(fx.appToken, 'GET', `/data/${odd}.json?p_read=owner`);
    expect(found.json.items.map((i: any) => i._id)).toEqual([made.json._id]);
  });

  it('refuses a file over 32 MB with 413 and keeps the record and the blob store as they were', async () => {
    const upload = (size: number, fieldName = 'file') => {
      const boundary = 'BIGBOUNDARY';
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="field_name"\r\n\r\n${fieldName}\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      return fx.as(token, 'POST', `/data/${cls}/${rec._id}/file.json`, {
        body: Buffer.concat([head, Buffer.alloc(size, 7), tail]),
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      });
    };
    const keys = async () => {
      const out: string[] = [];
      for await (const item of fx.server.app.services.records.blobStore.list('data')) out.push(item.key);
      return out.sort();
    };
    const small = await upload(1000);
    expect(small.status, small.text).toBe(200);
    const before = await snapshot();
    const keysBefore = await keys();
    expect(keysBefore).toHaveLength(1);
    refused(await upload(32 * 1024 * 1024 + 1), 413, 'over 32 MB');
    refused(await upload(10, 'n'), 422, 'not a file field');
    refused(await upload(10, 'nope'), 422, 'unknown field');
    refused(await upload(10, ''), 422, 'no field');
    expect(await snapshot()).toEqual(before);
    // The partial upload's bytes are gone (removed after the answer, so give it a moment).
    let left = await keys();
    for (let i = 0; i < 50 && left.length !== keysBefore.length; i++) {
      await new Promise((done) => setTimeout(done, 20));
      left = await keys();
    }
    expect(left).toEqual(keysBefore);
    // Exactly 32 MB is allowed.
    const edge = await upload(32 * 1024 * 1024);
    expect(edge.status, edge.text).toBe(200);
    expect(edge.json.size).toBe(32 * 1024 * 1024);
  });

  it('refuses bad class definitions over REST', async () => {
    const bodies: unknown[] = [
      { name: '', fields: {} },
      { name: '1abc', fields: {} },
      { name: 'a'.repeat(65), fields: {} },
      { name: 'Ok', fields: { x: 'Text' } },
      { name: 'Ok', fields: { x: { type: 'Array', indexed: true } } },
      { name: 'Ok', fields: { _id: 'String' } },
      { name: 'Ok', fields: { user_id: 'Integer' } },
      { name: 'Ok', fields: { a__b: 'String' } },
      { name: 'Ok', fields: { X: 'String', x: 'Integer' } },
      { name: 'Ok', fields: 'x:String' },
      { name: 'Ok', fields: {}, permissions: { read: { access: 'sometimes' } } },
      { name: 'Ok', fields: {}, permissions: { create: { access: 'owner' } } },
    ];
    for (const body of bodies) refused(await fx.admin('POST', '/class.json', body), 422, JSON.stringify(body));
    refused(await fx.admin('PUT', `/class/${cls}.json`, { add_fields: { n: 'Integer' } }), 422, 'field exists');
    refused(await fx.admin('PUT', `/class/${cls}.json`, { remove_fields: ['nope'] }), 422, 'no such field');
    refused(await fx.admin('PUT', `/class/${cls}.json`, { index: ['nope'] }), 422, 'index no field');
    refused(
      await fx.as(token, 'PUT', `/class/${cls}.json`, { json: { add_fields: { z: 'String' } } }),
      403,
      'user changes class',
    );
    refused(await fx.as(token, 'DELETE', `/class/${cls}.json`), 403, 'user deletes class');
    refused(await fx.as(fx.appToken, 'GET', '/class.json'), 403, 'app session lists classes');
    expect((await fx.admin('GET', `/class/${cls}.json`)).json.class.fields.map((f: any) => f.name)).toEqual([
      'n',
      'f',
      's',
      'b',
      'a',
      'd',
      'loc',
      'file',
    ]);
  });
});
