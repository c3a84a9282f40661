import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/**
 * Every search operator against every field type, every sort and every
 * aggregate, with the expected records computed here from the records
 * created (a small model of QuickBlox's MongoDB semantics: missing values
 * match ne/nin, sort first ascending, and are left out of aggregates).
 */
type Rec = {
  _id: string;
  n?: number;
  f?: number;
  s?: string;
  b?: boolean;
  a?: Array<string | number>;
  d?: number;
  loc?: [number, number];
};
type Scalar = 'n' | 'f' | 's' | 'b' | 'd';

const STRINGS = ['alpha', 'Beta', 'gamma', 'alphabet', 'Zeta', 'beta', 'a b', "it's"];
const DAY = 86_400;
const T0 = 1_700_000_000;

function record(i: number): Omit<Rec, '_id'> {
  const r: Omit<Rec, '_id'> = {};
  if (i % 5 !== 4) r.n = ((i * 7) % 11) - 3;
  if (i % 6 !== 5) r.f = i * 1.25 - 4.5;
  if (i % 7 !== 6) r.s = STRINGS[i % 8] as string;
  if (i % 4 !== 3) r.b = i % 3 === 0;
  if (i % 5 !== 2) r.a = [`t${i % 3}`, i % 2 ? 'odd' : 'even', ...(i % 4 === 0 ? [i % 3] : [])];
  if (i % 6 !== 4) r.d = T0 + ((i * 5) % 16) * DAY;
  if (i % 5 !== 3) r.loc = [(i % 4) * 0.01, Math.floor(i / 4) * 0.01];
  return r;
}

