import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

const APNS_TOKEN = 'a'.repeat(64);

describe.each(dialects)('push subscriptions and events through the official SDK (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let QB: any;
  let me: number;
  let other: number;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    me = (
      await server.app.services.users.create(app.application_id, { login: 'pusher', password: 'password-1', tag_list: 'man,car' })
    ).id;
    other = (
      await server.app.services.users.create(app.application_id, { login: 'other', password: 'password-1', tag_list: 'car' })
    ).id;
    QB = createSdk(server, app);
    await call((cb) => QB.createSession({ login: 'pusher', password: 'password-1' }, cb));
  });
  afterAll(() => server?.close());

  it('subscribes, replaces the same device, lists and unsubscribes (bare arrays)', async () => {
    const params = {
      notification_channel: 'gcm',
      device: { platform: 'android', udid: 'device-1' },
      push_token: { environment: 'development', client_identification_sequence: 'fcm-token-1', bundle_identifier: 'com.example' },
    };
    const created = await call((cb) => QB.pushnotifications.subscriptions.create(params, cb));
    expect(Array.isArray(created)).toBe(true);
    expect(created).toHaveLength(1);
    expect(created[0].subscription).toMatchObject({
      notification_channel: { name: 'gcm' },
      device: { udid: 'device-1', platform: { name: 'android' } },
    });
    const again = await call((cb) =>
      QB.pushnotifications.subscriptions.create(
        { ...params, push_token: { ...params.push_token, client_identification_sequence: 'fcm-token-2' } },
        cb,
      ),
    );
    expect(again).toHaveLength(1);
    expect(again[0].subscription.id).toBe(created[0].subscription.id);
    const stored = await server.app.services.storage.db
      .selectFrom('push_subscriptions')
      .select('token')
      .where('id', '=', again[0].subscription.id)
      .executeTakeFirstOrThrow();
    expect(stored.token).toBe('fcm-token-2');

    const ios = await call((cb) =>
      QB.pushnotifications.subscriptions.create(
        {
          notification_channel: 'apns',
          device: { platform: 'ios', udid: 'iphone-1' },
          push_token: { environment: 'development', client_identification_sequence: APNS_TOKEN },
        },
        cb,
      ),
    );
    expect(ios.map((s: any) => s.subscription.notification_channel.name)).toEqual(['gcm', 'apns']);
    const listed = await call((cb) => QB.pushnotifications.subscriptions.list(cb));
    expect(listed).toEqual(ios);

    expect(await call((cb) => QB.pushnotifications.subscriptions.delete(ios[1].subscription.id, cb))).toBe(true);
    expect(await call((cb) => QB.pushnotifications.subscriptions.list(cb))).toHaveLength(1);
    const missing = await call((cb) => QB.pushnotifications.subscriptions.delete(ios[1].subscription.id, cb)).catch((e) => e);
    expect(missing.code).toBe(404);
  });

  it('creates a gcm event stored in the QuickBlox format, reads, lists, updates and deletes it', async () => {
    const event = await call((cb) =>
      QB.pushnotifications.events.create(
        {
          notification_type: 'push',
          push_type: 'gcm',
          environment: 'development',
          user: { ids: [me] },
          message: QB.pushnotifications.base64Encode('hello QuickBlox!'),
        },
        cb,
      ),
    );
    expect(event.event).toMatchObject({
      event_type: 'one_shot',
      message: 'data.message=aGVsbG8rUXVpY2tCbG94JTIx',
      user_id: me,
      notification_channel: { name: 'gcm' },
      subscribers_selector: { environment: 'development', user_ids: [me] },
    });
    const id = event.event.id;
    const got = await call((cb) => QB.pushnotifications.events.get(id, cb));
    expect(got.event.id).toBe(id);
    const status = await call((cb) => QB.pushnotifications.events.status(id, cb));
    expect(status.event).toMatchObject({ id, sent_count: expect.any(Number) });
    const list = await call((cb) => QB.pushnotifications.events.list({ page: 1, per_page: 10 }, cb));
    expect(list).toMatchObject({ current_page: 1, per_page: 10, total_entries: 1 });
    expect(list.items[0].event.id).toBe(id);

    const renamed = await server.request('PUT', `/events/${id}.json`, {
      headers: { 'QB-Token': QB.service.qbInst.session.token },
      json: { event: { name: 'renamed' } },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.json.event.name).toBe('renamed');

    await call((cb) => QB.pushnotifications.events.delete(id, cb));
    const gone = await call((cb) => QB.pushnotifications.events.get(id, cb)).catch((e) => e);
    expect(gone.code).toBe(404);
  });

  it('addresses users by tags and external ids, and refuses audiences nobody can receive', async () => {
    const token = QB.service.qbInst.session.token;
    const post = (event: Record<string, unknown>) =>
      server.request('POST', '/events.json', {
        headers: { 'QB-Token': token },
        json: { event: { notification_type: 'push', environment: 'development', message: 'aGk=', ...event } },
      });
    expect((await post({ user: { tags: { any: 'man' } } })).status).toBe(200);
    expect((await post({ user: { tags: { all: 'man,car' } } })).status).toBe(200);
    // other has tag car but no subscription; excluding man leaves only other.
    const nobody = await post({ user: { tags: { any: 'car', exclude: 'man' } } });
    expect(nobody.status).toBe(422);
    expect(nobody.json).toEqual({ errors: { base: ['No one can receive the message'] } });
    expect((await post({ user: { ids: String(other) } })).status).toBe(422);
    expect((await post({ external_user: { ids: '999' } })).status).toBe(422);
    expect((await post({ user: { tags: { any: 'nope' } } })).status).toBe(422);
  });

  it('answers bad input with clear 4xx and writes nothing', async () => {
    const token = QB.service.qbInst.session.token;
    const before = (await server.request('GET', '/events.json', { headers: { 'QB-Token': token } })).json.total_entries;
    const post = (event: Record<string, unknown>) =>
      server.request('POST', '/events.json', {
        headers: { 'QB-Token': token },
        json: {
          event: { notification_type: 'push', environment: 'development', message: 'aGk=', user: { ids: `${me}` }, ...event },
        },
      });
    const now = Math.floor(server.clock.now() / 1000);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ notification_type: 'sms' }, 'event.notification_type'],
      [{ push_type: 'mpns' }, 'event.push_type'],
      [{ push_type: 'telegraph' }, 'event.push_type'],
      [{ environment: 'staging' }, 'event.environment'],
      [{ message: 'not base64!' }, 'event.message'],
      [{ push_type: 'apns', message: 'payload=bm90IGpzb24=' }, 'event.message'],
      [{ push_type: 'gcm', message: 'data.message=@@@' }, 'event.message'],
      [{ event_type: 'fixed_date', date: now - 3600 }, 'event.date'],
      [{ event_type: 'fixed_date' }, 'event.date'],
      [{ event_type: 'period_date', date: now + 60, period: 1234 }, 'event.period'],
      [{ event_type: 'period_date', date: now + 60 }, 'event.period'],
      [{ event_type: 'fixed_date', date: now + 60, end_date: now + 10 }, 'event.end_date'],
      [{ user: { ids: 'x,y' } }, 'event.user.ids'],
      [{ user: {} }, 'event.user'],
    ];
    for (const [event, field] of cases) {
      const response = await post(event);
      expect(response.status, JSON.stringify(event)).toBe(422);
      expect(Object.keys(response.json.errors), JSON.stringify(event)).toContain(field);
    }
    const after = (await server.request('GET', '/events.json', { headers: { 'QB-Token': token } })).json.total_entries;
    expect(after).toBe(before);

    const sub = (body: Record<string, string>) =>
      server.request('POST', '/subscriptions.json', { headers: { 'QB-Token': token }, form: body });
    const base = {
      notification_channel: 'gcm',
      'device[platform]': 'android',
      'device[udid]': 'x',
      'push_token[environment]': 'production',
      'push_token[client_identification_sequence]': 't',
    };
    expect((await sub({ ...base, notification_channel: 'pigeon' })).status).toBe(422);
    expect((await sub({ ...base, notification_channel: 'bbps' })).status).toBe(422);
    expect((await sub({ ...base, 'device[platform]': 'symbian' })).status).toBe(422);
    expect((await sub({ ...base, 'push_token[environment]': 'staging' })).status).toBe(422);
    expect((await sub({ ...base, notification_channel: 'apns', 'device[platform]': 'ios' })).status).toBe(422);
    // The plural some SDK code sends works too.
    const plural = await sub({ ...base, notification_channel: '', notification_channels: 'gcm' });
    expect(plural.status).toBe(201);

    // Another user's subscription and events are not found.
    const mine = plural.json[plural.json.length - 1].subscription.id;
    const otherQB = createSdk(server, app);
    const otherSession = await call<any>((cb) => otherQB.createSession({ login: 'other', password: 'password-1' }, cb));
    const deleted = await server.request('DELETE', `/subscriptions/${mine}.json`, {
      headers: { 'QB-Token': otherSession.token },
    });
    expect(deleted.status).toBe(404);
  });

  it('deleting a user deletes their subscriptions', async () => {
    const user = await server.app.services.users.create(app.application_id, { login: 'leaver', password: 'password-1' });
    await server.app.services.push.subscriptions.create(app.application_id, user.id, {
      notification_channel: 'gcm',
      device: { platform: 'android', udid: 'leaver-phone' },
      push_token: { environment: 'production', client_identification_sequence: 'tok' },
    });
    await server.app.services.users.delete(app.application_id, { userId: null, via: 'apikey' }, user.id);
    const rows = await server.app.services.storage.db
      .selectFrom('push_subscriptions')
      .selectAll()
      .where('user_id', '=', user.id)
      .execute();
    expect(rows).toHaveLength(0);
  });
});
