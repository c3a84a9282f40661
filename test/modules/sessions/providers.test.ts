import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { freePort, jsonLine, removeDir, runCli, tempDir } from '../../helpers/process.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

/*
 * Loopback stand-ins speak each provider's real protocol: the Graph API's
 * /me, Twitter's verify_credentials with OAuth 1.0a signatures checked by an
 * independent implementation of RFC 5849, a JWKS endpoint whose key signs
 * real Firebase-style ID tokens, and a custom identity provider.
 */

/** How a stand-in misbehaves when asked to. */
type Mode = 'ok' | 'hang' | 'http-503' | 'not-json';

interface StandIn {
  url: string;
  mode: Mode;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

async function startStandIn(handler: Handler): Promise<StandIn> {
  const standIn: StandIn = { url: '', mode: 'ok', requests: [], close: async () => {} };
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      standIn.requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      if (standIn.mode === 'hang') return; // never answers
      if (standIn.mode === 'http-503') {
        response.writeHead(503, { 'content-type': 'text/html' }).end('<html>Service Unavailable</html>');
        return;
      }
      if (standIn.mode === 'not-json') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
        return;
      }
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  standIn.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  standIn.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return standIn;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

// ---------------------------------------------------------------- Facebook

const FACEBOOK_APP_SECRET = 'fb-app-secret';
const FACEBOOK_USERS: Record<string, { id: string; name: string; email?: string }> = {
  'fb-token-ann': { id: '10001', name: 'Ann Facebook', email: 'ann@facebook.test' },
  'fb-token-ann-again': { id: '10001', name: 'Ann Facebook', email: 'ann@facebook.test' },
  'fb-token-ben': { id: '10002', name: 'Ben Facebook' },
  'fb-token-race': { id: '10003', name: 'Race Facebook' },
  'fb-token-taken-email': { id: '10004', name: 'Alice Again', email: 'alice@example.com' },
  'fb-token-taken-login': { id: '10005', name: 'Squatted' },
  'fb-token-proof': { id: '10006', name: 'Proof Facebook' },
  'fb-token-login': { id: '10007', name: 'Login Facebook' },
};

/** GET /me?fields=id,name,email&access_token=... as the Graph API answers it. */
const graphApi: Handler = (request, _body, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (request.method !== 'GET' || url.pathname !== '/me') return sendJson(response, 404, { error: { message: 'Unknown path' } });
  const token = url.searchParams.get('access_token') ?? '';
  const user = FACEBOOK_USERS[token];
  if (!user) {
    return sendJson(response, 400, {
      error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 },
    });
  }
  const proof = url.searchParams.get('appsecret_proof');
  if (proof !== null && proof !== createHmac('sha256', FACEBOOK_APP_SECRET).update(token).digest('hex')) {
    return sendJson(response, 400, {
      error: { message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100 },
    });
  }
  const fields = (url.searchParams.get('fields') ?? 'id,name').split(',');
  sendJson(response, 200, Object.fromEntries(Object.entries(user).filter(([key]) => fields.includes(key))));
};

// ---------------------------------------------------------------- Twitter

const TWITTER_CONSUMER = { key: 'tw-consumer-key', secret: 'tw-consumer-secret' };
const TWITTER_USERS: Record<string, { secret: string; id_str: string; name: string; screen_name: string }> = {
  'tw-token-cat': { secret: 'tw-secret-cat', id_str: '20001', name: 'Cat Twitter', screen_name: 'cat' },
};

/** RFC 3986 percent-encoding, as OAuth 1.0a requires (encodeURIComponent leaves !'()* alone). */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Checks an OAuth 1.0a HMAC-SHA1 Authorization header (RFC 5849 §3.4), written apart from the server's library. */
function checkOAuth(method: string, baseUrl: string, query: URLSearchParams, header: string, consumerSecret: string) {
  const oauth: Record<string, string> = {};
  for (const part of header.replace(/^OAuth\s+/, '').split(/,\s*/)) {
    const match = /^([^=]+)="([^"]*)"$/.exec(part);
    if (match) oauth[decodeURIComponent(match[1] as string)] = decodeURIComponent(match[2] as string);
  }
  const pairs: Array<[string, string]> = [...query.entries()];
  for (const [key, value] of Object.entries(oauth)) if (key !== 'oauth_signature' && key !== 'realm') pairs.push([key, value]);
  const encoded = pairs.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).sort();
  const base = [method, rfc3986(baseUrl), rfc3986(encoded.join('&'))].join('&');
  const token = TWITTER_USERS[oauth.oauth_token ?? ''];
  const key = `${rfc3986(consumerSecret)}&${rfc3986(token?.secret ?? '')}`;
  const expected = Buffer.from(createHmac('sha1', key).update(base).digest('base64'));
  const given = Buffer.from(oauth.oauth_signature ?? '');
  return { oauth, token, valid: expected.length === given.length && timingSafeEqual(expected, given) };
}

