import { fieldErrors } from '../../core/errors.js';

/** QuickBlox's documented limits, and ours where it documents none. */
export const LIMITS = {
  udid: 64,
  nameMin: 1,
  nameMax: 255,
  phoneMin: 10,
  phoneMax: 15,
  /** Contacts in one upload: one request stays one short transaction. */
  contactsPerRequest: 1000,
  /** Contacts in one book; phone address books rarely pass a few thousand. */
  contactsPerBook: 10_000,
  /** Books (the global one and one per device udid) per user, so a user's rows stay bounded. */
  booksPerUser: 10,
};

/** QuickBlox's texts for a rejected contact. */
export const REJECTIONS = {
  invalid: 'Invalid fields set',
  phone: `Length of 'phone' field should be min: ${LIMITS.phoneMin} and max: ${LIMITS.phoneMax}.`,
  name: `Length of 'name' field should be min: ${LIMITS.nameMin} and max: ${LIMITS.nameMax}.`,
};

const CONTACT_FIELDS = new Set(['name', 'phone', 'destroy']);

/** A valid contact of an upload; `name` is set unless it is a deletion. */
export type ContactInput = { phone: string; destroy: true } | { phone: string; name: string; destroy: false };

export interface UploadInput {
  udid: string;
  force: boolean;
  /** The valid contacts, in request order. */
  contacts: ContactInput[];
  /** Messages by the index of the contact in the request. */
  rejected: Record<string, string[]>;
}

/**
 * Reads POST /address_book.json. Problems with the request as a whole are a
 * 422; problems with single contacts reject only those contacts.
 */
export function readUpload(body: unknown): UploadInput {
  const params = (body ?? {}) as Record<string, unknown>;
  const udid = readUdid(params.udid);
  const force = readFlag(params.force, 'force');
  const list = contactList(params.contacts);
  const input: UploadInput = { udid, force, contacts: [], rejected: {} };
  list.forEach((raw, index) => {
    const read = readContact(raw);
    if (Array.isArray(read)) input.rejected[String(index)] = read;
    else input.contacts.push(read);
  });
  return input;
}

/** The device's book, or '' for the global one. */
export function readUdid(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' && typeof value !== 'number') throw fieldErrors(422, { udid: ['must be a string'] });
  const udid = String(value);
  if (udid.length > LIMITS.udid) throw fieldErrors(422, { udid: [`is too long (maximum is ${LIMITS.udid} characters)`] });
  return udid;
}

/** A 0/1 switch as JSON or form values send it. */
export function readFlag(value: unknown, field: string): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (value === 1 || value === true || value === '1' || value === 'true') return true;
  if (value === 0 || value === false || value === '0' || value === 'false') return false;
  throw fieldErrors(422, { [field]: ['must be 0 or 1'] });
}

/**
 * `contacts` as a JSON array, or as the form encoding `contacts[0][phone]=…`,
 * which the query parser turns into an object with numeric keys past 100 entries.
 */
function contactList(value: unknown): unknown[] {
  if (value === undefined || value === null) throw fieldErrors(422, { contacts: ['is required'] });
  let list: unknown[] | undefined;
  if (Array.isArray(value)) list = value;
  else if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length > 0 && keys.every((key) => /^\d{1,6}$/.test(key))) {
      list = keys.sort((a, b) => Number(a) - Number(b)).map((key) => (value as Record<string, unknown>)[key]);
    }
  }
  if (!list) throw fieldErrors(422, { contacts: ['must be an array of contacts'] });
  if (list.length > LIMITS.contactsPerRequest) {
    throw fieldErrors(422, { contacts: [`has too many contacts (maximum is ${LIMITS.contactsPerRequest} per request)`] });
  }
  return list;
}

/** One contact, or the messages it is rejected with. */
function readContact(raw: unknown): ContactInput | string[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [REJECTIONS.invalid];
  const fields = raw as Record<string, unknown>;
  if (Object.keys(fields).some((key) => !CONTACT_FIELDS.has(key))) return [REJECTIONS.invalid];
  let destroy: boolean;
  try {
    destroy = readFlag(fields.destroy, 'destroy');
  } catch {
    return [REJECTIONS.invalid];
  }
  const phone = text(fields.phone);
  if (phone === null) return [REJECTIONS.invalid];
  const phoneFits = phone.length >= LIMITS.phoneMin && phone.length <= LIMITS.phoneMax;
  // A deletion needs only the phone.
  if (destroy) return phoneFits ? { phone, destroy } : [REJECTIONS.phone];
  const name = text(fields.name);
  if (name === null) return [REJECTIONS.invalid];
  const messages: string[] = [];
  if (!phoneFits) messages.push(REJECTIONS.phone);
  if (name.length < LIMITS.nameMin || name.length > LIMITS.nameMax) messages.push(REJECTIONS.name);
  return messages.length > 0 ? messages : { phone, name, destroy };
}

/** A trimmed string field; numbers are taken as their digits (a phone sent as a JSON number). Null when of another type. */
function text(value: unknown): string | null {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return null;
}
