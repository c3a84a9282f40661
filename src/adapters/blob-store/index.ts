import type { Config } from '../../config.js';
import type { Clock } from '../../core/clock.js';
import { LocalBlobStore } from './local.js';
import { S3BlobStore } from './s3.js';
import type { BlobStore } from './types.js';

export { LocalBlobStore, UPLOAD_PATH } from './local.js';
export { S3BlobStore } from './s3.js';
export type { BlobStat, BlobStore, ByteRange, StoredObject, UploadForm, UploadRequest } from './types.js';
export { UploadRefused } from './types.js';

/** A local folder by default; an S3-compatible bucket when BLOB_STORE is an s3:// URL. */
export function createBlobStore(config: Pick<Config, 'blobStore'>, clock: Clock): BlobStore {
  if (config.blobStore.kind === 's3') return new S3BlobStore(config.blobStore);
  return new LocalBlobStore(config.blobStore.dir, clock);
}