function twitterApi(standIn: () => StandIn, expectedTimestamp: () => number): Handler {
  return (request, _body, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET' || url.pathname !== '/1.1/account/verify_credentials.json') {
      return sendJson(response, 404, { errors: [{ code: 34, message: 'Sorry, that page does not exist.' }] });
    }
    const header = request.headers.authorization ?? '';
    const { oauth, token, valid } = checkOAuth(
      'GET',
      `${standIn().url}${url.pathname}`,
      url.searchParams,
      header,
      TWITTER_CONSUMER.secret,
    );
    const wellFormed =
      oauth.oauth_consumer_key === TWITTER_CONSUMER.key &&
      oauth.oauth_signature_method === 'HMAC-SHA1' &&
      oauth.oauth_version === '1.0' &&
      (oauth.oauth_nonce ?? '').length >= 8 &&
      oauth.oauth_timestamp === String(expectedTimestamp());
    if (!token) return sendJson(response, 401, { errors: [{ code: 89, message: 'Invalid or expired token.' }] });
    if (!valid || !wellFormed) return sendJson(response, 401, { errors: [{ code: 32, message: 'Could not authenticate you.' }] });
    const { secret: _secret, ...profile } = token;
    sendJson(response, 200, { ...profile, id: Number(profile.id_str) });
  };
}

// ---------------------------------------------------------------- Firebase

const PROJECT = 'switchboard-test';
const OTHER_PROJECT = 'someone-else';

interface SigningKey {
  kid: string;
  privateKey: Parameters<SignJWT['sign']>[0];
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

interface TokenOptions {
  uid?: string;
  phone?: string | null;
  aud?: string;
  iss?: string;
  /** Issued-at, unix ms; default now. */
  issuedAt?: number;
  key?: SigningKey;
  /** Sign with this key but name another key's kid (a forged signature). */
  kid?: string;
}

// ---------------------------------------------------------------- custom identity provider

const IDP_USERS: Record<string, { token: string; answer: Record<string, unknown> }> = {
  'idp-dan': { token: 'idp-token-dan', answer: { uid: 'u-dan', login: 'dan', email: 'dan@idp.test', full_name: 'Dan Idp' } },
  'idp-eve': { token: 'idp-token-eve', answer: { uid: 4242 } },
};

const identityProvider: Handler = (request, body, response) => {
  if (request.method !== 'POST' || request.url !== '/verify') return sendJson(response, 404, { errors: ['Not Found'] });
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body);
  } catch {
    return sendJson(response, 400, { errors: ['bad json'] });
  }
  const user = IDP_USERS[String(input.login)];
  if (!user || user.token !== input.token) return sendJson(response, 401, { errors: { base: ['Token expired or unknown'] } });
  sendJson(response, 200, user.answer);
};

// ---------------------------------------------------------------- the tests

