import { isoSeconds } from '../../core/clock.js';
import type { UserRow } from './store.js';

/** The user object as QuickBlox returns it and the SDK reads it. */
export function formatUser(row: UserRow) {
  return {
    id: row.id,
    full_name: row.full_name,
    email: row.email,
    login: row.login,
    phone: row.phone,
    website: row.website,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
    last_request_at: row.last_request_at === null ? null : isoSeconds(row.last_request_at),
    external_user_id: row.external_user_id,
    facebook_id: row.facebook_id,
    twitter_id: row.twitter_id,
    twitter_digits_id: row.twitter_digits_id,
    blob_id: row.blob_id,
    custom_data: row.custom_data,
    age_over16: false,
    allow_statistics_analysis: false,
    allow_sales_activities: false,
    parents_contacts: '',
    user_tags: row.user_tags,
  };
}

export type UserJson = ReturnType<typeof formatUser>;
