import type { Clock } from '../../core/clock.js';
import { baseError, errors } from '../../core/errors.js';
import type { UsersService } from '../users/service.js';
import type { RecipientSelector } from '../users/store.js';
import { type EventJson, formatEvent, formatStatus } from './format.js';
import { parseUniversal } from './payload.js';
import type { EventChanges, EventRow, PushStore } from './store.js';
import { checkSchedule, readEvent, readPeriod } from './validation.js';

/** Who asks: a user (their own events) or an API key without a user (all of the application's). */
export interface Caller {
  applicationId: number;
  userId: number | null;
}

export const RECIPIENT_BATCH = 500;

/**
 * The subscription channels an event of this push type reaches. A universal
 * push uses VoIP subscriptions only when it asks for ios_voip, so without it
 * a user with nothing but a VoIP subscription cannot receive it.
 */
export function channelsOf(pushType: string | null, message: string): string[] {
  if (pushType !== null) return [pushType];
  return parseUniversal(message).iosVoip ? ['apns', 'apns_voip', 'gcm'] : ['apns', 'gcm'];
}

export class EventsService {
  constructor(
    private readonly store: PushStore,
    private readonly users: UsersService,
    private readonly clock: Clock,
    /** Told when an event may be due now, so delivery need not wait for the next scheduler tick. */
    private readonly wake: () => void = () => {},
  ) {}

  async create(caller: Caller, raw: unknown): Promise<EventJson> {
    const now = this.clock.now();
    const input = readEvent(raw, now);
    if (
      !(await this.anyoneReachable(
        caller.applicationId,
        input.recipients,
        channelsOf(input.pushType, input.message),
        input.environment,
      ))
    ) {
      throw baseError(422, 'No one can receive the message');
    }
    const row = await this.store.insertEvent({
      application_id: caller.applicationId,
      user_id: caller.userId,
      notification_type: input.notificationType,
      push_type: input.pushType,
      environment: input.environment,
      event_type: input.eventType,
      message: input.message,
      name: input.name,
      active: 1,
      date: input.date,
      end_date: input.endDate,
      period: input.period,
      occured_count: 0,
      recipients: JSON.stringify(input.recipients),
      next_run_at: input.date ?? now,
      sent_count: 0,
      failed_count: 0,
      removed_count: 0,
      created_at: now,
      updated_at: now,
    });
    if ((row.next_run_at ?? Number.POSITIVE_INFINITY) <= now) this.wake();
    return formatEvent(row);
  }

  async list(caller: Caller, query: { page?: unknown; per_page?: unknown }) {
    const page = positive(query.page, 'page') ?? 1;
    const perPage = Math.min(positive(query.per_page, 'per_page') ?? 10, 100);
    const { rows, total } = await this.store.listEvents(caller.applicationId, caller.userId, (page - 1) * perPage, perPage);
    return {
      current_page: page,
      per_page: perPage,
      total_entries: total,
      items: rows.map((row) => ({ event: formatEvent(row) })),
    };
  }

  async get(caller: Caller, id: number): Promise<EventJson> {
    return formatEvent(await this.own(caller, id));
  }

  async status(caller: Caller, id: number) {
    return formatStatus(await this.own(caller, id));
  }

  /** PUT: active, message, date, period, name. Re-activating a delivered event delivers it once more. */
  async update(caller: Caller, id: number, raw: unknown): Promise<EventJson> {
    const row = await this.own(caller, id);
    const event = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
    const now = this.clock.now();
    const changes: EventChanges = { updated_at: now };
    if (event.message !== undefined) {
      const { message } = readEvent(
        {
          notification_type: row.notification_type,
          push_type: row.notification_type === 'push' ? row.push_type : undefined,
          environment: row.environment,
          message: event.message,
          user: { ids: '1' },
        },
        now,
      );
      changes.message = message;
    }
    if (event.name !== undefined)
      changes.name = event.name === null || event.name === '' ? null : String(event.name).slice(0, 1000);
    let date = row.date;
    let period = row.period;
    if (event.date !== undefined) {
      const seconds = Number(event.date);
      if (!/^\d{1,12}$/.test(String(event.date))) throw errors.validation('event.date', 'must be a unix time in seconds');
      date = seconds * 1000;
    }
    if (event.period !== undefined) period = readPeriod(event.period);
    if (event.date !== undefined || event.period !== undefined) {
      if (row.event_type === 'one_shot') throw errors.validation('event.event_type', 'one_shot takes no date or period');
      checkSchedule(row.event_type, date, row.end_date, period, now);
      changes.date = date;
      changes.period = period;
      changes.next_run_at = date;
    }
    let active = row.active === 1;
    if (event.active !== undefined) {
      const text = String(event.active);
      if (!['true', 'false', '1', '0'].includes(text)) throw errors.validation('event.active', 'must be true or false');
      active = text === 'true' || text === '1';
      changes.active = active ? 1 : 0;
      // A delivered event made active again goes out once more (now, or at its next date).
      if (active && row.active === 0 && changes.next_run_at === undefined) {
        changes.next_run_at = row.event_type === 'one_shot' || row.next_run_at === null ? now : row.next_run_at;
      }
    }
    const updated = await this.store.updateEvent(caller.applicationId, id, changes);
    if (!updated) throw errors.notFound();
    if (updated.active === 1 && (updated.next_run_at ?? Number.POSITIVE_INFINITY) <= now) this.wake();
    return formatEvent(updated);
  }

  async delete(caller: Caller, id: number): Promise<void> {
    await this.own(caller, id);
    if (!(await this.store.deleteEvent(caller.applicationId, id))) throw errors.notFound();
  }

  private async own(caller: Caller, id: number): Promise<EventRow> {
    const row = await this.store.event(caller.applicationId, id);
    if (!row || (caller.userId !== null && row.user_id !== caller.userId)) throw errors.notFound();
    return row;
  }

  /** True when at least one addressed user has a subscription the event can reach; stops at the first. */
  private async anyoneReachable(applicationId: number, selector: RecipientSelector, channels: string[], environment: string) {
    for (let after = 0; ; ) {
      const ids = await this.users.recipientIds(applicationId, selector, after, RECIPIENT_BATCH);
      if (ids.length === 0) return false;
      if ((await this.store.subscriptionsFor(applicationId, ids, channels, environment)).length > 0) return true;
      after = ids[ids.length - 1] as number;
    }
  }
}

function positive(value: unknown, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value);
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw errors.validation(field, 'must be a positive integer');
  return Number(text);
}
