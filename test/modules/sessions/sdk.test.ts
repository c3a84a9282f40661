import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { authOf } from '../../../src/core/auth.js';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

const require = createRequire(import.meta.url);
const sdkConfig = require('quickblox/src/qbConfig');

const TWO_HOURS = 2 * 60 * 60 * 1000;

describe.each(dialects)('sessions through the official SDK (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let alice: { id: number };
  let bob: { id: number };

  beforeAll(async () => {
    server = await startServer(dialect, {
      // A write route for the access rules; real write routes arrive with later modules.
      beforeListen: (instance) => {
        instance.post('/test/write.json', async (request) => authOf(request));
      },
    });
    app = await server.createApplication();
    alice = await server.createUser(app.application_id, 'alice', 'alice-password', 'alice@example.com');
    bob = await server.createUser(app.application_id, 'bob', 'bob-password-1');
  });
  afterAll(() => server?.close());

  // The SDK signs with its own clock (Date), so both clocks move together.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(server.clock.now());
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  function advance(ms: number): void {
    server.clock.advance(ms);
    vi.setSystemTime(server.clock.now());
  }

  it('creates an application session and reads it back', async () => {
    const QB = createSdk(server, app);
    const session = await call((cb) => QB.createSession(cb));
    expect(session.application_id).toBe(app.application_id);
    expect(session.user_id).toBe(0);
    expect(session.token).toMatch(/^[0-9a-f]{40}$/);
    expect(session._id).toMatch(/^[0-9a-f]{24}$/);
    expect(typeof session.nonce).toBe('number');
    expect(session.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const read = await call((cb) => QB.getSession(cb));
    expect(read.session.token).toBe(session.token);
    expect(read.session.id).toBe(session.id);
    // The SDK parsed QB-Token-ExpirationDate: now + 2 h, less its one-minute lag.
    const expected = server.clock.now() + TWO_HOURS - 60_000;
    expect(Math.abs(sdkConfig.qbTokenExpirationDate.getTime() - expected)).toBeLessThan(2000);
  });

  it('creates user sessions by login or email, signed with SHA-1 or SHA-256', async () => {
    const byLogin = await call((cb) => createSdk(server, app).createSession({ login: 'alice', password: 'alice-password' }, cb));
    expect(byLogin.user_id).toBe(alice.id);

    const byEmail = await call((cb) =>
      createSdk(server, app, { hash: 'sha256' }).createSession({ email: 'alice@example.com', password: 'alice-password' }, cb),
    );
    expect(byEmail.user_id).toBe(alice.id);
    expect(byEmail.token).not.toBe(byLogin.token);
  });

  it('refuses wrong passwords and unknown users with 401', async () => {
    const QB = createSdk(server, app);
    const wrong = await call((cb) => QB.createSession({ login: 'alice', password: 'not-her-password' }, cb)).catch((e) => e);
    expect(wrong.code).toBe(401);
    expect(wrong.detail).toEqual({ base: ['Unauthorized'] });
    const nobody = await call((cb) => QB.createSession({ login: 'nobody', password: 'whatever1' }, cb)).catch((e) => e);
    expect(nobody.code).toBe(401);
  });

  it('logs in on an existing token, also over another user, and logs out back to an app session', async () => {
    const QB = createSdk(server, app);
    const session = await call((cb) => QB.createSession(cb));

    const user = await call((cb) => QB.login({ login: 'alice', password: 'alice-password' }, cb));
    expect(user.id).toBe(alice.id);
    expect(user.login).toBe('alice');
    expect((await call((cb) => QB.getSession(cb))).session.user_id).toBe(alice.id);

    // The same token now belongs to bob (the SDK's Users spec does this).
    const other = await call((cb) => QB.login({ login: 'bob', password: 'bob-password-1' }, cb));
    expect(other.id).toBe(bob.id);
    const rebound = (await call((cb) => QB.getSession(cb))).session;
    expect(rebound.user_id).toBe(bob.id);
    expect(rebound.token).toBe(session.token);

    await call((cb) => QB.logout(cb));
    expect((await call((cb) => QB.getSession(cb))).session.user_id).toBe(0);
  });

  it('lets application sessions read but not write', async () => {
    const QB = createSdk(server, app);
    const session = await call((cb) => QB.createSession(cb));
    const asApp = await server.request('POST', '/test/write.json', { headers: { 'QB-Token': session.token } });
    expect(asApp.status).toBe(403);
    expect(asApp.json).toEqual({ errors: { base: ['Forbidden. Need user.'] } });

    await call((cb) => QB.login({ login: 'alice', password: 'alice-password' }, cb));
    const asUser = await server.request('POST', '/test/write.json', { headers: { 'QB-Token': session.token } });
    expect(asUser.status).toBe(200);
    expect(asUser.json).toMatchObject({ applicationId: app.application_id, userId: alice.id, via: 'token' });
    expect(asUser.headers['qb-token-expirationdate']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  });

  it('destroys a session: its token stops working', async () => {
    const QB = createSdk(server, app);
    const session = await call((cb) => QB.createSession(cb));
    await call((cb) => QB.destroySession(cb));
    const after = await server.request('GET', '/session.json', { headers: { 'QB-Token': session.token } });
    expect(after.status).toBe(401);
    expect(after.json).toEqual({ errors: { base: ['Required session does not exist'] } });
  });

  it('keeps a used token alive and expires it two hours after its last use', async () => {
    const QB = createSdk(server, app);
    await call((cb) => QB.createSession(cb));
    advance(TWO_HOURS - 60_000);
    await call((cb) => QB.getSession(cb)); // still alive, and used again now
    advance(TWO_HOURS - 60_000);
    await call((cb) => QB.getSession(cb));

    // The last-use time reached the database in a batch, not per request.
    await server.app.services.sessions.flush();
    const token = QB.service.getSession().token;
    const fresh = await server.app.services.sessions.resolve(token);
    expect(fresh?.lastUsedAt).toBe(server.clock.now());

    advance(TWO_HOURS + 1000);
    const expired = await call((cb) => QB.getSession(cb)).catch((e) => e);
    expect(expired.code).toBe(401);
  });

  it('fires the sessionExpired handler on an expired token, and retry re-sends the request', async () => {
    let fired = 0;
    const QB = createSdk(server, app, {
      on: {
        sessionExpired: (_next: unknown, retry: (session: unknown) => void) => {
          fired++;
          QB.createSession((error: unknown, session: unknown) => {
            if (!error) retry(session);
          });
        },
      },
    });
    const first = await call((cb) => QB.createSession(cb));
    advance(TWO_HOURS + 1000);
    const read = await call((cb) => QB.getSession(cb));
    expect(fired).toBe(1);
    expect(read.session.token).not.toBe(first.token);
  });

  it('accepts server API keys, acting as a user with On-Behalf-Of', async () => {
    const key = await server.app.services.apps.createApiKey(app.application_id);
    const asServer = await server.request('POST', '/test/write.json', { headers: { Authorization: `ApiKey ${key}` } });
    expect(asServer.status).toBe(200);
    expect(asServer.json).toMatchObject({ applicationId: app.application_id, userId: null, via: 'apikey' });

    const onBehalf = await server.request('POST', '/test/write.json', {
      headers: { Authorization: `ApiKey ${key}`, 'On-Behalf-Of': String(bob.id) },
    });
    expect(onBehalf.json).toMatchObject({ userId: bob.id, via: 'apikey' });

    const stranger = await server.request('POST', '/test/write.json', {
      headers: { Authorization: `ApiKey ${key}`, 'On-Behalf-Of': '999999' },
    });
    expect(stranger.status).toBe(422);
    const wrongKey = await server.request('POST', '/test/write.json', { headers: { Authorization: 'ApiKey sbk_nope' } });
    expect(wrongKey.status).toBe(401);
  });
});
