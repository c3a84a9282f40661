import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, createBlobStore, LocalBlobStore, type UploadForm } from '../../src/adapters/blob-store/index.js';
import { localUploadRoute } from '../../src/adapters/blob-store/upload-route.js';
import { loadConfig } from '../../src/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { registerBodyParsers } from '../../src/core/params.js';
import { type FakeS3, startS3 } from '../helpers/s3.js';

interface Harness {
  store: BlobStore;
  /** Where the store's upload forms may point (the local store's endpoint lives on this server). */
  origin: string;
  clock: ManualClock;
  close(): Promise<void>;
}

/** Every implementation, each with what its uploads need running. */
const implementations: Array<[name: string, start: () => Promise<Harness>]> = [
  [
    'local',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-blobs-'));
      const clock = new ManualClock();
      const store = new LocalBlobStore(dir, clock);
      const app = await uploadServer(store);
      return {
        store,
        origin: app.origin,
        clock,
        async close() {
          await app.server.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    's3',
    async () => {
      const s3: FakeS3 = await startS3();
      const clock = new ManualClock();
      const store = createBlobStore(loadConfig({ ...s3.env, SWITCHBOARD_DATA: tmpdir() }), clock);
      return {
        store,
        origin: 'http://unused.invalid',
        clock,
        async close() {
          await store.close();
          await s3.close();
        },
      };
    },
  ],
];

async function uploadServer(store: LocalBlobStore): Promise<{ server: FastifyInstance; origin: string }> {
  const server = Fastify();
  await registerBodyParsers(server);
  localUploadRoute(server, store);
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  return { server, origin: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

/** Posts the form as a browser (and the SDK) would: the fields in order, then the file, then anything extra. */
async function post(
  form: UploadForm,
  file: Buffer,
  options: { fields?: Record<string, string>; after?: Record<string, string> } = {},
) {
  const body = new FormData();
  for (const [name, value] of Object.entries({ ...form.fields, ...options.fields })) body.append(name, value);
  body.append('file', new Blob([file], { type: 'application/octet-stream' }), 'file.bin');
  for (const [name, value] of Object.entries(options.after ?? {})) body.append(name, value);
  const response = await fetch(form.url, { method: 'POST', body });
  return { status: response.status, text: await response.text() };
}

const key = () => `1/${randomBytes(8).toString('hex')}`;

describe.each(implementations)('BlobStore contract (%s)', (_name, start) => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(() => h?.close());

  const upload = (k: string, contentType = 'image/png', maxBytes = 1024 * 1024) =>
    h.store.createUpload({ key: k, contentType, minBytes: 1, maxBytes, expiresInSeconds: 600, origin: h.origin });

  it('takes a form upload, answers 201 with S3 PostResponse XML, and serves the bytes, whole and by range', async () => {
    const k = key();
    const bytes = randomBytes(70_000);
    const form = await upload(k);
    expect(form.fields.key).toBe(k);
    expect(form.fields['Content-Type']).toBe('image/png');
    const answer = await post(form, bytes, { after: { name: 'logo.png' } });
    expect(answer.status).toBe(201);
    expect(answer.text).toContain(`<Key>${k}</Key>`);

    const stat = await h.store.stat(k);
    expect(stat?.size).toBe(bytes.length);
    expect(stat?.etag).toMatch(/^".+"$/);
    const whole = await h.store.openRead(k);
    expect(Buffer.concat((await whole?.toArray()) ?? [])).toEqual(bytes);
    const part = await h.store.openRead(k, { start: 100, end: 199 });
    expect(Buffer.concat((await part?.toArray()) ?? [])).toEqual(bytes.subarray(100, 200));

    const url = await h.store.downloadUrl(k, { expiresInSeconds: 60, contentType: 'image/png', fileName: 'logo.png' });
    if (h.store.kind === 's3') {
      expect(url).not.toBeNull();
      const response = await fetch(url as string);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
    } else {
      expect(url).toBeNull();
    }
  });

  it('writes server-side with put, lists, and deletes (idempotently)', async () => {
    const k = key();
    const stat = await h.store.put(k, Readable.from([Buffer.from('hello '), Buffer.from('world')]), {
      contentType: 'text/plain',
      maxBytes: 100,
    });
    expect(stat.size).toBe(11);
    expect(await text((await h.store.openRead(k)) as Readable)).toBe('hello world');
    const listed = [];
    for await (const object of h.store.list()) listed.push(object);
    expect(listed.find((o) => o.key === k)).toMatchObject({ key: k, size: 11 });
    expect(listed.every((o) => !o.key.startsWith('.'))).toBe(true);
    const under = [];
    for await (const object of h.store.list(k.split('/')[0])) under.push(object.key);
    expect(under).toContain(k);
    const elsewhere = [];
    for await (const object of h.store.list('nothing-here')) elsewhere.push(object.key);
    expect(elsewhere).toEqual([]);

    await h.store.delete(k);
    await h.store.delete(k);
    expect(await h.store.stat(k)).toBeNull();
    expect(await h.store.openRead(k)).toBeNull();
  });

  it('put refuses a body over maxBytes and leaves no object', async () => {
    const k = key();
    await expect(
      h.store.put(k, Readable.from([randomBytes(60), randomBytes(60)]), { contentType: 'x/y', maxBytes: 100 }),
    ).rejects.toThrow();
    expect(await h.store.stat(k)).toBeNull();
  });

  it('refuses keys that could escape the store', async () => {
    for (const bad of ['../x', '/abs', 'a//b', '.hidden', 'a/../b', '']) {
      await expect(upload(bad), bad).rejects.toThrow(/invalid blob key/);
      await expect(h.store.stat(bad), bad).rejects.toThrow(/invalid blob key/);
    }
  });
});

/** What S3 itself enforces and s3rver does not: the local store's endpoint checks the policy like S3. */
describe('local upload endpoint enforces the signed policy like S3', () => {
  let dir: string;
  let clock: ManualClock;
  let store: LocalBlobStore;
  let app: { server: FastifyInstance; origin: string };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-blobs-'));
    clock = new ManualClock();
    store = new LocalBlobStore(dir, clock);
    app = await uploadServer(store);
  });
  afterAll(async () => {
    await app?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const form = (k: string, limits = { minBytes: 10, maxBytes: 1000 }) =>
    store.createUpload({ key: k, contentType: 'image/png', ...limits, expiresInSeconds: 600, origin: app.origin });
  const refused = async (answer: { status: number; text: string }, status: number, code: string, k: string) => {
    expect(answer.status, answer.text).toBe(status);
    expect(answer.text).toContain(`<Code>${code}</Code>`);
    expect(await store.stat(k)).toBeNull();
  };

  it('answers success_action_status 201 only when asked; without it 204', async () => {
    const k = key();
    const f = await form(k);
    // The policy signs success_action_status=201, so a form asking for anything else fails the policy.
    await refused(await post(f, randomBytes(20), { fields: { success_action_status: '204' } }), 403, 'AccessDenied', k);
    expect((await post(f, randomBytes(20))).status).toBe(201);
  });

  it('refuses an expired policy', async () => {
    const k = key();
    const f = await form(k);
    clock.advance(601_000);
    try {
      await refused(await post(f, randomBytes(20)), 403, 'AccessDenied', k);
    } finally {
      clock.advance(-601_000);
    }
  });

  it('refuses a tampered policy or signature, and a form for another key', async () => {
    const k = key();
    const f = await form(k);
    const policy = JSON.parse(Buffer.from(f.fields.policy as string, 'base64').toString());
    policy.conditions = policy.conditions.map((c: unknown) =>
      Array.isArray(c) && c[0] === 'content-length-range' ? ['content-length-range', 0, 1e12] : c,
    );
    const forged = Buffer.from(JSON.stringify(policy)).toString('base64');
    await refused(await post(f, randomBytes(20), { fields: { policy: forged } }), 403, 'SignatureDoesNotMatch', k);
    const signature = (f.fields['x-amz-signature'] as string).replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await refused(await post(f, randomBytes(20), { fields: { 'x-amz-signature': signature } }), 403, 'SignatureDoesNotMatch', k);
    const other = key();
    await refused(await post(f, randomBytes(20), { fields: { key: other } }), 403, 'AccessDenied', other);
    await refused(await post(f, randomBytes(20), { fields: { 'Content-Type': 'text/html' } }), 403, 'AccessDenied', k);
    await refused(await post(f, randomBytes(20), { fields: { acl: 'public-read' } }), 403, 'AccessDenied', k);
    const { policy: _, ...unsigned } = f.fields;
    await refused(await post({ url: f.url, fields: unsigned }, randomBytes(20)), 400, 'InvalidArgument', k);
  });

  it('refuses files outside content-length-range, keeping nothing', async () => {
    const k = key();
    const f = await form(k);
    await refused(await post(f, randomBytes(1001)), 400, 'EntityTooLarge', k);
    await refused(await post(f, randomBytes(9)), 400, 'EntityTooSmall', k);
    expect(readdirSync(join(dir, '.tmp'))).toEqual([]);
    expect((await post(f, randomBytes(1000))).status).toBe(201);
    expect((await store.stat(k))?.size).toBe(1000);
  });

  it('a client that disconnects mid-upload leaves no file, not even the partial temporary one it was writing', async () => {
    const k = key();
    const f = await form(k, { minBytes: 1, maxBytes: 10 * 1024 * 1024 });
    const boundary = 'xxBOUNDARYxx';
    let head = '';
    for (const [name, value] of Object.entries(f.fields)) {
      head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    }
    head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: image/png\r\n\r\n`;
    const url = new URL(f.url);
    const tmpDir = join(dir, '.tmp');
    const partial = () =>
      existsSync(tmpDir)
        ? readdirSync(tmpDir).map((name) => ({ name, size: statSync(join(tmpDir, name), { throwIfNoEntry: false })?.size ?? 0 }))
        : [];
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + 5_000_000),
      },
    });
    req.on('error', () => {});
    req.write(head);
    req.write(randomBytes(1_000_000));
    // Wait (bounded) until the server has streamed part of the file into a temporary file, then vanish.
    let seen: Array<{ name: string; size: number }> = [];
    for (let i = 0; i < 200 && !seen.some((file) => file.size > 0); i++) {
      await new Promise((r) => setTimeout(r, 25));
      seen = partial();
    }
    expect(seen.filter((file) => file.size > 0)).toHaveLength(1);
    expect(seen[0]?.size).toBeLessThan(5_000_000);
    expect(await store.stat(k)).toBeNull();
    req.destroy();
    // The server notices the close asynchronously.
    for (let i = 0; i < 200 && partial().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(partial()).toEqual([]);
    expect(existsSync(join(dir, k))).toBe(false);
    expect(await store.stat(k)).toBeNull();
    const listed = [];
    for await (const object of store.list()) listed.push(object.key);
    expect(listed).not.toContain(k);
  });

  it("a second store on the same folder accepts the first one's forms (the secret is kept in the folder)", async () => {
    const k = key();
    const f = await form(k);
    const again = new LocalBlobStore(dir, clock);
    const second = await uploadServer(again);
    try {
      const answer = await post({ url: f.url.replace(app.origin, second.origin), fields: f.fields }, randomBytes(20));
      expect(answer.status).toBe(201);
    } finally {
      await second.server.close();
    }
  });
});
