import { errors } from '../../core/errors.js';

/**
 * The user list's query language (GET /users.json):
 *   filter[]=<type> <field> <op> <value>     e.g. "number id in 1,2,3", "string login eq bob"
 *   order=<asc|desc> <type> <field>          e.g. "desc date created_at"
 * The type word is checked but not trusted: fields compare and sort by their real type.
 */
export type FieldType = 'string' | 'number' | 'date';

export const USER_FIELDS: Record<string, FieldType> = {
  id: 'number',
  full_name: 'string',
  email: 'string',
  login: 'string',
  phone: 'string',
  website: 'string',
  created_at: 'date',
  updated_at: 'date',
  last_request_at: 'date',
  external_user_id: 'number',
  twitter_id: 'string',
  twitter_digits_id: 'string',
  facebook_id: 'string',
};

export type UserField = keyof typeof USER_FIELDS & string;
export type Operator = 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'ne' | 'between' | 'in';
const OPERATORS: Operator[] = ['gt', 'lt', 'ge', 'le', 'eq', 'ne', 'between', 'in'];

/** A value as stored: strings as text, numbers as numbers, dates as unix milliseconds. */
export type Value = string | number;

export interface Filter {
  field: UserField;
  op: Operator;
  /** One value, two for between, one or more for in. */
  values: Value[];
}

export interface Order {
  field: UserField;
  direction: 'asc' | 'desc';
}

const TYPE_WORD = '(?:string|number|date)';

/**
 * Filters from `filter[]` (a string or a list). The official JS SDK joins
 * several filters into one string with commas, so a comma followed by a
 * type word starts a new filter.
 */
export function parseFilters(raw: unknown): Filter[] {
  if (raw === undefined || raw === '') return [];
  const list = Array.isArray(raw) ? raw : typeof raw === 'object' && raw !== null ? Object.values(raw) : [raw];
  const filters: Filter[] = [];
  for (const item of list) {
    if (typeof item !== 'string') throw invalid('filter', 'must be a string like "number id gt 3"');
    for (const part of item.split(new RegExp(`,(?=\\s*${TYPE_WORD}\\s)`))) filters.push(parseFilter(part.trim()));
  }
  if (filters.length > 20) throw invalid('filter', 'at most 20 filters');
  return filters;
}

function parseFilter(text: string): Filter {
  const match = /^(string|number|date)\s+(\w+)\s+(\w+)\s+([\s\S]*)$/.exec(text);
  if (!match) throw invalid('filter', `"${text}" is not "<type> <field> <operator> <value>"`);
  const [, , fieldName = '', opName = '', rawValue = ''] = match;
  const field = knownField(fieldName, 'filter');
  if (!OPERATORS.includes(opName as Operator)) {
    throw invalid('filter', `unknown operator "${opName}" (use ${OPERATORS.join(', ')})`);
  }
  const op = opName as Operator;
  const texts = op === 'in' || op === 'between' ? rawValue.split(',').map((v) => v.trim()) : [rawValue.trim()];
  if (op === 'between' && texts.length !== 2) throw invalid('filter', `between needs two values: "${text}"`);
  if (op === 'in' && texts.length > 100) throw invalid('filter', 'in takes at most 100 values');
  const values = texts.map((value) => typedValue(field, value, text));
  return { field, op, values };
}

export function parseOrder(raw: unknown): Order | null {
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string') throw invalid('order', 'must be a string like "desc date created_at"');
  const match = /^(asc|desc)\s+(string|number|date)\s+(\w+)$/.exec(raw.trim());
  if (!match) throw invalid('order', `"${raw}" is not "<asc|desc> <type> <field>"`);
  return { direction: match[1] as 'asc' | 'desc', field: knownField(match[3] ?? '', 'order') };
}

function knownField(name: string, param: string): UserField {
  if (!Object.hasOwn(USER_FIELDS, name)) {
    throw invalid(param, `unknown field "${name}" (use ${Object.keys(USER_FIELDS).join(', ')})`);
  }
  return name as UserField;
}

function typedValue(field: UserField, text: string, filter: string): Value {
  const type = USER_FIELDS[field];
  if (type === 'string') return text;
  if (type === 'number') {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw invalid('filter', `"${text}" is not a number in "${filter}"`);
    return Number(text);
  }
  // Dates: unix seconds, or anything Date can read (2024-01-31, 2024-01-31T10:00:00Z).
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw invalid('filter', `"${text}" is not a date in "${filter}"`);
  return ms;
}

function invalid(param: string, message: string) {
  return errors.validation(param, message);
}
