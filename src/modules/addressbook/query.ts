import { baseError } from '../../core/errors.js';

/**
 * The query parameters of an address book read. The SDK's addressbook.get
 * stringifies its parameters as JSON and appends them raw to the URL
 * (`?%7B%22udid%22:%22U1%22%7D`, sdk-client-notes §2.8); other clients send
 * `?udid=U1`, which the server's query parser has already read.
 */
export function readBookQuery(url: string, parsed: Record<string, unknown>): Record<string, unknown> {
  const at = url.indexOf('?');
  const raw = at < 0 ? '' : url.slice(at + 1);
  if (!/^(\{|%7B)/i.test(raw)) return parsed;
  let value: unknown;
  try {
    value = JSON.parse(decodeURIComponent(raw));
  } catch {
    throw baseError(400, 'Malformed JSON query string');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw baseError(400, 'The JSON query string must be an object');
  }
  return value as Record<string, unknown>;
}