/** Great-circle distance in meters (the same formula QuickBlox documents: a sphere). */
function meters(a: [number, number], b: [number, number]): number {
  const rad = Math.PI / 180;
  const h =
    Math.sin(((b[1] - a[1]) * rad) / 2) ** 2 +
    Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(((b[0] - a[0]) * rad) / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Binary order, as MongoDB compares strings. */
const cmp = (x: unknown, y: unknown): number => (x === y ? 0 : (x as number) < (y as number) ? -1 : 1);

describe.each(dialects)('custom-object operators (%s)', (dialect) => {
  let fx: DataFixture;
  let token: string;
  let cls: string;
  let rows: Rec[];

  beforeAll(async () => {
    fx = await dataFixture(dialect, { ann: '' });
    token = fx.users.ann?.token as string;
    cls = fx.className('Ops');
    const created = await fx.admin('POST', '/class.json', {
      name: cls,
      fields: {
        n: 'Integer',
        f: 'Float',
        s: { type: 'String', indexed: true },
        b: 'Boolean',
        a: 'Array',
        d: 'Date',
        loc: { type: 'Location', indexed: true },
        file: 'File',
      },
    });
    expect(created.status).toBe(201);
    rows = [];
    for (let i = 0; i < 16; i++) {
      const values = record(i);
      const body: Record<string, unknown> = { ...values };
      if (values.d !== undefined) body.d = i % 2 ? values.d : new Date(values.d * 1000).toISOString();
      const res = await fx.as(token, 'POST', `/data/${cls}.json`, { json: body });
      expect(res.status, res.text).toBe(201);
      rows.push({ ...values, _id: res.json._id });
    }
  });
  afterAll(async () => {
    await fx?.close();
  });

  const get = async (query: string) => {
    const res = await fx.as(token, 'GET', `/data/${cls}.json?${query}`);
    expect(res.status, `${query}: ${res.text}`).toBe(200);
    return res.json;
  };
  const ids = (list: Rec[]) => list.map((r) => r._id);
  const expectMatch = async (query: string, keep: (r: Rec) => boolean) => {
    const expected = ids(rows.filter(keep)).sort();
    // The model must not be trivially empty or everything, or the check proves little.
    const got = (await get(`${query}&limit=100`)).items.map((i: any) => i._id).sort();
    expect(got, query).toEqual(expected);
    return expected.length;
  };

  it('returns each record as created, typed by the class', async () => {
    const items = (await get('limit=100')).items;
    expect(items.map((i: any) => i._id)).toEqual(ids(rows));
    for (const [k, item] of items.entries()) {
      const r = rows[k] as Rec;
      expect(item).toMatchObject({
        n: r.n ?? null,
        f: r.f ?? null,
        s: r.s ?? null,
        b: r.b ?? null,
        a: r.a ?? null,
        loc: r.loc ?? null,
        file: null,
        d: r.d === undefined ? null : `${new Date(r.d * 1000).toISOString().slice(0, 19)}Z`,
      });
    }
  });

  it('compares every scalar type with = ne lt lte gt gte in nin or', async () => {
    const probes: Array<[Scalar, string, unknown]> = [
      ['n', '2', 2],
      ['n', '-3', -3],
      ['f', '0.5', 0.5],
      ['f', '-1.75', -1.75],
      ['s', 'beta', 'beta'],
      ['s', 'alpha', 'alpha'],
      ['b', 'true', true],
      ['b', 'false', false],
      ['d', String(T0 + 5 * DAY), T0 + 5 * DAY],
      ['d', new Date((T0 + 9 * DAY) * 1000).toISOString(), T0 + 9 * DAY],
    ];
    let nonTrivial = 0;
    for (const [field, text, value] of probes) {
      const has = (r: Rec) => r[field] !== undefined;
      const at = (r: Rec) => r[field] as unknown;
      const counts = [
        await expectMatch(`${field}=${encodeURIComponent(text)}`, (r) => has(r) && at(r) === value),
        await expectMatch(`${field}[ne]=${encodeURIComponent(text)}`, (r) => !has(r) || at(r) !== value),
      ];
      if (field !== 'b') {
        counts.push(
          await expectMatch(`${field}[lt]=${encodeURIComponent(text)}`, (r) => has(r) && cmp(at(r), value) < 0),
          await expectMatch(`${field}[lte]=${encodeURIComponent(text)}`, (r) => has(r) && cmp(at(r), value) <= 0),
          await expectMatch(`${field}[gt]=${encodeURIComponent(text)}`, (r) => has(r) && cmp(at(r), value) > 0),
          await expectMatch(`${field}[gte]=${encodeURIComponent(text)}`, (r) => has(r) && cmp(at(r), value) >= 0),
        );
      }
      nonTrivial += counts.filter((c) => c > 0 && c < rows.length).length;
    }
    expect(nonTrivial).toBeGreaterThan(40);

    const lists: Array<[Scalar, string[], unknown[]]> = [
      ['n', ['2', '-3', '99'], [2, -3, 99]],
      ['f', ['0.5', '-4.5'], [0.5, -4.5]],
      ['s', ['beta', 'Zeta', "it's"], ['beta', 'Zeta', "it's"]],
      ['b', ['true'], [true]],
      ['d', [String(T0), String(T0 + 10 * DAY)], [T0, T0 + 10 * DAY]],
    ];
    for (const [field, texts, values] of lists) {
      const q = encodeURIComponent(texts.join(','));
      const inList = (r: Rec) => r[field] !== undefined && values.includes(r[field]);
      expect(await expectMatch(`${field}[in]=${q}`, inList)).toBeGreaterThan(0);
      await expectMatch(`${field}[nin]=${q}`, (r) => !inList(r));
      await expectMatch(`${field}[or]=${q}`, inList);
    }
    // or across fields: any of them.
    await expectMatch('n[or]=2&s[or]=gamma,Beta', (r) => r.n === 2 || r.s === 'gamma' || r.s === 'Beta');
    // Several conditions on one field and across fields are all required.
    await expectMatch('n[gte]=0&n[lt]=5&b=true', (r) => r.n !== undefined && r.n >= 0 && r.n < 5 && r.b === true);
    await expectMatch(`f[gt]=-2&d[lte]=${T0 + 8 * DAY}`, (r) => (r.f ?? -99) > -2 && (r.d ?? Infinity) <= T0 + 8 * DAY);
  });

  it('matches substrings with ctn, case and quotes kept', async () => {
    for (const needle of ['alpha', 'eta', 'Bet', "'", ' ', 'zz']) {
      await expectMatch(`s[ctn]=${encodeURIComponent(needle)}`, (r) => r.s?.includes(needle) === true);
    }
  });

  it('tests Array elements with = in nin ne all or', async () => {
    const hasAny = (r: Rec, vs: string[]) => (r.a ?? []).some((e) => vs.includes(String(e)));
    let nonTrivial = 0;
    for (const vs of [['t1'], ['odd'], ['1'], ['t0', 'odd'], ['nope'], ['0', 'even']]) {
      const q = encodeURIComponent(vs.join(','));
      const counts = [
        await expectMatch(`a[in]=${q}`, (r) => hasAny(r, vs)),
        await expectMatch(`a[nin]=${q}`, (r) => !hasAny(r, vs)),
        await expectMatch(`a[ne]=${q}`, (r) => !hasAny(r, vs)),
        await expectMatch(`a[all]=${q}`, (r) => vs.every((v) => (r.a ?? []).map(String).includes(v))),
        await expectMatch(`a[or]=${q}`, (r) => hasAny(r, vs)),
      ];
      if (vs.length === 1) counts.push(await expectMatch(`a=${q}`, (r) => hasAny(r, vs)));
      nonTrivial += counts.filter((c) => c > 0 && c < rows.length).length;
    }
    expect(nonTrivial).toBeGreaterThan(15);
  });

  it('finds Locations with near, nearest first', async () => {
    for (const [lon, lat, radius] of [
      [0, 0, 1500],
      [0.015, 0.01, 2000],
      [0.03, 0.03, 800],
      [0, 0, 0],
      [120, -45, 5000],
    ] as const) {
      const inside = rows.filter((r) => r.loc !== undefined && meters(r.loc, [lon, lat]) <= radius);
      const res = await get(`loc[near]=${lon},${lat};${radius}&limit=100`);
      const distance = (id: string) => meters(rows.find((r) => r._id === id)?.loc as [number, number], [lon, lat]);
      expect(res.items.map((i: any) => i._id).sort(), `${lon},${lat};${radius}`).toEqual(ids(inside).sort());
      const order = res.items.map((i: any) => distance(i._id));
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    // With a sort, the sort wins; near still filters.
    const sorted = await get('loc[near]=0,0;2500&sort_desc=n&limit=100');
    const expected = rows
      .filter((r) => r.loc !== undefined && meters(r.loc, [0, 0]) <= 2500)
      .sort((x, y) => cmp(x.n ?? Number.NEGATIVE_INFINITY, y.n ?? Number.NEGATIVE_INFINITY) || cmp(x._id, y._id))
      .reverse();
    expect(sorted.items.map((i: any) => i._id)).toEqual(ids(expected));
  });

  it('refuses operators a field type does not have, with a 422 naming the parameter', async () => {
    const refused: string[] = [
      'n[all]=1',
      'n[ctn]=1',
      'n[near]=0,0;10',
      'f[ctn]=1',
      'f[all]=1',
      's[all]=a',
      's[near]=0,0;10',
      'b[lt]=true',
      'b[gte]=false',
      'b[ctn]=t',
      'b[all]=true',
      'd[ctn]=2023',
      'd[all]=1',
      'a[lt]=1',
      'a[gte]=1',
      'a[ctn]=t',
      'a[near]=0,0;10',
      'loc=1,2',
      'loc[ne]=1,2',
      'loc[in]=1,2',
      'loc[gt]=1',
      'loc[ctn]=1',
      'file=x',
      'file[ne]=x',
      'file[in]=x',
      'file[near]=0,0;1',
    ];
    for (const query of refused) {
      const res = await fx.as(token, 'GET', `/data/${cls}.json?${query}`);
      expect({ query, status: res.status, param: Object.keys(res.json?.errors ?? {})[0] }).toEqual({
        query,
        status: 422,
        param: expect.stringMatching(new RegExp(`^${query.split(/[[=]/)[0]}`)),
      });
    }
  });

  it('sorts every sortable type both ways, missing values first ascending, with skip and limit', async () => {
    for (const field of ['n', 'f', 's', 'b', 'd', '_id', 'created_at'] as const) {
      const key = (r: Rec) => (field === 'created_at' ? 0 : (r as Record<string, unknown>)[field]);
      const asc = [...rows].sort((x, y) => {
        const a = key(x);
        const b = key(y);
        if (a === undefined || b === undefined) return a === b ? cmp(x._id, y._id) : a === undefined ? -1 : 1;
        return cmp(a, b) || cmp(x._id, y._id);
      });
      if (field === 'created_at') continue; // all in the same second here; checked by _id above
      const desc = [...asc].reverse();
      expect(
        (await get(`sort_asc=${field}&limit=100`)).items.map((i: any) => i._id),
        `asc ${field}`,
      ).toEqual(ids(asc));
      expect(
        (await get(`sort_desc=${field}&limit=100`)).items.map((i: any) => i._id),
        `desc ${field}`,
      ).toEqual(ids(desc));
      expect((await get(`sort_desc=${field}&skip=3&limit=4`)).items.map((i: any) => i._id)).toEqual(ids(desc.slice(3, 7)));
      expect((await get(`sort_asc=${field}&limit=-1`)).items.map((i: any) => i._id)).toEqual(ids(asc.slice(-1)));
    }
    // Default order is _id; limit defaults to 100 and never goes above.
    const all = await get('');
    expect(all.items.map((i: any) => i._id)).toEqual(ids(rows));
    expect(all.limit).toBe(100);
    expect((await get('limit=1000')).limit).toBe(100);
    expect((await get('limit=-1')).items.map((i: any) => i._id)).toEqual(ids(rows.slice(-1)));
    expect((await get('skip=14')).items.map((i: any) => i._id)).toEqual(ids(rows.slice(14)));
  });

  it('counts and aggregates with group_by and calc, computed from the records', async () => {
    for (const [query, keep] of [
      ['', () => true],
      ['n[gt]=0', (r: Rec) => (r.n ?? -99) > 0],
      ['a=odd', (r: Rec) => r.a?.includes('odd') === true],
      ['b[ne]=true', (r: Rec) => r.b !== true],
    ] as const) {
      expect(await get(`${query}&count=1`)).toEqual({ class_name: cls, count: rows.filter(keep).length });
    }
    const calc = (values: number[], fn: string) => {
      if (values.length === 0) return null;
      if (fn === 'sum') return values.reduce((x, y) => x + y, 0);
      if (fn === 'min') return Math.min(...values);
      if (fn === 'max') return Math.max(...values);
      return values.reduce((x, y) => x + y, 0) / values.length;
    };
    for (const group of ['s', 'b', 'n'] as const) {
      for (const fn of ['avg', 'min', 'max', 'sum']) {
        const target = group === 'n' ? 'f' : 'n';
        const res = await get(`group_by=${group}&${target}[calc]=${fn}&limit=100`);
        const groups = new Map<unknown, number[]>();
        for (const r of rows) {
          const g = r[group] ?? null;
          if (!groups.has(g)) groups.set(g, []);
          const v = r[target];
          if (v !== undefined) groups.get(g)?.push(v);
        }
        const expected = [...groups]
          .sort(([x], [y]) => (x === null ? -1 : y === null ? 1 : cmp(x, y)))
          .map(([g, values]) => ({ [group]: g, [target]: calc(values, fn) }));
        expect(res.items.length, `${group} ${fn}`).toBe(expected.length);
        res.items.forEach((item: Record<string, unknown>, k: number) => {
          const want = expected[k] as Record<string, unknown>;
          expect(item[group], `${group} ${fn}`).toEqual(want[group]);
          if (want[target] === null) expect(item[target]).toBeNull();
          else expect(item[target] as number, `${group}=${String(want[group])} ${fn}`).toBeCloseTo(want[target] as number, 9);
        });
      }
    }
    // A date group comes back as a date, like the field itself.
    const byDate = await get('group_by=d&n[calc]=max&limit=100');
    const dates = new Set(rows.map((r) => (r.d === undefined ? null : `${new Date(r.d * 1000).toISOString().slice(0, 19)}Z`)));
    expect(new Set(byDate.items.map((i: any) => i.d))).toEqual(dates);
  });

  it('projects fields with output[include] and output[exclude]', async () => {
    const inc = await get('output%5Binclude%5D=n,loc&limit=100');
    for (const item of inc.items) expect(Object.keys(item).sort()).toEqual(['_id', 'loc', 'n']);
    const exc = await get('output[exclude]=a,file,user_id&limit=3');
    for (const item of exc.items) {
      expect(Object.keys(item).sort()).toEqual(['_id', '_parent_id', 'b', 'created_at', 'd', 'f', 'loc', 'n', 's', 'updated_at']);
    }
  });
});
