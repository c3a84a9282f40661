import { errors } from '../../core/errors.js';

/**
 * QuickBlox's message formats (7_Push_Notifications_API2.md):
 *   universal      base64 of text, or of a JSON object of standard and custom parameters
 *   apns           payload=<base64 of the APNs JSON>
 *   gcm            data.key1=<base64 of CGI-escaped value>&data.key2=...
 *   email          base64 of the text
 */

/** Ruby's CGI.escape, which QuickBlox applies before base64: unreserved stay, space is +. */
export function cgiEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

export function cgiUnescape(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** Strict base64 (whitespace allowed between characters); null when it is not. */
export function decodeBase64(text: string): Buffer | null {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return null;
  return Buffer.from(compact, 'base64');
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * The message as QuickBlox stores it for an event of this kind. A platform
 * push given as plain base64 text is turned into that platform's format (the
 * SDK's gcm example: aGVsbG8gUXVpY2tCbG94IQ== → data.message=aGVsbG8rUXVpY2tCbG94JTIx).
 * Throws a 422 on anything malformed.
 */
export function storedMessage(pushType: string | null, message: string): string {
  const bad = (why: string) => errors.validation('event.message', why);
  if (pushType === 'gcm') {
    if (message.startsWith('data.')) {
      parseGcmMessage(message);
      return message;
    }
    const text = decodeBase64(message);
    if (!text) throw bad('must be base64 text or data.key=value pairs');
    return `data.message=${b64(cgiEscape(text.toString('utf8')))}`;
  }
  if (pushType === 'apns' || pushType === 'apns_voip') {
    if (message.startsWith('payload=')) {
      parseApnsMessage(message);
      return message;
    }
    const text = decodeBase64(message);
    if (!text) throw bad('must be base64 text or payload=<base64 JSON>');
    return `payload=${b64(JSON.stringify({ aps: { alert: text.toString('utf8') } }))}`;
  }
  if (!decodeBase64(message)) throw bad('must be base64 encoded');
  return message;
}

/** `payload=<base64 JSON object>` → the APNs payload. */
export function parseApnsMessage(message: string): Record<string, unknown> {
  const raw = decodeBase64(cgiUnescape(message.slice('payload='.length)));
  let payload: unknown;
  try {
    payload = raw ? JSON.parse(raw.toString('utf8')) : null;
  } catch {
    payload = null;
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw errors.validation('event.message', 'payload= must be base64 of a JSON object');
  }
  return payload as Record<string, unknown>;
}

/** `data.k=<base64 CGI-escaped>&...` → FCM data (string values); `&` inside pairs arrives as %26. */
export function parseGcmMessage(message: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const pair of message.split('&')) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at) : '';
    if (!/^data\.[A-Za-z0-9_.-]+$/.test(key)) throw errors.validation('event.message', 'must be data.key=value pairs');
    const value = decodeBase64(uriDecode(pair.slice(at + 1)));
    if (!value) throw errors.validation('event.message', `${key} must be base64 encoded`);
    data[key.slice(5)] = cgiUnescape(value.toString('utf8'));
  }
  if (!('message' in data)) throw errors.validation('event.message', 'data.message is required');
  return data;
}

/** decodeURIComponent without the URIError a stray % would raise (a 422 then, not a 500). */
function uriDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return '\0';
  }
}

/** A universal message: text, or standard parameters plus custom ones. */
export interface UniversalMessage {
  message: string;
  iosBadge?: number;
  iosSound?: string;
  iosContentAvailable: boolean;
  iosMutableContent: boolean;
  iosCategory?: string;
  iosVoip: boolean;
  custom: Record<string, unknown>;
}

export function parseUniversal(message: string): UniversalMessage {
  const text = decodeBase64(message)?.toString('utf8') ?? '';
  let parsed: unknown;
  try {
    parsed = text.trimStart().startsWith('{') ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { message: text, iosContentAvailable: false, iosMutableContent: false, iosVoip: false, custom: {} };
  }
  const {
    message: body,
    ios_badge,
    ios_sound,
    ios_content_available,
    ios_mutable_content,
    ios_category,
    ios_voip,
    ...custom
  } = parsed as Record<string, unknown>;
  const isOn = (value: unknown) => value === 1 || value === '1' || value === true || value === 'true';
  return {
    message: body === undefined || body === null ? '' : String(body),
    ...(ios_badge !== undefined && Number.isFinite(Number(ios_badge)) ? { iosBadge: Number(ios_badge) } : {}),
    ...(typeof ios_sound === 'string' ? { iosSound: ios_sound } : {}),
    iosContentAvailable: isOn(ios_content_available),
    iosMutableContent: isOn(ios_mutable_content),
    ...(typeof ios_category === 'string' ? { iosCategory: ios_category } : {}),
    iosVoip: isOn(ios_voip),
    custom,
  };
}

/** A universal message as an APNs payload: standard keys under aps, custom keys at the root. */
export function universalToApns(universal: UniversalMessage): Record<string, unknown> {
  const aps: Record<string, unknown> = {};
  if (universal.message !== '') aps.alert = { body: universal.message };
  if (universal.iosBadge !== undefined) aps.badge = universal.iosBadge;
  if (universal.iosSound !== undefined) aps.sound = universal.iosSound;
  if (universal.iosContentAvailable) aps['content-available'] = 1;
  if (universal.iosMutableContent) aps['mutable-content'] = 1;
  if (universal.iosCategory !== undefined) aps.category = universal.iosCategory;
  return { ...universal.custom, aps };
}

/** A universal message as FCM data: message plus custom keys, all strings; ios_* keys dropped. */
export function universalToFcm(universal: UniversalMessage): Record<string, string> {
  const data: Record<string, string> = { message: universal.message };
  for (const [key, value] of Object.entries(universal.custom)) {
    data[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return data;
}

/** What APNs calls the push: background when it only wakes the app. */
export function apnsPushType(payload: Record<string, unknown>): 'alert' | 'background' {
  const aps = (payload.aps ?? {}) as Record<string, unknown>;
  const silent = aps['content-available'] === 1 && aps.alert === undefined && aps.badge === undefined && aps.sound === undefined;
  return silent ? 'background' : 'alert';
}
