import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../src/modules/apps/service.js';
import { dialects, type RawResponse, startServer, type TestServer } from './helpers/server.js';
import { sessionForm, sign } from './helpers/signature.js';

/**
 * Hundreds of malformed requests from a seeded PRNG. Every answer must be a
 * 4xx with a QuickBlox JSON error body. A failure prints the seed; re-run
 * with FUZZ_SEED=<seed> (and FUZZ_CASES=<n>) to reproduce or explore.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 0x5b0a2d);
const CASES = Number(process.env.FUZZ_CASES ?? 400);
const PASSWORD = 'fuzz-password-1';

/** mulberry32: tiny, fast, deterministic. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Random {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** Printable ASCII, what a header value may carry. */
  printable(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String.fromCharCode(0x20 + this.int(0x5f));
    return out;
  }
  /** Any characters, including control characters, lone surrogates and astral ones. */
  text(n: number): string {
    const pools = ['abcXYZ019', '[]{}&=%+?#;,"\'\\/ ', '\u0000\u0001\u001f\u007f\u00ff', '\ud800\udfff\u2028\ufeff', '💥ü日本'];
    let out = '';
    for (let i = 0; i < n; i++) out += this.pick([...this.pick(pools)]);
    return out;
  }
  hex(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += '0123456789abcdef'[this.int(16)];
    return out;
  }
}

interface FuzzCase {
  index: number;
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['POST', '/session.json'],
  ['POST', '/session.json'],
  ['POST', '/session.json'],
  ['GET', '/session.json'],
  ['DELETE', '/session.json'],
  ['POST', '/login.json'],
  ['DELETE', '/login.json'],
  ['GET', '/account_settings.json'],
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const PATHS = [
  '/session.json',
  '/login.json',
  '/account_settings.json',
  '/users.json',
  '/session',
  '/session.json/',
  '//session.json',
  '/SESSION.JSON',
  '/session.json;jsessionid=1',
  '/session.json%00',
  '/%2e%2e/session.json',
  '/%ZZ',
  '/%E0%A4%A',
  '/session.json/%',
  '/a/b/c/d/e/f/g',
  '/.env',
  '/chat/Dialog.json',
  `/${'x'.repeat(3000)}`,
];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/x-www-form-urlencoded; charset=UTF-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data;boundary=FUZZBOUNDARY',
  'multipart/form-data; boundary=',
  'text/plain',
  'application/xml',
  'text/html',
  'application/octet-stream',
  '*/*',
  'application/json;;;',
  ';',
  'application/vnd.api+json',
  'garbage',
  'application/x-www-form-urlencoded, application/json',
];
const WRONG_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1e308,
  1.5,
  '',
  ' ',
  [],
  // Not [1]: a one-element list reads as its element, and "1" may be the real application id.
  [0],
  ['a', 'b'],
  [[[]]],
  {},
  { a: { b: { c: 1 } } },
  { $ne: null },
  '\u0000',
  '💥',
  'x'.repeat(10_000),
];

