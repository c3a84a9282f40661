import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeS3, startS3 } from '../../helpers/s3.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture, PASSWORD } from './fixture.js';

/** File fields on an S3-compatible blob store: bytes streamed there, downloads a redirect to a presigned URL. */
describe.each(dialects)('custom-object files on S3 (%s)', (dialect) => {
  let s3: FakeS3;
  let fx: DataFixture;
  let QB: any;
  let cls: string;

  beforeAll(async () => {
    s3 = await startS3();
    fx = await dataFixture(dialect, { ann: '' }, s3.env);
    cls = fx.className('S3Files');
    await fx.admin('POST', '/class.json', { name: cls, fields: { title: 'String', doc: 'File' } });
    QB = createSdk(fx.server, fx.app);
    await call((cb) => QB.createSession({ login: 'ann', password: PASSWORD }, cb));
  });
  afterAll(async () => {
    await fx?.close();
    await s3?.close();
  });

  const keys = async () => {
    const out: string[] = [];
    for await (const item of fx.server.app.services.records.blobStore.list('data')) out.push(item.key);
    return out;
  };

  it('uploads with the SDK, redirects downloads to the bytes, and deletes them with the field', async () => {
    const rec = await call((cb) => QB.data.create(cls, { title: 'paper' }, cb));
    const bytes = randomBytes(300_000);
    const up = await call((cb) =>
      QB.data.uploadFile(cls, { id: rec._id, field_name: 'doc', file: bytes, name: 'paper.pdf' }, cb),
    );
    expect(up).toMatchObject({ _id: rec._id, size: bytes.length, name: 'paper.pdf', content_type: 'application/pdf' });
    expect(await keys()).toHaveLength(1);
    const url = new URL(QB.data.fileUrl(cls, { id: rec._id, field_name: 'doc' }));
    const answer = await fx.server.request('GET', url.pathname + url.search);
    expect(answer.status).toBe(302);
    const location = String(answer.headers.location);
    expect(location.startsWith(s3.endpoint)).toBe(true);
    const fetched = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(fetched.equals(bytes)).toBe(true);
    // Read is open by default: an application session may download too, with the token in a header.
    const byApp = await fx.as(fx.appToken, 'GET', `${url.pathname}?field_name=doc`);
    expect(byApp.status).toBe(302);
    await call((cb) => QB.data.deleteFile(cls, { id: rec._id, field_name: 'doc' }, cb));
    let left = await keys();
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((done) => setTimeout(done, 20));
      left = await keys();
    }
    expect(left).toEqual([]);
    expect((await fx.server.request('GET', url.pathname + url.search)).status).toBe(404);
  });

  it('refuses a file over 32 MB with 413, leaving no object and the record as it was', async () => {
    const rec = await call((cb) => QB.data.create(cls, { title: 'big' }, cb));
    const boundary = 'S3BIG';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="field_name"\r\n\r\ndoc\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const body = Buffer.concat([head, Buffer.alloc(32 * 1024 * 1024 + 1, 1), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const res = await fx.as(fx.users.ann?.token as string, 'POST', `/data/${cls}/${rec._id}/file.json`, {
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.status).toBe(413);
    expect(res.json.errors).toBeDefined();
    expect(await keys()).toEqual([]);
    const after = await call((cb) => QB.data.list(cls, { _id: rec._id }, cb));
    const { permissions: _, ...fields } = rec;
    expect(after.items[0]).toEqual(fields);
  });
});
