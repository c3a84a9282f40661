import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/**
 * Updates: plain values and every update operator against every field type
 * (the expected record computed here, step by step), refusals that leave
 * the record as it was, and concurrent updates that never lose a change.
 */
type Element = string | number | boolean | null;

const TYPES = {
  n: 'Integer',
  f: 'Float',
  s: 'String',
  b: 'Boolean',
  a: 'Array',
  d: 'Date',
  loc: 'Location',
  file: 'File',
} as const;

/** A model of the array operators (elements match by their text, as the SDK sends them). */
const model = {
  pull: (list: Element[], values: string[]) => list.filter((e) => !values.includes(String(e))),
  pullWhere: (list: Element[], keep: (e: Element) => boolean) => list.filter((e) => !keep(e)),
  push: (list: Element[], values: Element[]) => [...list, ...values],
  addToSet: (list: Element[], values: Element[]) => {
    const out = [...list];
    for (const v of values) if (!out.some((e) => String(e) === String(v))) out.push(v);
    return out;
  },
  pop: (list: Element[], first: boolean) => (first ? list.slice(1) : list.slice(0, -1)),
  at: (list: Element[], index: number, value: Element) => {
    const out = [...list];
    while (out.length < index) out.push(null);
    out[index] = value;
    return out;
  },
};