describe.each(dialects)('social, phone and custom identity sign-in (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let idpApp: Credentials;
  let graph: StandIn;
  let twitter: StandIn;
  let jwks: StandIn;
  let idp: StandIn;
  let keys: SigningKey[];
  let published: JWK[];
  let alice: { id: number };

  beforeAll(async () => {
    keys = [await signingKey('key-1'), await signingKey('key-2')];
    published = [keys[0]?.jwk as JWK];
    graph = await startStandIn(graphApi);
    twitter = await startStandIn(
      twitterApi(
        () => twitter,
        () => Math.floor(server.clock.now() / 1000),
      ),
    );
    jwks = await startStandIn((_request, _body, response) => sendJson(response, 200, { keys: published }));
    idp = await startStandIn(identityProvider);
    server = await startServer(dialect, {
      env: {
        FACEBOOK_GRAPH_URL: graph.url,
        TWITTER_API_URL: twitter.url,
        FIREBASE_JWKS_URL: `${jwks.url}/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com`,
        PROVIDER_TIMEOUT_MS: '1000',
      },
    });
    app = await server.createApplication();
    await server.app.services.apps.updateSettings(app.application_id, {
      twitter_consumer_key: TWITTER_CONSUMER.key,
      twitter_consumer_secret: TWITTER_CONSUMER.secret,
      firebase_project_ids: [PROJECT],
    });
    idpApp = await server.createApplication();
    await server.app.services.apps.updateSettings(idpApp.application_id, {
      custom_identity_provider_url: `${idp.url}/verify`,
    });
    alice = await server.createUser(app.application_id, 'alice', 'alice-password', 'alice@example.com');
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([graph, twitter, jwks, idp].map((standIn) => standIn?.close()));
  });

  // The SDK signs with its own clock (Date), so both clocks move together.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(server.clock.now());
    for (const standIn of [graph, twitter, jwks, idp]) standIn.mode = 'ok';
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  function advance(ms: number): void {
    server.clock.advance(ms);
    vi.setSystemTime(server.clock.now());
  }

  function idToken(options: TokenOptions = {}): Promise<string> {
    const key = options.key ?? (keys[0] as SigningKey);
    const issuedAt = Math.floor((options.issuedAt ?? server.clock.now()) / 1000);
    const phone = options.phone === undefined ? '+15550001111' : options.phone;
    return new SignJWT({
      auth_time: issuedAt,
      ...(phone === null ? {} : { phone_number: phone }),
      firebase: { identities: phone === null ? {} : { phone: [phone] }, sign_in_provider: 'phone' },
    })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
      .setIssuer(options.iss ?? `https://securetoken.google.com/${options.aud ?? PROJECT}`)
      .setAudience(options.aud ?? PROJECT)
      .setSubject(options.uid ?? 'firebase-uid-frank')
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(key.privateKey);
  }

  const user = async (id: number) => (await server.app.services.users.get(app.application_id, id)) as any;

  function postSession(target: Credentials, extra: Record<string, string>): Promise<RawResponse> {
    return server.request('POST', '/session.json', { form: sessionForm(target, server.clock.now(), extra) });
  }

  async function appToken(target: Credentials = app): Promise<string> {
    const response = await postSession(target, {});
    expect(response.status).toBe(201);
    return response.json.session.token;
  }

  function expectError(response: RawResponse, status: number, body?: unknown): void {
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toMatch(/application\/json/);
    if (body !== undefined) expect(response.json).toEqual(body);
    else expect(response.json?.errors).toBeDefined();
  }

  describe('facebook', () => {
    it('creates the user on first sign-in through the SDK and finds them after', async () => {
      const QB = createSdk(server, app);
      const first = await call((cb) => QB.createSession({ provider: 'facebook', keys: { token: 'fb-token-ann' } }, cb));
      expect(first.user_id).toBeGreaterThan(0);
      const ann = await user(first.user_id);
      expect(ann).toMatchObject({
        facebook_id: '10001',
        full_name: 'Ann Facebook',
        email: 'ann@facebook.test',
        login: 'facebook-10001',
      });

      // Later sign-ins (another token of the same person) find the same user, also through POST /login.json.
      const again = await call((cb) =>
        createSdk(server, app).createSession({ provider: 'facebook', keys: { token: 'fb-token-ann-again' } }, cb),
      );
      expect(again.user_id).toBe(first.user_id);
      const QB2 = createSdk(server, app);
      await call((cb) => QB2.createSession(cb));
      const loggedIn = await call((cb) => QB2.login({ provider: 'facebook', keys: { token: 'fb-token-ann' } }, cb));
      expect(loggedIn.id).toBe(first.user_id);
      expect((await call((cb) => QB2.getSession(cb))).session.user_id).toBe(first.user_id);

      // The Graph API was asked for the profile with the client's token.
      const asked = new URL(graph.requests.at(-1)?.url ?? '', 'http://x');
      expect(asked.pathname).toBe('/me');
      expect(asked.searchParams.get('fields')).toBe('id,name,email');
      expect(asked.searchParams.get('access_token')).toBe('fb-token-ann');
      expect(asked.searchParams.has('appsecret_proof')).toBe(false);
    });

    it('leaves such users without a password: password sign-in fails', async () => {
      const QB = createSdk(server, app);
      const session = await call((cb) => QB.createSession({ provider: 'facebook', keys: { token: 'fb-token-ben' } }, cb));
      const ben = await user(session.user_id);
      expect(ben.email).toBeNull();
      for (const password of ['', 'anything-at-all']) {
        const response = await postSession(app, { 'user[login]': ben.login, 'user[password]': password });
        expect(response.status).toBeGreaterThanOrEqual(401);
        expect(response.status).toBeLessThan(500);
      }
    });

    it('signs in over raw HTTP on both routes, with form and JSON bodies', async () => {
      const created = await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-login', scope: 'email' });
      expect(created.status).toBe(201);
      const id = created.json.session.user_id;
      expect(id).toBeGreaterThan(0);

      const token = await appToken();
      const viaForm = await server.request('POST', '/login.json', {
        headers: { 'QB-Token': token },
        form: { provider: 'facebook', 'keys[token]': 'fb-token-login' },
      });
      expect(viaForm.status).toBe(200);
      expect(viaForm.json.user.id).toBe(id);
      const viaJson = await server.request('POST', '/login.json', {
        headers: { 'QB-Token': await appToken() },
        json: { provider: 'facebook', keys: { token: 'fb-token-login' } },
      });
      expect(viaJson.status).toBe(200);
      expect(viaJson.json.user.facebook_id).toBe('10007');
    });

    it('answers a token Facebook refuses with 401, and bad parameters with 422', async () => {
      const QB = createSdk(server, app);
      const refused = await call((cb) => QB.createSession({ provider: 'facebook', keys: { token: 'stolen' } }, cb)).catch(
        (e) => e,
      );
      expect(refused.code).toBe(401);
      expect(refused.detail).toEqual({
        base: ['Facebook did not accept the credentials: Invalid OAuth access token - Cannot parse access token'],
      });

      expectError(await postSession(app, { provider: 'facebook' }), 422, { errors: { 'keys.token': ["can't be blank"] } });
      expectError(await postSession(app, { provider: 'facebook', 'keys[token]': '  ' }), 422);
      expectError(await postSession(app, { provider: 'myspace', 'keys[token]': 't' }), 422, {
        errors: { provider: ['must be facebook, twitter or firebase_phone'] },
      });
      expectError(await postSession(app, { provider: 'twitter_digits' }), 422);
      expectError(await postSession(app, { provider: '' }), 422);
      const token = await appToken();
      expectError(
        await server.request('POST', '/login.json', { headers: { 'QB-Token': token }, form: { provider: 'facebook' } }),
        422,
      );
      expectError(
        await server.request('POST', '/login.json', {
          headers: { 'QB-Token': token },
          json: { provider: 'facebook', keys: 'not-an-object' },
        }),
        422,
      );
      // The session stayed an application session through all of that.
      const read = await server.request('GET', '/session.json', { headers: { 'QB-Token': token } });
      expect(read.json.session.user_id).toBe(0);
    });

    it('gives a clear 422 when the Graph API is down, slow or garbled, and writes nothing', async () => {
      const before = (await server.app.services.users.list(app.application_id, { per_page: '100' })).total_entries;
      for (const mode of ['http-503', 'not-json', 'hang'] as const) {
        graph.mode = mode;
        const response = await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-new-person' });
        expectError(response, 422);
        expect(response.json.errors.base[0]).toMatch(/^Facebook could not verify the credentials right now \(.+\)$/);
        expect(response.text).not.toContain('fb-token-new-person');
      }
      expect((await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-new-person' })).json.errors).toBeDefined();
      expect((await server.app.services.users.list(app.application_id, { per_page: '100' })).total_entries).toBe(before);
    });

    it('with the app secret set, sends appsecret_proof so tokens of other Facebook apps fail', async () => {
      const strict = await server.createApplication();
      await server.app.services.apps.updateSettings(strict.application_id, { facebook_app_secret: FACEBOOK_APP_SECRET });
      const ok = await postSession(strict, { provider: 'facebook', 'keys[token]': 'fb-token-proof' });
      expect(ok.status).toBe(201);
      const asked = new URL(graph.requests.at(-1)?.url ?? '', 'http://x');
      expect(asked.searchParams.get('appsecret_proof')).toBe(
        createHmac('sha256', FACEBOOK_APP_SECRET).update('fb-token-proof').digest('hex'),
      );

      const wrong = await server.createApplication();
      await server.app.services.apps.updateSettings(wrong.application_id, { facebook_app_secret: 'another-apps-secret' });
      expectError(await postSession(wrong, { provider: 'facebook', 'keys[token]': 'fb-token-proof' }), 401, {
        errors: { base: ['Facebook did not accept the credentials: Invalid appsecret_proof provided in the API argument'] },
      });
    });

    it('keeps users of different applications apart', async () => {
      const other = await server.createApplication();
      const here = await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-ann' });
      const there = await postSession(other, { provider: 'facebook', 'keys[token]': 'fb-token-ann' });
      expect(there.status).toBe(201);
      expect(there.json.session.user_id).not.toBe(here.json.session.user_id);
    });

    it('creates one user when two first sign-ins race', async () => {
      const responses = await Promise.all(
        Array.from({ length: 4 }, () => postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-race' })),
      );
      const ids = new Set(responses.map((response) => response.json.session?.user_id));
      expect(responses.map((response) => response.status)).toEqual([201, 201, 201, 201]);
      expect(ids.size).toBe(1);

      // The same at the service level, where the database's unique index decides.
      const identity = { provider: 'facebook' as const, uid: '10999', fullName: 'Race Service' };
      const results = await Promise.all(
        Array.from({ length: 6 }, () => server.app.services.users.findOrCreateByProvider(app.application_id, identity)),
      );
      expect(new Set(results.map((result) => result.user.id)).size).toBe(1);
      expect(results.filter((result) => result.created)).toHaveLength(1);
      const found = await server.app.services.users.list(app.application_id, { filter: ['string facebook_id eq 10999'] });
      expect(found.total_entries).toBe(1);
    });

    it('leaves out an email another user holds, and works around a taken login', async () => {
      const emailClash = await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-taken-email' });
      expect(emailClash.status).toBe(201);
      const clashing = await user(emailClash.json.session.user_id);
      expect(clashing.id).not.toBe(alice.id);
      expect(clashing.email).toBeNull();
      expect(clashing.full_name).toBe('Alice Again');

      await server.createUser(app.application_id, 'facebook-10005', 'squatter-password');
      const loginClash = await postSession(app, { provider: 'facebook', 'keys[token]': 'fb-token-taken-login' });
      expect(loginClash.status).toBe(201);
      const squatted = await user(loginClash.json.session.user_id);
      expect(squatted.login).toMatch(/^facebook-10005-[A-Za-z0-9]{6}$/);
      expect(squatted.facebook_id).toBe('10005');
    });
  });

  describe('twitter', () => {
    it('verifies credentials with a correctly signed OAuth 1.0a request, then finds the same user', async () => {
      const QB = createSdk(server, app);
      const first = await call((cb) =>
        QB.createSession({ provider: 'twitter', keys: { token: 'tw-token-cat', secret: 'tw-secret-cat' } }, cb),
      );
      const cat = await user(first.user_id);
      expect(cat).toMatchObject({ twitter_id: '20001', full_name: 'Cat Twitter', login: 'twitter-20001' });

      const request = twitter.requests.at(-1);
      expect(request?.url).toBe('/1.1/account/verify_credentials.json?include_email=true&skip_status=true');
      expect(request?.headers.authorization).toMatch(/^OAuth /);

      const QB2 = createSdk(server, app);
      await call((cb) => QB2.createSession(cb));
      const again = await call((cb) =>
        QB2.login({ provider: 'twitter', keys: { token: 'tw-token-cat', secret: 'tw-secret-cat' } }, cb),
      );
      expect(again.id).toBe(first.user_id);
    });

    it('answers a refused token or a bad signature with 401', async () => {
      expectError(await postSession(app, { provider: 'twitter', 'keys[token]': 'unknown', 'keys[secret]': 's' }), 401, {
        errors: { base: ['Twitter did not accept the credentials: Invalid or expired token.'] },
      });
      // A wrong token secret makes the signature wrong.
      expectError(await postSession(app, { provider: 'twitter', 'keys[token]': 'tw-token-cat', 'keys[secret]': 'nope' }), 401, {
        errors: { base: ['Twitter did not accept the credentials: Could not authenticate you.'] },
      });
      // So does a wrong consumer secret in the application's settings.
      const misconfigured = await server.createApplication();
      await server.app.services.apps.updateSettings(misconfigured.application_id, {
        twitter_consumer_key: TWITTER_CONSUMER.key,
        twitter_consumer_secret: 'not-the-secret',
      });
      expectError(
        await postSession(misconfigured, { provider: 'twitter', 'keys[token]': 'tw-token-cat', 'keys[secret]': 'tw-secret-cat' }),
        401,
      );
    });

    it('needs keys[secret] and an application with Twitter consumer credentials (422)', async () => {
      expectError(await postSession(app, { provider: 'twitter', 'keys[token]': 'tw-token-cat' }), 422, {
        errors: { 'keys.secret': ["can't be blank"] },
      });
      const bare = await server.createApplication();
      expectError(
        await postSession(bare, { provider: 'twitter', 'keys[token]': 'tw-token-cat', 'keys[secret]': 'tw-secret-cat' }),
        422,
        {
          errors: { provider: ['twitter is not set up for this application'] },
        },
      );
    });

    it('gives a clear 422 when Twitter is down', async () => {
      twitter.mode = 'http-503';
      const response = await postSession(app, {
        provider: 'twitter',
        'keys[token]': 'tw-token-cat',
        'keys[secret]': 'tw-secret-cat',
      });
      expectError(response, 422, {
        errors: { base: ['Twitter could not verify the credentials right now (unexpected answer, HTTP 503)'] },
      });
    });
  });

  describe('firebase_phone', () => {
    it('verifies a Firebase ID token through QB.login, creates the user with the phone number, finds them again', async () => {
      const QB = createSdk(server, app);
      await call((cb) => QB.createSession(cb));
      const access_token = await idToken();
      const frank = await call((cb) =>
        QB.login({ provider: 'firebase_phone', firebase_phone: { project_id: PROJECT, access_token } }, cb),
      );
      expect(frank.phone).toBe('+15550001111');
      expect(frank.login).toBe('firebase-firebase-uid-frank');
      expect((await call((cb) => QB.getSession(cb))).session.user_id).toBe(frank.id);

      // A later token of the same Firebase user, over raw HTTP on POST /session.json (the SDK cannot send it there).
      advance(60_000);
      const again = await postSession(app, {
        provider: 'firebase_phone',
        'firebase_phone[project_id]': PROJECT,
        'firebase_phone[access_token]': await idToken(),
      });
      expect(again.status).toBe(201);
      expect(again.json.session.user_id).toBe(frank.id);
    });

    it('refuses wrong audience, wrong issuer, expiry, a forged signature and a token without a phone (401)', async () => {
      const token = await appToken();
      const login = (access_token: string, project_id = PROJECT) =>
        server.request('POST', '/login.json', {
          headers: { 'QB-Token': token },
          form: {
            provider: 'firebase_phone',
            'firebase_phone[project_id]': project_id,
            'firebase_phone[access_token]': access_token,
          },
        });
      const reason = async (response: Promise<RawResponse>) => {
        const answer = await response;
        expectError(answer, 401);
        return answer.json.errors.base[0];
      };

      expect(await reason(login(await idToken({ aud: OTHER_PROJECT, iss: `https://securetoken.google.com/${PROJECT}` })))).toBe(
        "Firebase did not accept the credentials: the token's aud claim does not match",
      );
      expect(await reason(login(await idToken({ iss: 'https://evil.example.com/switchboard-test' })))).toBe(
        "Firebase did not accept the credentials: the token's iss claim does not match",
      );
      expect(await reason(login(await idToken({ issuedAt: server.clock.now() - 2 * 3600_000 })))).toBe(
        'Firebase did not accept the credentials: the token has expired',
      );
      const forger = await signingKey('key-1');
      expect(await reason(login(await idToken({ key: forger })))).toBe(
        'Firebase did not accept the credentials: the token signature is invalid',
      );
      expect(await reason(login(await idToken({ phone: null })))).toMatch(/not from phone sign-in/);
      expect(await reason(login(await idToken({ issuedAt: server.clock.now() + 3600_000 })))).toMatch(/future/);
      expect(await reason(login('not.a.jwt'))).toBe('Firebase did not accept the credentials: the token is malformed');
      const hmac = await new SignJWT({ phone_number: '+15550001111' })
        .setProtectedHeader({ alg: 'HS256' })
        .setAudience(PROJECT)
        .setIssuer(`https://securetoken.google.com/${PROJECT}`)
        .setSubject('x')
        .setIssuedAt(Math.floor(server.clock.now() / 1000))
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('shared-secret-shared-secret-32by'));
      expect(await reason(login(hmac))).toMatch(/RS256/);

      // The token expires by the server's clock, not the wall clock.
      const fresh = await idToken();
      advance(3601_000);
      expect(await reason(login(fresh))).toMatch(/expired/);

      // The session is still an application session.
      expect((await server.request('GET', '/session.json', { headers: { 'QB-Token': token } })).json.session.user_id).toBe(0);
    });

    it('accepts only project ids the application allows, and needs both parameters (422)', async () => {
      const token = await appToken();
      const other = await server.request('POST', '/login.json', {
        headers: { 'QB-Token': token },
        form: {
          provider: 'firebase_phone',
          'firebase_phone[project_id]': OTHER_PROJECT,
          'firebase_phone[access_token]': await idToken({ aud: OTHER_PROJECT }),
        },
      });
      expectError(other, 422, { errors: { 'firebase_phone.project_id': ['is not a Firebase project of this application'] } });

      // The SDK's createSession drops firebase_phone[...] (sdk-client-notes §3.1): a clear 422, not a crash.
      const QB = createSdk(server, app);
      const viaCreate = await call((cb) =>
        QB.createSession({ provider: 'firebase_phone', firebase_phone: { project_id: PROJECT, access_token: 'x' } }, cb),
      ).catch((e) => e);
      expect(viaCreate.code).toBe(422);
      expect(viaCreate.detail).toEqual({ 'firebase_phone.project_id': ["can't be blank"] });
    });

    it('follows key rotation, and gives a clear 422 while the key server is down', async () => {
      // A token signed with a key the server has not seen: the key set is fetched again, and it is down.
      const rotated = await idToken({ key: keys[1] as SigningKey, uid: 'firebase-uid-grace' });
      advance(31_000); // past jose's cool-down between key set fetches
      jwks.mode = 'http-503';
      const form = { provider: 'firebase_phone', 'firebase_phone[project_id]': PROJECT, 'firebase_phone[access_token]': rotated };
      const down = await postSession(app, form);
      expectError(down, 422);
      expect(down.json.errors.base[0]).toMatch(/^Firebase could not verify the credentials right now \(the signing keys/);

      jwks.mode = 'hang';
      advance(31_000);
      expectError(await postSession(app, form), 422);

      // Back up, now publishing the new key.
      jwks.mode = 'ok';
      published = [keys[0]?.jwk as JWK, keys[1]?.jwk as JWK];
      advance(31_000);
      const up = await postSession(app, {
        ...form,
        'firebase_phone[access_token]': await idToken({ key: keys[1] as SigningKey, uid: 'firebase-uid-grace' }),
      });
      expect(up.status).toBe(201);
      expect(up.json.session.user_id).toBeGreaterThan(0);
    });
  });

  describe('custom identity provider', () => {
    it('sends user[login] and user[password] to the identity provider and signs in by its uid', async () => {
      const QB = createSdk(server, idpApp);
      const first = await call((cb) => QB.createSession({ login: 'idp-dan', password: 'idp-token-dan' }, cb));
      const dan = (await server.app.services.users.get(idpApp.application_id, first.user_id)) as any;
      expect(dan).toMatchObject({ login: 'dan', email: 'dan@idp.test', full_name: 'Dan Idp' });
      expect(JSON.parse(idp.requests.at(-1)?.body ?? '{}')).toEqual({
        application_id: idpApp.application_id,
        login: 'idp-dan',
        email: null,
        token: 'idp-token-dan',
      });

      // QB.login on an existing token, and a numeric uid.
      const QB2 = createSdk(server, idpApp);
      await call((cb) => QB2.createSession(cb));
      expect((await call((cb) => QB2.login({ login: 'idp-dan', password: 'idp-token-dan' }, cb))).id).toBe(first.user_id);
      const eve = await call((cb) => QB2.login({ login: 'idp-eve', password: 'idp-token-eve' }, cb));
      expect(eve.login).toBe('custom-4242');
      expect(eve.id).not.toBe(first.user_id);
    });

    it("passes the identity provider's refusal on, and answers 422 when it is unreachable", async () => {
      const QB = createSdk(server, idpApp);
      const refused = await call((cb) => QB.createSession({ login: 'idp-dan', password: 'wrong-token' }, cb)).catch((e) => e);
      expect(refused.code).toBe(401);
      expect(refused.detail).toEqual({ base: ['Token expired or unknown'] });

      idp.mode = 'http-503';
      expectError(await postSession(idpApp, { 'user[login]': 'idp-dan', 'user[password]': 'idp-token-dan' }), 422);
      idp.mode = 'not-json';
      expectError(await postSession(idpApp, { 'user[login]': 'idp-dan', 'user[password]': 'idp-token-dan' }), 422, {
        errors: { base: ['The identity provider could not verify the credentials right now (the answer has no uid)'] },
      });

      const gone = await server.createApplication();
      await server.app.services.apps.updateSettings(gone.application_id, {
        custom_identity_provider_url: `http://127.0.0.1:${await freePort()}/verify`,
      });
      expectError(await postSession(gone, { 'user[login]': 'idp-dan', 'user[password]': 'idp-token-dan' }), 422, {
        errors: { base: ['The identity provider could not verify the credentials right now (ECONNREFUSED)'] },
      });
    });
  });
});

describe('provider addresses in the configuration', () => {
  it('defaults to the real services and takes loopback stand-ins, without trailing slashes on bases', () => {
    expect(loadConfig({}, '/tmp').providers).toEqual({
      facebookGraphUrl: 'https://graph.facebook.com',
      twitterApiUrl: 'https://api.twitter.com',
      firebaseJwksUrl: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
      timeoutMs: 10_000,
    });
    const config = loadConfig(
      {
        FACEBOOK_GRAPH_URL: 'http://127.0.0.1:4000/graph/',
        TWITTER_API_URL: 'http://127.0.0.1:4001',
        FIREBASE_JWKS_URL: 'http://127.0.0.1:4002/keys/',
        PROVIDER_TIMEOUT_MS: '2500',
      },
      '/tmp',
    );
    expect(config.providers).toEqual({
      facebookGraphUrl: 'http://127.0.0.1:4000/graph',
      twitterApiUrl: 'http://127.0.0.1:4001',
      firebaseJwksUrl: 'http://127.0.0.1:4002/keys/',
      timeoutMs: 2500,
    });
  });

  it('names the setting that is wrong', () => {
    const bad: Array<[string, string]> = [
      ['FACEBOOK_GRAPH_URL', 'graph.facebook.com'],
      ['TWITTER_API_URL', 'ftp://api.twitter.com'],
      ['FIREBASE_JWKS_URL', 'https://keys.example.com/jwks?x=1'],
      ['PROVIDER_TIMEOUT_MS', '10'],
      ['PROVIDER_TIMEOUT_MS', 'soon'],
    ];
    for (const [name, value] of bad) {
      expect(() => loadConfig({ [name]: value }, '/tmp')).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value }, '/tmp')).toThrow(name);
    }
  });
});

