import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange } from '../../adapters/blob-store/index.js';
import type { AuthContext } from '../../core/auth.js';
import { type Clock, isoSeconds } from '../../core/clock.js';
import { errors, fieldErrors } from '../../core/errors.js';
import type { ServiceLog } from '../../server.js';
import type { AppsService } from '../apps/service.js';
import type { UsersService } from '../users/service.js';
import { type BlobJson, formatBlob, uploadParams } from './format.js';
import type { BlobRow, ContentStore } from './store.js';

export interface BlobPage {
  current_page: number;
  per_page: number;
  total_entries: number;
  items: Array<{ blob: BlobJson }>;
}

/** What the collector reclaimed. */
export interface GcReport {
  /** Blobs created and never completed, now expired and deleted. */
  expired_blobs: number;
  /** Objects removed from the store: expired uploads and orphans. */
  deleted_objects: number;
  reclaimed_bytes: number;
}

/** A blob as a download sees it. */
export interface Download {
  row: BlobRow;
  key: string;
  /** The server's time (unix ms): a conditional date later than this is not valid. */
  now: number;
}

/** Store keys of the content module: `blobs/<application>/<32 hex>`, a new one for every upload. */
const KEY_PREFIX = 'blobs';
const OWN_KEY = /^blobs\/\d+\/[0-9a-f]{32}$/;
const CONTENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;.{0,200})?$/;
/** How long a download URL of a store that serves files itself stays valid. */
const DOWNLOAD_URL_SECONDS = 600;

interface BlobInput {
  name?: string;
  content_type?: string;
  public?: number;
  tag_list?: string | null;
  new?: boolean;
}

export class ContentService {
  constructor(
    private readonly store: ContentStore,
    readonly blobStore: BlobStore,
    private readonly apps: AppsService,
    private readonly users: UsersService,
    private readonly clock: Clock,
    private readonly uploadTtlSeconds: number,
    private readonly log: ServiceLog,
  ) {}

  /** POST /blobs.json: the record and a signed upload form for its bytes. */
  async create(auth: AuthContext, raw: unknown, origin: string): Promise<BlobJson> {
    const input = readInput(raw);
    const problems: Record<string, string[]> = {};
    if (!input.name) problems.name = ["can't be blank"];
    if (Object.keys(problems).length > 0) throw fieldErrors(422, problems);
    const upload = await this.planUpload(auth.applicationId);
    const now = this.clock.now();
    const row = await this.store.insert({
      application_id: auth.applicationId,
      user_id: auth.userId,
      uid: newUid(),
      name: input.name as string,
      content_type: input.content_type ?? 'application/octet-stream',
      public: input.public ?? 0,
      tag_list: input.tag_list ?? null,
      size: null,
      blob_status: null,
      store_key: null,
      pending_key: upload.key,
      pending_expires_at: upload.expiresAt,
      created_at: now,
      updated_at: now,
      set_completed_at: null,
    });
    return this.withUpload(row, upload.maxBytes, origin);
  }

  /** PUT /blobs/{id}/complete.json: the upload is there, so the blob is complete; the store's size wins over the client's. */
  async complete(auth: AuthContext, id: number): Promise<void> {
    const row = await this.owned(auth, id);
    if (row.pending_key === null) {
      if (row.blob_status === 'complete') return;
      throw errors.unprocessable('The upload of this blob has expired; update it with blob[new]=1 for a new one');
    }
    const stat = await this.blobStore.stat(row.pending_key);
    if (!stat) throw errors.validation('blob', 'has no uploaded file yet');
    const settings = (await this.apps.requireApplication(auth.applicationId)).settings;
    // Stores that do not enforce the policy's size range (some S3-compatible ones) are checked here.
    if (stat.size > settings.blob_max_size) {
      await this.dropPending(auth.applicationId, row);
      throw errors.validation('size', `is too large (maximum is ${settings.blob_max_size} bytes)`);
    }
    const result = await this.store.completeUpload(
      auth.applicationId,
      id,
      row.pending_key,
      stat.size,
      settings.blob_storage_limit,
      this.clock.now(),
    );
    if (result === 'gone') throw errors.notFound();
    if (result === 'over-limit') {
      await this.dropPending(auth.applicationId, row);
      throw errors.unprocessable('The application has used up its blob storage');
    }
    if (result.replacedKey) await this.removeBytes(result.replacedKey);
  }

  /** GET /blobs.json: the caller's own blobs; a server API key without a user sees the application's. */
  async list(auth: AuthContext, query: { page?: unknown; per_page?: unknown }): Promise<BlobPage> {
    const page = positive(query.page, 'page') ?? 1;
    const limit = Math.min(positive(query.per_page, 'per_page') ?? 10, 100);
    const owner = auth.userId ?? (auth.via === 'apikey' ? undefined : null);
    const { rows, total } = await this.store.page(auth.applicationId, owner, (page - 1) * limit, limit);
    return { current_page: page, per_page: limit, total_entries: total, items: rows.map((row) => ({ blob: formatBlob(row) })) };
  }