describe.each(dialects)('custom-object updates (%s)', (dialect) => {
  let fx: DataFixture;
  let token: string;
  let cls: string;

  beforeAll(async () => {
    fx = await dataFixture(dialect, { ann: '' });
    token = fx.users.ann?.token as string;
    cls = fx.className('Upd');
    expect((await fx.admin('POST', '/class.json', { name: cls, fields: TYPES })).status).toBe(201);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const create = async (json: Record<string, unknown>) => {
    const res = await fx.as(token, 'POST', `/data/${cls}.json`, { json });
    expect(res.status, res.text).toBe(201);
    return res.json;
  };
  const read = async (id: string) => (await fx.as(token, 'GET', `/data/${cls}/${id}.json`)).json.items[0];
  const putJson = (id: string, json: unknown) => fx.as(token, 'PUT', `/data/${cls}/${id}.json`, { json });
  const putForm = (id: string, form: Record<string, string>) => fx.as(token, 'PUT', `/data/${cls}/${id}.json`, { form });

  it('sets a value of every type, from JSON and from forms, and clears it with null', async () => {
    const rec = await create({});
    const cases: Array<[keyof typeof TYPES, unknown, string, unknown]> = [
      ['n', 42, '-17', -17],
      ['f', 2.5, '1e3', 1000],
      ['s', 'hello', "it's", "it's"],
      ['b', true, 'false', false],
      ['a', ['x', 2, true], 'p,q', ['p', 'q']],
      ['d', 1_700_000_000, '2024-02-29T12:00:00Z', '2024-02-29T12:00:00Z'],
      ['loc', [12.5, -45], '-3.25,51.5', [-3.25, 51.5]],
    ];
    for (const [field, jsonValue, formValue, formExpected] of cases) {
      const viaJson = await putJson(rec._id, { [field]: jsonValue });
      expect(viaJson.status, viaJson.text).toBe(200);
      const expected = field === 'd' ? `${new Date((jsonValue as number) * 1000).toISOString().slice(0, 19)}Z` : jsonValue;
      expect((await read(rec._id))[field], field).toEqual(expected);
      const viaForm = await putForm(rec._id, { [field]: formValue });
      expect(viaForm.status, viaForm.text).toBe(200);
      expect((await read(rec._id))[field], field).toEqual(formExpected);
      expect((await putJson(rec._id, { [field]: null })).status).toBe(200);
      expect((await read(rec._id))[field], field).toBeNull();
    }
  });

  it('increments Integer and Float fields, missing values counting as 0', async () => {
    const rec = await create({ n: 10, f: 0.5 });
    let n = 10;
    let f = 0.5;
    for (const [by, byF] of [
      [5, 0.25],
      [-20, -3],
      [0, 1.5],
    ] as const) {
      expect((await putJson(rec._id, { inc: { n: by, f: byF } })).status).toBe(200);
      n += by;
      f += byF;
      expect(await read(rec._id)).toMatchObject({ n, f });
    }
    expect((await putForm(rec._id, { 'inc[n]': '7', 'inc[f]': '-0.5' })).status).toBe(200);
    expect(await read(rec._id)).toMatchObject({ n: n + 7, f: f - 0.5 });
    const empty = await create({});
    await putJson(empty._id, { inc: { n: 3, f: 1.5 } });
    expect(await read(empty._id)).toMatchObject({ n: 3, f: 1.5 });
  });

  it('applies push, add_to_set, pull (value, filter, all), pop and field[i] like the model', async () => {
    let list: Element[] = ['a', 'b', 5, 'c', 9, 'b', 12];
    const rec = await create({ a: list });
    const steps: Array<[string, Record<string, unknown> | Record<string, string>, (l: Element[]) => Element[]]> = [
      ['json', { pull: { a: 'b' } }, (l) => model.pull(l, ['b'])],
      ['form', { 'pull[a][gt]': '9' }, (l) => model.pullWhere(l, (e) => typeof e === 'number' && e > 9)],
      ['json', { push: { a: ['x', 3] } }, (l) => model.push(l, ['x', 3])],
      ['form', { 'push[a][]': 'y,z' }, (l) => model.push(l, ['y', 'z'])],
      ['json', { add_to_set: { a: ['x', 'new', 'new'] } }, (l) => model.addToSet(l, ['x', 'new', 'new'])],
      ['form', { 'pull_all[a][]': 'y,5' }, (l) => model.pull(l, ['y', '5'])],
      ['json', { pull: { a: { in: ['z', 'a'] } } }, (l) => model.pull(l, ['z', 'a'])],
      [
        'json',
        { pull: { a: { nin: ['x', 'new', '3', 'c'] } } },
        (l) => l.filter((e) => ['x', 'new', '3', 'c'].includes(String(e))),
      ],
      ['form', { 'pull[a][lte]': '3' }, (l) => model.pullWhere(l, (e) => typeof e === 'number' && e <= 3)],
      ['form', { 'pop[a]': '1' }, (l) => model.pop(l, false)],
      ['json', { pop: { a: -1 } }, (l) => model.pop(l, true)],
      ['form', { 'a[1]': 'second' }, (l) => model.at(l, 1, 'second')],
      ['json', { a: { '4': 'far' } }, (l) => model.at(l, 4, 'far')],
      ['json', { pull: { a: { ne: 'far' } } }, (l) => model.pullWhere(l, (e) => e !== 'far')],
    ];
    for (const [how, body, apply] of steps) {
      const res = how === 'json' ? await putJson(rec._id, body) : await putForm(rec._id, body as Record<string, string>);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(200);
      list = apply(list);
      expect(res.json.a, JSON.stringify(body)).toEqual(list);
      expect((await read(rec._id)).a).toEqual(list);
    }
    expect(list).toEqual(['far']);
  });

  it('refuses an operator on a field type without it, and leaves the record as it was', async () => {
    const rec = await create({ n: 1, f: 1.5, s: 's', b: true, a: ['q'], d: 1_700_000_000, loc: [1, 2] });
    const before = await read(rec._id);
    const bodies: unknown[] = [];
    for (const field of ['s', 'b', 'a', 'd', 'loc', 'file']) bodies.push({ inc: { [field]: 1 } });
    for (const op of ['push', 'pull', 'pull_all', 'add_to_set', 'pop']) {
      for (const field of ['n', 'f', 's', 'b', 'd', 'loc', 'file']) bodies.push({ [op]: { [field]: op === 'pop' ? 1 : 'x' } });
    }
    bodies.push(
      { n: 'abc' },
      { n: 1.5 },
      { n: '9007199254740993' },
      { f: 'x' },
      { b: 'maybe' },
      { d: 'not a date' },
      { loc: [181, 0] },
      { loc: '1' },
      { a: [{ deep: 1 }] },
      { s: { deep: 1 } },
      { file: 'x' },
      { nope: 1 },
      { pop: { a: 2 } },
      { pull: { a: { gt: 1, lt: 5 } } },
      { pull: { a: { where: 1 } } },
      { inc: { n: 'abc' } },
      { inc: 5 },
      { a: { '5000': 'x' } },
      // A valid change with a refused one: neither is written.
      { n: 99, s: 'changed', inc: { b: 1 } },
      { n: 99, f: 'bad' },
    );
    for (const body of bodies) {
      const res = await putJson(rec._id, body);
      expect({ body, status: res.status, errors: res.json?.errors !== undefined }).toEqual({ body, status: 422, errors: true });
    }
    expect(await read(rec._id)).toEqual(before);
  });

  it('updates by criteria and in bulk with operators, only what matches', async () => {
    const tag = `crit${Date.now()}`;
    const made = [];
    for (let i = 0; i < 8; i++) made.push(await create({ s: tag, n: i, a: [`k${i % 2}`] }));
    const res = await fx.as(token, 'PUT', `/data/${cls}/by_criteria.json`, {
      form: { 'search_criteria[s]': tag, 'search_criteria[n][gte]': '3', 'inc[n]': '100', 'push[a][]': 'hit' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json.total_found).toBe(5);
    const after = (await fx.as(token, 'GET', `/data/${cls}.json?s=${tag}&sort_asc=_id`)).json.items;
    expect(after.map((r: any) => r.n)).toEqual(made.map((_, i) => (i >= 3 ? i + 100 : i)));
    expect(after.map((r: any) => r.a)).toEqual(made.map((_, i) => (i >= 3 ? [`k${i % 2}`, 'hit'] : [`k${i % 2}`])));
    const bulk = await fx.as(token, 'PUT', `/data/${cls}/multi.json`, {
      json: {
        record: [
          { _id: made[0]._id, inc: { n: 1 } },
          { _id: made[1]._id, s: `${tag}-moved` },
          { _id: '0'.repeat(24), n: 1 },
        ],
      },
    });
    expect(bulk.status, bulk.text).toBe(200);
    expect(bulk.json.not_found.ids).toEqual(['0'.repeat(24)]);
    expect((await read(made[0]._id)).n).toBe(1);
    expect((await read(made[1]._id)).s).toBe(`${tag}-moved`);
  });

  it('never loses a change when requests update one record at once', async () => {
    const rec = await create({ n: 0, f: 0, a: [] });
    const pushed = Array.from({ length: 15 }, (_, i) => `v${i}`);
    const results = await Promise.all([
      ...Array.from({ length: 15 }, () => putForm(rec._id, { 'inc[n]': '1' })),
      ...Array.from({ length: 15 }, () => putJson(rec._id, { inc: { f: 0.5 } })),
      ...pushed.map((v) => putJson(rec._id, { push: { a: v } })),
      ...Array.from({ length: 5 }, () =>
        fx.as(token, 'PUT', `/data/${cls}/by_criteria.json`, { json: { search_criteria: { _id: rec._id }, inc: { n: 10 } } }),
      ),
    ]);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const after = await read(rec._id);
    expect(after.n).toBe(15 + 50);
    expect(after.f).toBe(7.5);
    expect([...after.a].sort()).toEqual([...pushed].sort());
  });
});
