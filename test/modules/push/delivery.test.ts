import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { LEASE_MS } from '../../../src/modules/push/scheduler.js';
import { PushStore } from '../../../src/modules/push/store.js';
import { type ApnsStandIn, type FcmStandIn, startApns, startFcm } from '../../helpers/push-gateways.js';
import { createPostgresDatabase, dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const KEY = 'ab'.repeat(32);
let serial = 0;
const apnsToken = () => (++serial).toString(16).padStart(64, '0');

describe.each(dialects)('push delivery to loopback APNs and FCM (%s)', (dialect) => {
  let server: TestServer;
  let apns: ApnsStandIn;
  let fcm: FcmStandIn;
  let app: Credentials;
  let token: string;

  const env = () => ({
    APNS_PRODUCTION_URL: apns.url,
    APNS_DEVELOPMENT_URL: apns.url,
    FCM_URL: fcm.url,
    FCM_TOKEN_URL: fcm.tokenUrl,
    PUSH_CREDENTIALS_KEY: KEY,
  });

  async function subscribe(userId: number, channel: string, deviceToken: string, udid = `udid-${++serial}`) {
    await server.app.services.push.subscriptions.create(app.application_id, userId, {
      notification_channel: channel,
      device: { platform: channel === 'gcm' ? 'android' : 'ios', udid },
      push_token: {
        environment: 'development',
        client_identification_sequence: deviceToken,
        bundle_identifier: 'com.example.chat',
      },
    });
  }
  const createEvent = (event: Record<string, unknown>) =>
    server.request('POST', '/events.json', {
      headers: { 'QB-Token': token },
      json: { event: { notification_type: 'push', environment: 'development', ...event } },
    });
  // Through the service (as an API key would): the earlier tests move the clock past the session's expiry.
  const send = (event: Record<string, unknown>) =>
    server.app.services.push.events.create(
      { applicationId: app.application_id, userId: null },
      { notification_type: 'push', environment: 'development', ...event },
    );
  const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

  beforeAll(async () => {
    apns = await startApns();
    fcm = await startFcm();
    server = await startServer(dialect, { env: env() });
    app = await server.createApplication();
    const push = server.app.services.push;
    await push.credentials.setApns(app.application_id, {
      kind: 'token',
      keyId: apns.keyId,
      teamId: apns.teamId,
      privateKey: apns.privateKey,
    });
    await push.credentials.setFcm(app.application_id, JSON.stringify(fcm.serviceAccount));
    await server.createUser(app.application_id, 'alice', 'password-1');
    const form = sessionForm(app, server.clock.now(), { 'user[login]': 'alice', 'user[password]': 'password-1' });
    token = (await server.request('POST', '/session.json', { form })).json.session.token;
  });
  afterAll(async () => {
    await server?.close();
    await apns?.close();
    await fcm?.close();
  });

  it('stores credentials encrypted', async () => {
    const rows = await server.app.services.storage.db.selectFrom('push_credentials').selectAll().execute();
    expect(rows.map((r) => r.service).sort()).toEqual(['apns', 'fcm']);
    for (const row of rows) {
      expect(row.secret.startsWith('v1:')).toBe(true);
      expect(row.secret).not.toContain('PRIVATE KEY');
      expect(Buffer.from(row.secret.slice(3), 'base64').toString('latin1')).not.toContain('PRIVATE KEY');
    }
  });

  it('delivers a universal push to APNs and FCM, a VoIP push where asked, and counts deliveries', async () => {
    const users = server.app.services.users;
    const bob = (await users.create(app.application_id, { login: 'bob', password: 'password-1', tag_list: 'vip' })).id;
    const carol = (await users.create(app.application_id, { login: 'carol', password: 'password-1', tag_list: 'vip' })).id;
    const bobApns = apnsToken();
    const bobVoip = apnsToken();
    const carolApns = apnsToken();
    await subscribe(bob, 'apns', bobApns);
    await subscribe(bob, 'apns_voip', bobVoip);
    await subscribe(carol, 'apns', carolApns);
    await subscribe(carol, 'gcm', 'carol-fcm');
    const message = { message: 'Hi from Bob', ios_badge: 5, ios_sound: 'ping.wav', ios_voip: 1, user_id: '234' };
    const event = await server.app.services.push.events.create(
      { applicationId: app.application_id, userId: null },
      { notification_type: 'push', environment: 'development', user: { tags: { any: 'vip' } }, message: b64(message) },
    );
    await server.app.services.push.scheduler.idle();
    const voip = apns.pushes.find((p) => p.token === bobVoip);
    expect(voip?.headers).toMatchObject({
      'apns-topic': 'com.example.chat.voip',
      'apns-push-type': 'voip',
      'apns-collapse-id': `event${event.id}`,
    });
    expect(apns.pushes.find((p) => p.token === bobApns)).toBeUndefined();
    const carolPush = apns.pushes.find((p) => p.token === carolApns);
    expect(carolPush?.headers['apns-topic']).toBe('com.example.chat');
    expect(carolPush?.body).toEqual({ aps: { alert: { body: 'Hi from Bob' }, badge: 5, sound: 'ping.wav' }, user_id: '234' });
    const android = fcm.pushes.find((p) => p.token === 'carol-fcm');
    expect(android?.body.message.data).toEqual({ message: 'Hi from Bob', user_id: '234' });
    expect(android?.body.message.android.collapse_key).toBe(`event${event.id}`);
    const status = await server.app.services.push.events.status({ applicationId: app.application_id, userId: null }, event.id);
    expect(status.event).toMatchObject({ sent_count: 3, failed_count: 0, removed_count: 0, active: false, occured_count: 1 });
  });

  it('passes platform payloads through, removes dead tokens, retries transient failures', async () => {
    const users = server.app.services.users;
    const dave = (await users.create(app.application_id, { login: 'dave', password: 'password-1' })).id;
    const dead = apnsToken();
    const flaky = apnsToken();
    await subscribe(dave, 'apns', dead);
    await subscribe(dave, 'apns', flaky);
    apns.behave(dead, 'dead');
    apns.behave(flaky, 'transient-once');
    const payload = { aps: { alert: 'You got mail', badge: 9 }, acme: 42 };
    const created = await createEvent({ push_type: 'apns', user: { ids: `${dave}` }, message: `payload=${b64(payload)}` });
    expect(created.status).toBe(200);
    await server.app.services.push.scheduler.idle();
    expect(apns.pushes.filter((p) => p.token === flaky).map((p) => p.body)).toEqual([payload]);
    const status = await server.app.services.push.events.status(
      { applicationId: app.application_id, userId: null },
      created.json.event.id,
    );
    expect(status.event).toMatchObject({ sent_count: 1, removed_count: 1 });
    const left = await server.app.services.push.subscriptions.list(app.application_id, dave);
    expect(left).toHaveLength(1);

    await subscribe(dave, 'gcm', 'dave-fcm');
    const gcm = await createEvent({
      push_type: 'gcm',
      user: { ids: `${dave}` },
      message: 'data.message=SStsb3ZlK00lMjZNJTI3cyUyMStFc3BlY2lhbGx5K3JlZCtvbmUlMjE=',
    });
    expect(gcm.status).toBe(200);
    await server.app.services.push.scheduler.idle();
    expect(fcm.pushes.find((p) => p.token === 'dave-fcm')?.body.message.data).toEqual({
      message: "I love M&M's! Especially red one!",
    });
  });

  it('sends fixed_date and period_date events when due, each occurrence once, honouring end_date', async () => {
    const erin = (await server.app.services.users.create(app.application_id, { login: 'erin', password: 'password-1' })).id;
    await subscribe(erin, 'gcm', 'erin-fcm');
    const caller = { applicationId: app.application_id, userId: null };
    const events = server.app.services.push.events;
    const scheduler = server.app.services.push.scheduler;
    const now = Math.floor(server.clock.now() / 1000);
    const received = () => fcm.pushes.filter((p) => p.token === 'erin-fcm').map((p) => p.body.message.data.message);
    await events.create(caller, {
      notification_type: 'push',
      push_type: 'gcm',
      environment: 'development',
      event_type: 'fixed_date',
      date: now + 3600,
      user: { ids: `${erin}` },
      message: b64('fixed'),
    });
    const periodic = await events.create(caller, {
      notification_type: 'push',
      push_type: 'gcm',
      environment: 'development',
      event_type: 'period_date',
      date: now + 60,
      period: 86400,
      end_date: now + 60 + 2 * 86400,
      user: { ids: `${erin}` },
      message: b64('daily'),
    });
    await scheduler.tick();
    expect(received()).toEqual([]);
    server.clock.advance(3601_000);
    await scheduler.tick();
    await scheduler.tick();
    expect(received().sort()).toEqual(['daily', 'fixed']);
    for (let day = 1; day <= 3; day++) {
      server.clock.advance(86400_000);
      await scheduler.tick();
    }
    expect(received().filter((m) => m === 'daily')).toHaveLength(3);
    expect(received().filter((m) => m === 'fixed')).toHaveLength(1);
    const final = await events.get(caller, periodic.id);
    expect(final).toMatchObject({ occured_count: 3, active: false });
  });

  it('streams a large audience in batches with bounded concurrency; FCM dead tokens go; missing credentials count as failed', async () => {
    const db = server.app.services.storage.db;
    const now = server.clock.now();
    const ids: number[] = [];
    // More users than one recipient batch (500), written directly: sign-ups would hash 1,100 passwords.
    for (let at = 0; at < 1100; at += 100) {
      const rows = Array.from({ length: 100 }, (_, i) => ({
        application_id: app.application_id,
        login: `crowd-${at + i}`,
        email: null,
        password_hash: '',
        full_name: null,
        phone: null,
        website: null,
        facebook_id: null,
        twitter_id: null,
        twitter_digits_id: null,
        external_user_id: null,
        blob_id: null,
        custom_data: null,
        user_tags: null,
        created_at: now,
        updated_at: now,
        last_request_at: null,
      }));
      ids.push(...(await db.insertInto('users').values(rows).returning('id').execute()).map((r) => r.id));
    }
    for (let at = 0; at < ids.length; at += 100) {
      await db
        .insertInto('push_subscriptions')
        .values(
          ids.slice(at, at + 100).map((id) => ({
            application_id: app.application_id,
            user_id: id,
            channel: 'gcm',
            platform: 'android',
            udid: `crowd-${id}`,
            environment: 'development',
            bundle_identifier: '',
            token: `crowd-fcm-${id}`,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    }
    const deadId = ids[700] as number;
    fcm.behave(`crowd-fcm-${deadId}`, 'dead');
    const created = await send({ push_type: 'gcm', user: { ids: ids.join(',') }, message: b64('crowd') });
    await server.app.services.push.scheduler.idle();
    const got = new Set(fcm.pushes.filter((p) => p.token.startsWith('crowd-fcm-')).map((p) => p.token));
    expect(got.size).toBe(ids.length - 1);
    expect(got.has(`crowd-fcm-${deadId}`)).toBe(false);
    expect(fcm.maxInFlight).toBeLessThanOrEqual(32);
    const caller = { applicationId: app.application_id, userId: null };
    const status = await server.app.services.push.events.status(caller, created.id);
    expect(status.event).toMatchObject({ sent_count: ids.length - 1, removed_count: 1, failed_count: 0 });
    expect(await server.app.services.push.subscriptions.list(app.application_id, deadId)).toEqual([]);

    // Without FCM credentials nothing can go out: each push counts as failed, no subscription is touched.
    const saved = await server.app.services.storage.db
      .selectFrom('push_credentials')
      .selectAll()
      .where('application_id', '=', app.application_id)
      .where('service', '=', 'fcm')
      .executeTakeFirstOrThrow();
    await server.app.services.push.credentials.remove(app.application_id, 'fcm');
    try {
      const few = ids.slice(0, 3);
      const orphan = await send({ push_type: 'gcm', user: { ids: few.join(',') }, message: b64('nowhere') });
      await server.app.services.push.scheduler.idle();
      const failed = await server.app.services.push.events.status(caller, orphan.id);
      expect(failed.event).toMatchObject({ sent_count: 0, failed_count: 3, removed_count: 0 });
      expect(await server.app.services.push.subscriptions.list(app.application_id, few[0] as number)).toHaveLength(1);
    } finally {
      await db.insertInto('push_credentials').values(saved).execute();
    }
  });

  it('universal ios_* keys become aps keys, custom keys root keys; a silent push is background at priority 5', async () => {
    const users = server.app.services.users;
    const gina = (await users.create(app.application_id, { login: 'gina', password: 'password-1', email: 'gina@example.com' }))
      .id;
    const token = apnsToken();
    await subscribe(gina, 'apns', token);
    const silent = { ios_content_available: 1, ios_mutable_content: 1, ios_category: 'CALL', ios_voip: 0, room: 7 };
    await send({ user: { ids: `${gina}` }, message: b64(silent) });
    await server.app.services.push.scheduler.idle();
    const push = apns.pushes.find((p) => p.token === token);
    expect(push?.body).toEqual({ aps: { 'content-available': 1, 'mutable-content': 1, category: 'CALL' }, room: 7 });
    expect(push?.headers).toMatchObject({
      'apns-push-type': 'background',
      'apns-priority': '5',
      'apns-topic': 'com.example.chat',
    });
  });

  it('scheduled events survive a restart: the next server sends what is due, once', async () => {
    // Its own database (and data folder), so that a second server can open it after the first is gone.
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-restart-'));
    const database = dialect === 'postgres' ? await createPostgresDatabase() : null;
    const shared = { ...env(), SWITCHBOARD_DATA: dataDir, ...(database ? { DATABASE_URL: database.url } : {}) };
    try {
      const first = await startServer(dialect, { env: shared });
      const restartApp = await first.createApplication();
      await first.app.services.push.credentials.setFcm(restartApp.application_id, JSON.stringify(fcm.serviceAccount));
      const user = await first.app.services.users.create(restartApp.application_id, { login: 'sleeper', password: 'password-1' });
      await first.app.services.push.subscriptions.create(restartApp.application_id, user.id, {
        notification_channel: 'gcm',
        device: { platform: 'android', udid: 'sleeper-phone' },
        push_token: { environment: 'development', client_identification_sequence: 'sleeper-fcm' },
      });
      const caller = { applicationId: restartApp.application_id, userId: null };
      const start = Math.floor(first.clock.now() / 1000);
      const common = { notification_type: 'push', push_type: 'gcm', environment: 'development', user: { ids: `${user.id}` } };
      await first.app.services.push.events.create(caller, {
        ...common,
        event_type: 'fixed_date',
        date: start + 600,
        message: b64('after-restart'),
      });
      const periodic = await first.app.services.push.events.create(caller, {
        ...common,
        event_type: 'period_date',
        date: start + 600,
        period: 86400,
        message: b64('daily-after-restart'),
      });
      await first.app.services.push.scheduler.tick();
      await first.close();

      const second = await startServer(dialect, { env: shared });
      try {
        second.clock.set(first.clock.now() + 601_000);
        const received = () => fcm.pushes.filter((p) => p.token === 'sleeper-fcm').map((p) => p.body.message.data.message);
        await second.app.services.push.scheduler.tick();
        await second.app.services.push.scheduler.tick();
        expect(received().sort()).toEqual(['after-restart', 'daily-after-restart']);
        second.clock.advance(86400_000);
        await second.app.services.push.scheduler.tick();
        expect(received().filter((m) => m === 'daily-after-restart')).toHaveLength(2);
        expect(received().filter((m) => m === 'after-restart')).toHaveLength(1);
        const state = await second.app.services.push.events.get(caller, periodic.id);
        expect(state).toMatchObject({ occured_count: 2, active: true });
      } finally {
        await second.close();
      }
    } finally {
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a node that dies mid-send leaves a lease: another node sends the rest after it lapses, each recipient once', async () => {
    const users = server.app.services.users;
    const ids: number[] = [];
    for (const login of ['ray', 'sue', 'tom', 'uma']) {
      const id = (await users.create(app.application_id, { login, password: 'password-1' })).id;
      await subscribe(id, 'gcm', `lease-${login}`);
      ids.push(id);
    }
    const caller = { applicationId: app.application_id, userId: null };
    const created = await server.app.services.push.events.create(caller, {
      notification_type: 'push',
      push_type: 'gcm',
      environment: 'development',
      event_type: 'fixed_date',
      date: Math.floor(server.clock.now() / 1000) + 600,
      user: { ids: ids.join(',') },
      message: b64('leased'),
    });
    // The dying node, another process on the same database: it claims the occurrence, records the batch up to
    // sue as sent, and is never heard of again.
    const elsewhere = new PushStore(server.app.services.storage.db, server.app.services.storage.dialect);
    const event = (await elsewhere.eventById(created.id)) as NonNullable<Awaited<ReturnType<PushStore['eventById']>>>;
    const now = server.clock.now();
    expect(await elsewhere.claim(event, event.next_run_at as number, null, 'dead-node', now)).toBe(true);
    const run = { eventId: event.id, occurrence: 1, node: 'dead-node' };
    expect(await elsewhere.recordBatch(run, ids[1] as number, { sent: 2, failed: 0, removed: 0 }, now)).toBe(true);

    const received = () => fcm.pushes.filter((p) => p.token.startsWith('lease-')).map((p) => p.token);
    // Within the lease the run is left alone.
    server.clock.advance(LEASE_MS - 1000);
    await server.app.services.push.scheduler.tick();
    expect(received()).toEqual([]);
    // Lapsed: this server takes it over and sends from tom on.
    server.clock.advance(2000);
    expect(await server.app.services.push.scheduler.tick()).toBe(1);
    expect(received().sort()).toEqual(['lease-tom', 'lease-uma']);
    const status = await server.app.services.push.events.status(caller, created.id);
    expect(status.event).toMatchObject({ sent_count: 4, failed_count: 0, removed_count: 0, occured_count: 1 });
    // Done: nothing is sent again, and the dead node, were it to wake, may no longer record anything.
    server.clock.advance(LEASE_MS * 2);
    await server.app.services.push.scheduler.tick();
    expect(received()).toHaveLength(2);
    expect(await elsewhere.recordBatch(run, ids[3] as number, { sent: 1, failed: 0, removed: 0 }, server.clock.now())).toBe(
      false,
    );
    expect((await server.app.services.push.events.status(caller, created.id)).event.sent_count).toBe(4);
  });

  it.runIf(dialect === 'postgres')(
    'two servers on one PostgreSQL share the schedule: every occurrence exactly once',
    async () => {
      const second = await startServer('postgres', {
        env: { ...env(), DATABASE_URL: (server.config.database as { url: string }).url },
      });
      try {
        const frank = (await server.app.services.users.create(app.application_id, { login: 'frank', password: 'password-1' })).id;
        await subscribe(frank, 'gcm', 'frank-fcm');
        second.clock.set(server.clock.now());
        const now = Math.floor(server.clock.now() / 1000);
        const caller = { applicationId: app.application_id, userId: null };
        for (let i = 0; i < 10; i++) {
          await server.app.services.push.events.create(caller, {
            notification_type: 'push',
            push_type: 'gcm',
            environment: 'development',
            event_type: 'period_date',
            date: now + 10,
            period: 86400,
            user: { ids: `${frank}` },
            message: b64(`race-${i}`),
          });
        }
        for (let day = 0; day < 3; day++) {
          server.clock.advance(day === 0 ? 11_000 : 86400_000);
          second.clock.set(server.clock.now());
          await Promise.all([
            server.app.services.push.scheduler.tick(),
            second.app.services.push.scheduler.tick(),
            second.app.services.push.scheduler.tick(),
          ]);
          await Promise.all([server.app.services.push.scheduler.idle(), second.app.services.push.scheduler.idle()]);
        }
        const got = fcm.pushes.filter((p) => p.token === 'frank-fcm').map((p) => p.body.message.data.message);
        expect(got).toHaveLength(30);
        for (let i = 0; i < 10; i++) expect(got.filter((m) => m === `race-${i}`)).toHaveLength(3);
      } finally {
        await second.close();
      }
    },
  );
});
