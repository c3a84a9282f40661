import { errors } from '../../core/errors.js';
import type { RecipientSelector } from '../users/store.js';
import { storedMessage } from './payload.js';

export const CHANNELS = ['apns', 'apns_voip', 'gcm', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];
const UNSUPPORTED_CHANNELS = ['mpns', 'bbps'];
export const PLATFORMS = ['ios', 'android'] as const;
const ENVIRONMENTS = ['development', 'production'];
/** The periods QuickBlox documents: a day, a week, a month (30 days), a year. */
export const PERIODS = [86400, 604800, 2592000, 31557600];
const TEXT_MAX = 1000;
const MESSAGE_MAX = 64 * 1024;
const RECIPIENTS_MAX = 10_000;

export interface SubscriptionInput {
  channels: Channel[];
  platform: string;
  udid: string;
  environment: string;
  bundleIdentifier: string;
  token: string;
}

type Params = Record<string, unknown>;

const obj = (value: unknown): Params =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Params) : {};

function text(value: unknown, field: string, required: boolean): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (required) throw errors.validation(field, "can't be blank");
    return undefined;
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw errors.validation(field, 'must be a string');
  const out = String(value).trim();
  if (out.length > TEXT_MAX) throw errors.validation(field, `is too long (maximum is ${TEXT_MAX} characters)`);
  if (required && out === '') throw errors.validation(field, "can't be blank");
  return out;
}

/** A list given as "a,b", ["a","b"] or a single value. */
function list(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  return items
    .flatMap((item) => (typeof item === 'string' || typeof item === 'number' ? String(item).split(',') : ['\0']))
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function channelOf(name: string, field: string): Channel {
  if ((CHANNELS as readonly string[]).includes(name)) return name as Channel;
  if (UNSUPPORTED_CHANNELS.includes(name)) throw errors.validation(field, `${name} is not supported`);
  throw errors.validation(field, `must be one of ${CHANNELS.join(', ')}`);
}

/** POST /subscriptions.json: notification_channel (or the plural some SDK code sends), push_token[...], device[...]. */
export function readSubscription(params: Params): SubscriptionInput {
  const singular = list(params.notification_channel);
  const names = singular.length > 0 ? singular : list(params.notification_channels);
  if (names.length === 0) throw errors.validation('notification_channel', "can't be blank");
  const channels = [...new Set(names.map((name) => channelOf(name, 'notification_channel')))];
  const device = obj(params.device);
  const pushToken = obj(params.push_token);
  const platform = text(device.platform, 'device.platform', true) as string;
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    throw errors.validation('device.platform', `must be one of ${PLATFORMS.join(', ')}`);
  }
  const udid = text(device.udid, 'device.udid', true) as string;
  const environment =
    text(pushToken.environment, 'push_token.environment', !channels.every((c) => c === 'email')) ?? 'production';
  if (!ENVIRONMENTS.includes(environment)) throw errors.validation('push_token.environment', 'must be development or production');
  const onlyEmail = channels.every((c) => c === 'email');
  const token = text(pushToken.client_identification_sequence, 'push_token.client_identification_sequence', !onlyEmail) ?? '';
  if (channels.some((c) => c === 'apns' || c === 'apns_voip') && !/^[0-9a-fA-F]{16,200}$/.test(token.replace(/[\s<>]/g, ''))) {
    throw errors.validation('push_token.client_identification_sequence', 'must be the hex device token APNs issued');
  }
  return {
    channels,
    platform,
    udid,
    environment,
    bundleIdentifier: text(pushToken.bundle_identifier, 'push_token.bundle_identifier', false) ?? '',
    // APNs tokens are sometimes sent as "<abcd ef01>" (NSData's description).
    token: channels.some((c) => c === 'apns' || c === 'apns_voip') ? token.replace(/[\s<>]/g, '').toLowerCase() : token,
  };
}

export interface EventInput {
  notificationType: 'push' | 'email';
  pushType: Channel | null;
  environment: string;
  eventType: 'one_shot' | 'fixed_date' | 'period_date';
  message: string;
  name: string | null;
  date: number | null;
  endDate: number | null;
  period: number | null;
  recipients: RecipientSelector;
}

/** Unix seconds (QuickBlox) or a date string, as milliseconds. */
function dateOf(value: unknown, field: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{1,12}$/.test(value.trim()))) {
    return Number(value) * 1000;
  }
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  throw errors.validation(field, 'must be a unix time in seconds');
}

