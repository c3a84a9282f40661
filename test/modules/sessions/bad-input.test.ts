import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const MINUTE = 60_000;
const FORM = 'application/x-www-form-urlencoded; charset=UTF-8';
const NO_SESSION = { errors: { base: ['Required session does not exist'] } };
const BAD_SIGNATURE = { errors: { base: ['Unexpected signature'] } };
const BAD_TIMESTAMP = { errors: { base: ['Bad timestamp'] } };
// Needs percent-encoding in a form body, and the signature is over the raw value (sdk-client-notes §3.1).
const PASSWORD = 'p w+&=secret';

/** Form-encodes pairs the way the SDK does: keys and values through encodeURIComponent, so brackets arrive as %5B %5D. */
function encodeForm(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}

/** Form-encodes values only, leaving keys as written (literal brackets, odd keys). */
function rawKeysForm(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&');
}

/** Flat bracket keys ({'user[login]': 'x'}) to one level of nesting ({user: {login: 'x'}}), for JSON bodies. */
function nest(params: Record<string, string>): Record<string, unknown> {
  const out: Record<string, any> = {};
  for (const [key, value] of Object.entries(params)) {
    const match = /^([^[]+)\[([^\]]+)\]$/.exec(key);
    if (match?.[1] && match[2]) {
      out[match[1]] ??= {};
      out[match[1]][match[2]] = value;
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** A multipart/form-data body built by hand, with the boundary header the SDK's node-fetch writes (no space). */
function multipart(params: Record<string, string>): { body: Buffer; contentType: string } {
  const boundary = '-----------------------------switchboard0123456789';
  const parts = Object.entries(params).map(
    ([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`,
  );
  return {
    body: Buffer.from(`${parts.join('')}--${boundary}--\r\n`, 'utf8'),
    contentType: `multipart/form-data;boundary=${boundary}`,
  };
}

/** The exact status and a JSON QuickBlox error body, optionally exactly this one. */
function expectError(response: RawResponse, status: number, body?: unknown): void {
  const detail = `${response.status} ${response.text.slice(0, 300)}`;
  expect(response.status, detail).toBe(status);
  expect(response.headers['content-type'], detail).toMatch(/^application\/json/);
  expect(response.json, detail).toBeTypeOf('object');
  expect(response.json, detail).toHaveProperty('errors');
  const errors = response.json.errors;
  if (Array.isArray(errors)) {
    expect(errors.length).toBeGreaterThan(0);
    for (const message of errors) expect(message).toBeTypeOf('string');
  } else {
    expect(errors).toBeTypeOf('object');
    for (const messages of Object.values(errors)) {
      expect(Array.isArray(messages)).toBe(true);
      for (const message of messages as unknown[]) expect(message).toBeTypeOf('string');
    }
  }
  if (body !== undefined) expect(response.json, detail).toEqual(body);
}

/** A POST whose body is streamed (chunked, no Content-Length), which the shared request helper does not do. */
async function postChunked(server: TestServer, path: string, contentType: string, chunks: Buffer[]): Promise<RawResponse> {
  const dispatcher = new Agent({ connect: { ca: server.cert } });
  try {
    const response = await request(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: Readable.from(chunks),
      dispatcher,
    });
    const text = await response.body.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.statusCode, headers: response.headers, text, json };
  } finally {
    await dispatcher.close();
  }
}

describe.each(dialects)('POST /session.json and the public routes under bad input (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let alice: { id: number };

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    alice = await server.createUser(app.application_id, 'alice', PASSWORD, 'alice@example.com');
  });
  afterAll(() => server?.close());

  const signed = (extra?: Record<string, string>, algorithm?: 'sha1' | 'sha256') =>
    sessionForm(app, server.clock.now(), extra, algorithm);
  const postForm = (body: string, headers: Record<string, string> = {}) =>
    server.request('POST', '/session.json', { body, headers: { 'content-type': FORM, ...headers } });
  const postSession = (params: Record<string, string>) => postForm(encodeForm(params));

  async function countRows(): Promise<{ sessions: number; signatures: number }> {
    const db = server.app.services.storage.db;
    const sessions = await db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const signatures = await db
      .selectFrom('session_signatures')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return { sessions: Number(sessions.n), signatures: Number(signatures.n) };
  }

  function expectSession(response: RawResponse, userId = 0): string {
    expect(response.status, response.text).toBe(201);
    expect(response.json.session.application_id).toBe(app.application_id);
    expect(response.json.session.user_id).toBe(userId);
    expect(response.json.session.token).toMatch(/^[0-9a-f]{40}$/);
    expect(response.headers['qb-token-expirationdate']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    return response.json.session.token;
  }

  describe('good requests, so the bad ones mean something', () => {
    it('accepts a form body, signed with SHA-1 or SHA-256', async () => {
      expectSession(await postSession(signed()));
      expectSession(await postSession(signed({}, 'sha256')));
    });

    it('accepts a form body with literal (unencoded) brackets in the keys', async () => {
      const body = rawKeysForm(signed({ 'user[login]': 'alice', 'user[password]': PASSWORD }));
      expect(body).toContain('user[login]=alice');
      expectSession(await postForm(body), alice.id);
    });

    it('accepts a JSON body with a nested user, signed over user[login]=..', async () => {
      const body = nest(signed({ 'user[login]': 'alice', 'user[password]': PASSWORD }));
      expect(body.user).toEqual({ login: 'alice', password: PASSWORD });
      expectSession(await server.request('POST', '/session.json', { json: body }), alice.id);
      // The SDK's JSON content type carries a charset.
      const withCharset = nest(signed({ 'user[email]': 'alice@example.com', 'user[password]': PASSWORD }));
      const response = await server.request('POST', '/session.json', {
        body: JSON.stringify(withCharset),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expectSession(response, alice.id);
    });

    it('accepts a JSON body with numbers where the SDK would send strings', async () => {
      const params = signed();
      const body = { ...params, application_id: Number(params.application_id), nonce: Number(params.nonce) };
      expectSession(await server.request('POST', '/session.json', { json: body }));
    });

    it('accepts a hand-built multipart body', async () => {
      const { body, contentType } = multipart(signed({ 'user[login]': 'alice', 'user[password]': PASSWORD }));
      const response = await server.request('POST', '/session.json', { body, headers: { 'content-type': contentType } });
      expectSession(response, alice.id);
    });

    it('accepts values that need percent-encoding, signed over their raw values', async () => {
      const params = signed({ 'user[email]': 'alice@example.com', 'user[password]': PASSWORD });
      const body = encodeForm(params);
      expect(body).toContain('user%5Bpassword%5D=p%20w%2B%26%3Dsecret');
      expect(body).toContain('user%5Bemail%5D=alice%40example.com');
      expectSession(await postForm(body), alice.id);
    });

    it('accepts percent-encoded keys as the brackets they stand for', async () => {
      const body = encodeForm(signed({ 'user[login]': 'alice', 'user[password]': PASSWORD }));
      expect(body).toContain('user%5Blogin%5D=alice');
      expectSession(await postForm(body), alice.id);
    });
  });

  describe('missing and garbled parameters', () => {
    it('names each missing required field', async () => {
      for (const field of ['application_id', 'auth_key', 'timestamp', 'nonce', 'signature']) {
        const params = signed();
        delete params[field];
        expectError(await postSession(params), 422, { errors: { [field]: ["can't be blank"] } });
        // An empty value is as good as missing.
        expectError(await postSession({ ...signed(), [field]: '' }), 422, { errors: { [field]: ["can't be blank"] } });
      }
    });

    it('names every missing field of an empty body', async () => {
      const blank = ["can't be blank"];
      const all = { errors: { application_id: blank, auth_key: blank, timestamp: blank, nonce: blank, signature: blank } };
      expectError(await postForm(''), 422, all);
      expectError(await server.request('POST', '/session.json', { json: {} }), 422, all);
      expectError(await server.request('POST', '/session.json'), 422, all);
    });

    it('refuses garbled signatures', async () => {
      const good = signed();
      const signature = good.signature ?? '';
      const last = signature.at(-1) === '0' ? '1' : '0';
      const garbled = [
        'z'.repeat(40), // not hex
        `${signature.slice(0, 39)}g`, // not hex in the last place
        signature.slice(0, 39), // one short
        `${signature}0`, // one long
        signature.slice(0, 20),
        '0'.repeat(64), // SHA-256 length, wrong value
        'x'.repeat(5000),
        `${signature.slice(0, 39)}${last}`, // right length, wrong value
        ` ${signature}`,
        `${signature}\n`,
      ];
      for (const bad of garbled) {
        expectError(await postSession({ ...good, signature: bad }), 422, BAD_SIGNATURE);
      }
      // The real one still works afterwards: the garbled attempts recorded nothing.
      expectSession(await postSession(good));
    });

    it('refuses a signature over other values than those sent', async () => {
      const good = signed({ 'user[login]': 'alice', 'user[password]': PASSWORD });
      expectError(await postSession({ ...good, 'user[password]': 'something else' }), 422, BAD_SIGNATURE);
      expectError(await postSession({ ...good, nonce: String(Number(good.nonce) + 1) }), 422, BAD_SIGNATURE);
      expectError(await postSession({ ...good, extra: 'unsigned' }), 422, BAD_SIGNATURE);
      const { 'user[login]': _dropped, ...withoutLogin } = good;
      expectError(await postSession({ ...withoutLogin, 'user[email]': 'alice@example.com' }), 422, BAD_SIGNATURE);
    });

    it('refuses a replayed body: the first is created, the identical second is not', async () => {
      const body = encodeForm(signed());
      expectSession(await postForm(body));
      expectError(await postForm(body), 422, BAD_SIGNATURE);
      // Also when the replay comes in another encoding.
      const json = nest(signed());
      expectSession(await server.request('POST', '/session.json', { json }));
      expectError(await postSession(json as Record<string, string>), 422, BAD_SIGNATURE);
    });

    it('refuses a wrong auth_key, an unknown or non-numeric application_id', async () => {
      expectError(await postSession(signed({ auth_key: `${app.auth_key}x` })), 422, { errors: { auth_key: ['is invalid'] } });
      expectError(await postSession(signed({ auth_key: 'short' })), 422, { errors: { auth_key: ['is invalid'] } });
      const notFound = { errors: { application_id: ['not found'] } };
      expectError(await postSession(signed({ application_id: String(app.application_id + 1000) })), 422, notFound);
      expectError(await postSession(signed({ application_id: '999999999999999' })), 422, notFound);
      const invalid = { errors: { application_id: ['is invalid'] } };
      for (const id of ['abc', '1.5', '0x1', '-1', '0', '1e3', ' 1', '99999999999999999999', '١']) {
        expectError(await postSession(signed({ application_id: id })), 422, invalid);
      }
    });

    it('refuses a non-numeric nonce', async () => {
      for (const nonce of ['abc', '1.5', '12345678901234567890']) {
        expectError(await postSession(signed({ nonce })), 422, { errors: { nonce: ['is invalid'] } });
      }
    });

    it('refuses a timestamp more than 60 minutes off either way, accepts 59', async () => {
      const now = server.clock.now();
      for (const offset of [-61 * MINUTE, 61 * MINUTE, -24 * 60 * MINUTE, 365 * 24 * 60 * MINUTE]) {
        const response = await postSession(sessionForm(app, now + offset));
        expectError(response, 422, BAD_TIMESTAMP);
      }
      for (const timestamp of ['abc', '1.5', '0', '-1', '99999999999999999999', `${Math.floor(now / 1000)}.0`]) {
        expectError(await postSession(signed({ timestamp })), 422, BAD_TIMESTAMP);
      }
      expectSession(await postSession(sessionForm(app, now - 59 * MINUTE)));
      expectSession(await postSession(sessionForm(app, now + 59 * MINUTE)));
    });

    it('refuses wrong credentials with 401 and wrong-type credentials with 422', async () => {
      const wrong = signed({ 'user[login]': 'alice', 'user[password]': 'not-her-password' });
      expectError(await postSession(wrong), 401, { errors: { base: ['Unauthorized'] } });
      const noPassword = signed({ 'user[login]': 'alice' });
      expectError(await postSession(noPassword), 422, { errors: { password: ["can't be blank"] } });

      // A NoSQL-style operator object where a string belongs.
      const params = signed({ 'user[login]': 'alice', 'user[password]': PASSWORD });
      const body = { ...nest(params), user: { login: { $ne: null }, password: PASSWORD } };
      const response = await server.request('POST', '/session.json', { json: body });
      expectError(response, 422);
      expect(Object.keys(response.json.errors)).toEqual(['user.login']);
    });

    it('refuses a user parameter that is a string, or a list, instead of an object', async () => {
      const asString = await postSession(signed({ user: 'alice' }));
      expectError(asString, 422);
      expect(Object.keys(asString.json.errors)).toEqual(['user']);

      const mixed = `${encodeForm(signed({ user: 'alice' }))}&user[login]=alice`;
      const asList = await postForm(mixed);
      expectError(asList, 422);
      expect(Object.keys(asList.json.errors)).toEqual(['user']);

      const json = await server.request('POST', '/session.json', { json: { ...nest(signed()), user: ['alice'] } });
      expectError(json, 422);
      expect(Object.keys(json.json.errors)).toEqual(['user']);
    });

    it('refuses wrong JSON types for the signed fields', async () => {
      for (const value of [{}, [1, 2], { a: 1 }, [[1]]]) {
        const response = await server.request('POST', '/session.json', { json: { ...signed(), auth_key: value } });
        expectError(response, 422);
        expect(Object.keys(response.json.errors)).toEqual(['auth_key']);
      }
      // null and false become empty and "false": blank, and an unknown key.
      const nullKey = await server.request('POST', '/session.json', { json: { ...signed(), auth_key: null } });
      expectError(nullKey, 422, { errors: { auth_key: ["can't be blank"] } });
      const falseKey = await server.request('POST', '/session.json', { json: { ...signed(), auth_key: false } });
      expectError(falseKey, 422, { errors: { auth_key: ['is invalid'] } });
    });
  });

  describe('malformed bodies', () => {
    it('refuses malformed JSON and JSON that is not an object with 400', async () => {
      const malformed = { errors: { base: ['Malformed JSON body'] } };
      const notObject = { errors: { base: ['The JSON body must be an object'] } };
      const send = (body: string) =>
        server.request('POST', '/session.json', { body, headers: { 'content-type': 'application/json' } });
      for (const body of ['{bad', '{"a":', '{"a":1}}', "{'a':1}", 'undefined', '\u0000', '{"__proto__":{"x":1}}']) {
        expectError(await send(body), 400, malformed);
      }
      for (const body of ['[1]', '"x"', '1', 'true', 'null', '[]']) {
        expectError(await send(body), 400, notObject);
      }
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    });

    it('survives malformed urlencoded bodies', async () => {
      const blank = ["can't be blank"];
      const all = { errors: { application_id: blank, auth_key: blank, timestamp: blank, nonce: blank, signature: blank } };
      for (const body of ['%%%', '&&&==&', '=', '%E0%A4%A=1', '%C3%28=%C3%28', 'a=%ZZ&b=%', '\u0000=\u0000']) {
        expectError(await postForm(body), 422, all);
      }
      // A broken escape inside a signed value: the signature no longer matches what arrived.
      const params = signed({ 'user[login]': 'alice', 'user[password]': PASSWORD });
      const broken = encodeForm(params).replace('p%20w%2B', 'p%2w%2B');
      expectError(await postForm(broken), 422, BAD_SIGNATURE);
    });

    it('treats odd bracket keys as parameters the client did not sign', async () => {
      for (const odd of ['user]=x', '[]=1', 'a[b][c][d][e][f][g]=1', 'a[=1', ']=1', 'a]]]=1', 'x[][]=1', 'x[0]=1&x[1]=2']) {
        const body = `${encodeForm(signed())}&${odd}`;
        expectError(await postForm(body), 422, BAD_SIGNATURE);
      }
    });

    it('drops prototype keys without polluting anything', async () => {
      for (const odd of ['__proto__[x]=1', 'constructor[prototype][x]=1', 'user[__proto__][x]=1', 'hasOwnProperty=1']) {
        const body = `${encodeForm(signed())}&${odd}`;
        // qs drops these keys, so what remains is exactly what was signed.
        expectSession(await postForm(body));
      }
      const query = await server.request('GET', '/session.json?__proto__[x]=1&constructor[prototype][x]=1');
      expectError(query, 401, NO_SESSION);
      expect(({} as Record<string, unknown>).x).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('x');
    });

    it('refuses a body over the 1 MiB limit with 413', async () => {
      expect(server.config.bodyLimit).toBe(1024 * 1024);
      const params = signed();
      const huge = `${encodeForm(params)}&padding=${'x'.repeat(1024 * 1024)}`;
      expectError(await postForm(huge), 413, { errors: { base: ['Request body is too large'] } });
      const json = JSON.stringify({ ...params, padding: 'x'.repeat(1024 * 1024) });
      const response = await server.request('POST', '/session.json', {
        body: json,
        headers: { 'content-type': 'application/json' },
      });
      expectError(response, 413, { errors: { base: ['Request body is too large'] } });
      // Multipart bodies are held to the same limit, with or without a Content-Length the server can trust.
      const { body: big, contentType } = multipart({ ...params, padding: 'x'.repeat(1024 * 1024) });
      const multipartResponse = await server.request('POST', '/session.json', {
        body: big,
        headers: { 'content-type': contentType },
      });
      expectError(multipartResponse, 413, { errors: { base: ['Request body is too large'] } });
      const manyParts = multipart(Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`p${i}`, 'x'.repeat(2000)])));
      expect(manyParts.body.length).toBeGreaterThan(1024 * 1024);
      const chunked = await postChunked(server, '/session.json', manyParts.contentType, [
        manyParts.body.subarray(0, 600_000),
        manyParts.body.subarray(600_000),
      ]);
      expectError(chunked, 413, { errors: { base: ['Request body is too large'] } });
      // Just under the limit is parsed, and refused only for its unsigned padding.
      const under = `${encodeForm(params)}&padding=${'x'.repeat(1024 * 1024 - encodeForm(params).length - 10)}`;
      expect(under.length).toBeLessThan(1024 * 1024);
      expectError(await postForm(under), 422, BAD_SIGNATURE);
    });

    it('refuses content types it does not speak with 415', async () => {
      const unsupported = { errors: { base: ['Unsupported content type'] } };
      const body = encodeForm(signed());
      for (const type of ['text/plain', 'application/xml', 'text/html; charset=utf-8', 'application/octet-stream', 'image/png']) {
        expectError(await server.request('POST', '/session.json', { body, headers: { 'content-type': type } }), 415, unsupported);
      }
    });

    it('refuses broken multipart bodies with 400', async () => {
      const { body } = multipart(signed());
      const noBoundary = await server.request('POST', '/session.json', {
        body,
        headers: { 'content-type': 'multipart/form-data' },
      });
      expectError(noBoundary, 400);
      const truncated = await server.request('POST', '/session.json', {
        body: body.subarray(0, body.length - 20),
        headers: { 'content-type': 'multipart/form-data;boundary=-----------------------------switchboard0123456789' },
      });
      expectError(truncated, 400);
    });

    it('ignores an empty JSON body on DELETE /session.json', async () => {
      const token = expectSession(await postSession(signed()));
      const response = await server.request('DELETE', '/session.json', {
        body: '',
        headers: { 'QB-Token': token, 'content-type': 'application/json' },
      });
      expect(response.status, response.text).toBe(200);
      expectError(await server.request('GET', '/session.json', { headers: { 'QB-Token': token } }), 401, NO_SESSION);
    });

    it('ignores the SDK form content type on a bodyless GET', async () => {
      const token = expectSession(await postSession(signed()));
      const response = await server.request('GET', '/session.json?', { headers: { 'QB-Token': token, 'content-type': FORM } });
      expect(response.status, response.text).toBe(200);
      expect(response.json.session.token).toBe(token);
    });
  });

  describe('tokens', () => {
    it('answers a missing or unknown QB-Token with 401 Required session does not exist', async () => {
      expectError(await server.request('GET', '/session.json'), 401, NO_SESSION);
      for (const token of ['garbage', '0'.repeat(40), 'x'.repeat(4000), '"; drop table sessions; --', '%00']) {
        expectError(await server.request('GET', '/session.json', { headers: { 'QB-Token': token } }), 401, NO_SESSION);
        expectError(await server.request('DELETE', '/session.json', { headers: { 'QB-Token': token } }), 401, NO_SESSION);
      }
      expectError(await server.request('GET', '/session.json', { headers: { 'QB-Token': '' } }), 401, NO_SESSION);
    });

    it('ignores a QB-Token sent on POST /session.json', async () => {
      const old = expectSession(await postSession(signed()));
      const fresh = expectSession(
        await postForm(encodeForm(signed()), { 'QB-Token': old }), // what the SDK does on a second createSession
      );
      expect(fresh).not.toBe(old);
      expectSession(await postForm(encodeForm(signed()), { 'QB-Token': 'garbage' }));
      expectSession(await postForm(encodeForm(signed()), { Authorization: 'ApiKey nonsense' }));
    });
  });

  describe('routing, CORS and the public routes', () => {
    it('answers unknown routes and methods with 404 Not Found as JSON', async () => {
      const notFound = { errors: ['Not Found'] };
      expectError(await server.request('GET', '/nope.json'), 404, notFound);
      expectError(await server.request('POST', '/nope.json', { json: { a: 1 } }), 404, notFound);
      expectError(await server.request('PUT', '/session.json', { json: {} }), 404, notFound);
      expectError(await server.request('PATCH', '/session.json'), 404, notFound);
      expectError(await server.request('GET', '/'), 404, notFound);
      expectError(await server.request('GET', `/${'a'.repeat(2000)}`), 404, notFound);
      expectError(await server.request('GET', '/session.json/../../etc/passwd'), 404, notFound);
    });

    it('answers malformed URLs with 400 as JSON', async () => {
      const malformed = { errors: { base: ['Malformed URL'] } };
      for (const path of ['/%ZZ', '/session.json%', '/%E0%A4%A', '/session.json/%C3%28%']) {
        expectError(await server.request('GET', path), 400, malformed);
        expectError(await server.request('POST', path, { form: signed() }), 400, malformed);
      }
      // A path parameter longer than the router takes (maxParamLength) is refused before any route runs.
      expectError(await server.request('GET', `/users/${'1'.repeat(600)}.json`), 414, { errors: { base: ['URL is too long'] } });
    });

    it('answers an OPTIONS request that is not a CORS preflight with 400 as JSON', async () => {
      const invalid = { errors: { base: ['Invalid Preflight Request'] } };
      expectError(await server.request('OPTIONS', '/session.json'), 400, invalid);
      expectError(
        await server.request('OPTIONS', '/session.json', { headers: { Origin: 'https://app.example.com' } }),
        400,
        invalid,
      );
    });

    it('answers a CORS preflight and exposes QB-Token-ExpirationDate', async () => {
      const preflight = await server.request('OPTIONS', '/session.json', {
        headers: {
          Origin: 'https://app.example.com',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'QB-Token, Content-Type',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('qb-token');
      expect(String(preflight.headers['access-control-allow-methods'])).toContain('DELETE');

      const response = await postForm(encodeForm(signed()), { Origin: 'https://app.example.com' });
      expectSession(response);
      expect(response.headers['access-control-allow-origin']).toBe('*');
      expect(String(response.headers['access-control-expose-headers']).toLowerCase()).toContain('qb-token-expirationdate');
    });

    it('serves the OpenAPI document', async () => {
      const response = await server.request('GET', '/openapi.json');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json.openapi).toMatch(/^3\./);
      expect(Object.keys(response.json.paths)).toContain('/session.json');
    });

    it('answers the health checks', async () => {
      for (const path of ['/health/live', '/health/ready']) {
        const response = await server.request('GET', path);
        expect(response.status).toBe(200);
        expect(response.json).toEqual({ status: 'ok' });
      }
    });

    it('serves account settings for a valid QB-Account-Key only', async () => {
      const good = await server.request('GET', '/account_settings.json', { headers: { 'QB-Account-Key': app.account_key } });
      expect(good.status).toBe(200);
      expect(good.json).toEqual({
        api_endpoint: expect.any(String),
        chat_endpoint: expect.any(String),
        turnserver_endpoint: expect.any(String),
      });
      expectError(await server.request('GET', '/account_settings.json'), 401);
      expectError(await server.request('GET', '/account_settings.json', { headers: { 'QB-Account-Key': '' } }), 401);
      for (const key of [`${app.account_key}x`, 'nonsense', 'x'.repeat(4000)]) {
        expectError(await server.request('GET', '/account_settings.json', { headers: { 'QB-Account-Key': key } }), 401);
      }
    });
  });

  it('after all of that: nothing half-written, and good requests still work', async () => {
    const before = await countRows();
    const failures: Array<Promise<RawResponse>> = [];
    const good = signed({ 'user[login]': 'alice', 'user[password]': PASSWORD });
    // Failures at every stage of session creation, including after the signature check.
    failures.push(postSession({ ...good, signature: '0'.repeat(40) }));
    failures.push(postSession(signed({ 'user[login]': 'alice', 'user[password]': 'wrong-password' })));
    failures.push(postSession(signed({ 'user[login]': 'nobody', 'user[password]': PASSWORD })));
    failures.push(postSession(signed({ 'user[login]': 'alice' })));
    // Provider sign-ins refused before any outside call.
    failures.push(postSession(signed({ provider: 'myspace', 'keys[token]': 't' })));
    failures.push(postSession(signed({ provider: 'facebook' })));
    failures.push(postSession(signed({ provider: 'twitter', 'keys[token]': 't', 'keys[secret]': 's' })));
    failures.push(postSession(sessionForm(app, server.clock.now() - 90 * MINUTE)));
    failures.push(postForm('{bad', { 'content-type': 'application/json' }));
    failures.push(postForm(`${encodeForm(good)}&padding=${'x'.repeat(1024 * 1024)}`));
    for (const response of await Promise.all(failures)) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
    }
    expect(await countRows()).toEqual(before);

    // A signed body that never got through before succeeds, and writes exactly one session and one signature.
    const token = expectSession(await postSession(good), alice.id);
    expect(await countRows()).toEqual({ sessions: before.sessions + 1, signatures: before.signatures + 1 });
    const read = await server.request('GET', '/session.json', { headers: { 'QB-Token': token } });
    expect(read.status).toBe(200);
    expect(read.json.session.user_id).toBe(alice.id);
  });
});
