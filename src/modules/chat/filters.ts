import { type RawBuilder, type SqlBool, sql } from 'kysely';
import { errors } from '../../core/errors.js';
import type { DialectName } from '../../storage/dialect.js';
import { OBJECT_ID } from './text.js';

/**
 * The query language of dialog and message lists: `field=v` and
 * `field[lt|lte|gt|gte|ne|in|nin|all|ctn]=v`, `sort_asc|sort_desc`, `skip`,
 * `limit`, `count`. Fields come from a fixed table per list, so a name from
 * a request never reaches SQL; values are always bound parameters.
 */
export type Op = 'eq' | 'lt' | 'lte' | 'gt' | 'gte' | 'ne' | 'in' | 'nin' | 'all' | 'ctn';
const OPS = new Set<string>(['lt', 'lte', 'gt', 'gte', 'ne', 'in', 'nin', 'all', 'ctn']);
const COMPARE: Record<string, string> = { eq: '=', lt: '<', lte: '<=', gt: '>', gte: '>=', ne: '<>' };

export type Value = string | number | boolean;
export type Condition = RawBuilder<SqlBool>;

/** How a list field is compared: a column with typed values, or a builder of its own (occupants, attachment types). */
export interface FieldSpec {
  /** Reads one request value; throws a 422 naming the field. */
  read(name: string, value: string): Value;
  column?: string;
  /** Builds the condition itself (set membership fields). */
  build?(op: Op, values: Value[]): Condition;
}

export interface ListParams {
  where: Condition[];
  sort: { field: string; direction: 'asc' | 'desc' } | null;
  skip: number;
  limit: number;
  count: boolean;
}

export const MAX_LIMIT = 100;
const MAX_SKIP = 1_000_000;
const MAX_IN = 100;

/** Reads the list parameters; `ignore` are keys the caller handles (chat_dialog_id, mark_as_read, data). */
export function readListParams(
  fields: Record<string, FieldSpec>,
  sortable: Set<string>,
  params: Record<string, unknown>,
  ignore: Set<string>,
  dialect: DialectName,
): ListParams {
  const where: Condition[] = [];
  let sort: ListParams['sort'] = null;
  for (const [key, raw] of Object.entries(params)) {
    if (ignore.has(key) || key === 'skip' || key === 'limit' || key === 'count') continue;
    if (key === 'sort_asc' || key === 'sort_desc') {
      if (typeof raw !== 'string' || !sortable.has(raw))
        throw errors.validation(key, `cannot sort by "${String(raw).slice(0, 64)}"`);
      sort = { field: raw, direction: key === 'sort_asc' ? 'asc' : 'desc' };
      continue;
    }
    const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (!spec) throw errors.validation(key.slice(0, 64), 'is not a field you can search by');
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [op, value] of Object.entries(raw)) {
        if (!OPS.has(op)) throw errors.validation(`${key}[${op.slice(0, 16)}]`, 'is not a search operator');
        where.push(condition(spec, key, op as Op, value, dialect));
      }
    } else {
      where.push(condition(spec, key, 'eq', raw, dialect));
    }
  }
  return {
    where,
    sort,
    skip: integerParam('skip', params.skip, 0, 0, MAX_SKIP),
    limit: integerParam('limit', params.limit, MAX_LIMIT, 1, MAX_LIMIT),
    count: params.count === '1' || params.count === 1 || params.count === 'true',
  };
}

function condition(spec: FieldSpec, name: string, op: Op, raw: unknown, dialect: DialectName): Condition {
  if (typeof raw !== 'string' && typeof raw !== 'number') throw errors.validation(name, 'needs one value');
  const text = String(raw);
  const list = op === 'in' || op === 'nin' || op === 'all';
  const parts = list ? text.split(',').filter((part) => part !== '') : [text];
  if (list && (parts.length === 0 || parts.length > MAX_IN)) throw errors.validation(name, `needs 1 to ${MAX_IN} values`);
  const values = parts.map((part) => spec.read(name, part));
  if (spec.build) return spec.build(op, values);
  const column = sql.ref(spec.column as string);
  switch (op) {
    case 'in':
      return sql<SqlBool>`${column} in (${sql.join(values)})`;
    case 'nin':
      return sql<SqlBool>`(${column} is null or ${column} not in (${sql.join(values)}))`;
    case 'all':
      // A scalar column holds all of the values only when they are one value.
      return new Set(values).size === 1 ? sql<SqlBool>`${column} = ${values[0]}` : sql<SqlBool>`1 = 0`;
    case 'ctn':
      return dialect === 'sqlite'
        ? sql<SqlBool>`instr(${column}, ${String(values[0])}) > 0`
        : sql<SqlBool>`strpos(${column}, ${String(values[0])}) > 0`;
    case 'ne':
      return sql<SqlBool>`(${column} is null or ${column} <> ${values[0]})`;
    default:
      return sql<SqlBool>`${column} ${sql.raw(COMPARE[op] as string)} ${values[0]}`;
  }
}

/** A set-valued field (occupants, attachment types, array data): eq/in any of the values, all of them, ne/nin none. */
export function membership(field: string, op: Op, values: Value[], has: (value: Value) => RawBuilder<unknown>): Condition {
  const any = sql<SqlBool>`(${sql.join(values.map(has), sql` or `)})`;
  switch (op) {
    case 'eq':
    case 'in':
      return any;
    case 'all':
      return sql<SqlBool>`(${sql.join(values.map(has), sql` and `)})`;
    case 'ne':
    case 'nin':
      return sql<SqlBool>`not ${any}`;
    default:
      throw errors.validation(field, `does not take ${op}`);
  }
}

function integerParam(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d{1,10}\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min) throw errors.validation(name, `must be an integer of at least ${min}`);
  return Math.min(n, max);
}

// Readers for the field kinds the chat lists have.
export const readId = (name: string, value: string): string => {
  if (!OBJECT_ID.test(value)) throw errors.validation(name, `"${value.slice(0, 32)}" is not an id`);
  return value;
};

export const readInteger = (name: string, value: string): number => {
  if (!/^\s*-?\d{1,15}\s*$/.test(value)) throw errors.validation(name, `"${value.slice(0, 32)}" is not an integer`);
  return Number(value);
};

export const readString = (_name: string, value: string): string => value;

/** Stored as unix ms, sent as ISO: filters take unix seconds or an ISO date. */
export const readTime = (name: string, value: string): number => {
  if (/^\s*\d{1,12}(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
  const ms = value.length <= 64 ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw errors.validation(name, `"${value.slice(0, 32)}" is not a date`);
  return ms;
};