function ids(value: unknown, field: string): number[] {
  const items = list(value);
  if (items.some((item) => !/^\d{1,15}$/.test(item))) throw errors.validation(field, 'must be a comma-separated list of ids');
  if (items.length > RECIPIENTS_MAX) throw errors.validation(field, `at most ${RECIPIENTS_MAX} ids`);
  return [...new Set(items.map(Number))];
}

function tags(value: unknown, field: string): string[] {
  const items = list(value);
  if (items.some((item) => item.length > 64 || item === '\0'))
    throw errors.validation(field, 'must be a comma-separated list of tags');
  if (items.length > 100) throw errors.validation(field, 'at most 100 tags');
  return [...new Set(items)];
}

/** POST /events.json's `event`, checked whole before anything is written. */
export function readEvent(raw: unknown, now: number): EventInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw errors.validation('event', "can't be blank");
  const event = raw as Params;
  const notificationType = text(event.notification_type, 'event.notification_type', true);
  if (notificationType !== 'push' && notificationType !== 'email') {
    throw errors.validation('event.notification_type', 'must be push or email');
  }
  let pushType: Channel | null = null;
  if (notificationType === 'email') pushType = 'email';
  else {
    const name = text(event.push_type, 'event.push_type', false);
    if (name !== undefined) {
      pushType = channelOf(name, 'event.push_type');
      if (pushType === 'email') throw errors.validation('event.push_type', 'must be apns, apns_voip or gcm');
    }
  }
  const environment = text(event.environment, 'event.environment', notificationType === 'push') ?? 'production';
  if (!ENVIRONMENTS.includes(environment)) throw errors.validation('event.environment', 'must be development or production');
  const message = text(event.message, 'event.message', true) as string;
  if (message.length > MESSAGE_MAX) throw errors.validation('event.message', 'is too long');
  const date = dateOf(event.date, 'event.date');
  const endDate = dateOf(event.end_date, 'event.end_date');
  const period = readPeriod(event.period);
  const eventType =
    text(event.event_type, 'event.event_type', false) ?? (period ? 'period_date' : date ? 'fixed_date' : 'one_shot');
  if (eventType !== 'one_shot' && eventType !== 'fixed_date' && eventType !== 'period_date') {
    throw errors.validation('event.event_type', 'must be one_shot, fixed_date or period_date');
  }
  checkSchedule(eventType, date, endDate, period, now);
  const user = obj(event.user);
  const userTags = obj(user.tags);
  const recipients: RecipientSelector = {
    userIds: ids(user.ids, 'event.user.ids'),
    externalIds: ids(obj(event.external_user).ids, 'event.external_user.ids'),
    tagsAny: tags(userTags.any, 'event.user.tags.any'),
    tagsAll: tags(userTags.all, 'event.user.tags.all'),
    tagsExclude: tags(userTags.exclude, 'event.user.tags.exclude'),
  };
  if (Object.values(recipients).every((v) => v.length === 0)) {
    throw errors.validation('event.user', 'name recipients: user[ids], external_user[ids] or user[tags]');
  }
  return {
    notificationType,
    pushType,
    environment,
    eventType,
    message: storedMessage(notificationType === 'email' ? null : pushType, message),
    name: text(event.name, 'event.name', false) ?? null,
    date,
    endDate,
    period,
    recipients,
  };
}

export function readPeriod(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  const n = Number(value);
  if (!PERIODS.includes(n)) throw errors.validation('event.period', `must be one of ${PERIODS.join(', ')} seconds`);
  return n;
}

export function checkSchedule(
  eventType: string,
  date: number | null,
  endDate: number | null,
  period: number | null,
  now: number,
): void {
  if (eventType === 'one_shot' && (date !== null || period !== null)) {
    throw errors.validation('event.event_type', 'one_shot takes no date or period');
  }
  if (eventType === 'fixed_date') {
    if (date === null) throw errors.validation('event.date', "can't be blank for fixed_date");
    // A second's grace: the client's "now" was a moment ago.
    if (date < now - 1000) throw errors.validation('event.date', "can't be in the past");
    if (period !== null) throw errors.validation('event.period', 'is only for period_date');
  }
  if (eventType === 'period_date') {
    if (date === null) throw errors.validation('event.date', "can't be blank for period_date");
    if (period === null) throw errors.validation('event.period', "can't be blank for period_date");
  }
  if (endDate !== null && (date === null || endDate < date))
    throw errors.validation('event.end_date', "can't be before the date");
}
