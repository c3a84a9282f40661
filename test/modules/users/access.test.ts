import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

/** Every user write, tried as each kind of caller, over raw HTTP. */
describe.each(dialects)('users: who may write, and bad input (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let apiKey: string;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    apiKey = await server.app.services.apps.createApiKey(app.application_id);
  });
  afterAll(() => server?.close());

  async function token(extra: Record<string, string> = {}): Promise<string> {
    const response = await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now(), extra) });
    expect(response.status).toBe(201);
    return response.json.session.token;
  }
  const userToken = (login: string, password: string) => token({ 'user[login]': login, 'user[password]': password });

  type Caller =
    | 'app session'
    | 'the user'
    | 'another user'
    | 'api key'
    | 'api key on behalf of the user'
    | 'api key on behalf of another user';
  async function headersFor(caller: Caller, login: string, targetId: number): Promise<Record<string, string>> {
    switch (caller) {
      case 'app session':
        return { 'QB-Token': await token() };
      case 'the user':
        return { 'QB-Token': await userToken(login, 'password-123') };
      case 'another user':
        return { 'QB-Token': await userToken('bystander', 'password-123') };
      case 'api key':
        return { Authorization: `ApiKey ${apiKey}` };
      case 'api key on behalf of the user':
        return { Authorization: `ApiKey ${apiKey}`, 'On-Behalf-Of': String(targetId) };
      case 'api key on behalf of another user': {
        const bystander = await server.app.services.users.getBy(app.application_id, 'login', 'bystander');
        return { Authorization: `ApiKey ${apiKey}`, 'On-Behalf-Of': String(bystander.id) };
      }
    }
  }

  // A user changes and deletes only themselves; a server API key anyone (On-Behalf-Of or not); an app session nobody.
  const matrix: Array<[Caller, { update: number; delete: number }]> = [
    ['app session', { update: 403, delete: 403 }],
    ['the user', { update: 200, delete: 200 }],
    ['another user', { update: 403, delete: 403 }],
    ['api key', { update: 200, delete: 200 }],
    ['api key on behalf of the user', { update: 200, delete: 200 }],
    ['api key on behalf of another user', { update: 200, delete: 200 }],
  ];

  let targets = 0;
  async function newTarget() {
    await server.createUser(app.application_id, 'bystander', 'password-123').catch(() => {});
    const login = `target-${++targets}`;
    const target = await server.createUser(app.application_id, login, 'password-123');
    await server.app.services.users.update(app.application_id, { userId: null, via: 'apikey' }, target.id, {
      external_user_id: target.id + 100000,
    });
    return { login, id: target.id };
  }

  it.each(matrix)('update and delete by external id as %s', async (caller, expected) => {
    const target = await newTarget();
    const headers = await headersFor(caller, target.login, target.id);

    const update = await server.request('PUT', `/users/${target.id}.json`, { headers, form: { 'user[full_name]': 'Changed' } });
    expect(update.status).toBe(expected.update);
    const afterUpdate = await server.app.services.users.get(app.application_id, target.id);
    expect(afterUpdate.full_name).toBe(expected.update === 200 ? 'Changed' : null);
    if (expected.update !== 200) expect(update.json).toHaveProperty('errors');

    const removal = await server.request('DELETE', `/users/external/${target.id + 100000}.json`, { headers });
    expect(removal.status).toBe(expected.delete);
    const exists = await server.app.services.users.exists(app.application_id, target.id);
    expect(exists).toBe(expected.delete !== 200);
  });

  it.each(matrix)('DELETE /users/{id}.json as %s', async (caller, expected) => {
    const target = await newTarget();
    const headers = await headersFor(caller, target.login, target.id);
    const removal = await server.request('DELETE', `/users/${target.id}.json`, { headers });
    expect(removal.status).toBe(expected.delete);
    if (expected.delete === 403) expect(removal.json.errors).toBeDefined();
    expect(await server.app.services.users.exists(app.application_id, target.id)).toBe(expected.delete !== 200);
    if (expected.delete === 200) {
      // Gone for every caller, and a second delete finds nothing.
      const again = await server.request('DELETE', `/users/${target.id}.json`, {
        headers: { Authorization: `ApiKey ${apiKey}` },
      });
      expect(again.status).toBe(404);
    }
  });

  it('deleting an id no user of the application has: 404 for an API key, 403 for another user', async () => {
    const other = await server.createApplication();
    const stranger = await server.createUser(other.application_id, 'stranger', 'password-123');
    const asKey = await server.request('DELETE', `/users/${stranger.id}.json`, {
      headers: { Authorization: `ApiKey ${apiKey}` },
    });
    expect(asKey.status).toBe(404);
    await server.createUser(app.application_id, 'bystander', 'password-123').catch(() => {});
    const asUser = await server.request('DELETE', `/users/${stranger.id}.json`, {
      headers: { 'QB-Token': await userToken('bystander', 'password-123') },
    });
    expect(asUser.status).toBe(403);
    expect(await server.app.services.users.exists(other.application_id, stranger.id)).toBe(true);
  });

  it('signs up from a user session and from an API key with On-Behalf-Of too', async () => {
    await server.createUser(app.application_id, 'bystander', 'password-123').catch(() => {});
    const bystander = await server.app.services.users.getBy(app.application_id, 'login', 'bystander');
    const callers: Array<[string, Record<string, string>]> = [
      ['user-session', { 'QB-Token': await userToken('bystander', 'password-123') }],
      ['api-key-obo', { Authorization: `ApiKey ${apiKey}`, 'On-Behalf-Of': String(bystander.id) }],
    ];
    for (const [name, headers] of callers) {
      const created = await server.request('POST', '/users.json', {
        headers,
        form: { 'user[login]': `signup-by-${name}`, 'user[password]': 'password-123' },
      });
      expect(created.status, name).toBe(201);
      expect(created.json.user.login).toBe(`signup-by-${name}`);
      const stored = await server.app.services.users.getBy(app.application_id, 'login', `signup-by-${name}`);
      expect(stored.id).toBe(created.json.user.id);
    }
  });

  it('signs up with application sessions and API keys, not without credentials', async () => {
    const callers: Array<Record<string, string>> = [{ 'QB-Token': await token() }, { Authorization: `ApiKey ${apiKey}` }];
    for (const [i, headers] of callers.entries()) {
      const created = await server.request('POST', '/users.json', {
        headers,
        form: { 'user[login]': `signup-${i}`, 'user[password]': 'password-123' },
      });
      expect(created.status).toBe(201);
      expect(created.json.user.login).toBe(`signup-${i}`);
    }
    const anonymous = await server.request('POST', '/users.json', {
      form: { 'user[login]': 'anon', 'user[password]': 'password-123' },
    });
    expect(anonymous.status).toBe(401);
  });

  it('follows the per-application settings for sign-up and listing by application sessions', async () => {
    const restricted = await server.createApplication();
    await server.app.services.apps.updateSettings(restricted.application_id, {
      allow_app_session_signup: false,
      allow_app_session_list_users: false,
    });
    await server.createUser(restricted.application_id, 'insider', 'password-123');
    const appSession = async (extra: Record<string, string> = {}) =>
      (await server.request('POST', '/session.json', { form: sessionForm(restricted, server.clock.now(), extra) })).json.session
        .token;

    const asApp = { 'QB-Token': await appSession() };
    const signup = await server.request('POST', '/users.json', {
      headers: asApp,
      form: { 'user[login]': 'new', 'user[password]': 'password-123' },
    });
    expect(signup.status).toBe(403);
    expect((await server.request('GET', '/users.json', { headers: asApp })).status).toBe(403);

    const asUser = { 'QB-Token': await appSession({ 'user[login]': 'insider', 'user[password]': 'password-123' }) };
    const listed = await server.request('GET', '/users.json', { headers: asUser });
    expect(listed.status).toBe(200);
    expect(listed.json.items.map((i: any) => i.user.login)).toEqual(['insider']);
  });

  it('answers bad sign-ups with 422 per-field messages and stores nothing', async () => {
    const headers = { 'QB-Token': await token() };
    const before = await server.app.services.storage.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ password: 'password-123' }, 'base'],
      [{ login: 'x1', password: 'short' }, 'password'],
      [{ login: 'x2', password: 'password-123', email: 'not-an-email' }, 'email'],
      [{ login: 'x3', password: 'password-123', tag_list: 'a,b,c,d,e,f' }, 'tag_list'],
      [{ login: 'x4', password: 'password-123', custom_data: 'x'.repeat(70 * 1024) }, 'custom_data'],
      [{ login: 'x5', password: 'password-123', favourite_colour: 'blue' }, 'favourite_colour'],
      [{ login: 'x6', password: 'password-123', external_user_id: 'abc' }, 'external_user_id'],
      [{ login: { nested: true }, password: 'password-123' }, 'login'],
      [{ login: 'x'.repeat(51), password: 'password-123' }, 'login'],
    ];
    for (const [user, field] of cases) {
      const response = await server.request('POST', '/users.json', { headers, json: { user } });
      expect(response.status, JSON.stringify(user).slice(0, 80)).toBe(422);
      expect(Object.keys(response.json.errors)).toContain(field);
    }
    const notObject = await server.request('POST', '/users.json', { headers, form: { user: 'alice' } });
    expect(notObject.status).toBe(422);
    const after = await server.app.services.storage.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('answers bad filters, orders and pages with 422 naming the parameter', async () => {
    const headers = { 'QB-Token': await token() };
    const cases: Array<[string, string]> = [
      ['filter[]=number+id+gt', 'filter'],
      ['filter[]=number+password_hash+eq+x', 'filter'],
      ['filter[]=number+id+like+3', 'filter'],
      ['filter[]=number+id+gt+abc', 'filter'],
      ['filter[]=date+created_at+gt+not-a-date', 'filter'],
      ['filter[]=number+id+between+1', 'filter'],
      ['filter[x][y]=1', 'filter'],
      ['order=sideways+string+id', 'order'],
      ['order=asc+string+password_hash', 'order'],
      ['page=0', 'page'],
      ['per_page=-5', 'per_page'],
    ];
    for (const [query, parameter] of cases) {
      const response = await server.request('GET', `/users.json?${query}`, { headers });
      expect(response.status, query).toBe(422);
      expect(Object.keys(response.json.errors), query).toContain(parameter);
    }
    const big = await server.request('GET', '/users.json?per_page=1000', { headers });
    expect(big.status).toBe(200);
    expect(big.json.per_page).toBe(100);
    const missing = await server.request('GET', '/users/999999.json', { headers });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ errors: ['Not Found'] });
    const notNumeric = await server.request('GET', '/users/abc.json', { headers });
    expect(notNumeric.status).toBeGreaterThanOrEqual(400);
    expect(notNumeric.status).toBeLessThan(500);
  });
});