  /** GET /blobs/{id}.json */
  async get(auth: AuthContext, id: number): Promise<BlobJson> {
    const row = await this.store.byId(auth.applicationId, id);
    if (!row) throw errors.notFound();
    await this.mustRead(row, auth);
    return formatBlob(row);
  }

  /** PUT /blobs/{id}.json (and the SDK's GET with blob[...]): name, content type, public, tags; blob[new]=1 hands out a new upload. */
  async update(auth: AuthContext, id: number, raw: unknown, origin: string): Promise<BlobJson> {
    const current = await this.owned(auth, id);
    const input = readInput(raw);
    if (input.name === '') throw errors.validation('name', "can't be blank");
    const now = this.clock.now();
    const upload = input.new ? await this.planUpload(auth.applicationId) : null;
    const row = await this.store.update(auth.applicationId, id, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.content_type !== undefined ? { content_type: input.content_type } : {}),
      ...(input.public !== undefined ? { public: input.public } : {}),
      ...(input.tag_list !== undefined ? { tag_list: input.tag_list } : {}),
      ...(upload ? { pending_key: upload.key, pending_expires_at: upload.expiresAt } : {}),
      updated_at: now,
    });
    if (!row) throw errors.notFound();
    // A new upload replaces one still pending: its bytes are of no use.
    if (upload && current.pending_key) await this.removeBytes(current.pending_key);
    return upload ? this.withUpload(row, upload.maxBytes, origin) : formatBlob(row);
  }

  /** DELETE /blobs/{id}.json: the record, any avatar pointing at it, then the bytes. */
  async delete(auth: AuthContext, id: number): Promise<void> {
    await this.owned(auth, id);
    const row = await this.store.delete(auth.applicationId, id);
    if (!row) throw errors.notFound();
    await this.users.clearBlob(auth.applicationId, id);
    for (const key of [row.store_key, row.pending_key]) if (key) await this.removeBytes(key);
  }

  /**
   * GET /blobs/{uid}: a public blob for anyone; a private one for a session
   * of its application (only its owner under blob_private_owner_only).
   * `caller` is null when no credentials came; `authenticate` asks for them.
   */
  async download(uid: string, caller: () => Promise<AuthContext | null>): Promise<Download> {
    const row = /^[0-9a-zA-Z]{1,64}$/.test(uid) ? await this.store.byUid(uid) : undefined;
    if (row?.blob_status !== 'complete' || row.store_key === null) throw errors.notFound();
    if (row.public !== 1) {
      const auth = await caller();
      if (!auth) throw errors.noSession();
      if (auth.applicationId !== row.application_id) throw errors.notFound();
      await this.mustRead(row, auth);
    }
    return { row, key: row.store_key, now: this.clock.now() };
  }

  /** Where a client fetches the bytes from directly, or null when this server streams them. */
  downloadUrl(download: Download): Promise<string | null> {
    return this.blobStore.downloadUrl(download.key, {
      expiresInSeconds: DOWNLOAD_URL_SECONDS,
      contentType: download.row.content_type,
      fileName: download.row.name,
    });
  }

  openRead(download: Download, range?: ByteRange): Promise<Readable | null> {
    return this.blobStore.openRead(download.key, range);
  }

  /**
   * Removes uploads that expired uncompleted (and blobs that never got
   * bytes), then objects under the content prefix that no blob refers to and
   * that are older than an upload's lifetime (left by a crash or a failed delete).
   */
  async collectGarbage(): Promise<GcReport> {
    const now = this.clock.now();
    const report: GcReport = { expired_blobs: 0, deleted_objects: 0, reclaimed_bytes: 0 };
    const expired = await this.store.expireUploads(now);
    report.expired_blobs = expired.blobsDeleted;
    for (const key of expired.keys) {
      const stat = await this.blobStore.stat(key);
      if (!stat) continue;
      await this.blobStore.delete(key);
      report.deleted_objects++;
      report.reclaimed_bytes += stat.size;
    }
    const settled = now - this.uploadTtlSeconds * 1000;
    let batch: Array<{ key: string; size: number }> = [];
    const sweep = async () => {
      const referenced = await this.store.referenced(batch.map((o) => o.key));
      for (const object of batch) {
        if (referenced.has(object.key)) continue;
        await this.blobStore.delete(object.key);
        report.deleted_objects++;
        report.reclaimed_bytes += object.size;
      }
      batch = [];
    };
    for await (const object of this.blobStore.list(KEY_PREFIX)) {
      if (!OWN_KEY.test(object.key) || object.modifiedAt > settled) continue;
      batch.push(object);
      if (batch.length >= 500) await sweep();
    }
    if (batch.length > 0) await sweep();
    return report;
  }

  private async planUpload(applicationId: number) {
    const settings = (await this.apps.requireApplication(applicationId)).settings;
    let maxBytes = settings.blob_max_size;
    if (settings.blob_storage_limit !== null) {
      const left = settings.blob_storage_limit - (await this.store.usedBytes(applicationId));
      if (left <= 0) throw errors.unprocessable('The application has used up its blob storage');
      maxBytes = Math.min(maxBytes, left);
    }
    return {
      key: `${KEY_PREFIX}/${applicationId}/${randomBytes(16).toString('hex')}`,
      maxBytes,
      expiresAt: this.clock.now() + this.uploadTtlSeconds * 1000,
    };
  }

  private async withUpload(row: BlobRow, maxBytes: number, origin: string): Promise<BlobJson> {
    const key = row.pending_key as string;
    const form = await this.blobStore.createUpload({
      key,
      contentType: row.content_type,
      minBytes: 0,
      maxBytes,
      expiresInSeconds: this.uploadTtlSeconds,
      origin,
    });
    return {
      ...formatBlob(row),
      blob_object_access: {
        id: row.id,
        blob_id: row.id,
        expires: isoSeconds(row.pending_expires_at ?? this.clock.now()),
        object_access_type: 'Write',
        params: uploadParams(form.url, form.fields),
      },
    };
  }

  /** The blob, if the caller may change it: its owner, or a server API key. */
  private async owned(auth: AuthContext, id: number): Promise<BlobRow> {
    const row = await this.store.byId(auth.applicationId, id);
    if (!row) throw errors.notFound();
    if (auth.via !== 'apikey' && row.user_id !== auth.userId) throw errors.forbidden('You can change only your own blobs');
    return row;
  }

  private async mustRead(row: BlobRow, auth: AuthContext): Promise<void> {
    if (row.public === 1 || auth.via === 'apikey' || row.user_id === auth.userId) return;
    const settings = (await this.apps.requireApplication(row.application_id)).settings;
    if (settings.blob_private_owner_only) throw errors.forbidden('This blob is private');
  }

  private async dropPending(applicationId: number, row: BlobRow): Promise<void> {
    await this.store.update(applicationId, row.id, { pending_key: null, pending_expires_at: null });
    if (row.pending_key) await this.removeBytes(row.pending_key);
    // A blob that never had bytes has nothing left to offer.
    if (row.blob_status !== 'complete') await this.store.delete(applicationId, row.id);
  }

  /** Deletes bytes no record refers to any more; a failure is left to the collector. */
  private async removeBytes(key: string): Promise<void> {
    try {
      await this.blobStore.delete(key);
    } catch (error) {
      this.log.warn({ err: error, key }, 'blob bytes not deleted; the next blob gc will');
    }
  }
}

