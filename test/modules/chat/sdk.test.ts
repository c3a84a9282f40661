import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import type { OutgoingMessage } from '../../../src/modules/chat/events.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

describe.each(dialects)('chat dialogs and messages through the official SDK (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let QB: any;
  let me: number;
  let bob: number;
  let carol: number;
  let bobToken: string;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    me = (await server.createUser(app.application_id, 'alice', 'password-1')).id;
    bob = (await server.createUser(app.application_id, 'bob', 'password-1')).id;
    carol = (await server.createUser(app.application_id, 'carol', 'password-1')).id;
    QB = createSdk(server, app);
    await call((cb) => QB.createSession({ login: 'alice', password: 'password-1' }, cb));
    const session = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': 'bob', 'user[password]': 'password-1' }),
    });
    bobToken = session.json.session.token;
  });
  afterAll(() => server?.close());

  const asBob = (method: string, path: string, json?: unknown) =>
    server.request(method, path, { headers: { 'QB-Token': bobToken }, ...(json === undefined ? {} : { json }) });

  it('creates a group dialog from the SDK form ("1, 2") with the creator among sorted occupants', async () => {
    const dialog = await call((cb) => QB.chat.dialog.create({ type: 2, name: 'Team', occupants_ids: [carol, bob] }, cb));
    expect(dialog).toMatchObject({
      type: 2,
      name: 'Team',
      user_id: me,
      occupants_ids: [me, bob, carol].sort((a, b) => a - b),
      xmpp_room_jid: `${app.application_id}_${dialog._id}@muc.${server.config.endpoints.chat}`,
      last_message: null,
      unread_messages_count: 0,
    });
    expect(dialog._id).toMatch(/^[0-9a-f]{24}$/);
    expect(dialog.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('finds the private dialog of a pair instead of making a second one, from either side', async () => {
    const first = await call((cb) => QB.chat.dialog.create({ type: 3, occupants_ids: [bob] }, cb));
    expect(first.xmpp_room_jid).toBeNull();
    const again = await call((cb) => QB.chat.dialog.create({ type: 3, occupants_ids: [bob] }, cb));
    expect(again._id).toBe(first._id);
    const fromBob = await asBob('POST', '/chat/Dialog.json', { type: 3, occupants_ids: `${me}` });
    expect(fromBob.status).toBe(201);
    expect(fromBob.json._id).toBe(first._id);
  });

  it('sends messages (JSON) with attachments and custom parameters, lists them, and counts unread for the other side', async () => {
    const dialog = await call((cb) => QB.chat.dialog.create({ type: 2, name: 'History', occupants_ids: [bob] }, cb));
    const seen: OutgoingMessage[] = [];
    const stop = server.app.services.chatEvents.onMessage((event) => seen.push(event));
    const sent = [];
    for (const text of ['one', 'two', 'three']) {
      server.clock.advance(1000);
      sent.push(
        await call((cb) =>
          QB.chat.message.create(
            {
              chat_dialog_id: dialog._id,
              message: text,
              send_to_chat: 1,
              markable: 1,
              attachments: [{ type: 'image', id: '47863', url: 'https://example.com/a.png' }],
              param1: 'custom value',
            },
            cb,
          ),
        ),
      );
    }
    stop();
    expect(seen.map((event) => event.message._id)).toEqual(sent.map((m) => m._id));
    expect(sent[0]).toMatchObject({
      chat_dialog_id: dialog._id,
      message: 'one',
      sender_id: me,
      recipient_id: null,
      read_ids: [me],
      delivered_ids: [me],
      param1: 'custom value',
      attachments: [{ type: 'image', id: '47863', url: 'https://example.com/a.png' }],
    });
    expect(Number.isInteger(sent[0].date_sent)).toBe(true);

    const unread = await asBob('GET', `/chat/Message/unread.json?chat_dialog_ids=${dialog._id}`);
    expect(unread.json).toEqual({ total: 3, [dialog._id]: 3 });
    const list = await call((cb) => QB.chat.dialog.list({ _id: dialog._id }, cb));
    expect(list.items[0]).toMatchObject({ last_message: 'three', last_message_user_id: me, last_message_id: sent[2]._id });

    const page = await asBob('GET', `/chat/Message.json?chat_dialog_id=${dialog._id}&limit=2`);
    expect(page.json).toMatchObject({ skip: 0, limit: 2 });
    expect(page.json.items.map((m: any) => m.message)).toEqual(['one', 'two']);
    // Listing marked the two returned messages read for Bob.
    expect((await asBob('GET', `/chat/Message/unread.json?chat_dialog_ids=${dialog._id}`)).json[dialog._id]).toBe(1);
    const mine = await call((cb) => QB.chat.message.list({ chat_dialog_id: dialog._id, sort_desc: 'date_sent' }, cb));
    expect(mine.items.map((m: any) => m.message)).toEqual(['three', 'two', 'one']);
    expect(mine.items[2].read_ids.sort()).toEqual([me, bob].sort());
    expect(mine.items[0].read_ids).toEqual([me]);
  });

  it('marks a whole dialog read (PUT /chat/Message.json), updates and deletes messages', async () => {
    const dialog = await call((cb) => QB.chat.dialog.create({ type: 2, name: 'Edits', occupants_ids: [bob] }, cb));
    const posted = await asBob('POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'from bob' });
    expect(posted.status).toBe(201);
    await asBob('POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: 'again' });
    const counts = await call((cb) => QB.chat.message.unreadCount({ chat_dialog_ids: [dialog._id] }, cb));
    expect(counts[dialog._id]).toBe(2);
    await call((cb) => QB.chat.message.update('', { chat_dialog_id: dialog._id, read: 1 }, cb));
    expect((await call((cb) => QB.chat.message.unreadCount({ chat_dialog_ids: [dialog._id] }, cb)))[dialog._id]).toBe(0);

    const mine = await call((cb) => QB.chat.message.create({ chat_dialog_id: dialog._id, message: 'typo' }, cb));
    await call((cb) => QB.chat.message.update(mine._id, { message: 'fixed' }, cb));
    const listed = await call((cb) => QB.chat.message.list({ chat_dialog_id: dialog._id, _id: mine._id }, cb));
    expect(listed.items[0].message).toBe('fixed');
    expect((await call((cb) => QB.chat.dialog.list({ _id: dialog._id }, cb))).items[0].last_message).toBe('fixed');

    // Deleting for oneself hides it only for oneself.
    const hidden = await call((cb) => QB.chat.message.delete(posted.json._id, cb));
    expect(JSON.parse(hidden).SuccessfullyDeleted.ids).toEqual([posted.json._id]);
    const afterHide = await call((cb) => QB.chat.message.list({ chat_dialog_id: dialog._id }, cb));
    expect(afterHide.items.map((m: any) => m.message)).toEqual(['again', 'fixed']);
    expect((await asBob('GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).json.items).toHaveLength(3);

    // force=1 by the sender removes it for everyone; the dialog's last message falls back.
    const removed = await call((cb) => QB.chat.message.delete(mine._id, { force: 1 }, cb));
    expect(JSON.parse(removed).SuccessfullyDeleted.ids).toEqual([mine._id]);
    const bobView = await asBob('GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`);
    expect(bobView.json.items.map((m: any) => m.message)).toEqual(['from bob', 'again']);
    expect((await call((cb) => QB.chat.dialog.list({ _id: dialog._id }, cb))).items[0].last_message).toBe('again');
  });

  it('updates occupants with push_all and pull_all (JSON), and deletes dialogs with the SDK report', async () => {
    const dialog = await call((cb) => QB.chat.dialog.create({ type: 2, name: 'Grow', occupants_ids: [bob] }, cb));
    const grown = await call((cb) =>
      QB.chat.dialog.update(dialog._id, { push_all: { occupants_ids: [carol] }, name: 'Grown' }, cb),
    );
    expect(grown.occupants_ids).toEqual([me, bob, carol].sort((a, b) => a - b));
    expect(grown.name).toBe('Grown');
    const shrunk = await call((cb) => QB.chat.dialog.update(dialog._id, { pull_all: { occupants_ids: [bob] } }, cb));
    expect(shrunk.occupants_ids).toEqual([me, carol].sort((a, b) => a - b));
    expect((await asBob('GET', `/chat/Message.json?chat_dialog_id=${dialog._id}`)).status).toBe(404);

    const missing = '0123456789abcdef01234567';
    const result = await call((cb) => QB.chat.dialog.delete([dialog._id, missing], { force: 1 }, cb));
    expect(JSON.parse(result)).toEqual({
      SuccessfullyDeleted: { ids: [dialog._id] },
      NotFound: { ids: [missing] },
      WrongPermissions: { ids: [] },
    });
    const list = await call((cb) => QB.chat.dialog.list({ _id: dialog._id }, cb));
    expect(list.items).toHaveLength(0);
  });

  it('lists with filters, sort, skip/limit and count', async () => {
    const names = ['Filter A', 'Filter B', 'Filter C'];
    const ids: string[] = [];
    for (const name of names) {
      server.clock.advance(1000);
      ids.push((await call((cb) => QB.chat.dialog.create({ type: 2, name, occupants_ids: [carol] }, cb)))._id);
    }
    const ctn = await call((cb) => QB.chat.dialog.list({ 'name[ctn]': 'Filter', sort_asc: 'name' }, cb));
    expect(ctn.items.map((d: any) => d.name)).toEqual(names);
    expect(ctn.total_entries).toBe(3);
    const page = await call((cb) =>
      QB.chat.dialog.list({ 'name[ctn]': 'Filter', sort_desc: 'created_at', skip: 1, limit: 1 }, cb),
    );
    expect(page).toMatchObject({ skip: 1, limit: 1, total_entries: 3 });
    expect(page.items.map((d: any) => d.name)).toEqual(['Filter B']);
    const counted = await call((cb) => QB.chat.dialog.list({ 'name[in]': 'Filter A,Filter C', count: 1 }, cb));
    expect(counted).toEqual({ items: { count: 2 } });
  });
});
