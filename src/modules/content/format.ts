import { isoSeconds } from '../../core/clock.js';
import type { BlobRow } from './store.js';

export interface BlobJson {
  id: number;
  uid: string;
  name: string;
  content_type: string;
  public: boolean;
  size: number | null;
  blob_status: string | null;
  tag_list: string | null;
  created_at: string;
  updated_at: string;
  set_completed_at: string | null;
  last_read_access_ts: string | null;
  blob_object_access?: BlobObjectAccessJson;
}

export interface BlobObjectAccessJson {
  id: number;
  blob_id: number;
  expires: string;
  object_access_type: 'Write';
  /** The upload URL with its form fields as the query string: the SDK posts each as a form field. */
  params: string;
}

export function formatBlob(row: BlobRow): BlobJson {
  return {
    id: row.id,
    uid: row.uid,
    name: row.name,
    content_type: row.content_type,
    public: row.public === 1,
    size: row.size,
    blob_status: row.blob_status,
    tag_list: row.tag_list,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
    set_completed_at: row.set_completed_at === null ? null : isoSeconds(row.set_completed_at),
    last_read_access_ts: null,
  };
}

/**
 * `https://host/path?Content-Type=image%2Fpng&key=...`: keys as they are (the
 * SDK does not decode them), values with encodeURIComponent (the SDK decodes
 * them with decodeURIComponent, which leaves a `+` alone).
 */
export function uploadParams(url: string, fields: Record<string, string>): string {
  const query = Object.entries(fields)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&');
  return `${url}?${query}`;
}
