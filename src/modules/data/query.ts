import { errors } from '../../core/errors.js';
import type { ClassDef } from './classes.js';
import { checkText, columnOf, type FieldDef, type FieldType, readLocation, typedScalar } from './fields.js';

/**
 * The records query language (GET /data/{class}.json, criteria of update
 * and delete): `field=v`, `field[op]=v` with lt lte gt gte ne in nin all or
 * ctn near, sort_asc|sort_desc, skip, limit (-1: the last record), count,
 * output[include|exclude], group_by with field[calc]. Values are typed by the
 * class; every name is looked up in it, so nothing from the request becomes
 * SQL text.
 */
export type RefType = FieldType | 'Id';

export interface FieldRef {
  name: string;
  type: RefType;
  /** The column (for a Location, the `__lon`/`__lat` pair's stem). */
  column: string;
}

export type Value = string | number;

export type Condition =
  | { kind: 'cmp'; ref: FieldRef; op: 'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte'; value: Value }
  | { kind: 'in'; ref: FieldRef; values: Value[]; negate: boolean }
  | { kind: 'array'; ref: FieldRef; values: string[]; mode: 'any' | 'none' | 'all' }
  | { kind: 'ctn'; ref: FieldRef; value: string }
  | { kind: 'near'; ref: FieldRef; lon: number; lat: number; radius: number }
  | { kind: 'or'; items: Condition[] };

export type Calc = 'avg' | 'min' | 'max' | 'sum';

export interface ListQuery {
  where: Condition[];
  sort: { ref: FieldRef; direction: 'asc' | 'desc' } | null;
  skip: number;
  limit: number;
  /** limit=-1: only the last record of the order. */
  last: boolean;
  count: boolean;
  include: string[] | null;
  exclude: string[] | null;
  groupBy: FieldRef | null;
  calcs: Array<{ ref: FieldRef; fn: Calc }>;
}

const PREDEFINED_REFS: Record<string, FieldRef> = {
  _id: { name: '_id', type: 'Id', column: '_id' },
  _parent_id: { name: '_parent_id', type: 'Id', column: '_parent_id' },
  user_id: { name: 'user_id', type: 'Integer', column: 'user_id' },
  created_at: { name: 'created_at', type: 'Integer', column: 'created_at' },
  updated_at: { name: 'updated_at', type: 'Integer', column: 'updated_at' },
};

const COMPARISONS = ['lt', 'lte', 'gt', 'gte', 'ne'] as const;
const OPERATORS = new Set(['lt', 'lte', 'gt', 'gte', 'ne', 'in', 'nin', 'all', 'or', 'ctn', 'near', 'calc']);
const CALCS = new Set(['avg', 'min', 'max', 'sum']);
const LIST_KEYS = new Set(['sort_asc', 'sort_desc', 'skip', 'limit', 'count', 'output', 'group_by', 'token', 'field_name']);
export const MAX_LIMIT = 100;
const MAX_VALUES = 100;
const MAX_CONDITIONS = 50;

export function refOf(cls: ClassDef, name: string, param = name): FieldRef {
  const predefined = Object.hasOwn(PREDEFINED_REFS, name) ? PREDEFINED_REFS[name] : undefined;
  if (predefined) return predefined;
  const field = cls.byName.get(name);
  if (!field) throw errors.validation(param.slice(0, 64), `is not a field of ${cls.name}`);
  return fieldRef(field);
}

export function fieldRef(field: FieldDef): FieldRef {
  return { name: field.name, type: field.type, column: columnOf(field) };
}