/** The request generator: everything is drawn up front, so the sequence depends only on the seed. */
function generate(seed: number, count: number, app: Credentials, nowMs: number, replayable: Record<string, string>): FuzzCase[] {
  const r = new Random(seed);

  const signedParams = (): Record<string, string> => {
    const extra: Record<string, string> = {};
    if (r.chance(0.5)) {
      extra['user[login]'] = r.pick(['fuzzer', 'nobody', r.printable(8)]);
      extra['user[password]'] = r.pick([PASSWORD, 'p w+&=wrong', r.printable(12)]);
    }
    return sessionForm(app, nowMs, extra, r.pick(['sha1', 'sha256'] as const));
  };

  /** A correctly signed body, then broken in one way that must make it fail. */
  const corrupted = (): { params: Record<string, unknown>; how: string } => {
    const params: Record<string, unknown> = signedParams();
    const how = r.pick([
      'signature-char',
      'signed-value',
      'unsigned-key',
      'drop-field',
      'stale',
      'wrong-type',
      'replay',
      'unknown-app',
      'wrong-password',
      'deep-user',
    ]);
    switch (how) {
      case 'signature-char': {
        const signature = params.signature as string;
        const at = r.int(signature.length);
        const old = signature[at];
        const replacement = r.pick([...'0123456789abcdefXYZ%'].filter((c) => c !== old));
        params.signature = signature.slice(0, at) + replacement + signature.slice(at + 1);
        break;
      }
      case 'signed-value': {
        const field = r.pick(['auth_key', 'nonce', 'timestamp', 'application_id']);
        params[field] = `${params[field]}${r.pick(['0', 'x', ' ', '%'])}`;
        break;
      }
      case 'unsigned-key':
        params[r.pick(['extra', 'user]', 'a[b][c]', `k${r.hex(6)}`, 'keys[token]'])] = r.printable(r.between(1, 20));
        break;
      case 'drop-field':
        delete params[r.pick(['application_id', 'auth_key', 'timestamp', 'nonce', 'signature'])];
        break;
      case 'stale': {
        const minutes = r.pick([-1, 1]) * r.between(61, 100_000);
        return { params: sessionForm(app, nowMs + minutes * 60_000), how };
      }
      case 'wrong-type':
        params[r.pick(['application_id', 'auth_key', 'timestamp', 'nonce', 'signature', 'user', 'provider', 'keys'])] =
          structuredClone(r.pick(WRONG_VALUES));
        break;
      case 'replay':
        return { params: { ...replayable }, how };
      case 'unknown-app': {
        const fields = {
          application_id: String(app.application_id + r.between(1000, 1e9)),
          auth_key: app.auth_key,
          nonce: String(r.int(10_000)),
          timestamp: String(Math.floor(nowMs / 1000)),
        };
        return { params: { ...fields, signature: sign(fields, app.auth_secret) }, how };
      }
      case 'wrong-password':
        return {
          params: sessionForm(app, nowMs, { 'user[login]': 'fuzzer', 'user[password]': `${PASSWORD}-not` }),
          how,
        };
      case 'deep-user':
        params.user = { login: { a: { b: { c: 'fuzzer' } } }, password: PASSWORD };
        break;
    }
    return { params, how };
  };

  const encode = (params: Record<string, unknown>): { body: string | Buffer; type: string; as: string } => {
    const as = r.pick(['form', 'form-literal', 'json', 'multipart']);
    const flat: Array<[string, string]> = [];
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const entries = Object.entries(value);
        // A form cannot say {}; an empty list still arrives as the wrong type.
        if (entries.length === 0) flat.push([`${key}[]`, '']);
        for (const [sub, subValue] of entries) flat.push([`${key}[${sub}]`, String(subValue)]);
      } else if (Array.isArray(value)) {
        flat.push([`${key}[]`, value.join(',')]); // as the SDK sends lists
      } else {
        flat.push([key, String(value)]);
      }
    }
    switch (as) {
      case 'form':
        return {
          body: flat.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
          type: CONTENT_TYPES[3] as string,
          as,
        };
      case 'form-literal':
        return { body: flat.map(([k, v]) => `${k}=${v}`).join('&'), type: 'application/x-www-form-urlencoded', as };
      case 'json': {
        const nested: Record<string, any> = {};
        for (const [key, value] of Object.entries(params)) {
          const match = /^([^[]+)\[([^\]]+)\]$/.exec(key);
          if (match?.[1] && match[2]) {
            nested[match[1]] ??= {};
            nested[match[1]][match[2]] = value;
          } else {
            nested[key] = value;
          }
        }
        return { body: JSON.stringify(nested), type: 'application/json; charset=utf-8', as };
      }
      default: {
        const parts = flat.map(([k, v]) => `--FUZZBOUNDARY\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
        return { body: `${parts.join('')}--FUZZBOUNDARY--\r\n`, type: 'multipart/form-data;boundary=FUZZBOUNDARY', as };
      }
    }
  };

  const deepJson = (depth: number): string =>
    r.chance(0.5) ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `{"user":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  const bracketSoup = (): string => {
    const atoms = ['[', ']', '[]', '][', '=', '&', '%5B', '%5D', 'user', 'a', '0', '__proto__', 'constructor', '%', '%00', '+'];
    let out = '';
    for (let i = r.between(1, 200); i > 0; i--) out += r.pick(atoms);
    return out;
  };

  const cases: FuzzCase[] = [];
  for (let index = 0; index < count; index++) {
    let [method, path] = r.chance(0.75) ? r.pick(ROUTES) : [r.pick(METHODS), r.pick(PATHS)];
    if (r.chance(0.15)) path += `?${r.pick([bracketSoup(), encodeURIComponent(r.text(r.between(1, 50))), '{"a":1}', '&&&'])}`;

    const headers: Record<string, string> = {};
    const auth = r.int(12);
    if (auth < 4) headers['QB-Token'] = r.printable(r.between(1, 200));
    else if (auth === 4) headers['QB-Token'] = r.hex(40);
    else if (auth === 5) headers['QB-Token'] = r.printable(r.between(4000, 12_000));
    else if (auth === 6) headers.Authorization = r.pick(['ApiKey ', 'ApiKey', 'Bearer x', '']) + r.printable(r.between(0, 60));
    else if (auth === 7) headers['QB-Account-Key'] = r.printable(r.between(1, 100));
    else if (auth === 8) headers['On-Behalf-Of'] = r.printable(r.between(1, 20));
    if (r.chance(0.1)) headers.Origin = r.pick(['https://evil.example', 'null', r.printable(30)]);

    let kind: string;
    let body: string | Buffer | undefined;
    let type: string | undefined = r.chance(0.85) ? r.pick(CONTENT_TYPES) : undefined;
    switch (r.int(10)) {
      case 0:
        kind = 'random-bytes';
        body = r.bytes(r.between(0, 3000));
        break;
      case 1: {
        const json = JSON.stringify(corrupted().params);
        kind = 'truncated-json';
        body = json.slice(0, r.between(0, json.length - 1));
        type = r.chance(0.8) ? 'application/json' : type;
        break;
      }
      case 2:
        kind = 'deep-json';
        body = deepJson(r.between(50, 20_000));
        type = r.chance(0.8) ? 'application/json' : type;
        break;
      case 3: {
        kind = 'huge-key';
        const key = r.pick(['a', 'user[', '[']) + r.pick(['x', '[', '%5B']).repeat(r.between(1000, 400_000));
        body = r.chance(0.5) ? `${key}=1` : JSON.stringify({ [key]: 1 });
        break;
      }
      case 4:
        kind = 'bracket-soup';
        body = bracketSoup();
        type = r.chance(0.7) ? 'application/x-www-form-urlencoded' : type;
        break;
      case 5: {
        kind = 'wrong-types';
        const params: Record<string, unknown> = {};
        for (const field of ['application_id', 'auth_key', 'timestamp', 'nonce', 'signature', 'user', 'login', 'password']) {
          params[field] = r.pick(WRONG_VALUES);
        }
        body = JSON.stringify(params);
        type = r.chance(0.8) ? 'application/json' : type;
        break;
      }
      case 6:
      case 7: {
        const { params, how } = corrupted();
        const encoded = encode(params);
        kind = `signed-corrupted:${how}:${encoded.as}`;
        body = encoded.body;
        type = r.chance(0.85) ? encoded.type : type;
        if (r.chance(0.1)) {
          kind += ':truncated';
          body = body.slice(0, r.int(body.length));
        }
        if (r.chance(0.7)) {
          method = 'POST';
          path = '/session.json';
        }
        break;
      }
      case 8:
        kind = 'multipart-garbage';
        body = r.pick([
          `--FUZZBOUNDARY\r\nContent-Disposition: form-data; name="a"\r\n\r\n${r.text(50)}`,
          `--FUZZBOUNDARY\r\n\r\n\r\n--FUZZBOUNDARY--`,
          `--FUZZBOUNDARY\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n\r\n${r.text(100)}\r\n--FUZZBOUNDARY--\r\n`,
          `${'--FUZZBOUNDARY\r\nContent-Disposition: form-data; name="a[]"\r\n\r\n1\r\n'.repeat(r.between(1, 1500))}--FUZZBOUNDARY--\r\n`,
          r.text(200),
        ]);
        type = r.chance(0.8) ? 'multipart/form-data;boundary=FUZZBOUNDARY' : type;
        break;
      default:
        kind = 'text';
        body = r.chance(0.2) ? '' : r.text(r.between(1, 500));
        break;
    }
    if (type !== undefined) headers['content-type'] = type;
    cases.push({ index, kind, method, path, headers, body });
  }
  return cases;
}

function describeCase(c: FuzzCase): string {
  const body = c.body === undefined ? '-' : JSON.stringify(c.body.toString('latin1').slice(0, 80));
  const headers = JSON.stringify(Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, v.slice(0, 40)])));
  return `#${c.index} [${c.kind}] ${c.method} ${c.path.slice(0, 60)} ${headers} body=${body}`;
}

