import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../../core/clock.js';
import { sign, verify } from './policy.js';
import {
  type BlobStat,
  type BlobStore,
  type ByteRange,
  checkKey,
  KEY_PATTERN,
  type StoredObject,
  type UploadForm,
  UploadRefused,
  type UploadRequest,
} from './types.js';

/** The path of the upload endpoint the local store's forms point at (see upload-route.ts). */
export const UPLOAD_PATH = '/blobs/upload';
const ACCESS_KEY_ID = 'switchboard';
const TMP = '.tmp';

/**
 * Blobs as files under one folder, written to a temporary file and renamed
 * into place, so a reader never sees a partial file. Uploads come through
 * Switchboard's own endpoint, which checks the signed policy like S3 does.
 */
export class LocalBlobStore implements BlobStore {
  readonly kind = 'local';
  private secret: Promise<string> | null = null;

  constructor(
    readonly dir: string,
    private readonly clock: Clock,
  ) {}

  async createUpload(request: UploadRequest): Promise<UploadForm> {
    checkKey(request.key);
    const now = this.clock.now();
    const fields: Record<string, string> = {
      'Content-Type': request.contentType,
      key: request.key,
      success_action_status: '201',
    };
    const signed = sign(
      await this.uploadSecret(),
      ACCESS_KEY_ID,
      {
        expiration: new Date(now + request.expiresInSeconds * 1000).toISOString(),
        conditions: [
          { bucket: 'local' },
          { key: request.key },
          { 'Content-Type': request.contentType },
          { success_action_status: '201' },
          ['content-length-range', request.minBytes, request.maxBytes],
        ],
      },
      now,
    );
    return { url: `${request.origin}${UPLOAD_PATH}`, fields: { ...fields, ...signed } };
  }

  /**
   * A form upload: `fields` are the form fields before the file (names in
   * lower case), `file` the file part. Checks the policy, then streams the
   * file into place; throws UploadRefused (nothing written) otherwise.
   */
  async acceptUpload(fields: Record<string, string>, file: Readable): Promise<{ key: string; stat: BlobStat }> {
    const { key, minBytes, maxBytes } = verify(await this.uploadSecret(), ACCESS_KEY_ID, fields, this.clock.now());
    if (!KEY_PATTERN.test(key)) throw new UploadRefused(400, 'InvalidArgument', 'The key is not valid here.');
    return { key, stat: await this.write(key, file, minBytes, maxBytes) };
  }

  async stat(key: string): Promise<BlobStat | null> {
    checkKey(key);
    try {
      const info = await stat(this.path(key));
      if (!info.isFile()) return null;
      return { size: info.size, etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"` };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    checkKey(key);
    // Opened first, so a missing file is a null and not a stream that fails later.
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.path(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return createReadStream('', { fd: handle, autoClose: true, start: range?.start, end: range?.end, highWaterMark: 256 * 1024 });
  }

  async downloadUrl(): Promise<string | null> {
    return null;
  }

  async put(key: string, body: Readable, options: { contentType: string; maxBytes: number }): Promise<BlobStat> {
    checkKey(key);
    try {
      return await this.write(key, body, 0, options.maxBytes);
    } catch (error) {
      if (error instanceof UploadRefused) throw new Error(`blob larger than ${options.maxBytes} bytes`);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await rm(this.path(key), { force: true });
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    if (prefix !== '') checkKey(prefix);
    yield* this.walk(prefix);
  }

  async close(): Promise<void> {}

  private path(key: string): string {
    return join(this.dir, key);
  }

  private async *walk(prefix: string): AsyncIterable<StoredObject> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(this.dir, prefix), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      // Dot names are the store's own (temporary files, the upload secret).
      if (entry.name.startsWith('.')) continue;
      const key = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) yield* this.walk(key);
      else if (entry.isFile()) {
        const info = await stat(this.path(key)).catch(() => null);
        if (info) yield { key, size: info.size, modifiedAt: info.mtimeMs };
      }
    }
  }

  /** Streams into a temporary file, counting bytes, and renames it into place only when complete and within limits. */
  private async write(key: string, body: Readable, minBytes: number, maxBytes: number): Promise<BlobStat> {
    const tmpDir = join(this.dir, TMP);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomBytes(12).toString('hex'));
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) {
          done(new UploadRefused(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size'));
        } else done(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(tmp, { highWaterMark: 256 * 1024 }));
      if (size < minBytes) {
        throw new UploadRefused(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size');
      }
      await mkdir(dirname(this.path(key)), { recursive: true });
      await rename(tmp, this.path(key));
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
    const stored = await this.stat(key);
    if (!stored) throw new Error(`blob ${key} vanished after writing`);
    return stored;
  }

  /** The HMAC secret of upload policies, made on first use and kept in the folder (shared by restarts). */
  private uploadSecret(): Promise<string> {
    this.secret ??= (async () => {
      const file = join(this.dir, '.upload-secret');
      await mkdir(this.dir, { recursive: true });
      try {
        const handle = await open(file, 'wx', 0o600);
        await handle.writeFile(randomBytes(32).toString('hex'));
        await handle.close();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const secret = (await readFile(file, 'utf8')).trim();
      // A concurrent first start may still be writing it.
      if (secret.length < 64) {
        await new Promise((done) => setTimeout(done, 50));
        return (await readFile(file, 'utf8')).trim();
      }
      return secret;
    })();
    return this.secret;
  }
}
