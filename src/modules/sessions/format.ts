import { isoSeconds } from '../../core/clock.js';
import type { SessionRow } from './store.js';

/** The session object the SDK stores: {id, application_id, user_id, token, _id, nonce, ts, created_at, updated_at}. */
export function formatSession(row: SessionRow, token: string) {
  return {
    id: row.id,
    _id: row.public_id,
    application_id: row.application_id,
    // QuickBlox answers 0, not null, for an application session.
    user_id: row.user_id ?? 0,
    token,
    nonce: row.nonce,
    ts: row.ts,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  };
}