/** What is wrong with an answer to a malformed request, or null when it is a proper QuickBlox 4xx. */
function violation(c: FuzzCase, response: RawResponse): string | null {
  if (response.status < 400 || response.status >= 500) return `status ${response.status}`;
  const type = String(response.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) return `status ${response.status}, content-type "${type}"`;
  if (c.method === 'HEAD') return null; // no body to look at
  const errors = response.json?.errors;
  if (errors === undefined || errors === null || typeof errors !== 'object') {
    return `status ${response.status}, no QuickBlox errors in ${response.text.slice(0, 200)}`;
  }
  return null;
}

describe.each(dialects)('fuzzing the request handling (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    await server.createUser(app.application_id, 'fuzzer', PASSWORD);
  });
  afterAll(() => server?.close());

  async function sessionCount(): Promise<number> {
    const row = await server.app.services.storage.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  it(`answers ${CASES} malformed requests with QuickBlox 4xx errors (seed ${SEED})`, async () => {
    // One good session first, so its body can be replayed by the fuzzer.
    const replayable = sessionForm(app, server.clock.now(), { 'user[login]': 'fuzzer', 'user[password]': PASSWORD });
    const first = await server.request('POST', '/session.json', { form: replayable });
    expect(first.status, first.text).toBe(201);
    const sessionsBefore = await sessionCount();

    const cases = generate(SEED, CASES, app, server.clock.now(), replayable);
    const violations: string[] = [];
    for (const c of cases) {
      try {
        const response = await server.request(c.method, c.path, { headers: c.headers, body: c.body });
        const problem = violation(c, response);
        if (problem) violations.push(`${describeCase(c)} -> ${problem}`);
      } catch (error) {
        violations.push(`${describeCase(c)} -> request failed: ${(error as Error).message}`);
      }
    }
    expect(violations, `FUZZ_SEED=${SEED} FUZZ_CASES=${CASES}: ${violations.length} bad answers`).toEqual([]);

    // Nothing the fuzzer sent created a session.
    expect(await sessionCount()).toBe(sessionsBefore);
  });

  it('answers malformed HTTP with QuickBlox JSON errors', async () => {
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET /session.json HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'POST /session.json HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
      'POST /session.json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      `GET /session.json HTTP/1.1\r\nHost: x\r\nQB-Token: ${'x'.repeat(20_000)}\r\n\r\n`,
      'GET /session.json HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET /session.json HTTP/9.9\r\nHost: x\r\n\r\n',
    ];
    const violations: string[] = [];
    for (const request of raw) {
      const answer = await rawExchange(server, request);
      const match = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(answer);
      const status = Number(match?.[1]);
      const headerBlock = (match?.[2] ?? '').toLowerCase();
      let json: any;
      try {
        json = JSON.parse(match?.[3] ?? '');
      } catch {
        json = undefined;
      }
      if (!(status >= 400 && status < 500) || !headerBlock.includes('content-type: application/json') || !json?.errors) {
        violations.push(`${JSON.stringify(request.slice(0, 70))} -> ${JSON.stringify(answer.slice(0, 300))}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('still serves good requests afterwards', async () => {
    const created = await server.request('POST', '/session.json', {
      form: sessionForm(app, server.clock.now(), { 'user[login]': 'fuzzer', 'user[password]': PASSWORD }),
    });
    expect(created.status, created.text).toBe(201);
    const token = created.json.session.token;
    const read = await server.request('GET', '/session.json', { headers: { 'QB-Token': token } });
    expect(read.status, read.text).toBe(200);
    expect(read.json.session.token).toBe(token);
    expect(read.json.session.user_id).toBe(created.json.session.user_id);
  });
});

/** Sends bytes over a fresh TLS connection and returns everything the server wrote before closing. */
function rawExchange(server: TestServer, request: string): Promise<string> {
  const port = Number(new URL(server.url).port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port, ca: server.cert, servername: 'localhost' }, () => {
      socket.write(request);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may reset after answering; what it wrote still counts.
      if (chunks.length > 0 || error.code === 'ECONNRESET') resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(error);
    });
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
