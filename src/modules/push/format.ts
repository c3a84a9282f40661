import { isoSeconds } from '../../core/clock.js';
import type { RecipientSelector } from '../users/store.js';
import type { EventRow, SubscriptionRow } from './store.js';

/** {"subscription":{id, notification_channel:{name}, device:{udid, platform:{name}}}} */
export function formatSubscription(row: SubscriptionRow) {
  return {
    subscription: {
      id: row.id,
      notification_channel: { name: row.channel },
      device: { udid: row.udid, platform: { name: row.platform } },
    },
  };
}

export function formatEvent(row: EventRow) {
  const recipients = JSON.parse(row.recipients) as RecipientSelector;
  const selector: Record<string, unknown> = { environment: row.environment };
  if (recipients.userIds.length > 0) selector.user_ids = recipients.userIds;
  if (recipients.externalIds.length > 0) selector.external_user_ids = recipients.externalIds;
  const tags: Record<string, string[]> = {};
  if (recipients.tagsAny.length > 0) tags.any = recipients.tagsAny;
  if (recipients.tagsAll.length > 0) tags.all = recipients.tagsAll;
  if (recipients.tagsExclude.length > 0) tags.exclude = recipients.tagsExclude;
  if (Object.keys(tags).length > 0) selector.tags = tags;
  return {
    id: row.id,
    event_type: row.event_type,
    message: row.message,
    active: row.active === 1,
    user_id: row.user_id,
    name: row.name,
    date: row.date === null ? null : isoSeconds(row.date),
    end_date: row.end_date === null ? null : isoSeconds(row.end_date),
    period: row.period,
    occured_count: row.occured_count,
    notification_channel: { name: row.push_type ?? 'universal' },
    environment: row.environment,
    subscribers_selector: selector,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  };
}

export type EventJson = ReturnType<typeof formatEvent>;

/** GET /events/{id}/status.json: the event's schedule state and its delivery counters. */
export function formatStatus(row: EventRow) {
  return {
    event: {
      ...formatEvent(row),
      sent_count: row.sent_count,
      failed_count: row.failed_count,
      removed_count: row.removed_count,
    },
  };
}
