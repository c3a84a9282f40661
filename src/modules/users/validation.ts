import { fieldErrors } from '../../core/errors.js';
import type { UserChanges } from './store.js';

/** Limits, with QuickBlox's where it documents them. */
export const LIMITS = {
  loginMax: 50,
  passwordMin: 8,
  passwordMax: 128,
  text: 255,
  externalId: 64,
  tags: 5,
  tagLength: 64,
  customData: 64 * 1024,
};

/** The writable user fields as they arrive in `user[...]`. */
const TEXT_FIELDS = [
  'login',
  'email',
  'full_name',
  'phone',
  'website',
  'facebook_id',
  'twitter_id',
  'twitter_digits_id',
] as const;
const KNOWN = new Set<string>([
  ...TEXT_FIELDS,
  'password',
  'old_password',
  'external_user_id',
  'blob_id',
  'tag_list',
  'custom_data',
]);

export interface UserInput {
  changes: UserChanges;
  /** New tag list, when `tag_list` was sent. */
  tags?: string[];
  password?: string;
  oldPassword?: string;
}

export const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * Reads `user[...]` into column changes, collecting every problem into one
 * 422 with per-field messages. Empty strings clear optional fields.
 */
export function readUserInput(raw: unknown): UserInput {
  if (raw === undefined || raw === null || raw === '') return { changes: {} };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw fieldErrors(422, { user: ['must be an object of user fields'] });
  const problems: Record<string, string[]> = {};
  const complain = (field: string, message: string) => {
    problems[field] = [...(problems[field] ?? []), message];
  };
  const input: UserInput = { changes: {} };
  const changes = input.changes as Record<string, unknown>;

  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (!KNOWN.has(key)) {
      complain(key, 'is not a user field');
      continue;
    }
    if (key === 'tag_list') {
      const tags = readTags(value);
      if (typeof tags === 'string') complain(key, tags);
      else input.tags = tags;
      continue;
    }
    const text = scalarText(value);
    if (text === null) {
      complain(key, 'must be a string');
      continue;
    }
    switch (key) {
      case 'password':
      case 'old_password':
        if (key === 'password') input.password = text;
        else input.oldPassword = text;
        break;
      case 'external_user_id':
      case 'blob_id':
        if (text === '') changes[key] = null;
        else if (!/^\d{1,15}$/.test(text) || Number(text) < 1) complain(key, 'must be a positive integer');
        else changes[key] = Number(text);
        break;
      case 'custom_data':
        if (text.length > LIMITS.customData) complain(key, `is too long (maximum is ${LIMITS.customData} characters)`);
        else changes.custom_data = text === '' ? null : text;
        break;
      default: {
        const value = text.trim();
        const max = key.endsWith('_id') ? LIMITS.externalId : key === 'login' ? LIMITS.loginMax : LIMITS.text;
        if (value.length > max) complain(key, `is too long (maximum is ${max} characters)`);
        else if (key === 'email' && value !== '' && !EMAIL.test(value)) complain(key, 'is invalid');
        else changes[key] = value === '' ? null : key === 'email' ? value.toLowerCase() : value;
      }
    }
  }
  if (input.password !== undefined) {
    if (input.password.length < LIMITS.passwordMin)
      complain('password', `is too short (minimum is ${LIMITS.passwordMin} characters)`);
    if (input.password.length > LIMITS.passwordMax)
      complain('password', `is too long (maximum is ${LIMITS.passwordMax} characters)`);
  }
  if (Object.keys(problems).length > 0) throw fieldErrors(422, problems);
  return input;
}

/** `tag_list` as "a,b" or ["a","b"]: trimmed, deduplicated, at most five. Returns a message when invalid. */
function readTags(value: unknown): string[] | string {
  const parts = Array.isArray(value) ? value : [value];
  const tags: string[] = [];
  for (const part of parts) {
    const text = scalarText(part);
    if (text === null) return 'must be a comma-separated string';
    for (const tag of text.split(',')) {
      const trimmed = tag.trim();
      if (trimmed !== '' && !tags.includes(trimmed)) tags.push(trimmed);
    }
  }
  if (tags.length > LIMITS.tags) return `has too many tags (maximum is ${LIMITS.tags})`;
  if (tags.some((tag) => tag.length > LIMITS.tagLength))
    return `has a tag that is too long (maximum is ${LIMITS.tagLength} characters)`;
  return tags;
}

function scalarText(value: unknown): string | null {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}
