import type { Readable } from 'node:stream';

/** An S3-style browser form upload: POST multipart to `url` with `fields`, then the file as the part named `file`. */
export interface UploadForm {
  url: string;
  /** Form fields in the order they are sent, all before the file. */
  fields: Record<string, string>;
}

export interface UploadRequest {
  /** The object's key: letters, digits, `_`, `-`, `.` in `/`-separated segments. */
  key: string;
  contentType: string;
  minBytes: number;
  maxBytes: number;
  expiresInSeconds: number;
  /** The origin the client reached Switchboard at (`https://host:port`); a store that uploads through Switchboard builds its URL on it. */
  origin: string;
}

export interface BlobStat {
  size: number;
  /** The store's entity tag, with its quotes. */
  etag: string;
}

/** Inclusive byte positions, as in a Range header. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StoredObject {
  key: string;
  size: number;
  /** Last change, unix milliseconds. */
  modifiedAt: number;
}

export interface DownloadOptions {
  expiresInSeconds: number;
  contentType: string;
  fileName: string;
}

/**
 * Where blob bytes live. Clients write through upload forms that carry a
 * signed policy (exact key, size range, content type, expiry); the server
 * writes with put(). Objects are immutable: a new version is a new key.
 */
export interface BlobStore {
  readonly kind: 'local' | 's3';
  createUpload(request: UploadRequest): Promise<UploadForm>;
  /** Size and entity tag, or null when there is no such object. */
  stat(key: string): Promise<BlobStat | null>;
  /** The bytes (or a range of them), or null when there is no such object. */
  openRead(key: string, range?: ByteRange): Promise<Readable | null>;
  /** A URL the client may fetch the object from directly, or null when Switchboard serves the bytes itself. */
  downloadUrl(key: string, options: DownloadOptions): Promise<string | null>;
  /** Writes an object from a stream; rejects (writing nothing) when it exceeds maxBytes. */
  put(key: string, body: Readable, options: { contentType: string; maxBytes: number }): Promise<BlobStat>;
  /** Deletes an object; no error when it is already gone. */
  delete(key: string): Promise<void>;
  /** Every object under a folder-like prefix (`a/b` lists `a/b/...`; none: all), for garbage collection. */
  list(prefix?: string): AsyncIterable<StoredObject>;
  close(): Promise<void>;
}

/** A store refused an upload: `code` is S3's error code, `status` the HTTP status S3 answers with. */
export class UploadRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Keys are paths inside the store: no empty, dot-only or odd segments. */
export const KEY_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}(\/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}){0,7}$/;

export function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
}
