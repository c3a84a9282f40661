import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const SEED = 20261203;
const CASES = 400;

const KEYS = [
  'type',
  'name',
  'photo',
  'occupants_ids',
  'chat_dialog_id',
  'recipient_id',
  'message',
  'attachments',
  'data',
  'push_all',
  'pull_all',
  'sort_desc',
  'sort_asc',
  'limit',
  'skip',
  'count',
  'read',
  'delivered',
  'force',
  'enabled',
  'users_ids',
  'dialogs_ids',
  'chat_dialog_ids',
  'mark_as_read',
  '_id[in]',
  'type[gt]',
  'name[ctn]',
  'date_sent[lt]',
  'attachments.type',
  'occupants_ids[all]',
  'data[class_name]',
  'data[level][lt]',
  '__proto__',
  'constructor',
];

describe.each(dialects)('fuzzing the chat routes (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let token: string;
  let other: number;
  let dialogId: string;
  let messageId: string;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    await server.createUser(app.application_id, 'fuzzer', 'password-1');
    other = (await server.createUser(app.application_id, 'target', 'password-1')).id;
    const session = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': 'fuzzer', 'user[password]': 'password-1' }),
    });
    token = session.json.session.token;
    const dialog = await server.request('POST', '/chat/Dialog.json', {
      headers: { 'QB-Token': token },
      json: { type: 2, name: 'fuzz', occupants_ids: [other] },
    });
    dialogId = dialog.json._id;
    const message = await server.request('POST', '/chat/Message.json', {
      headers: { 'QB-Token': token },
      json: { chat_dialog_id: dialogId, message: 'seed' },
    });
    messageId = message.json._id;
  });
  afterAll(() => server?.close());

  it(`answers ${CASES} malformed chat requests with JSON and never a 5xx (seed ${SEED})`, async () => {
    let state = SEED;
    const int = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;
    const values = (): unknown =>
      pick([
        '',
        'x',
        '0',
        '-1',
        '1e309',
        '999999999999999999999',
        "' or 1=1 --",
        '"; drop table chat_messages; --',
        '\u0000\uFFFF\uD800',
        'é😀',
        'a'.repeat(70_000),
        dialogId,
        messageId,
        `${dialogId},${messageId}`,
        String(other),
        `${other}, ${other}`,
        null,
        true,
        12.5,
        [],
        [1, 'two', { three: 3 }],
        { occupants_ids: 'x' },
        { class_name: 'Nope', a: { b: 1 } },
        { $gt: '' },
      ]);
    const routes: Array<[string, () => string]> = [
      ['GET', () => '/chat/Dialog.json'],
      ['POST', () => '/chat/Dialog.json'],
      ['GET', () => `/chat/Dialog/${pick([dialogId, 'x', '0'.repeat(24), `${dialogId},${dialogId}`])}.json`],
      ['PUT', () => `/chat/Dialog/${pick([dialogId, 'zz', '0'.repeat(24)])}.json`],
      ['DELETE', () => `/chat/Dialog/${pick(['0'.repeat(24), 'bad', `${'0'.repeat(24)},x`])}.json`],
      ['GET', () => `/chat/Dialog/${pick([dialogId, 'bad'])}/notifications.json`],
      ['PUT', () => `/chat/Dialog/${pick([dialogId, 'bad'])}/notifications.json`],
      ['POST', () => `/chat/Dialogs/${pick(['add', 'remove'])}_occupants.json`],
      ['GET', () => '/chat/Message.json'],
      ['POST', () => '/chat/Message.json'],
      ['PUT', () => '/chat/Message.json'],
      ['PUT', () => `/chat/Message/${pick([messageId, 'bad', '0'.repeat(24)])}.json`],
      ['DELETE', () => `/chat/Message/${pick(['0'.repeat(24), 'bad', `${'1'.repeat(24)},${'2'.repeat(24)}`])}.json`],
      ['GET', () => '/chat/Message/unread.json'],
    ];
    // Surrogates (lone ones cannot be percent-encoded) become '?' in URLs and forms; JSON bodies still carry them.
    const enc = (text: string) => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '?'));
    const pair = ([k, v]: [string, unknown]) => `${enc(k)}=${enc(typeof v === 'string' ? v : JSON.stringify(v))}`;
    const failures: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const [method, path] = pick(routes);
      const params: Record<string, unknown> = {};
      for (let k = int(5); k >= 0; k--) params[pick(KEYS)] = values();
      const encoding = int(4);
      const headers: Record<string, string> = { 'QB-Token': token };
      let url = path();
      let body: string | undefined;
      if (method === 'GET' || encoding === 3) {
        url += `?${Object.entries(params).map(pair).join('&')}`;
      } else if (encoding === 0) {
        body = JSON.stringify(params);
        headers['content-type'] = 'application/json';
      } else if (encoding === 1) {
        body = Object.entries(params).map(pair).join('&');
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else {
        body = pick(['{"type":', '[1,2]', 'null', '%%%', 'a[b][c][d][e][f][g]=1', 'occupants_ids[][]=1']);
        headers['content-type'] = pick(['application/json', 'application/x-www-form-urlencoded']);
      }
      const response = await server.request(method, url, { headers, ...(body === undefined ? {} : { body }) });
      const json = String(response.headers['content-type'] ?? '').startsWith('application/json');
      const emptyOk = response.status === 200 && response.text === '';
      if (response.status >= 500 || (!json && !emptyOk) || (response.status >= 400 && !response.json?.errors)) {
        failures.push(
          `#${i} ${method} ${url.slice(0, 80)} ${String(body).slice(0, 80)} -> ${response.status} ${response.text.slice(0, 120)}`,
        );
      }
    }
    expect(failures).toEqual([]);

    // Still consistent and serving: the seed dialog's own history is intact.
    const history = await server.request('GET', `/chat/Message.json?chat_dialog_id=${dialogId}&mark_as_read=0`, {
      headers: { 'QB-Token': token },
    });
    expect(history.status === 200 || history.status === 404).toBe(true);
    const unread = await server.request('GET', '/chat/Message/unread.json', { headers: { 'QB-Token': token } });
    expect(unread.status).toBe(200);
    expect(unread.json.total).toBeGreaterThanOrEqual(0);
  });
});
