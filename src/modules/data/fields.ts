import { isoSeconds } from '../../core/clock.js';
import { errors } from '../../core/errors.js';

/**
 * Field types of a class, how each is stored (its columns in the class's
 * table) and how values are read from requests and written to the wire.
 * Names are checked against strict patterns before they reach any SQL.
 */
export const FIELD_TYPES = ['Integer', 'Float', 'Boolean', 'String', 'Array', 'File', 'Location', 'Date'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface FieldDef {
  name: string;
  type: FieldType;
  indexed: boolean;
}

/** Class names: a letter, then letters, digits and `_`. */
export const CLASS_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Field names: the same, no `__` (location columns use it) and not one of the predefined names. */
export const FIELD_NAME = /^[A-Za-z](?:[A-Za-z0-9]|_(?!_)){0,39}$/;
export const PREDEFINED = ['_id', 'user_id', '_parent_id', 'created_at', 'updated_at'] as const;
const RESERVED = new Set<string>([
  ...PREDEFINED,
  'id',
  'permissions',
  'class_name',
  'sort_asc',
  'sort_desc',
  'skip',
  'limit',
  'count',
  'output',
  'group_by',
  'search_criteria',
  'token',
  'inc',
  'pull',
  'pull_all',
  'pop',
  'push',
  'add_to_set',
  'field_name',
]);

export const MAX_STRING = 65_536;
export const MAX_ARRAY = 1000;

export function checkFieldName(name: string): void {
  if (!FIELD_NAME.test(name) || RESERVED.has(name.toLowerCase())) {
    throw errors.validation('fields', `"${name.slice(0, 64)}" is not a valid field name`);
  }
}

export function isFieldType(type: unknown): type is FieldType {
  return typeof type === 'string' && (FIELD_TYPES as readonly string[]).includes(type);
}

/** The table of a class: its catalogue id, never its name. */
export function tableOf(classId: number): string {
  return `co_${classId}`;
}

/** A custom field's column (a Location has two: `__lon`, `__lat`). */
export function columnOf(field: FieldDef): string {
  return `f_${field.name}`;
}

export function columnsOf(field: FieldDef): string[] {
  const column = columnOf(field);
  return field.type === 'Location' ? [`${column}__lon`, `${column}__lat`] : [column];
}

/** A file field's stored value. */
export interface StoredFile {
  file_id: string;
  name: string;
  content_type: string;
  size: number;
  key: string;
}

export type DbValue = string | number | null;

/** A request value as the columns of a field. Throws a 422 naming the field. */
export function toColumns(field: FieldDef, value: unknown): Record<string, DbValue> {
  const column = columnOf(field);
  if (field.type === 'Location') {
    const point = value === null || value === '' ? null : readLocation(field.name, value);
    return { [`${column}__lon`]: point?.[0] ?? null, [`${column}__lat`]: point?.[1] ?? null };
  }
  if (field.type === 'File') throw errors.validation(field.name, 'is a file field: upload to /data/{class}/{id}/file.json');
  return { [column]: scalarToDb(field, value) };
}

function scalarToDb(field: FieldDef, value: unknown): DbValue {
  if (value === null || value === undefined) return null;
  if (value === '' && field.type !== 'String') return null;
  switch (field.type) {
    case 'Array': {
      const list = readArray(field.name, value);
      return JSON.stringify(list);
    }
    default:
      return typedScalar(field.type, field.name, value);
  }
}

/** One value of a scalar type: numbers as numbers, booleans as 0/1, dates as unix ms, strings as text. */
export function typedScalar(type: FieldType | 'Id', name: string, value: unknown): string | number {
  const bad = (what: string) => errors.validation(name, `"${String(value).slice(0, 64)}" is not ${what}`);
  switch (type) {
    case 'Integer': {
      const n =
        typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d{1,16}\s*$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n)) throw bad('an integer');
      return n;
    }
    case 'Float': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(value)
            ? Number(value)
            : NaN;
      if (!Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'Boolean': {
      if (value === true || value === 1 || value === 'true' || value === '1') return 1;
      if (value === false || value === 0 || value === 'false' || value === '0') return 0;
      throw bad('a boolean');
    }
    case 'Date': {
      if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1000);
      if (typeof value === 'string') {
        if (/^\s*-?\d{1,12}(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
        const ms = Date.parse(value);
        if (!Number.isNaN(ms) && value.length <= 64) return ms;
      }
      throw bad('a date');
    }
    case 'Id': {
      if (typeof value === 'string' && /^[0-9a-f]{24}$/.test(value)) return value;
      throw bad('an id');
    }
    default: {
      if (typeof value === 'string') {
        if (value.length > MAX_STRING) throw errors.validation(name, 'is too long');
        checkText(name, value);
        return value;
      }
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw bad('a string');
    }
  }
}

/** PostgreSQL stores no NUL character in text (nor in jsonb, which array queries use): refused on both databases alike. */
export function checkText(name: string, value: string): void {
  if (value.includes('\u0000')) throw errors.validation(name, 'contains a NUL character');
}

/** Arrays come as JSON arrays or, from forms, as comma lists. Elements are scalars. */
export function readArray(name: string, value: unknown): Array<string | number | boolean> {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? (value === '' ? [] : value.split(',')) : [value];
  if (list.length > MAX_ARRAY) throw errors.validation(name, `has more than ${MAX_ARRAY} elements`);
  for (const item of list) {
    if (!['string', 'number', 'boolean'].includes(typeof item)) throw errors.validation(name, 'elements must be scalars');
    if (typeof item === 'string' && item.length > MAX_STRING) throw errors.validation(name, 'element is too long');
    if (typeof item === 'string') checkText(name, item);
  }
  return list as Array<string | number | boolean>;
}

/** A location is [longitude, latitude], as an array or "lon,lat". */
export function readLocation(name: string, value: unknown): [number, number] {
  const parts = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  const [lon, lat] = parts.map((p) => (typeof p === 'number' ? p : typeof p === 'string' && p.trim() !== '' ? Number(p) : NaN));
  if (parts.length !== 2 || lon === undefined || lat === undefined || !(Math.abs(lon) <= 180) || !(Math.abs(lat) <= 90)) {
    throw errors.validation(name, 'is not a location: [longitude, latitude]');
  }
  return [lon, lat];
}

/** A field's wire value from its columns. */
export function fromColumns(field: FieldDef, row: Record<string, unknown>): unknown {
  const column = columnOf(field);
  if (field.type === 'Location') {
    const lon = row[`${column}__lon`];
    const lat = row[`${column}__lat`];
    return lon === null || lon === undefined || lat === null || lat === undefined ? null : [Number(lon), Number(lat)];
  }
  const value = row[column];
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case 'Integer':
    case 'Float':
      return Number(value);
    case 'Boolean':
      return Number(value) === 1;
    case 'Date':
      return isoSeconds(Number(value));
    case 'Array':
      return JSON.parse(String(value));
    case 'File': {
      const file = JSON.parse(String(value)) as StoredFile;
      return { file_id: file.file_id, name: file.name, content_type: file.content_type, size: file.size };
    }
    default:
      return String(value);
  }
}
