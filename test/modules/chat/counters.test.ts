import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

/** A tiny independent model of what each user has left unread. */
interface ModelMessage {
  id: string;
  dialog: string;
  sender: number;
  readers: Set<number>;
  hiddenBy: Set<number>;
}

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
}

describe.each(dialects)('chat unread counters against a recount (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  const users: Array<{ id: number; token: string }> = [];

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    for (const login of ['u1', 'u2', 'u3']) {
      const { id } = await server.createUser(app.application_id, login, 'password-1');
      const session = await server.request('POST', '/session.json', {
        form: sessionForm(app, server.clock.now(), { 'user[login]': login, 'user[password]': 'password-1' }),
      });
      users.push({ id, token: session.json.session.token });
    }
  });
  afterAll(() => server?.close());

  const as = (user: { token: string }, method: string, path: string, json?: unknown) =>
    server.request(method, path, { headers: { 'QB-Token': user.token }, ...(json === undefined ? {} : { json }) });

  it('keeps every per-dialog counter and total equal to the recount after random sends, reads and deletes', async () => {
    const [a, b, c] = users as [{ id: number; token: string }, { id: number; token: string }, { id: number; token: string }];
    const group = (await as(a, 'POST', '/chat/Dialog.json', { type: 2, name: 'g', occupants_ids: [b.id, c.id] })).json;
    const pair = (await as(a, 'POST', '/chat/Dialog.json', { type: 3, occupants_ids: [b.id] })).json;
    const occupants = new Map<string, number[]>([
      [group._id, [a.id, b.id, c.id]],
      [pair._id, [a.id, b.id]],
    ]);
    const messages: ModelMessage[] = [];
    const visible = (user: number, dialog: string) =>
      messages.filter((m) => m.dialog === dialog && !m.hiddenBy.has(user)).sort((x, y) => (x.id < y.id ? -1 : 1));
    const expected = (user: number, dialog: string) =>
      (occupants.get(dialog) ?? []).includes(user)
        ? visible(user, dialog).filter((m) => m.sender !== user && !m.readers.has(user)).length
        : 0;

    const pick = random(dialect === 'sqlite' ? 7 : 11);
    const dialogs = [group._id, pair._id];
    for (let step = 0; step < 160; step++) {
      const dialog = dialogs[pick(2)] as string;
      const members = users.filter((u) => occupants.get(dialog)?.includes(u.id));
      const user = members[pick(members.length)] as { id: number; token: string };
      const mine = visible(user.id, dialog);
      const target = mine.length > 0 ? mine[pick(mine.length)] : undefined;
      const action = pick(10);
      if (action < 4 || !target) {
        const sent = await as(user, 'POST', '/chat/Message.json', { chat_dialog_id: dialog, message: `m${step}` });
        expect(sent.status).toBe(201);
        messages.push({ id: sent.json._id, dialog, sender: user.id, readers: new Set([user.id]), hiddenBy: new Set() });
      } else if (action === 4) {
        // A listed page marks what it returns read.
        const page = await as(user, 'GET', `/chat/Message.json?chat_dialog_id=${dialog}&limit=3`);
        expect(page.status).toBe(200);
        expect(page.json.items.map((m: any) => m._id)).toEqual(mine.slice(0, 3).map((m) => m.id));
        for (const m of mine.slice(0, 3)) m.readers.add(user.id);
      } else if (action === 5) {
        expect((await as(user, 'PUT', `/chat/Message/${target.id}.json`, { read: 1 })).status).toBe(200);
        target.readers.add(user.id);
      } else if (action === 6) {
        expect((await as(user, 'PUT', `/chat/Message/${target.id}.json`, { read: 0 })).status).toBe(200);
        if (target.sender !== user.id) target.readers.delete(user.id);
      } else if (action === 7) {
        expect((await as(user, 'PUT', '/chat/Message.json', { chat_dialog_id: dialog, read: 1 })).status).toBe(200);
        for (const m of mine) m.readers.add(user.id);
      } else if (action === 8) {
        const answer = await as(user, 'DELETE', `/chat/Message/${target.id}.json`);
        expect(answer.json.SuccessfullyDeleted.ids).toEqual([target.id]);
        target.hiddenBy.add(user.id);
      } else {
        const answer = await server.request('DELETE', `/chat/Message/${target.id}.json`, {
          headers: { 'QB-Token': user.token },
          form: { force: '1' },
        });
        if (target.sender === user.id) {
          expect(answer.json.SuccessfullyDeleted.ids).toEqual([target.id]);
          messages.splice(messages.indexOf(target), 1);
        } else {
          expect(answer.json.WrongPermissions.ids).toEqual([target.id]);
        }
      }
    }

    for (const user of users) {
      const counts = (await as(user, 'GET', `/chat/Message/unread.json?chat_dialog_ids=${dialogs.join(',')}`)).json;
      const total = (await as(user, 'GET', '/chat/Message/unread.json')).json.total;
      const want = dialogs.map((d) => expected(user.id, d));
      expect(dialogs.map((d) => counts[d])).toEqual(want);
      const sum = want.reduce((x, y) => x + y, 0);
      expect(counts.total).toBe(sum);
      expect(total).toBe(sum);
      const listed = (await as(user, 'GET', '/chat/Dialog.json')).json.items;
      for (const d of listed) expect(d.unread_messages_count).toBe(expected(user.id, d._id));
    }
    // The dialog's last message is the newest message left.
    const newest = messages.filter((m) => m.dialog === group._id).sort((x, y) => (x.id < y.id ? 1 : -1))[0];
    const shown = (await as(a, 'GET', `/chat/Dialog.json?_id=${group._id}`)).json.items[0];
    expect(shown.last_message_id).toBe(newest?.id ?? null);
  });

  it('counts every one of many messages sent at once, and keeps the newest as the last message', async () => {
    const [a, b, c] = users as [{ id: number; token: string }, { id: number; token: string }, { id: number; token: string }];
    const dialog = (await as(a, 'POST', '/chat/Dialog.json', { type: 2, name: 'burst', occupants_ids: [b.id, c.id] })).json;
    const before = (await as(c, 'GET', '/chat/Message/unread.json')).json.total;
    const senders = [a, b];
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        as(senders[i % 2] as { token: string }, 'POST', '/chat/Message.json', {
          chat_dialog_id: dialog._id,
          message: `burst ${i}`,
        }),
      ),
    );
    expect(sent.every((r) => r.status === 201)).toBe(true);
    const counts = async (user: { token: string }) =>
      (await as(user, 'GET', `/chat/Message/unread.json?chat_dialog_ids=${dialog._id}`)).json[dialog._id];
    expect(await counts(c)).toBe(40);
    expect(await counts(a)).toBe(20);
    expect(await counts(b)).toBe(20);
    expect((await as(c, 'GET', '/chat/Message/unread.json')).json.total).toBe(before + 40);
    const newest = sent
      .map((r) => r.json._id as string)
      .sort()
      .at(-1);
    expect((await as(c, 'GET', `/chat/Dialog/${dialog._id}.json`)).json.last_message_id).toBe(newest);
    // Many readers at once: nothing is subtracted twice.
    await Promise.all(
      Array.from({ length: 5 }, () => as(c, 'PUT', '/chat/Message.json', { chat_dialog_id: dialog._id, read: 1 })),
    );
    expect(await counts(c)).toBe(0);
    expect((await as(c, 'GET', '/chat/Message/unread.json')).json.total).toBe(before);
  });

  it('leaving a group takes the leaver’s unread messages out of their total', async () => {
    const [a, b, c] = users as [{ id: number; token: string }, { id: number; token: string }, { id: number; token: string }];
    const before = (await as(c, 'GET', '/chat/Message/unread.json')).json.total;
    const dialog = (await as(a, 'POST', '/chat/Dialog.json', { type: 2, name: 'leave', occupants_ids: [b.id, c.id] })).json;
    for (let i = 0; i < 3; i++) await as(a, 'POST', '/chat/Message.json', { chat_dialog_id: dialog._id, message: `x${i}` });
    expect((await as(c, 'GET', '/chat/Message/unread.json')).json.total).toBe(before + 3);
    const left = await as(c, 'DELETE', `/chat/Dialog/${dialog._id}.json`);
    expect(left.json.SuccessfullyDeleted.ids).toEqual([dialog._id]);
    expect((await as(c, 'GET', '/chat/Message/unread.json')).json.total).toBe(before);
    expect((await as(a, 'GET', `/chat/Dialog.json?_id=${dialog._id}`)).json.items[0].occupants_ids).toEqual(
      [a.id, b.id].sort((x, y) => x - y),
    );
    // Deleting for everyone takes Bob's unread messages with it.
    const bobBefore = (await as(b, 'GET', '/chat/Message/unread.json')).json.total;
    await server.request('DELETE', `/chat/Dialog/${dialog._id}.json`, { headers: { 'QB-Token': a.token }, form: { force: '1' } });
    expect((await as(b, 'GET', '/chat/Message/unread.json')).json.total).toBe(bobBefore - 3);
  });
});
