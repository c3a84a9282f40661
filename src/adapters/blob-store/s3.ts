import { createRequire } from 'node:module';
import { type Readable, Transform } from 'node:stream';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import type * as PresignedPost from '@aws-sdk/s3-presigned-post';
import type * as RequestPresigner from '@aws-sdk/s3-request-presigner';
import type { BlobStoreConfig } from '../../config.js';
import {
  type BlobStat,
  type BlobStore,
  type ByteRange,
  checkKey,
  type DownloadOptions,
  type StoredObject,
  type UploadForm,
  type UploadRequest,
} from './types.js';

type S3Config = Extract<BlobStoreConfig, { kind: 's3' }>;

// The AWS SDK is a large load (about 15 MB resident): only a server configured for S3 pays for it.
const require = createRequire(import.meta.url);
function load() {
  const s3 = require('@aws-sdk/client-s3') as typeof ClientS3;
  return {
    S3Client: s3.S3Client,
    HeadObjectCommand: s3.HeadObjectCommand,
    GetObjectCommand: s3.GetObjectCommand,
    DeleteObjectCommand: s3.DeleteObjectCommand,
    ListObjectsV2Command: s3.ListObjectsV2Command,
    Upload: (require('@aws-sdk/lib-storage') as typeof LibStorage).Upload,
    createPresignedPost: (require('@aws-sdk/s3-presigned-post') as typeof PresignedPost).createPresignedPost,
    getSignedUrl: (require('@aws-sdk/s3-request-presigner') as typeof RequestPresigner).getSignedUrl,
  };
}
let loaded: ReturnType<typeof load> | undefined;
function sdk(): ReturnType<typeof load> {
  loaded ??= load();
  return loaded;
}

/** Any S3-compatible bucket: clients upload with presigned POST forms and download from presigned GET URLs. */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(config: S3Config) {
    this.bucket = config.bucket;
    this.client = new (sdk().S3Client)({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
      // Checksums on every request are a newer AWS feature many S3-compatible stores refuse.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async createUpload(request: UploadRequest): Promise<UploadForm> {
    checkKey(request.key);
    const { url, fields } = await sdk().createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: request.key,
      Conditions: [
        ['content-length-range', request.minBytes, request.maxBytes],
        { 'Content-Type': request.contentType },
        { success_action_status: '201' },
      ],
      Fields: { 'Content-Type': request.contentType, success_action_status: '201' },
      Expires: request.expiresInSeconds,
    });
    return { url, fields };
  }

  async stat(key: string): Promise<BlobStat | null> {
    checkKey(key);
    try {
      const head = await this.client.send(new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: key }));
      return { size: head.ContentLength ?? 0, etag: head.ETag ?? `"${key}"` };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async openRead(key: string, range?: ByteRange): Promise<Readable | null> {
    checkKey(key);
    try {
      const object = await this.client.send(
        new (sdk().GetObjectCommand)({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return object.Body as Readable;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async downloadUrl(key: string, options: DownloadOptions): Promise<string | null> {
    checkKey(key);
    const command = new (sdk().GetObjectCommand)({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: `inline; filename*=UTF-8''${encodeURIComponent(options.fileName)}`,
    });
    return sdk().getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds });
  }

  async put(key: string, body: Readable, options: { contentType: string; maxBytes: number }): Promise<BlobStat> {
    checkKey(key);
    let size = 0;
    const limited = body.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > options.maxBytes) done(new Error(`blob larger than ${options.maxBytes} bytes`));
          else done(null, chunk);
        },
      }),
    );
    body.once('error', (error) => limited.destroy(error));
    // Multipart in 5 MB parts: memory stays bounded whatever the size; an aborted upload leaves no object.
    const upload = new (sdk().Upload)({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: limited, ContentType: options.contentType },
      queueSize: 2,
    });
    await upload.done();
    const stored = await this.stat(key);
    if (!stored) throw new Error(`blob ${key} vanished after writing`);
    return stored;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.client.send(new (sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    if (prefix !== '') checkKey(prefix);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new (sdk().ListObjectsV2Command)({
          Bucket: this.bucket,
          ContinuationToken: token,
          ...(prefix ? { Prefix: `${prefix}/` } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
