import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, FormData, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { type FakeS3, startS3 } from '../../helpers/s3.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { type Dialect, dialects, startServer, type TestServer } from '../../helpers/server.js';

type StoreKind = 'local' | 's3';
const combos: Array<[Dialect, StoreKind]> = dialects.flatMap((d) =>
  (['local', 's3'] as const).map((s): [Dialect, StoreKind] => [d, s]),
);

describe.each(combos)('content (%s, %s store)', (dialect, storeKind) => {
  let server: TestServer;
  let s3: FakeS3 | null = null;
  let app: Credentials;
  let QB: any;
  let owner: { id: number };
  let ownerToken: string;
  let otherToken: string;
  let dispatcher: Agent;

  beforeAll(async () => {
    s3 = storeKind === 's3' ? await startS3() : null;
    server = await startServer(dialect, { env: { ...s3?.env } });
    dispatcher = new Agent({ connect: { ca: server.cert } });
    app = await server.createApplication();
    owner = await server.createUser(app.application_id, 'owner', 'password-123');
    await server.createUser(app.application_id, 'other', 'password-123');
    QB = createSdk(server, app);
    await call((cb) => QB.createSession({ login: 'owner', password: 'password-123' }, cb));
    ownerToken = QB.service.getSession().token;
    otherToken = await tokenFor('other');
  });
  afterAll(async () => {
    await server?.close();
    await dispatcher?.close();
    await s3?.close();
  });

  async function tokenFor(login: string, credentials = app): Promise<string> {
    const sdk = createSdk(server, credentials);
    await call((cb) => sdk.createSession({ login, password: 'password-123' }, cb));
    return sdk.service.getSession().token;
  }

  /** Real HTTP that follows redirects (to the S3 store), as a browser fetching privateUrl would. */
  async function get(url: string, headers: Record<string, string> = {}) {
    const response = await fetch(url.replace('https://', 'https://'), { headers, dispatcher });
    const body = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body, json: () => JSON.parse(body.toString()) };
  }

  /** A new blob's upload form as POST /blobs.json hands it out: the URL and its fields. */
  async function newForm(name = 'form.bin') {
    const created = await server.request('POST', '/blobs.json', {
      headers: { 'qb-token': ownerToken },
      form: { 'blob[name]': name },
    });
    expect(created.status).toBe(201);
    const params = new URL(created.json.blob.blob_object_access.params);
    const fields: Record<string, string> = Object.fromEntries(params.searchParams);
    return { blob: created.json.blob as { id: number; uid: string }, url: `${params.origin}${params.pathname}`, fields };
  }

  /** Posts a multipart form as a browser would: the fields in order, then the file. */
  async function postForm(url: string, fields: Record<string, string>, file: Buffer) {
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    body.append('file', new Blob([file], { type: 'application/octet-stream' }), 'file.bin');
    const response = await fetch(url, { method: 'POST', body, dispatcher });
    return { status: response.status, text: await response.text() };
  }

  const complete = (id: number, form: Record<string, string>) =>
    server.request('PUT', `/blobs/${id}/complete.json`, { headers: { 'qb-token': ownerToken }, form });

  const upload = (bytes: Buffer, extra: Record<string, unknown> = {}) =>
    call((cb) =>
      QB.content.createAndUpload({ file: bytes, name: 'photo.png', type: 'image/png', size: bytes.length, ...extra }, cb),
    );

  it('runs the SDK lifecycle: createAndUpload, getInfo, list, getFile, update, privateUrl, delete', async () => {
    const bytes = randomBytes(50_000);
    const created = await upload(bytes, { tag_list: 'holiday' });
    expect(created).toMatchObject({ name: 'photo.png', content_type: 'image/png', public: false, size: bytes.length });
    expect(created.uid).toMatch(/^[0-9a-f]{32}00$/);
    expect(created.blob_object_access.params).toMatch(
      storeKind === 'local' ? /^https:\/\/127\.0\.0\.1:\d+\/blobs\/upload\?/ : /^http:/,
    );

    const info = await call((cb) => QB.content.getInfo(created.id, cb));
    expect(info.blob).toMatchObject({
      id: created.id,
      uid: created.uid,
      blob_status: 'complete',
      size: bytes.length,
      tag_list: 'holiday',
    });
    expect(info.blob.set_completed_at).toMatch(/Z$/);
    expect(info.blob).not.toHaveProperty('blob_object_access');

    const list = await call((cb) => QB.content.list({ page: 1, per_page: 10 }, cb));
    expect(list).toMatchObject({ current_page: 1, per_page: 10, total_entries: 1 });
    expect(list.items[0].blob.id).toBe(created.id);

    const file = await call((cb) => QB.content.getFile(created.uid, cb));
    expect(file.blob.uid).toBe(created.uid);

    const updated = await call((cb) => QB.content.update({ id: created.id, name: 'renamed.png' }, cb));
    expect(updated.blob.name).toBe('renamed.png');

    const url = QB.content.privateUrl(created.uid);
    const downloaded = await get(url);
    expect(downloaded.status).toBe(200);
    expect(downloaded.body.equals(bytes)).toBe(true);
    expect(downloaded.headers.get('content-type')).toBe('image/png');
    // Private: not without a token.
    expect((await get(QB.content.publicUrl(created.uid))).status).toBe(401);

    await call((cb) => QB.content.delete(created.id, cb));
    await expect(call((cb) => QB.content.getInfo(created.id, cb))).rejects.toMatchObject({ code: 404 });
    expect((await get(url)).status).toBe(404);
    const keys = [];
    for await (const object of server.app.services.blobStore.list('blobs')) keys.push(object.key);
    expect(keys).toEqual([]);
  });

  it('serves public blobs to anyone, with /blobs/{uid} and /blobs/{uid}.json', async () => {
    const bytes = Buffer.from('public hello');
    const created = await upload(bytes, { public: true, name: 'hello.txt', type: 'text/plain' });
    for (const path of [`/blobs/${created.uid}`, `/blobs/${created.uid}.json`]) {
      const response = await get(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.body.toString()).toBe('public hello');
    }
    const raw = await server.request('GET', `/blobs/${created.uid}`);
    if (storeKind === 's3') {
      expect(raw.status).toBe(302);
      expect(String(raw.headers.location)).toContain(s3?.endpoint);
    } else {
      expect(raw.status).toBe(200);
      expect(raw.headers['content-length']).toBe(String(bytes.length));
      expect(raw.headers.etag).toMatch(/^".+"$/);
    }
  });

  it("fetches a public blob's publicUrl without a token: the exact bytes", async () => {
    const bytes = randomBytes(30_000);
    const created = await upload(bytes, { public: true, name: 'open.bin', type: 'application/octet-stream' });
    const url = QB.content.publicUrl(created.uid);
    expect(url).not.toContain('token');
    const response = await get(url);
    expect(response.status).toBe(200);
    expect(response.body.equals(bytes)).toBe(true);
  });

  it('accepts a 0-byte file; the stored size wins over the size the client declares', async () => {
    const empty = await newForm('empty.txt');
    expect((await postForm(empty.url, empty.fields, Buffer.alloc(0))).status).toBe(201);
    expect((await complete(empty.blob.id, { size: '12345' })).status).toBe(200);
    const info = await server.request('GET', `/blobs/${empty.blob.id}.json`, { headers: { 'qb-token': ownerToken } });
    expect(info.json.blob).toMatchObject({ blob_status: 'complete', size: 0 });
    const fetched = await get(`${server.url}/blobs/${empty.blob.uid}?token=${ownerToken}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.length).toBe(0);

    const five = await newForm('five.bin');
    const bytes = randomBytes(5);
    expect((await postForm(five.url, five.fields, bytes)).status).toBe(201);
    expect((await complete(five.blob.id, { 'blob[size]': '999' })).status).toBe(200);
    const after = await server.request('GET', `/blobs/${five.blob.id}.json`, { headers: { 'qb-token': ownerToken } });
    expect(after.json.blob.size).toBe(5);
    expect((await get(`${server.url}/blobs/${five.blob.uid}?token=${ownerToken}`)).body.equals(bytes)).toBe(true);
  });

  it.runIf(storeKind === 'local')(
    "the upload URL of POST /blobs.json refuses a tampered or expired policy and another blob's key",
    async () => {
      const mine = await newForm('mine.bin');
      const theirs = await newForm('theirs.bin');
      const bytes = randomBytes(64);
      const refused = async (fields: Record<string, string>, status: number, code: string) => {
        const answer = await postForm(mine.url, fields, bytes);
        expect(answer.status, answer.text).toBe(status);
        expect(answer.text).toContain(`<Code>${code}</Code>`);
      };
      const policy = JSON.parse(Buffer.from(mine.fields.policy as string, 'base64').toString());
      policy.conditions = policy.conditions.map((c: unknown) =>
        Array.isArray(c) && c[0] === 'content-length-range' ? ['content-length-range', 0, 1e12] : c,
      );
      await refused(
        { ...mine.fields, policy: Buffer.from(JSON.stringify(policy)).toString('base64') },
        403,
        'SignatureDoesNotMatch',
      );
      const signature = (mine.fields['x-amz-signature'] as string).replace(/^./, (c) => (c === '0' ? '1' : '0'));
      await refused({ ...mine.fields, 'x-amz-signature': signature }, 403, 'SignatureDoesNotMatch');
      // Another blob's key (the signed policy names this blob's key only), and one outside the content prefix.
      await refused({ ...mine.fields, key: theirs.fields.key as string }, 403, 'AccessDenied');
      await refused({ ...mine.fields, key: 'blobs/1/elsewhere' }, 403, 'AccessDenied');
      const ttl = (server.config.blobUploadTtlSeconds + 1) * 1000;
      server.clock.advance(ttl);
      try {
        await refused(mine.fields, 403, 'AccessDenied');
      } finally {
        server.clock.advance(-ttl);
      }
      // Nothing was written for either blob.
      for (const id of [mine.blob.id, theirs.blob.id]) expect((await complete(id, { size: '64' })).status).toBe(422);
      expect((await get(`${server.url}/blobs/${theirs.blob.uid}?token=${ownerToken}`)).status).toBe(404);
      // The untouched form still works.
      expect((await postForm(mine.url, mine.fields, bytes)).status).toBe(201);
      expect((await complete(mine.blob.id, { size: '64' })).status).toBe(200);
      expect((await get(`${server.url}/blobs/${mine.blob.uid}?token=${ownerToken}`)).body.equals(bytes)).toBe(true);
      const dropped = await server.request('DELETE', `/blobs/${theirs.blob.id}.json`, { headers: { 'qb-token': ownerToken } });
      expect(dropped.status).toBe(200);
    },
  );

  it.runIf(storeKind === 'local')('answers conditional requests and byte ranges (video seeking)', async () => {
    const bytes = randomBytes(1000);
    const created = await upload(bytes, { public: true });
    const path = `/blobs/${created.uid}`;
    const whole = await server.request('GET', path);
    const etag = String(whole.headers.etag);
    expect((await server.request('GET', path, { headers: { 'if-none-match': etag } })).status).toBe(304);

    // Last-Modified is the blob's completion time, in whole seconds.
    const info = await server.request('GET', `/blobs/${created.id}.json`, { headers: { 'qb-token': ownerToken } });
    const completedAt = Date.parse(info.json.blob.set_completed_at);
    const lastModified = String(whole.headers['last-modified']);
    expect(Date.parse(lastModified)).toBe(completedAt);
    expect(lastModified).toBe(new Date(completedAt).toUTCString());
    const since = async (value: string, extra: Record<string, string> = {}) =>
      server.request('GET', path, { headers: { 'if-modified-since': value, ...extra } });
    const unchanged = await since(lastModified);
    expect(unchanged.status).toBe(304);
    expect(unchanged.text).toBe('');
    expect(unchanged.headers['last-modified']).toBe(lastModified);
    expect(unchanged.headers.etag).toBe(etag);
    server.clock.advance(10_000);
    try {
      expect((await since(new Date(completedAt + 5000).toUTCString())).status).toBe(304);
      // A date ahead of the server's clock is not valid: ignored.
      expect((await since(new Date(server.clock.now() + 60_000).toUTCString())).status).toBe(200);
    } finally {
      server.clock.advance(-10_000);
    }
    const older = await since(new Date(completedAt - 1000).toUTCString());
    expect(older.status).toBe(200);
    expect(older.text.length).toBeGreaterThan(0);
    expect((await since('not a date')).status).toBe(200);
    // If-None-Match decides when both come (RFC 9110 13.2.2).
    expect((await since(lastModified, { 'if-none-match': '"other"' })).status).toBe(200);

    const part = await server.request('GET', path, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect(part.headers['content-length']).toBe('100');
    const suffix = await fetch(`${server.url}${path}`, { headers: { range: 'bytes=-10' }, dispatcher });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(990))).toBe(true);
    const open = await server.request('GET', path, { headers: { range: 'bytes=990-5000' } });
    expect(open.headers['content-range']).toBe('bytes 990-999/1000');

    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const refused = await server.request('GET', path, { headers: { range } });
      expect(refused.status, range).toBe(416);
      expect(refused.headers['content-range']).toBe('bytes */1000');
      expect(refused.json).toEqual({ errors: { base: ['Range Not Satisfiable'] } });
    }
    // Malformed or stale ranges are ignored: the whole file.
    expect((await server.request('GET', path, { headers: { range: 'bytes=9-3' } })).status).toBe(200);
    expect((await server.request('GET', path, { headers: { range: 'bytes=0-1', 'if-range': '"old"' } })).status).toBe(200);
  });

  it('keeps private blobs to the application, and to their owner when the application says so', async () => {
    const created = await upload(Buffer.from('secret'));
    const path = `/blobs/${created.uid}`;
    expect((await server.request('GET', path)).status).toBe(401);
    expect((await server.request('GET', `${path}?token=nonsense`)).status).toBe(401);
    const otherApp = await server.createApplication();
    await server.createUser(otherApp.application_id, 'stranger', 'password-123');
    const strangerToken = await tokenFor('stranger', otherApp);
    expect((await server.request('GET', path, { headers: { 'qb-token': strangerToken } })).status).toBe(404);
    // By default any session of the application (QuickBlox: chat attachments are read by the recipients).
    const byQuery = await get(`${server.url}${path}?token=${otherToken}`);
    expect(byQuery.status).toBe(200);
    expect(byQuery.body.toString()).toBe('secret');
    expect((await get(`${server.url}${path}`, { 'QB-Token': otherToken })).body.toString()).toBe('secret');
    const shared = await upload(Buffer.from('shared'), { public: true });

    await server.app.services.apps.updateSettings(app.application_id, { blob_private_owner_only: true });
    try {
      const refused = await server.request('GET', path, { headers: { 'qb-token': otherToken } });
      expect(refused.status).toBe(403);
      expect(refused.json).toEqual({ errors: { base: ['This blob is private'] } });
      expect((await server.request('GET', `${path}?token=${otherToken}`)).status).toBe(403);
      expect((await server.request('GET', `${path}.json?token=${otherToken}`)).status).toBe(403);
      // Public blobs stay readable by anyone.
      expect((await get(`${server.url}/blobs/${shared.uid}?token=${otherToken}`)).body.toString()).toBe('shared');
      expect((await get(`${server.url}/blobs/${shared.uid}`)).body.toString()).toBe('shared');
      expect((await server.request('GET', `/blobs/${created.id}.json`, { headers: { 'qb-token': otherToken } })).status).toBe(
        403,
      );
      expect((await get(`${server.url}${path}?token=${ownerToken}`)).body.toString()).toBe('secret');
    } finally {
      await server.app.services.apps.updateSettings(app.application_id, { blob_private_owner_only: false });
    }
  });

  it("refuses to complete, update or delete someone else's blob", async () => {
    const created = await upload(Buffer.from('mine'));
    const headers = { 'qb-token': otherToken };
    for (const [method, path, form] of [
      ['PUT', `/blobs/${created.id}/complete.json`, { size: '4' }],
      ['PUT', `/blobs/${created.id}.json`, { 'blob[name]': 'stolen' }],
      ['GET', `/blobs/${created.id}.json?blob[name]=stolen`, undefined],
      ['DELETE', `/blobs/${created.id}.json`, undefined],
    ] as const) {
      const answer = await server.request(method, path, { headers, ...(form ? { form } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.json).toEqual({ errors: { base: ['You can change only your own blobs'] } });
    }
    const info = await call((cb) => QB.content.getInfo(created.id, cb));
    expect(info.blob.name).toBe('photo.png');
    expect((await server.request('PUT', '/blobs/999999/complete.json', { headers, form: { size: '1' } })).status).toBe(404);
  });

  it('deleting a blob clears the avatar that points at it', async () => {
    const created = await upload(Buffer.from('avatar'));
    await call((cb) => QB.users.update(owner.id, { blob_id: created.id }, cb));
    expect((await call((cb) => QB.users.get(owner.id, cb))).blob_id).toBe(created.id);
    await call((cb) => QB.content.delete(created.id, cb));
    expect((await call((cb) => QB.users.get(owner.id, cb))).blob_id).toBeNull();
  });

  it('blob[new]=1 hands out a fresh upload; completing it replaces the bytes', async () => {
    const created = await upload(Buffer.from('version one'), { public: true });
    const answer = await server.request('PUT', `/blobs/${created.id}.json`, {
      headers: { 'qb-token': ownerToken },
      form: { 'blob[new]': '1', 'blob[content_type]': 'text/plain' },
    });
    expect(answer.status).toBe(200);
    const params = new URL(answer.json.blob.blob_object_access.params);
    expect(params.searchParams.get('key')).not.toBe(new URL(created.blob_object_access.params).searchParams.get('key'));
    // The old version stays readable until the new one is complete.
    expect((await get(`${server.url}/blobs/${created.uid}`)).body.toString()).toBe('version one');
    await call((cb) =>
      QB.content.upload(
        {
          url: `${params.origin}${params.pathname}`,
          data: { ...Object.fromEntries(params.searchParams), file: Buffer.from('version two!'), name: 'v2.txt' },
        },
        cb,
      ),
    );
    await call((cb) => QB.content.markUploaded({ id: created.id, size: 12 }, cb));
    const after = await get(`${server.url}/blobs/${created.uid}`);
    expect(after.body.toString()).toBe('version two!');
    expect(after.headers.get('content-type')).toBe('text/plain');
    let count = 0;
    for await (const object of server.app.services.blobStore.list(`blobs/${app.application_id}`)) count += object ? 1 : 0;
    const live = (
      await server.app.services.content.list(
        { applicationId: app.application_id, userId: owner.id, via: 'token' },
        { per_page: 100 },
      )
    ).items.length;
    expect(count).toBe(live);
  });

  it('refuses bad input with QuickBlox errors', async () => {
    const headers = { 'qb-token': ownerToken };
    const noName = await server.request('POST', '/blobs.json', { headers, form: { 'blob[content_type]': 'image/png' } });
    expect(noName.status).toBe(422);
    expect(noName.json).toEqual({ errors: { name: ["can't be blank"] } });
    const badType = await server.request('POST', '/blobs.json', {
      headers,
      form: { 'blob[name]': 'a', 'blob[content_type]': 'not a type' },
    });
    expect(badType.status).toBe(422);
    const created = await server.request('POST', '/blobs.json', { headers, form: { 'blob[name]': 'a.bin' } });
    expect(created.status).toBe(201);
    // Completing before uploading.
    const early = await server.request('PUT', `/blobs/${created.json.blob.id}/complete.json`, {
      headers,
      form: { 'blob[size]': '5' },
    });
    expect(early.status).toBe(422);
    expect((await server.request('GET', '/blobs.json?per_page=0', { headers })).status).toBe(422);
    expect((await server.request('GET', '/blobs/nosuchuid0000', { headers })).status).toBe(404);
    expect((await server.request('GET', '/blobs/123456789.json', { headers })).json).toEqual({ errors: ['Not Found'] });
    // An application session cannot own blobs.
    const appSdk = createSdk(server, app);
    await call((cb) => appSdk.createSession(cb));
    const appToken = appSdk.service.getSession().token;
    expect(
      (await server.request('POST', '/blobs.json', { headers: { 'qb-token': appToken }, form: { 'blob[name]': 'x' } })).status,
    ).toBe(403);
  });

  it('enforces the per-application blob size and storage limits', async () => {
    await server.app.services.apps.updateSettings(app.application_id, { blob_max_size: 100 });
    try {
      // The local store refuses the upload itself; S3 refuses it too (s3rver does not), and completion checks again.
      await expect(upload(randomBytes(101))).rejects.toMatchObject({ code: storeKind === 'local' ? 400 : 422 });
      await upload(randomBytes(100));
    } finally {
      await server.app.services.apps.updateSettings(app.application_id, { blob_max_size: 100 * 1024 * 1024 });
    }
    const used = (
      await server.app.services.content.list(
        { applicationId: app.application_id, userId: owner.id, via: 'token' },
        { per_page: 100 },
      )
    ).items.reduce((sum, item) => sum + (item.blob.size ?? 0), 0);
    await server.app.services.apps.updateSettings(app.application_id, { blob_storage_limit: used + 10 });
    try {
      await expect(upload(randomBytes(11))).rejects.toMatchObject({ code: storeKind === 'local' ? 400 : 422 });
      await upload(randomBytes(10));
      const full = await server.request('POST', '/blobs.json', {
        headers: { 'qb-token': ownerToken },
        form: { 'blob[name]': 'x' },
      });
      expect(full.status).toBe(422);
      expect(full.json).toEqual({ errors: { base: ['The application has used up its blob storage'] } });
    } finally {
      await server.app.services.apps.updateSettings(app.application_id, { blob_storage_limit: null });
    }
  });

  it('collects blobs never completed, expired new versions and orphaned bytes', async () => {
    const content = server.app.services.content;
    const headers = { 'qb-token': ownerToken };
    const ttl = server.config.blobUploadTtlSeconds * 1000 + 1000;
    // What earlier tests left in flight (refused uploads, a blob never uploaded) goes first.
    server.clock.advance(ttl);
    await content.collectGarbage();
    const bare = await server.request('POST', '/blobs.json', { headers, form: { 'blob[name]': 'never.bin' } });
    const uploadedOnly = await server.request('POST', '/blobs.json', { headers, form: { 'blob[name]': 'half.bin' } });
    const params = new URL(uploadedOnly.json.blob.blob_object_access.params);
    await call((cb) =>
      QB.content.upload(
        {
          url: `${params.origin}${params.pathname}`,
          data: { ...Object.fromEntries(params.searchParams), file: randomBytes(300), name: 'h' },
        },
        cb,
      ),
    );
    const kept = await upload(Buffer.from('kept'));
    // Before expiry nothing in flight is touched.
    expect(await content.collectGarbage()).toEqual({ expired_blobs: 0, deleted_objects: 0, reclaimed_bytes: 0 });
    // Bytes no blob refers to (a crash between deleting a record and its bytes).
    const orphan = `blobs/${app.application_id}/${randomBytes(16).toString('hex')}`;
    await server.app.services.blobStore.put(orphan, Readable.from([randomBytes(200)]), { contentType: 'x/y', maxBytes: 1000 });

    server.clock.advance(ttl);
    const report = await content.collectGarbage();
    expect(report).toEqual({ expired_blobs: 2, deleted_objects: 2, reclaimed_bytes: 500 });
    for (const id of [bare.json.blob.id, uploadedOnly.json.blob.id]) {
      expect((await server.request('GET', `/blobs/${id}.json`, { headers })).status).toBe(404);
    }
    expect((await call((cb) => QB.content.getInfo(kept.id, cb))).blob.blob_status).toBe('complete');
    expect(await server.app.services.blobStore.stat(orphan)).toBeNull();
    expect(await content.collectGarbage()).toEqual({ expired_blobs: 0, deleted_objects: 0, reclaimed_bytes: 0 });
  });
});
