import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const PHONE_LENGTH = "Length of 'phone' field should be min: 10 and max: 15.";
const NAME_LENGTH = "Length of 'name' field should be min: 1 and max: 255.";
const INVALID = 'Invalid fields set';

describe.each(dialects)('address book (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let counter = 0;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
  });
  afterAll(() => server?.close());

  /** A new user with a signed-in SDK of their own. */
  async function signIn(fields: Record<string, string> = {}) {
    const login = `ab-user-${++counter}`;
    const created = await server.app.services.users.create(app.application_id, { login, password: 'password-123', ...fields });
    const QB = createSdk(server, app);
    const session = await call((cb) => QB.createSession({ login, password: 'password-123' }, cb));
    return { QB, id: created.id, token: session.token as string, headers: { 'QB-Token': session.token as string } };
  }

  const upload = (QB: any, contacts: unknown[], options?: Record<string, unknown>) =>
    call((cb) =>
      options ? QB.addressbook.uploadAddressBook(contacts, options, cb) : QB.addressbook.uploadAddressBook(contacts, cb),
    );
  const book = (QB: any, udid?: string) => call((cb) => (udid ? QB.addressbook.get(udid, cb) : QB.addressbook.get(cb)));

  function rowsOf(userId: number) {
    return server.app.services.storage.db
      .selectFrom('address_book_contacts')
      .select(['udid', 'phone', 'name'])
      .where('user_id', '=', userId)
      .orderBy('id')
      .execute();
  }

  function expectJsonError(response: RawResponse, status: number) {
    const detail = `${response.status} ${response.text.slice(0, 300)}`;
    expect(response.status, detail).toBe(status);
    expect(response.headers['content-type'], detail).toMatch(/^application\/json/);
    expect(response.json, detail).toHaveProperty('errors');
  }

  it('an empty book is [] through the SDK and 404 "Empty address book" over HTTP', async () => {
    const { QB, headers } = await signIn();
    expect(await book(QB)).toEqual([]);
    expect(await book(QB, 'NO-SUCH-DEVICE')).toEqual([]);
    expect(await call((cb) => QB.addressbook.getRegisteredUsers(true, cb))).toEqual([]);
    const raw = await server.request('GET', '/address_book.json', { headers });
    expect(raw.status).toBe(404);
    expect(raw.json).toEqual({ errors: ['Empty address book'] });
  });

  it('uploads contacts and reads them back in upload order, with the counts QuickBlox answers', async () => {
    const { QB } = await signIn();
    const contacts = [
      { name: 'Frederic Cartwright', phone: '8879108395' },
      { name: 'Ann Bonny', phone: '+447700900123' },
      { name: 'Mary Read', phone: '5550001111' },
    ];
    expect(await upload(QB, contacts)).toEqual({ created: 3, updated: 0, deleted: 0, rejected: {} });
    expect(await book(QB)).toEqual(contacts);
  });

  it('updates by phone, destroys with destroy=1, and keeps each contact in its place', async () => {
    const { QB, id } = await signIn();
    await upload(QB, [
      { name: 'First', phone: '1000000001' },
      { name: 'Second', phone: '1000000002' },
      { name: 'Third', phone: '1000000003' },
    ]);
    const result = await upload(QB, [
      { name: 'Second, renamed', phone: '1000000002' },
      { phone: '1000000001', destroy: 1 },
      { name: 'Fourth', phone: '1000000004' },
      { phone: '1999999999', destroy: 1 }, // not in the book: nothing to delete
    ]);
    expect(result).toEqual({ created: 1, updated: 1, deleted: 1, rejected: {} });
    expect(await book(QB)).toEqual([
      { name: 'Second, renamed', phone: '1000000002' },
      { name: 'Third', phone: '1000000003' },
      { name: 'Fourth', phone: '1000000004' },
    ]);
    // Repeats and undos in one request settle on the last word.
    const churn = await upload(QB, [
      { name: 'Fifth', phone: '1000000005' },
      { name: 'Fifth again', phone: '1000000005' },
      { phone: '1000000003', destroy: '1' },
      { name: 'Third is back', phone: '1000000003' },
    ]);
    expect(churn).toEqual({ created: 2, updated: 1, deleted: 1, rejected: {} });
    expect((await rowsOf(id)).map((r) => [r.phone, r.name])).toEqual([
      ['1000000002', 'Second, renamed'],
      ['1000000004', 'Fourth'],
      ['1000000005', 'Fifth again'],
      ['1000000003', 'Third is back'],
    ]);
  });

  it('keeps the global book and each device book apart, by the SDK raw-JSON query and by ?udid=', async () => {
    const { QB, headers, id } = await signIn();
    await upload(QB, [{ name: 'Global', phone: '2000000000' }]);
    await upload(QB, [{ name: 'On phone A', phone: '2000000001' }], { udid: 'DEVICE-A' });
    await upload(QB, [{ name: 'On phone B', phone: '2000000002' }], { udid: 'D337E8A4-80AD-8ABA-9F5D-579EFF6BACAB' });
    expect(await book(QB)).toEqual([{ name: 'Global', phone: '2000000000' }]);
    expect(await book(QB, 'DEVICE-A')).toEqual([{ name: 'On phone A', phone: '2000000001' }]);
    expect(await book(QB, 'D337E8A4-80AD-8ABA-9F5D-579EFF6BACAB')).toEqual([{ name: 'On phone B', phone: '2000000002' }]);

    // The same phone in two books is two contacts.
    await upload(QB, [{ name: 'Also on A', phone: '2000000000' }], { udid: 'DEVICE-A' });
    expect(await book(QB)).toEqual([{ name: 'Global', phone: '2000000000' }]);

    // What the SDK puts on the wire, and the ordinary query form.
    const sdkStyle = await server.request('GET', '/address_book.json?%7B%22udid%22:%22DEVICE-A%22%7D', {
      headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
    });
    expect(sdkStyle.status).toBe(200);
    expect(sdkStyle.json.map((c: any) => c.phone)).toEqual(['2000000001', '2000000000']);
    const plain = await server.request('GET', '/address_book.json?udid=DEVICE-A', { headers });
    expect(plain.json).toEqual(sdkStyle.json);
    // A udid with characters the bracket parser would read.
    await upload(QB, [{ name: 'Odd', phone: '2000000009' }], { udid: 'a[b]=c&d' });
    expect(await book(QB, 'a[b]=c&d')).toEqual([{ name: 'Odd', phone: '2000000009' }]);

    expect(new Set((await rowsOf(id)).map((r) => r.udid))).toEqual(
      new Set(['', 'DEVICE-A', 'D337E8A4-80AD-8ABA-9F5D-579EFF6BACAB', 'a[b]=c&d']),
    );
  });

  it('force=1 replaces the whole book of that udid only', async () => {
    const { QB } = await signIn();
    await upload(QB, [
      { name: 'Old one', phone: '3000000001' },
      { name: 'Old two', phone: '3000000002' },
    ]);
    await upload(QB, [{ name: 'Device', phone: '3000000009' }], { udid: 'DEV' });
    const result = await upload(
      QB,
      [
        { name: 'New two', phone: '3000000002' },
        { name: 'New three', phone: '3000000003' },
      ],
      { force: 1 },
    );
    expect(result).toEqual({ created: 2, updated: 0, deleted: 2, rejected: {} });
    expect(await book(QB)).toEqual([
      { name: 'New two', phone: '3000000002' },
      { name: 'New three', phone: '3000000003' },
    ]);
    expect(await book(QB, 'DEV')).toEqual([{ name: 'Device', phone: '3000000009' }]);
    // force with an empty list empties the book.
    expect(await upload(QB, [], { force: 1, udid: 'DEV' })).toEqual({ created: 0, updated: 0, deleted: 1, rejected: {} });
    expect(await book(QB, 'DEV')).toEqual([]);
  });

  it('rejects bad contacts by index with QuickBlox messages and writes the good ones', async () => {
    const { QB } = await signIn();
    const result = await upload(QB, [
      { name: 'Good', phone: '4000000001' },
      { name: 'Short phone', phone: '123' },
      { name: '', phone: '4000000002' },
      { name: 'Long phone', phone: '1234567890123456' },
      { name: 'x'.repeat(256), phone: '12' },
      { name: 'Extra', phone: '4000000003', email: 'x@example.com' },
      'not a contact',
      { name: { first: 'Object' }, phone: '4000000004' },
      { phone: '4000000005' },
      { name: 'Bad destroy', phone: '4000000006', destroy: 'yes' },
      { name: 'Number phone', phone: 4000000007 },
      { name: 'x'.repeat(255), phone: '400000000800000' },
    ]);
    expect(result).toEqual({
      created: 3,
      updated: 0,
      deleted: 0,
      rejected: {
        1: [PHONE_LENGTH],
        2: [NAME_LENGTH],
        3: [PHONE_LENGTH],
        4: [PHONE_LENGTH, NAME_LENGTH],
        5: [INVALID],
        6: [INVALID],
        7: [INVALID],
        8: [NAME_LENGTH],
        9: [INVALID],
      },
    });
    expect((await book(QB)).map((c: any) => c.phone)).toEqual(['4000000001', '4000000007', '400000000800000']);
  });

  it('finds registered users by the phones in the book, compact and full', async () => {
    const phone = `55${String(Date.now()).slice(-8)}`;
    const { QB, id } = await signIn();
    const friend = await server.app.services.users.create(app.application_id, {
      login: `friend-${dialect}`,
      password: 'password-123',
      phone,
      full_name: 'A Friend',
    });
    const twin = await server.app.services.users.create(app.application_id, {
      login: `twin-${dialect}`,
      password: 'password-123',
      phone,
    });
    // Same phone in another application: not one of ours.
    const other = await server.createApplication();
    await server.app.services.users.create(other.application_id, { login: 'elsewhere', password: 'password-123', phone });

    await upload(QB, [
      { name: 'Friend', phone },
      { name: 'Nobody', phone: '5999999999' },
    ]);
    const compact = await call((cb) => QB.addressbook.getRegisteredUsers(true, cb));
    expect(compact).toEqual({
      items: [{ user: { id: friend.id, phone } }, { user: { id: twin.id, phone } }],
    });
    const full = await call((cb) => QB.addressbook.getRegisteredUsers(cb));
    expect(full.items).toHaveLength(2);
    expect(full.items[0].user).toMatchObject({ id: friend.id, login: `friend-${dialect}`, full_name: 'A Friend', phone });
    expect(full.items[0].user).toHaveProperty('created_at');
    expect(full.items[0].user).not.toHaveProperty('password_hash');

    // The documented udid parameter picks the book.
    await upload(QB, [{ name: 'Only twin', phone }], { udid: 'TABLET' });
    const byDevice = await server.request('GET', '/address_book/registered_users.json?compact=1&udid=TABLET', {
      headers: { 'QB-Token': QB.service.getSession().token },
    });
    expect(byDevice.json.items.map((i: any) => i.user.id)).toEqual([friend.id, twin.id]);
    const noMatch = await server.request('GET', '/address_book/registered_users.json?udid=NONE', {
      headers: { 'QB-Token': QB.service.getSession().token },
    });
    expect(noMatch.status).toBe(404);
    expect(id).toBeGreaterThan(0);
  });

  it('deleting a user deletes their address books', async () => {
    const { QB, id } = await signIn();
    await upload(QB, [{ name: 'Kept?', phone: '6000000001' }]);
    await upload(QB, [{ name: 'Kept?', phone: '6000000002' }], { udid: 'PHONE' });
    expect(await rowsOf(id)).toHaveLength(2);
    await call((cb) => QB.users.delete(id, cb));
    expect(await rowsOf(id)).toEqual([]);
  });

  it('refuses application sessions and API keys without a user; accepts an API key on behalf of a user', async () => {
    const appToken = (await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now()) })).json.session
      .token;
    const appHeaders = { 'QB-Token': appToken };
    const post = await server.request('POST', '/address_book.json', {
      headers: appHeaders,
      json: { contacts: [{ name: 'x', phone: '7000000001' }] },
    });
    expectJsonError(post, 403);
    expect(post.json).toEqual({ errors: { base: ['Forbidden. Need user.'] } });
    expectJsonError(await server.request('GET', '/address_book.json', { headers: appHeaders }), 403);
    expectJsonError(await server.request('GET', '/address_book/registered_users.json', { headers: appHeaders }), 403);
    expectJsonError(await server.request('GET', '/address_book.json'), 401);

    const apiKey = await server.app.services.apps.createApiKey(app.application_id);
    const bare = await server.request('POST', '/address_book.json', {
      headers: { Authorization: `ApiKey ${apiKey}` },
      json: { contacts: [{ name: 'x', phone: '7000000001' }] },
    });
    expectJsonError(bare, 403);
    const { id } = await signIn();
    const onBehalf = await server.request('POST', '/address_book.json', {
      headers: { Authorization: `ApiKey ${apiKey}`, 'On-Behalf-Of': String(id) },
      json: { contacts: [{ name: 'x', phone: '7000000001' }] },
    });
    expect(onBehalf.json).toEqual({ created: 1, updated: 0, deleted: 0, rejected: {} });
    expect(await rowsOf(id)).toEqual([{ udid: '', phone: '7000000001', name: 'x' }]);
  });

  it('accepts form-encoded uploads, including more contacts than the query parser keeps as an array', async () => {
    const { QB, headers } = await signIn();
    const form: Record<string, string> = { udid: 'FORM', force: '1' };
    for (let i = 0; i < 150; i++) {
      form[`contacts[${i}][name]`] = `Form ${i}`;
      form[`contacts[${i}][phone]`] = String(8000000000 + i);
    }
    const response = await server.request('POST', '/address_book.json', { headers, form });
    expect(response.json).toEqual({ created: 150, updated: 0, deleted: 0, rejected: {} });
    const read = await book(QB, 'FORM');
    expect(read).toHaveLength(150);
    expect(read[149]).toEqual({ name: 'Form 149', phone: '8000000149' });
  });

  it('answers malformed requests with a JSON 4xx and writes nothing', async () => {
    const { id, headers } = await signIn();
    const post = (options: Parameters<TestServer['request']>[2]) =>
      server.request('POST', '/address_book.json', { headers, ...options });
    const many = Array.from({ length: 1001 }, (_, i) => ({ name: `n${i}`, phone: String(9000000000 + i) }));
    const cases: Array<[string, Parameters<TestServer['request']>[2], number, string]> = [
      ['contacts missing', { json: { udid: 'X' } }, 422, 'contacts'],
      ['contacts an object', { json: { contacts: { name: 'x', phone: '9000000000' } } }, 422, 'contacts'],
      ['contacts an empty object', { json: { contacts: {} } }, 422, 'contacts'],
      ['contacts a string', { json: { contacts: 'x' } }, 422, 'contacts'],
      ['contacts a number', { json: { contacts: 12 } }, 422, 'contacts'],
      ['too many contacts', { json: { contacts: many } }, 422, 'contacts'],
      ['udid too long', { json: { contacts: [{ name: 'x', phone: '9000000000' }], udid: 'u'.repeat(65) } }, 422, 'udid'],
      ['udid an object', { json: { contacts: [{ name: 'x', phone: '9000000000' }], udid: { a: 1 } } }, 422, 'udid'],
      ['force not a flag', { json: { contacts: [{ name: 'x', phone: '9000000000' }], force: 'always' } }, 422, 'force'],
      ['form contacts a string', { form: { contacts: 'x' } }, 422, 'contacts'],
      ['broken JSON', { body: '{"contacts":[', headers: { ...headers, 'content-type': 'application/json' } }, 400, 'base'],
    ];
    for (const [label, options, status, field] of cases) {
      const response = await post(options);
      expect(response.status, label).toBe(status);
      expect(response.headers['content-type'], label).toMatch(/^application\/json/);
      expect(response.json.errors, label).toHaveProperty(field);
    }
    // A JSON array is no parameter object: the body parser may refuse it (400), else it has no contacts (422).
    const arrayBody = await post({
      body: '[{"name":"x","phone":"9000000000"}]',
      headers: { ...headers, 'content-type': 'application/json' },
    });
    expect([400, 422]).toContain(arrayBody.status);
    expect(arrayBody.json).toHaveProperty('errors');
    expect(await rowsOf(id)).toEqual([]);

    const badQuery = await server.request('GET', '/address_book.json?%7B%22udid%22:', { headers });
    expectJsonError(badQuery, 400);
    const longUdid = await server.request('GET', `/address_book.json?udid=${'u'.repeat(65)}`, { headers });
    expectJsonError(longUdid, 422);
    const badCompact = await server.request('GET', '/address_book/registered_users.json?compact=maybe', { headers });
    expectJsonError(badCompact, 422);
  });

  it('runs concurrent uploads to one book one after another: no deadlock, no duplicate, exact counts', async () => {
    const { id } = await signIn();
    const phones = Array.from({ length: 300 }, (_, i) => String(1300000000 + i));
    const service = server.app.services.addressBook;
    for (let round = 0; round < 3; round++) {
      // Overlapping slices, some replacing the book, all at once: multi-row upserts in different orders.
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, k) =>
          service.upload(id, {
            udid: 'RACE',
            force: (k + round) % 3 === 0 ? 1 : 0,
            contacts: phones.slice(k * 10, k * 10 + 200).map((phone) => ({ name: `r${round}k${k}`, phone })),
          }),
        ),
      );
      for (const result of results) expect(result.created + result.updated).toBe(200);
    }
    const rows = (await rowsOf(id)).map((r) => r.phone);
    expect(new Set(rows).size).toBe(rows.length);
  });

  it('an upload that finds its user deleted is a 401, and leaves no rows', async () => {
    const { id } = await signIn();
    await server.app.services.users.delete(app.application_id, { userId: null, via: 'apikey' }, id);
    const late = await server.app.services.addressBook
      .upload(id, { contacts: [{ name: 'late', phone: '1400000000' }] })
      .catch((e) => e);
    expect(late.statusCode).toBe(401);
    expect(await rowsOf(id)).toEqual([]);
  });

  it('caps a book at 10000 contacts and a user at 10 books, writing nothing past either', async () => {
    const { id, headers } = await signIn();
    const post = (json: unknown) => server.request('POST', '/address_book.json', { headers, json });
    for (let part = 0; part < 10; part++) {
      const contacts = Array.from({ length: 1000 }, (_, i) => ({ name: `c${i}`, phone: String(1100000000 + part * 1000 + i) }));
      expect((await post({ contacts })).json.created).toBe(1000);
    }
    const over = await post({ contacts: [{ name: 'one more', phone: '1199999999' }] });
    expectJsonError(over, 422);
    expect(over.json.errors).toHaveProperty('contacts');
    // Replacing stays possible at the cap.
    expect((await post({ contacts: [{ name: 'one more', phone: '1199999999' }], force: 1 })).json.deleted).toBe(10000);

    for (let book = 1; book < 10; book++) {
      expect((await post({ contacts: [{ name: 'x', phone: '1200000000' }], udid: `B${book}` })).status).toBe(200);
    }
    const eleventh = await post({ contacts: [{ name: 'x', phone: '1200000000' }], udid: 'B10' });
    expectJsonError(eleventh, 422);
    expect(eleventh.json.errors).toHaveProperty('udid');
    expect(await rowsOf(id)).toHaveLength(10);
  });
});