/** GET /data/{class}.json parameters. */
export function parseListQuery(cls: ClassDef, params: Record<string, unknown>): ListQuery {
  const query: ListQuery = {
    where: parseCriteria(cls, params, LIST_KEYS),
    sort: null,
    skip: integer('skip', params.skip, 0, 0, 1_000_000_000),
    limit: MAX_LIMIT,
    last: false,
    count: params.count !== undefined && params.count !== '0' && params.count !== 0 && params.count !== 'false',
    include: null,
    exclude: null,
    groupBy: null,
    calcs: [],
  };
  const limit = integer('limit', params.limit, MAX_LIMIT, -1, Number.MAX_SAFE_INTEGER);
  if (limit === -1) query.last = true;
  else query.limit = Math.min(Math.max(limit, 1), MAX_LIMIT);
  for (const direction of ['asc', 'desc'] as const) {
    const name = params[`sort_${direction}`];
    if (name === undefined || name === '') continue;
    if (typeof name !== 'string') throw errors.validation(`sort_${direction}`, 'must be a field name');
    const ref = refOf(cls, name, `sort_${direction}`);
    if (ref.type === 'Array' || ref.type === 'File' || ref.type === 'Location') {
      throw errors.validation(`sort_${direction}`, `cannot sort by a ${ref.type} field`);
    }
    query.sort = { ref, direction };
  }
  const output = params.output;
  if (output !== undefined) {
    if (output === null || typeof output !== 'object' || Array.isArray(output)) {
      throw errors.validation('output', 'use output[include] or output[exclude]');
    }
    const o = output as Record<string, unknown>;
    if (o.include !== undefined) query.include = fieldList(cls, 'output[include]', o.include);
    if (o.exclude !== undefined) query.exclude = fieldList(cls, 'output[exclude]', o.exclude);
  }
  if (params.group_by !== undefined && params.group_by !== '') {
    if (typeof params.group_by !== 'string') throw errors.validation('group_by', 'must be a field name');
    const ref = refOf(cls, params.group_by, 'group_by');
    if (ref.type === 'Array' || ref.type === 'File' || ref.type === 'Location') {
      throw errors.validation('group_by', `cannot group by a ${ref.type} field`);
    }
    query.groupBy = ref;
  }
  for (const [name, value] of Object.entries(params)) {
    if (LIST_KEYS.has(name) || value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    const calc = (value as Record<string, unknown>).calc;
    if (calc === undefined) continue;
    if (typeof calc !== 'string' || !CALCS.has(calc)) throw errors.validation(`${name}[calc]`, 'must be avg, min, max or sum');
    const ref = refOf(cls, name);
    if (ref.type !== 'Integer' && ref.type !== 'Float')
      throw errors.validation(`${name}[calc]`, 'needs an Integer or Float field');
    query.calcs.push({ ref, fn: calc as Calc });
  }
  if (query.calcs.length > 0 && !query.groupBy) throw errors.validation('group_by', 'is required with calc');
  return query;
}

/** Conditions from criteria parameters; `ignore` names the keys that are not fields. */
export function parseCriteria(cls: ClassDef, params: Record<string, unknown>, ignore: Set<string> = LIST_KEYS): Condition[] {
  const where: Condition[] = [];
  const or: Condition[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (ignore.has(name) || name === 'permissions') continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const ref = refOf(cls, name);
      for (const [op, operand] of Object.entries(value)) {
        if (!OPERATORS.has(op)) throw errors.validation(`${name}[${op.slice(0, 16)}]`, 'is not a search operator');
        if (op === 'calc') continue;
        if (op === 'or') {
          for (const item of values(name, operand)) or.push(equality(ref, item));
          continue;
        }
        where.push(operator(ref, op, operand));
      }
    } else {
      where.push(equality(refOf(cls, name), Array.isArray(value) ? value.join(',') : value));
    }
  }
  if (or.length > 0) where.push({ kind: 'or', items: or });
  if (where.length + or.length > MAX_CONDITIONS) throw errors.validation('base', `at most ${MAX_CONDITIONS} conditions`);
  return where;
}

function equality(ref: FieldRef, value: unknown): Condition {
  if (ref.type === 'Array') return { kind: 'array', ref, values: [text(ref, value)], mode: 'any' };
  checkScalar(ref, 'eq');
  return { kind: 'cmp', ref, op: 'eq', value: typed(ref, value) };
}

