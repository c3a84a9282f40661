import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

/** PUT /users/{id}.json refused: QuickBlox's 422 shapes, and the row exactly as it was. */
describe.each(dialects)('users: refused updates write nothing (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let target: { id: number };
  let headers: Record<string, string>;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    await server.createUser(app.application_id, 'holder', 'password-123', 'holder@example.com');
    target = await server.createUser(app.application_id, 'target', 'password-123', 'target@example.com');
    await server.app.services.users.update(app.application_id, { userId: null, via: 'apikey' }, target.id, {
      full_name: 'Target Person',
      tag_list: 'one,two',
      custom_data: '{"keep":true}',
    });
    const session = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': 'target', 'user[password]': 'password-123' }),
    });
    expect(session.status).toBe(201);
    headers = { 'QB-Token': session.json.session.token };
  });
  afterAll(() => server?.close());

  /** The stored row and its tag rows, straight from the database. */
  async function stored() {
    const db = server.app.services.storage.db;
    const row = await db.selectFrom('users').selectAll().where('id', '=', target.id).executeTakeFirstOrThrow();
    const tags = await db.selectFrom('users_tags').select('tag').where('user_id', '=', target.id).orderBy('tag').execute();
    return { row, tags: tags.map((t) => t.tag) };
  }

  async function refused(user: Record<string, unknown>) {
    const before = await stored();
    // A write that slipped through would carry a later updated_at.
    server.clock.advance(2_000);
    const response = await server.request('PUT', `/users/${target.id}.json`, { headers, json: { user } });
    expect(response.status, JSON.stringify(user).slice(0, 100)).toBe(422);
    expect(await stored()).toEqual(before);
    return response.json;
  }

  it('keeps login and email unique', async () => {
    expect(await refused({ login: 'holder' })).toEqual({ errors: { login: ['has already been taken'] } });
    expect(await refused({ email: 'HOLDER@example.com' })).toEqual({ errors: { email: ['has already been taken'] } });
    // With other changes alongside (tags live in their own table), still nothing of it is kept.
    expect(await refused({ login: 'holder', full_name: 'Renamed', tag_list: 'three' })).toEqual({
      errors: { login: ['has already been taken'] },
    });
    expect(await refused({ email: 'holder@example.com', custom_data: 'new', tag_list: '' })).toEqual({
      errors: { email: ['has already been taken'] },
    });
  });

  it('refuses bad fields, naming each', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ email: 'not-an-email' }, 'email'],
      [{ email: 'two@@example.com', full_name: 'Renamed' }, 'email'],
      [{ favourite_colour: 'blue' }, 'favourite_colour'],
      [{ full_name: 'Renamed', password_hash: 'x' }, 'password_hash'],
      [{ tag_list: 'a,b,c,d,e,f' }, 'tag_list'],
      [{ tag_list: ['a', 'b', 'c', 'd', 'e', 'f'], full_name: 'Renamed' }, 'tag_list'],
      [{ custom_data: 'x'.repeat(64 * 1024 + 1) }, 'custom_data'],
      [{ login: 'x'.repeat(51) }, 'login'],
      [{ external_user_id: 'abc' }, 'external_user_id'],
      [{ login: '', email: '' }, 'base'],
    ];
    for (const [user, field] of cases) {
      const body = await refused(user);
      expect(Object.keys(body.errors), JSON.stringify(user).slice(0, 100)).toContain(field);
    }
  });

  it('refuses a new password that is too short, or comes without the right old one', async () => {
    expect(Object.keys((await refused({ password: 'short' })).errors)).toContain('password');
    expect(Object.keys((await refused({ password: 'short', old_password: 'wrong-password' })).errors)).toContain('password');
    expect(Object.keys((await refused({ password: 'short', old_password: 'password-123' })).errors)).toContain('password');
    expect(Object.keys((await refused({ password: 'long-enough-1' })).errors)).toEqual(['old_password']);
    expect(Object.keys((await refused({ password: 'long-enough-1', old_password: 'wrong-password' })).errors)).toEqual([
      'old_password',
    ]);
    expect(Object.keys((await refused({ password: 'long-enough-1', old_password: 'wrong', full_name: 'X' })).errors)).toEqual([
      'old_password',
    ]);
    // The old password still signs in.
    const session = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': 'target', 'user[password]': 'password-123' }),
    });
    expect(session.status).toBe(201);
  });

  it('and a good update after all that is written whole', async () => {
    const response = await server.request('PUT', `/users/${target.id}.json`, {
      headers,
      json: { user: { full_name: 'Renamed', tag_list: 'three', email: 'new@example.com' } },
    });
    expect(response.status).toBe(200);
    const after = await stored();
    expect(after.row).toMatchObject({ full_name: 'Renamed', email: 'new@example.com', user_tags: 'three', login: 'target' });
    expect(after.tags).toEqual(['three']);
  });
});
