import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type RawResponse } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/**
 * The permission matrix: owner, another user, a tagged user, a listed user,
 * an application session and the API key, for every action, under record
 * rules and under class rules of every level. What each may do is computed
 * by a model of QuickBlox's documented rules, then every path is checked:
 * list, by ids, count and aggregates (none may leak), file download; update
 * by id, by criteria, in bulk, file upload and delete; delete by id, by ids
 * and by criteria.
 */
type Level = 'open' | 'owner' | 'not_allowed' | 'open_for_groups' | 'open_for_users_ids';
type Action = 'read' | 'update' | 'delete';
type Actor = 'owner' | 'other' | 'tagged' | 'listed' | 'app' | 'apikey';
const ACTORS: Actor[] = ['owner', 'other', 'tagged', 'listed', 'app', 'apikey'];
const ACTIONS: Action[] = ['read', 'update', 'delete'];

interface Rec {
  _id: string;
  n: number;
  level: Level | 'default';
}

describe.each(dialects)('custom-object permissions (%s)', (dialect) => {
  let fx: DataFixture;
  let ids: Record<Actor, number | null>;

  beforeAll(async () => {
    fx = await dataFixture(dialect, { owner: '', other: 'chess', tagged: 'chess,golf', listed: '' });
    ids = {
      owner: fx.users.owner?.id ?? null,
      other: fx.users.other?.id ?? null,
      tagged: fx.users.tagged?.id ?? null,
      listed: fx.users.listed?.id ?? null,
      app: null,
      apikey: null,
    };
  });
  afterAll(async () => {
    await fx?.close();
  });

  const send = (actor: Actor, method: string, path: string, opts: { json?: unknown; form?: Record<string, string> } = {}) =>
    actor === 'apikey'
      ? fx.server.request(method, path, { ...opts, headers: { authorization: `ApiKey ${fx.apiKey}` } })
      : fx.as(actor === 'app' ? fx.appToken : (fx.users[actor]?.token as string), method, path, opts);

  /** Whether a rule of this level lets the actor in (the owner passes only `open` and `owner`... and their own record rules). */
  function ruleAllows(level: Level, actor: Actor, isOwner: boolean): boolean {
    if (level === 'open') return true;
    if (level === 'owner') return isOwner;
    if (level === 'open_for_groups') return actor === 'tagged';
    if (level === 'open_for_users_ids') return actor === 'listed';
    return false;
  }
  /** The model: the API key may do anything; app sessions never write; a class rule replaces record rules. */
  function may(actor: Actor, action: Action, rec: Rec, classLevel: Level | null): boolean {
    if (actor === 'apikey') return true;
    if (actor === 'app' && action !== 'read') return false;
    const isOwner = actor === 'owner';
    if (classLevel) return ruleAllows(classLevel, actor, isOwner);
    if (isOwner) return true;
    const level = rec.level === 'default' ? (action === 'read' ? 'open' : 'owner') : rec.level;
    return ruleAllows(level, actor, false);
  }

  function recordForm(level: Rec['level']): Record<string, string> {
    if (level === 'default') return {};
    const form: Record<string, string> = {};
    for (const action of ACTIONS) {
      form[`permissions[${action}][access]`] = level;
      if (level === 'open_for_groups') form[`permissions[${action}][groups]`] = 'golf,tennis';
      if (level === 'open_for_users_ids') form[`permissions[${action}][ids]`] = `${ids.listed},999999`;
    }
    return form;
  }

  /** A set of records, one per record level, made by the owner (with a file each for the read checks). */
  async function makeSet(cls: string, group: string, withFiles = false): Promise<Rec[]> {
    const levels: Rec['level'][] = ['default', 'open', 'owner', 'open_for_groups', 'open_for_users_ids'];
    const out: Rec[] = [];
    for (const [k, level] of levels.entries()) {
      const n = 2 ** k;
      const res = await send('owner', 'POST', `/data/${cls}.json`, {
        form: { g: group, n: String(n), m: '0', ...recordForm(level) },
      });
      expect(res.status, res.text).toBe(201);
      const rec = { _id: res.json._id as string, n, level };
      if (withFiles) {
        const up = await uploadAs('owner', cls, rec._id);
        expect(up.status, up.text).toBe(200);
      }
      out.push(rec);
    }
    return out;
  }

  function uploadAs(actor: Actor, cls: string, id: string): Promise<RawResponse> {
    const boundary = 'PERMBOUNDARY';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="field_name"\r\n\r\nfile\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello ${id}\r\n--${boundary}--\r\n`,
    );
    const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
    if (actor === 'apikey') headers.authorization = `ApiKey ${fx.apiKey}`;
    else headers['qb-token'] = actor === 'app' ? fx.appToken : (fx.users[actor]?.token as string);
    return fx.server.request('POST', `/data/${cls}/${id}/file.json`, { headers, body });
  }

  const writeStatus = (allowed: boolean) => (allowed ? 200 : 403);

  /** Runs every path for one actor over its own sets of records. */
  async function checkActor(
    cls: string,
    actor: Actor,
    sets: Record<'read' | 'byId' | 'byIds' | 'byCriteria', Rec[]>,
    classLevel: Partial<Record<Action, Level>>,
  ) {
    const where = `${actor}`;
    // Reads, counts, aggregates and downloads see exactly the readable records.
    const readSet = sets.read;
    const group = `${cls}-${actor}-read`;
    const readable = readSet.filter((r) => may(actor, 'read', r, classLevel.read ?? null));
    const listed = await send(actor, 'GET', `/data/${cls}.json?g=${group}&sort_asc=n`);
    expect(
      listed.json.items.map((i: any) => i._id),
      `${where} list`,
    ).toEqual(readable.map((r) => r._id));
    const byIds = await send(actor, 'GET', `/data/${cls}/${readSet.map((r) => r._id).join(',')}.json`);
    expect(byIds.json.items.map((i: any) => i._id).sort(), `${where} by ids`).toEqual(readable.map((r) => r._id).sort());
    expect((await send(actor, 'GET', `/data/${cls}.json?g=${group}&count=1`)).json.count, `${where} count`).toBe(readable.length);
    const sum = await send(actor, 'GET', `/data/${cls}.json?g=${group}&group_by=g&n[calc]=sum`);
    expect(sum.json.items, `${where} aggregate`).toEqual(
      readable.length === 0 ? [] : [{ g: group, n: readable.reduce((s, r) => s + r.n, 0) }],
    );
    const maxed = await send(actor, 'GET', `/data/${cls}.json?g=${group}&group_by=g&n[calc]=max`);
    expect(maxed.json.items, `${where} max`).toEqual(
      readable.length === 0 ? [] : [{ g: group, n: Math.max(...readable.map((r) => r.n)) }],
    );
    for (const rec of readSet) {
      const path = `/data/${cls}/${rec._id}/file.json?field_name=file`;
      const res =
        actor === 'apikey'
          ? await send(actor, 'GET', path)
          : await fx.server.request('GET', `${path}&token=${actor === 'app' ? fx.appToken : fx.users[actor]?.token}`);
      const ok = may(actor, 'read', rec, classLevel.read ?? null);
      expect({ where, level: rec.level, status: res.status }, 'download').toEqual({
        where,
        level: rec.level,
        status: ok ? 200 : 404,
      });
      if (ok) expect(res.text).toBe(`hello ${rec._id}`);
    }

    // Updates by id, in bulk, by criteria, and of files.
    const mayUpdate = (r: Rec) => may(actor, 'update', r, classLevel.update ?? null);
    for (const rec of readSet) {
      const res = await send(actor, 'PUT', `/data/${cls}/${rec._id}.json`, { json: { s: `by-${actor}` } });
      expect({ where, level: rec.level, status: res.status }, 'update').toEqual({
        where,
        level: rec.level,
        status: writeStatus(mayUpdate(rec)),
      });
    }
    const bulk = await send(actor, 'PUT', `/data/${cls}/multi.json`, {
      json: { record: readSet.map((r) => ({ _id: r._id, inc: { m: 1 } })) },
    });
    if (actor === 'app') expect(bulk.status).toBe(403);
    else {
      expect(bulk.status, bulk.text).toBe(200);
      expect([...bulk.json.not_found.ids].sort(), `${where} bulk`).toEqual(
        readSet
          .filter((r) => !mayUpdate(r))
          .map((r) => r._id)
          .sort(),
      );
    }
    const crit = await send(actor, 'PUT', `/data/${cls}/by_criteria.json`, {
      json: { search_criteria: { g: group }, inc: { m: 10 } },
    });
    if (actor === 'app') expect(crit.status).toBe(403);
    else expect(crit.json.total_found, `${where} by criteria`).toBe(readSet.filter(mayUpdate).length);
    const after = await send('apikey', 'GET', `/data/${cls}.json?g=${group}&sort_asc=n`);
    expect(
      after.json.items.map((i: any) => [i.s, i.m]),
      `${where} what was written`,
    ).toEqual(readSet.map((r) => (mayUpdate(r) ? [`by-${actor}`, 11] : [null, 0])));
    for (const rec of readSet) {
      const up = await uploadAs(actor, cls, rec._id);
      expect({ where, level: rec.level, status: up.status }, 'upload').toEqual({
        where,
        level: rec.level,
        status: writeStatus(mayUpdate(rec)),
      });
      const del = await send(actor, 'DELETE', `/data/${cls}/${rec._id}/file.json`, { form: { field_name: 'file' } });
      expect({ where, level: rec.level, status: del.status }, 'file delete').toEqual({
        where,
        level: rec.level,
        status: writeStatus(mayUpdate(rec)),
      });
    }

    // Deletes one by one, by ids and by criteria.
    const mayDelete = (r: Rec) => may(actor, 'delete', r, classLevel.delete ?? null);
    for (const rec of sets.byId) {
      const res = await send(actor, 'DELETE', `/data/${cls}/${rec._id}.json`);
      expect({ where, level: rec.level, status: res.status }, 'delete').toEqual({
        where,
        level: rec.level,
        status: writeStatus(mayDelete(rec)),
      });
    }
    const report = await send(actor, 'DELETE', `/data/${cls}/${sets.byIds.map((r) => r._id).join(',')}.json`);
    if (actor === 'app') expect(report.status).toBe(403);
    else
      expect(report.json, `${where} delete by ids`).toEqual({
        SuccessfullyDeleted: { ids: sets.byIds.filter(mayDelete).map((r) => r._id) },
        NotFound: { ids: [] },
        WrongPermissions: { ids: sets.byIds.filter((r) => !mayDelete(r)).map((r) => r._id) },
      });
    const critGroup = `${cls}-${actor}-crit`;
    const byCrit = await send(actor, 'DELETE', `/data/${cls}/by_criteria.json`, { form: { g: critGroup } });
    if (actor === 'app') expect(byCrit.status).toBe(403);
    else expect(byCrit.json, `${where} delete by criteria`).toEqual({ total_deleted: sets.byCriteria.filter(mayDelete).length });
    for (const set of [sets.byId, sets.byIds, sets.byCriteria]) {
      const left = await send('apikey', 'GET', `/data/${cls}/${set.map((r) => r._id).join(',')}.json`);
      expect(left.json.items.map((i: any) => i._id).sort(), `${where} what is left`).toEqual(
        set
          .filter((r) => !mayDelete(r))
          .map((r) => r._id)
          .sort(),
      );
    }
  }

  async function run(classLevel: Level | null) {
    const cls = fx.className('Perm');
    expect(
      (
        await fx.admin('POST', '/class.json', {
          name: cls,
          fields: { g: 'String', n: 'Integer', m: 'Integer', s: 'String', file: 'File' },
        })
      ).status,
    ).toBe(201);
    const sets: Record<string, Record<'read' | 'byId' | 'byIds' | 'byCriteria', Rec[]>> = {};
    for (const actor of ACTORS) {
      sets[actor] = {
        read: await makeSet(cls, `${cls}-${actor}-read`, true),
        byId: await makeSet(cls, `${cls}-${actor}-byid`),
        byIds: await makeSet(cls, `${cls}-${actor}-byids`),
        byCriteria: await makeSet(cls, `${cls}-${actor}-crit`),
      };
    }
    const levels: Partial<Record<Action, Level>> = {};
    if (classLevel) {
      const rule = (level: Level) => ({
        access: level,
        use_class: true,
        ...(level === 'open_for_groups' ? { groups: ['golf'] } : {}),
        ...(level === 'open_for_users_ids' ? { ids: [ids.listed] } : {}),
      });
      const changed = await fx.admin('PUT', `/class/${cls}.json`, {
        permissions: { read: rule(classLevel), update: rule(classLevel), delete: rule(classLevel) },
      });
      expect(changed.status, changed.text).toBe(200);
      for (const action of ACTIONS) levels[action] = classLevel;
    }
    for (const actor of ACTORS) await checkActor(cls, actor, sets[actor] as never, levels);
  }

  it('enforces record rules (use_class off) on every path', async () => {
    await run(null);
  });
  for (const level of ['open', 'owner', 'not_allowed', 'open_for_groups', 'open_for_users_ids'] as const) {
    it(`enforces a class rule of ${level} on every path, over the records' own rules`, async () => {
      await run(level);
    });
  }

  it('lets in creators by the class create rule', async () => {
    for (const level of ['open', 'not_allowed', 'open_for_groups', 'open_for_users_ids'] as const) {
      const cls = fx.className('Make');
      const create = {
        access: level,
        ...(level === 'open_for_groups' ? { groups: ['golf'] } : {}),
        ...(level === 'open_for_users_ids' ? { ids: [ids.listed] } : {}),
      };
      expect(
        (await fx.admin('POST', '/class.json', { name: cls, fields: { n: 'Integer' }, permissions: { create } })).status,
      ).toBe(201);
      for (const actor of ACTORS) {
        const allowed = actor === 'apikey' || (actor !== 'app' && ruleAllows(level, actor, false));
        const one = await send(actor, 'POST', `/data/${cls}.json`, { json: { n: 1 } });
        const many = await send(actor, 'POST', `/data/${cls}/multi.json`, { json: { record: [{ n: 1 }, { n: 2 }] } });
        expect({ level, actor, one: one.status, many: many.status }).toEqual({
          level,
          actor,
          one: allowed ? 201 : 403,
          many: allowed ? 201 : 403,
        });
      }
      const count = (await fx.admin('GET', `/data/${cls}.json?count=1`)).json.count;
      expect(count).toBe(3 * ACTORS.filter((a) => a === 'apikey' || (a !== 'app' && ruleAllows(level, a, false))).length);
    }
    // A class create rule can never be owner.
    expect(
      (
        await fx.admin('POST', '/class.json', {
          name: fx.className('Bad'),
          fields: {},
          permissions: { create: { access: 'owner' } },
        })
      ).status,
    ).toBe(422);
  });

  it('lets only the owner change a record’s permissions, and a record rule never says not_allowed', async () => {
    const cls = fx.className('Own');
    await fx.admin('POST', '/class.json', { name: cls, fields: { n: 'Integer' } });
    const rec = (
      await send('owner', 'POST', `/data/${cls}.json`, {
        form: { n: '1', 'permissions[update][access]': 'open' },
      })
    ).json;
    expect(rec.permissions.update).toEqual({ access: 'open' });
    const stolen = await send('other', 'PUT', `/data/${cls}/${rec._id}.json`, { form: { 'permissions[read][access]': 'owner' } });
    expect(stolen.status).toBe(403);
    expect((await send('other', 'PUT', `/data/${cls}/${rec._id}.json`, { form: { n: '2' } })).status).toBe(200);
    const mine = await send('owner', 'PUT', `/data/${cls}/${rec._id}.json`, { form: { 'permissions[read][access]': 'owner' } });
    expect(mine.json.permissions.read).toEqual({ access: 'owner' });
    expect((await send('other', 'GET', `/data/${cls}/${rec._id}.json`)).json.items).toEqual([]);
    const refused = await send('owner', 'POST', `/data/${cls}.json`, {
      form: { n: '1', 'permissions[read][access]': 'not_allowed' },
    });
    expect(refused.status).toBe(422);
  });

  it('lets only the owner move a record under another parent (deleting that parent would delete it)', async () => {
    const cls = fx.className('Kept');
    await fx.admin('POST', '/class.json', { name: cls, fields: { n: 'Integer' } });
    // Anyone may update the owner's record, only the owner delete it.
    const theirs = (await send('owner', 'POST', `/data/${cls}.json`, { form: { n: '1', 'permissions[update][access]': 'open' } }))
      .json;
    const bait = (await send('other', 'POST', `/data/${cls}.json`, { form: { n: '2' } })).json;
    const moved = await send('other', 'PUT', `/data/${cls}/${theirs._id}.json`, { form: { _parent_id: bait._id } });
    expect(moved.status).toBe(403);
    expect(moved.json.errors).toBeDefined();
    expect((await send('other', 'DELETE', `/data/${cls}/${bait._id}.json`)).status).toBe(200);
    expect((await send('owner', 'GET', `/data/${cls}/${theirs._id}.json`)).json.items).toHaveLength(1);
    // The same value again (a client sending the whole record back) is no change; the owner may move it.
    expect((await send('other', 'PUT', `/data/${cls}/${theirs._id}.json`, { form: { n: '3', _parent_id: '' } })).status).toBe(
      200,
    );
    const parent = (await send('owner', 'POST', `/data/${cls}.json`, { form: { n: '4' } })).json;
    const mine = await send('owner', 'PUT', `/data/${cls}/${theirs._id}.json`, { form: { _parent_id: parent._id } });
    expect(mine.status).toBe(200);
    expect(mine.json._parent_id).toBe(parent._id);
  });
});
