import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { type ApnsStandIn, apnsClientCertificate, type FcmStandIn, startApns, startFcm } from '../../helpers/push-gateways.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const KEY = 'cd'.repeat(32);
let serial = 0;
const hexToken = () => (++serial).toString(16).padStart(64, 'f');
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

describe.each(dialects)('push over raw HTTP: owner credentials, bad input, other users (%s)', (dialect) => {
  let server: TestServer;
  let apns: ApnsStandIn;
  let fcm: FcmStandIn;
  let app: Credentials;
  let apiKey: string;
  let alice: { id: number; token: string };
  let bob: { id: number; token: string };

  const owner = () => ({ Authorization: `ApiKey ${apiKey}` });
  const as = (who: { token: string }) => ({ 'QB-Token': who.token });
  async function signIn(login: string) {
    const { id } = await server.createUser(app.application_id, login, 'password-1');
    const form = sessionForm(app, server.clock.now(), { 'user[login]': login, 'user[password]': 'password-1' });
    return { id, token: (await server.request('POST', '/session.json', { form })).json.session.token as string };
  }
  const subscribe = (who: { token: string }, form: Record<string, string>) =>
    server.request('POST', '/subscriptions.json', { headers: as(who), form });
  const ios = (channel: string, udid: string, token = hexToken()) => ({
    notification_channel: channel,
    'device[platform]': 'ios',
    'device[udid]': udid,
    'push_token[environment]': 'development',
    'push_token[client_identification_sequence]': token,
    'push_token[bundle_identifier]': 'com.example.chat',
  });
  const createEvent = (who: { token: string }, event: Record<string, unknown>) =>
    server.request('POST', '/events.json', {
      headers: as(who),
      json: { event: { notification_type: 'push', environment: 'development', ...event } },
    });
  const eventCount = async () =>
    Number(
      (
        await server.app.services.storage.db
          .selectFrom('push_events')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    apns = await startApns();
    fcm = await startFcm();
    server = await startServer(dialect, {
      env: {
        APNS_PRODUCTION_URL: apns.url,
        APNS_DEVELOPMENT_URL: apns.url,
        FCM_URL: fcm.url,
        FCM_TOKEN_URL: fcm.tokenUrl,
        PUSH_CREDENTIALS_KEY: KEY,
      },
    });
    app = await server.createApplication();
    apiKey = await server.app.services.apps.createApiKey(app.application_id);
    alice = await signIn('alice');
    bob = await signIn('bob');
  });
  afterAll(async () => {
    await server?.close();
    await apns?.close();
    await fcm?.close();
  });

  it('the owner sets, reads (without secrets) and removes APNs and FCM credentials over REST; others may not', async () => {
    const forbidden = [
      await server.request('GET', '/push_credentials.json', { headers: as(alice) }),
      await server.request('PUT', '/push_credentials/fcm.json', {
        headers: as(alice),
        json: { fcm: { service_account: fcm.serviceAccount } },
      }),
      await server.request('DELETE', '/push_credentials/apns.json', {
        headers: { ...owner(), 'On-Behalf-Of': String(alice.id) },
      }),
    ];
    for (const response of forbidden) {
      expect(response.status).toBe(403);
      expect(response.json.errors.base[0]).toMatch(/API key/);
    }
    expect((await server.request('GET', '/push_credentials.json')).status).toBe(401);

    const empty = await server.request('GET', '/push_credentials.json', { headers: owner() });
    expect(empty.json).toEqual({ push_credentials: { apns: null, fcm: null } });

    const setApns = await server.request('PUT', '/push_credentials/apns.json', {
      headers: owner(),
      json: { apns: { key: apns.privateKey, key_id: apns.keyId, team_id: apns.teamId, topic: 'com.example.chat' } },
    });
    expect(setApns.status).toBe(200);
    expect(setApns.json.push_credentials.apns).toEqual({
      auth: 'token',
      key_id: apns.keyId,
      team_id: apns.teamId,
      topic: 'com.example.chat',
    });
    // A form body works too (the service's object or the bare fields).
    const setFcm = await server.request('PUT', '/push_credentials/fcm.json', {
      headers: owner(),
      form: { service_account: JSON.stringify(fcm.serviceAccount) },
    });
    expect(setFcm.status).toBe(200);
    expect(setFcm.json.push_credentials.fcm).toEqual({
      project_id: fcm.serviceAccount.project_id,
      client_email: fcm.serviceAccount.client_email,
    });
    expect(JSON.stringify((await server.request('GET', '/push_credentials.json', { headers: owner() })).json)).not.toMatch(
      /PRIVATE KEY/,
    );

    // What the owner set is what delivery uses.
    await subscribe(alice, ios('apns', 'alice-phone', 'a1'.repeat(32)));
    await subscribe(alice, {
      notification_channel: 'gcm',
      'device[platform]': 'android',
      'device[udid]': 'alice-tablet',
      'push_token[environment]': 'development',
      'push_token[client_identification_sequence]': 'alice-fcm',
    });
    const event = await createEvent(alice, { user: { ids: String(alice.id) }, message: b64('set over REST') });
    expect(event.status).toBe(200);
    await server.app.services.push.scheduler.idle();
    expect(apns.pushes.find((p) => p.token === 'a1'.repeat(32))?.body.aps.alert.body).toBe('set over REST');
    expect(fcm.pushes.find((p) => p.token === 'alice-fcm')?.body.message.data.message).toBe('set over REST');

    const removed = await server.request('DELETE', '/push_credentials/fcm.json', { headers: owner() });
    expect(removed.status).toBe(200);
    expect((await server.request('DELETE', '/push_credentials/fcm.json', { headers: owner() })).status).toBe(404);
    const after = await server.request('GET', '/push_credentials.json', { headers: owner() });
    expect(after.json.push_credentials.fcm).toBeNull();
    expect(after.json.push_credentials.apns).not.toBeNull();
  });

  it('certificate credentials are accepted when the key parses, and summarised by subject', async () => {
    const certificate = await apnsClientCertificate('com.example.cert');
    const set = await server.request('PUT', '/push_credentials/apns.json', {
      headers: owner(),
      json: { cert: certificate.cert, cert_key: certificate.key },
    });
    expect(set.status).toBe(200);
    expect(set.json.push_credentials.apns).toMatchObject({ auth: 'certificate', topic: null });
    expect(set.json.push_credentials.apns.subject).toContain('com.example.cert');
    // Put token auth back for the other tests.
    await server.request('PUT', '/push_credentials/apns.json', {
      headers: owner(),
      json: { key: apns.privateKey, key_id: apns.keyId, team_id: apns.teamId },
    });
  });

  it('refuses bad credentials with 422 and keeps what was set', async () => {
    const before = await server.request('GET', '/push_credentials.json', { headers: owner() });
    const rsa = fcm.serviceAccount.private_key;
    const cases: Array<[string, unknown, string]> = [
      ['apns', {}, 'apns'],
      ['apns', { key: 'not a key', key_id: apns.keyId, team_id: apns.teamId }, 'apns_key'],
      ['apns', { key: rsa, key_id: apns.keyId, team_id: apns.teamId }, 'apns_key'],
      ['apns', { key: apns.privateKey, key_id: 'short', team_id: apns.teamId }, 'apns_key_id'],
      ['apns', { key: apns.privateKey, key_id: apns.keyId, team_id: apns.teamId, topic: 'bad topic!' }, 'apns_topic'],
      ['apns', { cert: 'garbage', cert_key: 'garbage' }, 'apns_cert'],
      ['fcm', {}, 'service_account'],
      ['fcm', { service_account: '{not json' }, 'fcm_service_account'],
      ['fcm', { service_account: { project_id: 'p' } }, 'fcm_service_account'],
      ['fcm', { service_account: { ...fcm.serviceAccount, private_key: apns.privateKey } }, 'fcm_service_account'],
    ];
    for (const [service, body, field] of cases) {
      const response = await server.request('PUT', `/push_credentials/${service}.json`, { headers: owner(), json: body });
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(Object.keys(response.json.errors)).toContain(field);
    }
    const unknown = await server.request('PUT', '/push_credentials/mpns.json', { headers: owner(), json: {} });
    expect(unknown.status).toBe(422);
    expect((await server.request('GET', '/push_credentials.json', { headers: owner() })).json).toEqual(before.json);
  });

  it('a platform message with a stray % is a 422, never a 500', async () => {
    await subscribe(alice, {
      notification_channel: 'gcm',
      'device[platform]': 'android',
      'device[udid]': 'alice-tablet',
      'push_token[environment]': 'development',
      'push_token[client_identification_sequence]': 'alice-fcm',
    });
    const before = await eventCount();
    for (const message of ['data.message=%zz', 'data.message=aGk%', 'data.=aGk=', 'payload=%E0%A4%A']) {
      const response = await createEvent(alice, {
        push_type: message.startsWith('payload') ? 'apns' : 'gcm',
        user: { ids: String(alice.id) },
        message,
      });
      expect(response.status, message).toBe(422);
      expect(Object.keys(response.json.errors)).toEqual(['event.message']);
    }
    for (const body of [{ event: 'x' }, { event: [1] }, {}, { event: { ...{ notification_type: 'push' }, message: {} } }]) {
      const response = await server.request('POST', '/events.json', { headers: as(alice), json: body });
      expect(response.status, JSON.stringify(body)).toBe(422);
    }
    expect(await eventCount()).toBe(before);
  });

  it('a user with only a VoIP subscription is reachable by a universal push only with ios_voip=1', async () => {
    const carol = await signIn('carol');
    await subscribe(carol, ios('apns_voip', 'carol-phone'));
    const before = await eventCount();
    const plain = await createEvent(alice, { user: { ids: String(carol.id) }, message: b64({ message: 'ring?' }) });
    expect(plain.status).toBe(422);
    expect(plain.json).toEqual({ errors: { base: ['No one can receive the message'] } });
    expect(await eventCount()).toBe(before);
    const voip = await createEvent(alice, { user: { ids: String(carol.id) }, message: b64({ message: 'ring', ios_voip: 1 }) });
    expect(voip.status).toBe(200);
    await server.app.services.push.scheduler.idle();
    const status = await server.request('GET', `/events/${voip.json.event.id}/status.json`, { headers: as(alice) });
    expect(status.json.event).toMatchObject({ sent_count: 1, failed_count: 0 });
  });

  it('the same device subscribing twice at once ends with one subscription', async () => {
    const form = ios('apns', 'race-phone');
    const answers = await Promise.all(Array.from({ length: 6 }, () => subscribe(bob, form)));
    for (const answer of answers) expect(answer.status).toBe(201);
    const listed = await server.request('GET', '/subscriptions.json', { headers: as(bob) });
    expect(listed.json.filter((s: any) => s.subscription.device.udid === 'race-phone')).toHaveLength(1);
  });

  it('subscribes arriving together (written as one batch) each answer their own user’s subscriptions', async () => {
    const [dave, erin] = [await signIn('push-dave'), await signIn('push-erin')];
    expect((await subscribe(dave, ios('apns', 'dave-old'))).status).toBe(201);
    const requests: Array<[{ token: string }, Record<string, string>, string[]]> = [
      [dave, ios('apns', 'dave-1'), ['dave-old', 'dave-1']],
      [erin, { ...ios('apns', 'erin-1'), notification_channel: '', notification_channels: 'apns,apns_voip' }, ['erin-1']],
      [dave, ios('apns_voip', 'dave-2'), ['dave-old', 'dave-2']],
      [bob, ios('apns', 'bob-batch'), ['bob-batch']],
    ];
    const answers = await Promise.all(requests.map(([who, form]) => subscribe(who, form)));
    for (const [i, answer] of answers.entries()) {
      const [who, , udids] = requests[i] as (typeof requests)[number];
      expect(answer.status).toBe(201);
      const own = (await server.request('GET', '/subscriptions.json', { headers: as(who) })).json.map(
        (s: any) => s.subscription.id,
      );
      // Only the caller's own subscriptions, and at least what existed once its own write was done.
      for (const s of answer.json) expect(own).toContain(s.subscription.id);
      const answered = answer.json.map((s: any) => s.subscription.device.udid);
      for (const udid of udids) expect(answered).toContain(udid);
    }
    const erinAnswer = answers[1]?.json.map((s: any) => s.subscription.notification_channel.name).sort();
    expect(erinAnswer).toEqual(['apns', 'apns_voip']);
  });

  it('bad subscriptions are 422 and write nothing', async () => {
    const count = async () => (await server.request('GET', '/subscriptions.json', { headers: as(bob) })).json.length;
    const before = await count();
    const good = ios('apns', 'bob-bad');
    const cases: Array<Record<string, string>> = [
      { ...good, notification_channel: 'pigeon' },
      { ...good, notification_channel: 'mpns' },
      { ...good, notification_channel: '' },
      { ...good, 'device[platform]': 'windows_phone' },
      { ...good, 'device[udid]': '' },
      { ...good, 'push_token[environment]': 'staging' },
      { ...good, 'push_token[client_identification_sequence]': 'not-hex' },
      { ...good, 'push_token[client_identification_sequence]': '' },
      // One bad channel in a list fails the whole request, the good one included.
      { ...good, notification_channel: 'apns,pigeon' },
    ];
    for (const form of cases) {
      const response = await subscribe(bob, form);
      expect(response.status, JSON.stringify(form)).toBe(422);
      expect(response.json.errors).toBeTypeOf('object');
    }
    expect(await count()).toBe(before);
    const appToken = (await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now()) })).json.session
      .token;
    expect((await subscribe({ token: appToken }, good)).status).toBe(403);
  });

  it("other users' events and subscriptions are not found; bad updates are 422 and change nothing", async () => {
    const now = Math.floor(server.clock.now() / 1000);
    const created = await createEvent(alice, {
      push_type: 'gcm',
      event_type: 'fixed_date',
      date: now + 3600,
      user: { ids: String(alice.id) },
      message: b64('later'),
    });
    expect(created.status).toBe(200);
    const id = created.json.event.id;
    for (const [method, path] of [
      ['GET', `/events/${id}.json`],
      ['GET', `/events/${id}/status.json`],
      ['PUT', `/events/${id}.json`],
      ['DELETE', `/events/${id}.json`],
    ] as const) {
      const response = await server.request(method, path, {
        headers: as(bob),
        ...(method === 'PUT' ? { json: { event: { name: 'mine now' } } } : {}),
      });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.json).toEqual({ errors: ['Not Found'] });
    }
    expect((await server.request('GET', '/events.json', { headers: as(bob) })).json.total_entries).toBe(0);
    const mine = (await server.request('GET', '/subscriptions.json', { headers: as(alice) })).json[0].subscription.id;
    expect((await server.request('DELETE', `/subscriptions/${mine}.json`, { headers: as(bob) })).status).toBe(404);
    expect((await server.request('GET', '/subscriptions.json', { headers: as(alice) })).json[0].subscription.id).toBe(mine);

    const original = (await server.request('GET', `/events/${id}.json`, { headers: as(alice) })).json;
    for (const event of [
      { date: now - 3600 },
      { date: 'tomorrow' },
      { period: 86400 },
      { active: 'maybe' },
      { message: 'not base64!' },
    ]) {
      const response = await server.request('PUT', `/events/${id}.json`, { headers: as(alice), json: { event } });
      expect(response.status, JSON.stringify(event)).toBe(422);
    }
    expect((await server.request('GET', `/events/${id}.json`, { headers: as(alice) })).json).toEqual(original);
    for (const path of ['/events/abc.json', '/events/99999999.json']) {
      const response = await server.request('GET', path, { headers: as(alice) });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
    }
  });
});
