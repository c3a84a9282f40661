import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

interface Made {
  id: number;
  login: string;
  full_name: string | null;
  external_user_id: number | null;
  created_at: number;
  last_request_at: number | null;
}

const DAY = 86_400_000;

/**
 * GET /users.json filters and orders, each answer checked against what the
 * users this test wrote say it should be (computed here, not written down).
 */
describe.each(dialects)('users: list filters and orders (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let headers: Record<string, string>;
  let QB: any;
  const made: Made[] = [];

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    // Eight users, logins and external ids in an order other than their ids,
    // some without a full name, external id or last request, a day apart across new year 2024.
    const shuffle = [3, 0, 6, 1, 7, 2, 5, 4];
    const start = Date.UTC(2023, 11, 29, 6, 30, 15);
    const rows = shuffle.map((k, i) => ({
      application_id: app.application_id,
      login: `lst${String.fromCharCode(97 + k)}`,
      full_name: i % 3 === 0 ? null : `name ${String.fromCharCode(104 - k)}`,
      external_user_id: i % 4 === 1 ? null : 5000 + ((k * 3) % 8),
      password_hash: '',
      created_at: start + i * DAY,
      updated_at: start + i * DAY,
      last_request_at: i % 2 === 0 ? null : start + (8 - i) * DAY,
    }));
    const db = server.app.services.storage.db;
    for (const row of rows) {
      const { id } = await db.insertInto('users').values(row).returning('id').executeTakeFirstOrThrow();
      made.push({ id, ...row });
    }
    const session = await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now()) });
    headers = { 'QB-Token': session.json.session.token };
    QB = createSdk(server, app);
    await call((cb) => QB.createSession(cb));
  });
  afterAll(() => server?.close());

  async function ids(query: string): Promise<number[]> {
    const response = await server.request('GET', `/users.json?per_page=100&${query}`, { headers });
    expect(response.status, query).toBe(200);
    expect(response.json.total_entries, query).toBe(response.json.items.length);
    return response.json.items.map((item: any) => item.user.id);
  }
  const byId = (a: Made, b: Made) => a.id - b.id;
  const expected = (keep: (user: Made) => boolean) =>
    made
      .filter(keep)
      .sort(byId)
      .map((u) => u.id);
  const filter = (text: string) => `filter[]=${encodeURIComponent(text)}`;
  const isoOf = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

  it('gt, lt, ge, le, eq and ne on numbers, with matching values', async () => {
    const pivot = made[3] as Made;
    const ext = pivot.external_user_id as number;
    const cases: Array<[string, (u: Made) => boolean]> = [
      [`number id gt ${pivot.id}`, (u) => u.id > pivot.id],
      [`number id lt ${pivot.id}`, (u) => u.id < pivot.id],
      [`number id ge ${pivot.id}`, (u) => u.id >= pivot.id],
      [`number id le ${pivot.id}`, (u) => u.id <= pivot.id],
      [`number id eq ${pivot.id}`, (u) => u.id === pivot.id],
      [`number id ne ${pivot.id}`, (u) => u.id !== pivot.id],
      [`number external_user_id gt ${ext}`, (u) => u.external_user_id !== null && u.external_user_id > ext],
      [`number external_user_id lt ${ext}`, (u) => u.external_user_id !== null && u.external_user_id < ext],
      [`number external_user_id le ${ext}`, (u) => u.external_user_id !== null && u.external_user_id <= ext],
      [`number external_user_id eq ${ext}`, (u) => u.external_user_id === ext],
    ];
    for (const [text, keep] of cases) {
      const want = expected(keep);
      expect(want.length, `${text} picks some users, not all`).toBeGreaterThan(0);
      expect(await ids(filter(text)), text).toEqual(want);
    }
  });

  it('gt, lt, le and eq on strings', async () => {
    const pivot = (made[2] as Made).login;
    const name = (made[4] as Made).full_name as string;
    const cases: Array<[string, (u: Made) => boolean]> = [
      [`string login gt ${pivot}`, (u) => u.login > pivot],
      [`string login lt ${pivot}`, (u) => u.login < pivot],
      [`string login le ${pivot}`, (u) => u.login <= pivot],
      [`string login eq ${pivot}`, (u) => u.login === pivot],
      [`string full_name eq ${name}`, (u) => u.full_name === name],
      [`string full_name gt ${name}`, (u) => u.full_name !== null && u.full_name > name],
    ];
    for (const [text, keep] of cases) {
      const want = expected(keep);
      expect(want.length, text).toBeGreaterThan(0);
      expect(await ids(filter(text)), text).toEqual(want);
    }
  });

  it('date filters: ISO times, dates, unix seconds, between, and several at once', async () => {
    const newYear = Date.UTC(2024, 0, 1);
    const third = made[3] as Made;
    const fifth = made[5] as Made;
    const seconds = (ms: number) => Math.floor(ms / 1000);
    const cases: Array<[string, (u: Made) => boolean]> = [
      ['date created_at gt 2024-01-01T00:00:00Z', (u) => u.created_at > newYear],
      ['date created_at lt 2024-01-01T00:00:00Z', (u) => u.created_at < newYear],
      ['date created_at ge 2024-01-01', (u) => u.created_at >= newYear],
      [`date created_at le ${isoOf(third.created_at)}`, (u) => u.created_at <= third.created_at],
      [`date created_at eq ${isoOf(third.created_at)}`, (u) => u.created_at === third.created_at],
      [`date created_at gt ${seconds(third.created_at)}`, (u) => u.created_at > third.created_at],
      [`date updated_at lt ${seconds(third.created_at)}`, (u) => u.created_at < third.created_at],
      [
        `date created_at between ${isoOf(third.created_at)},${isoOf(fifth.created_at)}`,
        (u) => u.created_at >= third.created_at && u.created_at <= fifth.created_at,
      ],
      [`date last_request_at gt 2024-01-01T00:00:00Z`, (u) => u.last_request_at !== null && u.last_request_at > newYear],
      // The JS SDK's habit: several filters in one filter[], joined by commas.
      [
        `date created_at gt 2023-12-30T00:00:00Z,number id ne ${third.id}`,
        (u) => u.created_at > Date.UTC(2023, 11, 30) && u.id !== third.id,
      ],
    ];
    for (const [text, keep] of cases) {
      const want = expected(keep);
      expect(want.length, text).toBeGreaterThan(0);
      expect(want.length, text).toBeLessThan(made.length + (text.includes('last_request_at') ? 1 : 0));
      expect(await ids(filter(text)), text).toEqual(want);
    }
    // Two filter[] parameters narrow each other.
    expect(await ids(`${filter('date created_at ge 2024-01-01')}&${filter(`number id lt ${fifth.id}`)}`)).toEqual(
      expected((u) => u.created_at >= newYear && u.id < fifth.id),
    );
  });

  it('date filters in the forms the SDK sends them (type string or number, never date)', async () => {
    const newYear = Date.UTC(2024, 0, 1);
    const list = async (params: object) =>
      (await call((cb) => QB.users.listUsers({ per_page: 100, ...params }, cb))).items.map((i: any) => i.user.id);
    expect(await list({ filter: { field: 'created_at', param: 'gt', value: '2024-01-01T00:00:00Z' } })).toEqual(
      expected((u) => u.created_at > newYear),
    );
    expect(await list({ filter: { field: 'created_at', param: 'lt', value: newYear / 1000 } })).toEqual(
      expected((u) => u.created_at < newYear),
    );
    const [from, to] = [(made[1] as Made).created_at, (made[6] as Made).created_at];
    expect(await list({ filter: { field: 'created_at', param: 'between', value: [from / 1000, to / 1000] } })).toEqual(
      expected((u) => u.created_at >= from && u.created_at <= to),
    );
  });

  it('orders by a column with NULLs the same on both databases: first ascending, last descending', async () => {
    const nullsFirst = (key: 'full_name' | 'external_user_id' | 'last_request_at') => (a: Made, b: Made) => {
      const [x, y] = [a[key], b[key]];
      if (x === y) return a.id - b.id;
      if (x === null) return -1;
      if (y === null) return 1;
      return x < y ? -1 : 1;
    };
    const sorted = (key: 'full_name' | 'external_user_id' | 'last_request_at') =>
      [...made].sort(nullsFirst(key)).map((u) => u.id);
    for (const [field, type] of [
      ['full_name', 'string'],
      ['external_user_id', 'number'],
      ['last_request_at', 'date'],
    ] as const) {
      const asc = sorted(field);
      expect(made.some((u) => u[field] === null) && made.some((u) => u[field] !== null)).toBe(true);
      expect(await ids(`order=${encodeURIComponent(`asc ${type} ${field}`)}`), `asc ${field}`).toEqual(asc);
      // The SDK always says "string".
      expect(await ids(`order=${encodeURIComponent(`asc string ${field}`)}`), `asc string ${field}`).toEqual(asc);
      expect(await ids(`order=${encodeURIComponent(`desc ${type} ${field}`)}`), `desc ${field}`).toEqual([...asc].reverse());
    }
    // And pages cut that order where it says.
    const asc = sorted('full_name');
    const page2 = await server.request(
      'GET',
      `/users.json?per_page=3&page=2&order=${encodeURIComponent('asc string full_name')}`,
      {
        headers,
      },
    );
    expect(page2.json.items.map((i: any) => i.user.id)).toEqual(asc.slice(3, 6));
  });
});
