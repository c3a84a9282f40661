import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

type User = { id: number; token: string };

describe.each(dialects)('chat rules, authorisation and bad input (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let owner: User;
  let member: User;
  let outsider: User;
  let apiKey: string;

  async function userFor(login: string): Promise<User> {
    const { id } = await server.createUser(app.application_id, login, 'password-1');
    const session = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': login, 'user[password]': 'password-1' }),
    });
    return { id, token: session.json.session.token };
  }

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    owner = await userFor('owner');
    member = await userFor('member');
    outsider = await userFor('outsider');
    apiKey = await server.app.services.apps.createApiKey(app.application_id, 'chat');
    await server.app.services.classes.create(app.application_id, {
      name: 'DialogExtra',
      fields: { category: 'String', level: 'Integer', tags: 'Array', vip: 'Boolean' },
    });
  });
  afterAll(() => server?.close());

  const as = (user: User, method: string, path: string, json?: unknown) =>
    server.request(method, path, { headers: { 'QB-Token': user.token }, ...(json === undefined ? {} : { json }) });
  const form = (user: User, method: string, path: string, fields: Record<string, string>) =>
    server.request(method, path, { headers: { 'QB-Token': user.token }, form: fields });
  const group = async (name = 'group', extra: Record<string, unknown> = {}) =>
    (await as(owner, 'POST', '/chat/Dialog.json', { type: 2, name, occupants_ids: [member.id], ...extra })).json;
  const expectError = (response: RawResponse, status: number) => {
    expect(response.status).toBe(status);
    expect(response.json?.errors).toBeDefined();
  };

  it('needs a user: application sessions get 403, API keys act as On-Behalf-Of', async () => {
    const appSession = await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now()) });
    const appToken = appSession.json.session.token;
    const answer = await server.request('GET', '/chat/Dialog.json', { headers: { 'QB-Token': appToken } });
    expect(answer.status).toBe(403);
    expect(answer.json).toEqual({ errors: { base: ['Forbidden. Need user.'] } });
    expectError(await server.request('GET', '/chat/Dialog.json', { headers: { Authorization: `ApiKey ${apiKey}` } }), 403);
    expectError(await server.request('GET', '/chat/Dialog.json'), 401);

    const dialog = await group('api');
    const viaKey = await server.request('POST', '/chat/Message.json', {
      headers: { Authorization: `ApiKey ${apiKey}`, 'On-Behalf-Of': String(member.id) },
      json: { chat_dialog_id: dialog._id, message: 'on behalf' },
    });
    expect(viaKey.status).toBe(201);
    expect(viaKey.json.sender_id).toBe(member.id);
  });

  it('hides group dialogs from non-occupants and removed occupants', async () => {
    const dialog = await group('closed');
    for (const [method, path, body] of [
      ['GET', `/chat/Dialog/${dialog._id}.json`, undefined],
      ['GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`, undefined],
      ['POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'let me in' }],
      ['PUT', `/chat/Dialog/${dialog._id}.json`, { name: 'taken over' }],
    ] as const) {
      expectError(await as(outsider, method, path, body), 404);
    }
    const listed = (await as(outsider, 'GET', '/chat/Dialog.json')).json.items.map((d: any) => d._id);
    expect(listed).not.toContain(dialog._id);
    const deleted = await as(outsider, 'DELETE', `/chat/Dialog/${dialog._id}.json`);
    expect(deleted.json.NotFound.ids).toEqual([dialog._id]);

    await as(owner, 'PUT', `/chat/Dialog/${dialog._id}.json`, { pull_all: { occupants_ids: [member.id] } });
    expectError(await as(member, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'still here?' }), 404);
    expect((await as(owner, 'GET', `/chat/Dialog/${dialog._id}.json`)).json.name).toBe('closed');
  });

  it('applies the group rules: occupants add anyone, remove only themselves; the owner removes anyone', async () => {
    const dialog = await group('rules');
    const added = await as(member, 'PUT', `/chat/Dialog/${dialog._id}.json`, { push_all: { occupants_ids: [outsider.id] } });
    expect(added.status).toBe(200);
    expect(added.json.occupants_ids).toContain(outsider.id);
    expectError(await as(member, 'PUT', `/chat/Dialog/${dialog._id}.json`, { pull_all: { occupants_ids: [outsider.id] } }), 403);
    // The form the docs show: pull_all[occupants_ids][]=id.
    const self = await form(outsider, 'PUT', `/chat/Dialog/${dialog._id}.json`, {
      'pull_all[occupants_ids][]': String(outsider.id),
    });
    expect(self.status).toBe(200);
    expect(self.json.occupants_ids).not.toContain(outsider.id);
    const byOwner = await as(owner, 'PUT', `/chat/Dialog/${dialog._id}.json`, { pull_all: { occupants_ids: [member.id] } });
    expect(byOwner.json.occupants_ids).toEqual([owner.id]);
    // force=1 is the owner's only.
    const again = await group('force');
    const refused = await form(member, 'DELETE', `/chat/Dialog/${again._id}.json`, { force: '1' });
    expect(refused.json.WrongPermissions.ids).toEqual([again._id]);
    expect((await as(member, 'GET', `/chat/Dialog/${again._id}.json`)).status).toBe(200);
  });

  it('lists public dialogs for everyone; only the owner changes or removes them', async () => {
    const made = await as(owner, 'POST', '/chat/Dialog.json', { type: 1, name: 'Lobby' });
    expect(made.status).toBe(201);
    const lobby = made.json;
    expect((await as(outsider, 'GET', '/chat/Dialog.json?type=1')).json.items.map((d: any) => d._id)).toContain(lobby._id);
    const posted = await as(outsider, 'POST', '/chat/Message.json', { chat_dialog_id: lobby._id, message: 'hi all' });
    expect(posted.status).toBe(201);
    expect((await as(member, 'GET', `/chat/Message.json?chat_dialog_id=${lobby._id}`)).json.items).toHaveLength(1);
    expectError(await as(outsider, 'PUT', `/chat/Dialog/${lobby._id}.json`, { name: 'Mine now' }), 403);
    const refused = await form(outsider, 'DELETE', `/chat/Dialog/${lobby._id}.json`, { force: '1' });
    expect(refused.json.WrongPermissions.ids).toEqual([lobby._id]);
    expect((await as(owner, 'PUT', `/chat/Dialog/${lobby._id}.json`, { name: 'Hall' })).json.name).toBe('Hall');
  });

  it('private dialogs: two people, fixed occupants, hidden on delete until a new message arrives', async () => {
    expectError(await as(owner, 'POST', '/chat/Dialog.json', { type: 3, occupants_ids: [member.id, outsider.id] }), 422);
    expectError(await as(owner, 'POST', '/chat/Dialog.json', { type: 3, occupants_ids: [owner.id] }), 422);
    const sent = await as(owner, 'POST', '/chat/Message.json', { recipient_id: outsider.id, message: 'psst' });
    expect(sent.status).toBe(201);
    expect(sent.json.recipient_id).toBe(outsider.id);
    const dialogId = sent.json.chat_dialog_id;
    const dialog = (await as(outsider, 'GET', `/chat/Dialog/${dialogId}.json`)).json;
    expect(dialog).toMatchObject({ type: 3, unread_messages_count: 1, xmpp_room_jid: null });
    expectError(await as(owner, 'PUT', `/chat/Dialog/${dialogId}.json`, { push_all: { occupants_ids: [member.id] } }), 403);

    expect((await as(outsider, 'DELETE', `/chat/Dialog/${dialogId}.json`)).json.SuccessfullyDeleted.ids).toEqual([dialogId]);
    const ids = async () => (await as(outsider, 'GET', '/chat/Dialog.json')).json.items.map((d: any) => d._id);
    expect(await ids()).not.toContain(dialogId);
    expect((await as(outsider, 'GET', `/chat/Message/unread.json?chat_dialog_ids=${dialogId}`)).json[dialogId]).toBe(0);
    await as(owner, 'POST', '/chat/Message.json', { recipient_id: outsider.id, message: 'are you there?' });
    expect(await ids()).toContain(dialogId);
    // Creating the pair's dialog again also brings it back.
    await as(outsider, 'DELETE', `/chat/Dialog/${dialogId}.json`);
    expect(await ids()).not.toContain(dialogId);
    const again = await as(outsider, 'POST', '/chat/Dialog.json', { type: 3, occupants_ids: [owner.id] });
    expect(again.json._id).toBe(dialogId);
    expect(await ids()).toContain(dialogId);
    expect((await as(owner, 'GET', `/chat/Dialog/${dialogId}.json`)).json.last_message).toBe('are you there?');
  });

  it('lets only the sender edit or remove a message for everyone', async () => {
    const dialog = await group('edits');
    const message = (await as(owner, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'original' })).json;
    expectError(await form(member, 'PUT', `/chat/Message/${message._id}.json`, { message: 'forged' }), 403);
    const refused = await form(member, 'DELETE', `/chat/Message/${message._id}.json`, { force: '1' });
    expect(refused.json.WrongPermissions.ids).toEqual([message._id]);
    const kept = (await as(member, 'GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).json.items;
    expect(kept.map((m: any) => m.message)).toEqual(['original']);
    expect((await form(member, 'PUT', `/chat/Message/${message._id}.json`, { delivered: '1' })).status).toBe(200);
    const after = (await as(owner, 'GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).json.items[0];
    expect(after.delivered_ids.sort()).toEqual([owner.id, member.id].sort());
    expect(after.read_ids.sort()).toEqual([owner.id, member.id].sort());
  });

  it('strips characters XML cannot carry from messages and names, and keeps custom parameters typed', async () => {
    const dialog = await group('bad\u0000name\u0008');
    expect(dialog.name).toBe('badname');
    const sent = await as(owner, 'POST', '/chat/Message.json', {
      chat_dialog_id: dialog._id,
      message: 'a\u0001b\uFFFEc\uD800d 😀',
      count: 3,
      flag: true,
      note: 'x\u001Fy',
    });
    expect(sent.status).toBe(201);
    expect(sent.json).toMatchObject({ message: 'abcd 😀', count: 3, flag: true, note: 'xy' });
    const listed = (await as(member, 'GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).json.items[0];
    expect(listed.message).toBe('abcd 😀');
    expect((await as(owner, 'GET', `/chat/Dialog/${dialog._id}.json`)).json.last_message).toBe('abcd 😀');
  });

  it('refuses bad dialogs with 422 and creates nothing', async () => {
    const count = async () => (await as(owner, 'GET', '/chat/Dialog.json?count=1')).json.items.count;
    const before = await count();
    for (const body of [
      { type: 7, name: 'x', occupants_ids: [member.id] },
      { type: 2, occupants_ids: [member.id] },
      { type: 2, name: 'x' },
      { type: 2, name: 'x', occupants_ids: [member.id, 987654321] },
      { type: 2, name: 'x', occupants_ids: 'abc' },
      { type: 2, name: 'x'.repeat(201), occupants_ids: [member.id] },
      { type: 2, name: 'x', occupants_ids: [member.id], data: { class_name: 'NoSuchClass' } },
      { type: 2, name: 'x', occupants_ids: [member.id], data: { class_name: 'DialogExtra', level: 'high' } },
      { type: 2, name: 'x', occupants_ids: [member.id], data: { class_name: 'DialogExtra', unknown: 1 } },
      { type: 2, name: 'x', occupants_ids: [member.id], data: 'flat' },
    ]) {
      expectError(await as(owner, 'POST', '/chat/Dialog.json', body), 422);
    }
    expect(await count()).toBe(before);
    expectError(
      await server.request('POST', '/chat/Dialog.json', {
        headers: { 'QB-Token': owner.token, 'content-type': 'application/json' },
        body: '{"type":',
      }),
      400,
    );
  });

  it('refuses bad messages with clear errors and leaves counters and the last message as they were', async () => {
    const dialog = await group('strict');
    await as(owner, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'good' });
    const state = async () => ({
      dialog: (await as(owner, 'GET', `/chat/Dialog/${dialog._id}.json`)).json.last_message,
      unread: (await as(member, 'GET', `/chat/Message/unread.json?chat_dialog_ids=${dialog._id}`)).json[dialog._id],
    });
    const before = await state();
    const cases: Array<[unknown, number]> = [
      [{ message: 'nowhere' }, 422],
      [{ chat_dialog_id: 'not-an-id', message: 'x' }, 422],
      [{ chat_dialog_id: '0123456789abcdef01234567', message: 'x' }, 404],
      [{ chat_dialog_id: dialog._id, message: 'x'.repeat(65_537) }, 422],
      [{ chat_dialog_id: dialog._id, message: 'x', attachments: Array.from({ length: 101 }, () => ({ type: 'image' })) }, 422],
      [{ chat_dialog_id: dialog._id, message: 'x', attachments: ['flat'] }, 422],
      [{ chat_dialog_id: dialog._id, message: 'x', nested: { deep: 1 } }, 422],
      [{ chat_dialog_id: dialog._id, message: 'x', read_ids: [1] }, 422],
      [{ chat_dialog_id: dialog._id, message: { text: 'x' } }, 422],
      [{ recipient_id: 987654321, message: 'x' }, 422],
      [{ recipient_id: 'abc', message: 'x' }, 422],
    ];
    for (const [body, status] of cases) expectError(await as(owner, 'POST', '/chat/Message.json', body), status);
    const huge = await server.request('POST', '/chat/Message.json', {
      headers: { 'QB-Token': owner.token },
      json: { chat_dialog_id: dialog._id, message: 'x'.repeat(2_000_000) },
    });
    expectError(huge, 413);
    expect(await state()).toEqual(before);
  });

  it('refuses bad list queries and unknown ids with 4xx JSON', async () => {
    const dialog = await group('queries');
    for (const query of [
      'bogus=1',
      'type[gt]=abc',
      'type[regex]=1',
      'sort_desc=password',
      'limit=abc',
      'skip=-1',
      '_id=xyz',
      'created_at[lt]=yesterday',
    ]) {
      expectError(await as(owner, 'GET', `/chat/Dialog.json?${query}`), 422);
    }
    for (const query of [
      '',
      'chat_dialog_id=zzz',
      `chat_dialog_id=${dialog._id}&sender_id[in]=a,b`,
      `chat_dialog_id=${dialog._id}&sort_asc=read_ids`,
    ]) {
      expectError(await as(owner, 'GET', `/chat/Message.json?${query}`), 422);
    }
    expectError(await as(owner, 'GET', '/chat/Message.json?chat_dialog_id=0123456789abcdef01234567'), 404);
    expectError(await as(owner, 'PUT', '/chat/Message/0123456789abcdef01234567.json', { read: 1 }), 404);
    expectError(await as(owner, 'PUT', '/chat/Message/garbage.json', { read: 1 }), 404);
    expectError(await as(owner, 'GET', '/chat/Dialog/garbage.json'), 404);
    expectError(await as(owner, 'DELETE', '/chat/Message/garbage.json'), 422);
    expectError(await as(owner, 'GET', '/chat/Message/unread.json?chat_dialog_ids=nope'), 422);
    const injection = await as(owner, 'GET', `/chat/Dialog.json?name=${encodeURIComponent("x' or 1=1 --")}`);
    expect(injection.status).toBe(200);
    expect(injection.json.items).toEqual([]);
  });

  it('keeps custom data typed by the class and filters dialogs by it', async () => {
    const make = (name: string, data: Record<string, unknown>) => group(name, { data: { class_name: 'DialogExtra', ...data } });
    const a = await make('data-a', { category: 'friends', level: 5, tags: ['x', 'y'], vip: 'true' });
    const b = await make('data-b', { category: 'work', level: 12, tags: 'y,z', vip: false });
    expect(a.data).toEqual({ class_name: 'DialogExtra', category: 'friends', level: 5, tags: ['x', 'y'], vip: true });
    expect(b.data.tags).toEqual(['y', 'z']);
    const names = async (query: string) =>
      (await as(owner, 'GET', `/chat/Dialog.json?data[class_name]=DialogExtra&${query}&sort_asc=name`)).json.items.map(
        (d: any) => d.name,
      );
    expect(await names('data[category]=friends')).toEqual(['data-a']);
    // Integers compare as numbers (5 < 12), not as text.
    expect(await names('data[level][lt]=10')).toEqual(['data-a']);
    expect(await names('data[level][gte]=5')).toEqual(['data-a', 'data-b']);
    expect(await names('data[tags]=y')).toEqual(['data-a', 'data-b']);
    expect(await names('data[tags][all]=y,z')).toEqual(['data-b']);
    expect(await names('data[vip]=true')).toEqual(['data-a']);
    expect(await names('data[category][in]=work,other')).toEqual(['data-b']);
    expectError(await as(owner, 'GET', '/chat/Dialog.json?data[class_name]=DialogExtra&data[level][lt]=ten'), 422);
    expectError(await as(owner, 'GET', '/chat/Dialog.json?data[class_name]=Nope&data[level]=1'), 422);
    const changed = await as(owner, 'PUT', `/chat/Dialog/${b._id}.json`, { data: { class_name: 'DialogExtra', level: 3 } });
    expect(changed.json.data).toEqual({ class_name: 'DialogExtra', level: 3 });
  });

  it('keeps notification settings per occupant, and bulk-adds and removes occupants', async () => {
    const dialog = await group('notify');
    expect((await as(member, 'GET', `/chat/Dialog/${dialog._id}/notifications.json`)).json).toEqual({
      notifications: { enabled: 1 },
    });
    expect((await form(member, 'PUT', `/chat/Dialog/${dialog._id}/notifications.json`, { enabled: '0' })).json).toEqual({
      notifications: { enabled: 0 },
    });
    expect((await as(member, 'GET', `/chat/Dialog/${dialog._id}/notifications.json`)).json.notifications.enabled).toBe(0);
    expect((await as(owner, 'GET', `/chat/Dialog/${dialog._id}/notifications.json`)).json.notifications.enabled).toBe(1);
    expectError(await form(member, 'PUT', `/chat/Dialog/${dialog._id}/notifications.json`, { enabled: 'maybe' }), 422);
    expectError(await as(outsider, 'GET', `/chat/Dialog/${dialog._id}/notifications.json`), 404);

    const other = await group('bulk');
    const missing = '0123456789abcdef01234567';
    const added = await as(owner, 'POST', '/chat/Dialogs/add_occupants.json', {
      users_ids: [outsider.id, 987654321],
      dialogs_ids: `${dialog._id},${other._id},${missing}`,
    });
    expect(added.status).toBe(200);
    expect(added.json.users).toEqual({ SuccessfullyDeleted: [outsider.id], NotFound: [987654321], WrongPermissions: [] });
    expect(added.json.dialogs).toEqual({
      SuccessfullyDeleted: [dialog._id, other._id],
      NotFound: [missing],
      WrongPermissions: [],
    });
    expect((await as(outsider, 'GET', `/chat/Dialog/${other._id}.json`)).status).toBe(200);
    const removed = await as(member, 'POST', '/chat/Dialogs/remove_occupants.json', {
      users_ids: [outsider.id],
      dialogs_ids: [other._id],
    });
    expect(removed.json.dialogs.WrongPermissions).toEqual([other._id]);
    await as(owner, 'POST', '/chat/Dialogs/remove_occupants.json', { users_ids: [outsider.id], dialogs_ids: [other._id] });
    expect((await as(outsider, 'GET', `/chat/Dialog/${other._id}.json`)).status).toBe(404);
  });

  it('keeps a deleted user’s messages readable, with their id', async () => {
    const leaving = await userFor('leaving');
    const dialog = (await as(owner, 'POST', '/chat/Dialog.json', { type: 2, name: 'legacy', occupants_ids: [leaving.id] })).json;
    await as(leaving, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'goodbye' });
    expect((await as(leaving, 'DELETE', `/users/${leaving.id}.json`)).status).toBe(200);
    const items = (await as(owner, 'GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).json.items;
    expect(items.map((m: any) => [m.sender_id, m.message])).toEqual([[leaving.id, 'goodbye']]);
  });

  it('pages a dialog’s history with skip and with date_sent keysets', async () => {
    const dialog = await group('pages');
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      server.clock.advance(1000);
      sent.push((await as(owner, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: `p${i}` })).json._id);
    }
    const path = `/chat/Message.json?chat_dialog_id=${dialog._id}&mark_as_read=0`;
    const second = (await as(member, 'GET', `${path}&skip=5&limit=5`)).json.items.map((m: any) => m._id);
    expect(second).toEqual(sent.slice(5, 10));
    const newest = (await as(member, 'GET', `${path}&sort_desc=date_sent&limit=4`)).json.items;
    expect(newest.map((m: any) => m._id)).toEqual(sent.slice(8).reverse());
    const older = (await as(member, 'GET', `${path}&sort_desc=date_sent&limit=4&date_sent[lt]=${newest[3].date_sent}`)).json
      .items;
    expect(older.map((m: any) => m._id)).toEqual(sent.slice(4, 8).reverse());
    expect((await as(member, 'GET', `${path}&count=1`)).json).toEqual({ items: { count: 12 } });
    const photo = await as(member, 'POST', '/chat/Message.json', {
      chat_dialog_id: dialog._id,
      message: 'look',
      attachments: [{ type: 'image', id: '1' }],
    });
    const byType = (await as(member, 'GET', `${path}&attachments.type=image`)).json.items.map((m: any) => m._id);
    expect(byType).toEqual([photo.json._id]);
    const withoutImages = (await as(member, 'GET', `${path}&attachments.type[ne]=image&count=1`)).json;
    expect(withoutImages).toEqual({ items: { count: 12 } });
    const both = (await as(owner, 'GET', `/chat/Dialog.json?occupants_ids[all]=${owner.id},${member.id}&name=pages`)).json.items;
    expect(both.map((d: any) => d._id)).toEqual([dialog._id]);
    const none = (await as(owner, 'GET', `/chat/Dialog.json?occupants_ids[all]=${owner.id},${outsider.id}&name=pages`)).json
      .items;
    expect(none).toEqual([]);
    // mark_as_read=0 left everything unread.
    expect((await as(member, 'GET', `/chat/Message/unread.json?chat_dialog_ids=${dialog._id}`)).json[dialog._id]).toBe(12);
  });
});
