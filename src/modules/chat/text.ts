import { errors } from '../../core/errors.js';

/**
 * Characters XML 1.0 cannot carry (control characters, lone surrogates,
 * U+FFFE/U+FFFF). A message holding one breaks every XMPP client that
 * receives it, so they are removed before anything is stored.
 */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlSafe(text: string): string {
  return text.replace(NOT_XML, '');
}

/** A text parameter made XML-safe; 422 naming the field when it is not text or too long. */
export function readText(field: string, value: unknown, max: number): string {
  if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
  if (typeof value !== 'string') throw errors.validation(field, 'must be text');
  if (value.length > max) throw errors.validation(field, `is too long (at most ${max} characters)`);
  return xmlSafe(value);
}

/** A user id as clients send it: a number or its digits. */
export function readUserId(field: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw errors.validation(field, `"${String(value).slice(0, 32)}" is not a user id`);
  return n;
}

/** A list of user ids: an array, or a comma string with spaces ("1, 2") as the SDK sends it. */
export function readUserIds(field: string, value: unknown, max: number): number[] {
  const list = Array.isArray(value)
    ? value.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]))
    : typeof value === 'string'
      ? value.split(',')
      : typeof value === 'number'
        ? [value]
        : null;
  if (!list) throw errors.validation(field, 'must be a list of user ids');
  const ids = list.filter((v) => !(typeof v === 'string' && v.trim() === '')).map((v) => readUserId(field, v));
  const unique = [...new Set(ids)];
  if (unique.length > max) throw errors.validation(field, `has more than ${max} users`);
  return unique;
}

export const OBJECT_ID = /^[0-9a-f]{24}$/;

/** A comma list of 24-hex ids (dialogs, messages). */
export function readObjectIds(field: string, value: unknown, max: number): string[] {
  const list = Array.isArray(value)
    ? value.flatMap((v) => String(v).split(','))
    : typeof value === 'string'
      ? value.split(',')
      : null;
  if (!list) throw errors.validation(field, 'must be a list of ids');
  const ids = list.map((v) => v.trim()).filter((v) => v !== '');
  for (const id of ids) if (!OBJECT_ID.test(id)) throw errors.validation(field, `"${id.slice(0, 32)}" is not an id`);
  const unique = [...new Set(ids)];
  if (unique.length > max) throw errors.validation(field, `has more than ${max} ids`);
  return unique;
}

/** 1/0, "1"/"0", true/false. */
export function readFlag(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 'true';
}
