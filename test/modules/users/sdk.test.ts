import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

describe.each(dialects)('users through the official SDK (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let QB: any;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    QB = createSdk(server, app);
    await call((cb) => QB.createSession(cb)); // the SDK's sign-up flow starts with an application session
  });
  afterAll(() => server?.close());

  it('signs up users with every documented field and reads them back every way the SDK asks', async () => {
    const created = await call((cb) =>
      QB.users.create(
        {
          login: 'captain',
          password: 'jack-sparrow-1',
          email: 'Captain@Example.com',
          full_name: 'Captain Jack',
          phone: '4487556488',
          website: 'https://example.com',
          facebook_id: '100000883956766',
          twitter_id: '23434883956766',
          twitter_digits_id: '67434863956765',
          external_user_id: 21445,
          tag_list: 'man,car',
          custom_data: '{"age":34}',
        },
        cb,
      ),
    );
    expect(created).toMatchObject({
      login: 'captain',
      email: 'captain@example.com',
      full_name: 'Captain Jack',
      phone: '4487556488',
      website: 'https://example.com',
      facebook_id: '100000883956766',
      twitter_id: '23434883956766',
      twitter_digits_id: '67434863956765',
      external_user_id: 21445,
      user_tags: 'man,car',
      custom_data: '{"age":34}',
      blob_id: null,
    });
    expect(created.id).toBeGreaterThan(0);
    expect(created.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created).not.toHaveProperty('password');
    expect(created).not.toHaveProperty('password_hash');

    const id = created.id;
    for (const query of [
      id,
      { login: 'captain' },
      { email: 'captain@example.com' },
      { facebook_id: '100000883956766' },
      { twitter_id: '23434883956766' },
      { phone: '4487556488' },
      { external: 21445 },
    ]) {
      const user = await call((cb) => QB.users.get(query, cb));
      expect(user.id, JSON.stringify(query)).toBe(id);
    }
    const byDigits = await server.request('GET', '/users/by_twitter_digits_id.json?twitter_digits_id=67434863956765', {
      headers: { 'QB-Token': QB.service.getSession().token },
    });
    expect(byDigits.json.user).toMatchObject({ id, twitter_digits_id: '67434863956765' });
    // Unset, it is there as null (the documented UserObject has it), not left out.
    const plain = await call((cb) => QB.users.create({ login: 'digitless', password: 'password-123' }, cb));
    expect(plain).toHaveProperty('twitter_digits_id', null);
    const byName = await call((cb) => QB.users.get({ full_name: 'captain j', per_page: 5 }, cb));
    expect(byName.items.map((i: any) => i.user.id)).toEqual([id]);
    const byTags = await call((cb) => QB.users.get({ tags: ['car', 'boat'] }, cb));
    expect(byTags.total_entries).toBe(1);
    expect(byTags.items[0].user.id).toBe(id);
    // A user with both tags counts once.
    const both = await call((cb) => QB.users.create({ login: 'two-tags', password: 'password-123', tag_list: 'car,boat' }, cb));
    const byBoth = await call((cb) => QB.users.get({ tags: ['car', 'boat'] }, cb));
    expect(byBoth.total_entries).toBe(2);
    expect(byBoth.items.map((i: any) => i.user.id)).toEqual([id, both.id]);
    await server.app.services.users.delete(app.application_id, { userId: null, via: 'apikey' }, both.id);
  });

  it('lists users with filters, several filters (joined by the SDK), order and pages', async () => {
    const made: number[] = [];
    for (let i = 1; i <= 12; i++) {
      const user = await server.createUser(app.application_id, `lister${String(i).padStart(2, '0')}`, 'password-123');
      made.push(user.id);
    }
    const page1 = await call((cb) => QB.users.listUsers({ per_page: 5 }, cb));
    expect(page1.current_page).toBe(1);
    expect(page1.per_page).toBe(5);
    expect(page1.items).toHaveLength(5);
    expect(page1.total_entries).toBeGreaterThanOrEqual(12);

    const some = made.slice(0, 4);
    const filtered = await call((cb) =>
      QB.users.listUsers(
        {
          filter: [
            { field: 'id', param: 'in', value: some },
            { field: 'login', param: 'ne', value: 'lister02' },
          ],
          order: { sort: 'desc', field: 'id' },
        },
        cb,
      ),
    );
    expect(filtered.items.map((i: any) => i.user.id)).toEqual([some[3], some[2], some[0]]);

    // The SDK always says "string" for the sort type; ids still sort as numbers.
    const desc = await call((cb) =>
      QB.users.listUsers(
        { filter: { field: 'login', param: 'ge', value: 'lister' }, order: { sort: 'asc', field: 'id' }, page: 2, per_page: 5 },
        cb,
      ),
    );
    expect(desc.current_page).toBe(2);
    expect(desc.items.map((i: any) => i.user.id)).toEqual(made.slice(5, 10));

    const between = await server.request(
      'GET',
      `/users.json?filter[]=number+id+between+${made[2]},${made[4]}&order=asc+number+id`,
      {
        headers: { 'QB-Token': QB.service.getSession().token },
      },
    );
    expect(between.json.items.map((i: any) => i.user.id)).toEqual(made.slice(2, 5));
  });

  it('lets a user update only themselves, with the old password for a new one', async () => {
    const own = createSdk(server, app);
    const user = await call((cb) => QB.users.create({ login: 'updater', password: 'first-password' }, cb));
    await call((cb) => own.createSession({ login: 'updater', password: 'first-password' }, cb));

    const renamed = await call((cb) => own.users.update(user.id, { full_name: 'New Name', tag_list: 'a,b' }, cb));
    expect(renamed).toMatchObject({ full_name: 'New Name', user_tags: 'a,b' });

    const noOld = await call((cb) => own.users.update(user.id, { password: 'second-password' }, cb)).catch((e) => e);
    expect(noOld.code).toBe(422);
    expect(noOld.detail).toHaveProperty('old_password');
    await call((cb) => own.users.update(user.id, { password: 'second-password', old_password: 'first-password' }, cb));
    const login = await call((cb) => createSdk(server, app).createSession({ login: 'updater', password: 'second-password' }, cb));
    expect(login.user_id).toBe(user.id);

    const other = await server.createUser(app.application_id, 'someone-else', 'password-123');
    const forbidden = await call((cb) => own.users.update(other.id, { full_name: 'hijacked' }, cb)).catch((e) => e);
    expect(forbidden.code).toBe(403);
    expect((await call((cb) => QB.users.get(other.id, cb))).full_name).toBeNull();
  });

  it("keeps last_request_at at the user's latest request, written in batches", async () => {
    const own = createSdk(server, app);
    const user = await call((cb) => QB.users.create({ login: 'active-one', password: 'password-123' }, cb));
    expect(user.last_request_at).toBeNull();
    await call((cb) => own.createSession({ login: 'active-one', password: 'password-123' }, cb));
    server.clock.advance(60_000);
    await call((cb) => own.getSession(cb));
    const expected = new Date(server.clock.now()).toISOString().slice(0, 19);
    expect((await call((cb) => QB.users.get(user.id, cb))).last_request_at).toBe(`${expected}Z`);
    await server.app.services.users.flush();
    const row = await server.app.services.storage.db
      .selectFrom('users')
      .select('last_request_at')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row.last_request_at).toBe(server.clock.now());
  });

  it('deletes a user: their sessions stop working at once', async () => {
    const own = createSdk(server, app);
    const user = await call((cb) => QB.users.create({ login: 'leaver', password: 'leaving-now' }, cb));
    const session = await call((cb) => own.createSession({ login: 'leaver', password: 'leaving-now' }, cb));
    await call((cb) => own.users.delete(user.id, cb));
    const after = await server.request('GET', '/session.json', { headers: { 'QB-Token': session.token } });
    expect(after.status).toBe(401);
    const gone = await call((cb) => QB.users.get(user.id, cb)).catch((e) => e);
    expect(gone.code).toBe(404);
  });

  it('refuses duplicate logins and emails with per-field messages', async () => {
    await call((cb) => QB.users.create({ login: 'unique-one', email: 'one@example.com', password: 'password-123' }, cb));
    const login = await call((cb) => QB.users.create({ login: 'unique-one', password: 'password-123' }, cb)).catch((e) => e);
    expect(login.code).toBe(422);
    expect(login.detail).toEqual({ login: ['has already been taken'] });
    const email = await call((cb) =>
      QB.users.create({ login: 'unique-two', email: 'ONE@example.com', password: 'password-123' }, cb),
    ).catch((e) => e);
    expect(email.detail).toEqual({ email: ['has already been taken'] });
  });
});