describe('app settings from the CLI', () => {
  it('shows and changes the sign-in settings, refusing bad values', async () => {
    const data = tempDir();
    try {
      const env = { SWITCHBOARD_DATA: data, LOG_LEVEL: 'silent' };
      const { application_id } = jsonLine(await runCli(['app', 'create', '--name', 'Social', '--json'], env));
      const changed = await runCli(
        [
          'app',
          'settings',
          '--app',
          String(application_id),
          'firebase_project_ids=one-project, two-project',
          'twitter_consumer_key=K',
          `twitter_consumer_secret=${randomBytes(4).toString('hex')}`,
          'custom_identity_provider_url=https://idp.example.com/verify',
        ],
        env,
      );
      expect(changed.code).toBe(0);
      expect(JSON.parse(changed.stdout)).toMatchObject({
        firebase_project_ids: ['one-project', 'two-project'],
        twitter_consumer_key: 'K',
        custom_identity_provider_url: 'https://idp.example.com/verify',
        allow_app_session_signup: true,
      });
      const cleared = await runCli(['app', 'settings', '--app', String(application_id), 'custom_identity_provider_url='], env);
      expect(JSON.parse(cleared.stdout).custom_identity_provider_url).toBeNull();

      for (const bad of ['nonsense=1', 'custom_identity_provider_url=ftp://x', 'allow_app_session_signup=maybe', 'noequals']) {
        const result = await runCli(['app', 'settings', '--app', String(application_id), bad], env);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/^error: /);
      }
    } finally {
      removeDir(data);
    }
  });
});