/** 32 hex digits and "00", as QuickBlox's uids look; never all digits, so never mistaken for an id. */
function newUid(): string {
  for (;;) {
    const uid = `${randomBytes(16).toString('hex')}00`;
    if (/[a-f]/.test(uid)) return uid;
  }
}

function readInput(raw: unknown): BlobInput {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.validation('blob', 'must be an object of blob fields');
  const input = raw as Record<string, unknown>;
  const out: BlobInput = {};
  const text = (field: string, max: number): string | undefined => {
    const value = input[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' && typeof value !== 'number') throw errors.validation(field, 'must be a string');
    const trimmed = String(value).trim();
    if (trimmed.length > max) throw errors.validation(field, `is too long (maximum is ${max} characters)`);
    return trimmed;
  };
  out.name = text('name', 255);
  const contentType = text('content_type', 255);
  if (contentType !== undefined && contentType !== '') {
    if (!CONTENT_TYPE.test(contentType) || /[\r\n]/.test(contentType))
      throw errors.validation('content_type', 'is not a MIME type');
    out.content_type = contentType;
  }
  if (input.public !== undefined) out.public = truthy(input.public, 'public') ? 1 : 0;
  const tags = text('tag_list', 1000);
  if (tags !== undefined) out.tag_list = tags === '' ? null : tags;
  if (input.new !== undefined) out.new = truthy(input.new, 'new');
  return out;
}

function truthy(value: unknown, field: string): boolean {
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['1', 'true', 'yes'].includes(v)) return true;
    if (['0', 'false', 'no', ''].includes(v)) return false;
  }
  throw errors.validation(field, 'must be true or false');
}

function positive(value: unknown, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw errors.validation(field, 'must be a positive integer');
  return Number(text);
}