function operator(ref: FieldRef, op: string, operand: unknown): Condition {
  const param = `${ref.name}[${op}]`;
  if (op === 'near') {
    if (ref.type !== 'Location') throw errors.validation(param, 'needs a Location field');
    return near(ref, operand, param);
  }
  if (ref.type === 'Array') {
    const list = values(param, operand).map((v) => text(ref, v));
    if (op === 'in') return { kind: 'array', ref, values: list, mode: 'any' };
    if (op === 'nin' || op === 'ne') return { kind: 'array', ref, values: list, mode: 'none' };
    if (op === 'all') return { kind: 'array', ref, values: list, mode: 'all' };
    throw errors.validation(param, 'is not an operator for Array fields (in, nin, all, ne)');
  }
  checkScalar(ref, op);
  if (op === 'in' || op === 'nin') {
    return { kind: 'in', ref, values: values(param, operand).map((v) => typed(ref, v, param)), negate: op === 'nin' };
  }
  if (op === 'all') throw errors.validation(param, 'needs an Array field');
  if (op === 'ctn') {
    if (ref.type !== 'String') throw errors.validation(param, 'needs a String field');
    if (typeof operand !== 'string' || operand === '') throw errors.validation(param, 'needs a substring');
    checkText(param, operand);
    return { kind: 'ctn', ref, value: operand };
  }
  if (ref.type === 'Boolean' && op !== 'ne') throw errors.validation(param, 'booleans compare with = and ne only');
  return { kind: 'cmp', ref, op: op as (typeof COMPARISONS)[number], value: typed(ref, operand, param) };
}

function checkScalar(ref: FieldRef, op: string): void {
  if (ref.type === 'File' || ref.type === 'Location') {
    throw errors.validation(`${ref.name}[${op}]`, `${ref.type} fields can only be searched with near (Location)`);
  }
}

function near(ref: FieldRef, operand: unknown, param: string): Condition {
  const match = typeof operand === 'string' ? /^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*[;,]\s*([\d.]+)\s*$/.exec(operand) : null;
  if (!match) throw errors.validation(param, 'must be longitude,latitude;radius_in_meters');
  const [lon, lat] = readLocation(param, [match[1], match[2]]);
  const radius = Number(match[3]);
  if (!Number.isFinite(radius) || radius < 0 || radius > 20_100_000) throw errors.validation(param, 'radius must be meters');
  return { kind: 'near', ref, lon, lat, radius };
}

function typed(ref: FieldRef, value: unknown, param = ref.name): Value {
  if (value === undefined || (typeof value === 'object' && value !== null)) throw errors.validation(param, 'needs a value');
  return typedScalar(ref.type, param, value);
}

/** Array elements compare as text (a JSON number 5 matches "5"). */
function text(ref: FieldRef, value: unknown): string {
  if (typeof value === 'string') checkText(ref.name, value);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw errors.validation(ref.name, 'needs a value');
}

function values(param: string, operand: unknown): unknown[] {
  const list = Array.isArray(operand)
    ? operand.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]))
    : typeof operand === 'string'
      ? operand.split(',')
      : typeof operand === 'number' || typeof operand === 'boolean'
        ? [operand]
        : null;
  if (!list || list.length === 0) throw errors.validation(param, 'needs a comma-separated list');
  if (list.length > MAX_VALUES) throw errors.validation(param, `takes at most ${MAX_VALUES} values`);
  return list;
}

function fieldList(cls: ClassDef, param: string, value: unknown): string[] {
  const list = Array.isArray(value)
    ? value.flatMap((v) => String(v).split(','))
    : typeof value === 'string'
      ? value.split(',')
      : null;
  if (!list) throw errors.validation(param, 'must be a comma-separated list of fields');
  return list.map((name) => refOf(cls, name.trim(), param).name);
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw errors.validation(name, 'must be an integer');
  return n;
}
