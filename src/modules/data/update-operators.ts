import { errors } from '../../core/errors.js';
import type { ClassDef } from './classes.js';
import { checkText, columnOf, type DbValue, type FieldDef, MAX_ARRAY, readArray, toColumns, typedScalar } from './fields.js';

/**
 * What an update asks for: plain field values, `_parent_id`, permissions and
 * the special operators inc, pull (with or without a filter), pull_all, pop,
 * push, add_to_set and `field[i]=v`. Operators run on the record as read
 * inside the updating transaction (the row is locked), so concurrent updates
 * never lose one another's changes.
 */
type Element = string | number | boolean | null;
type PullFilter = { op: 'lt' | 'lte' | 'gt' | 'gte' | 'ne' | 'in' | 'nin'; values: string[] };

export type Operation =
  | { kind: 'set'; field: FieldDef; value: unknown }
  | { kind: 'inc'; field: FieldDef; by: number }
  | { kind: 'pull'; field: FieldDef; values: string[] }
  | { kind: 'pull_filter'; field: FieldDef; filter: PullFilter }
  | { kind: 'pop'; field: FieldDef; first: boolean }
  | { kind: 'push'; field: FieldDef; values: Element[]; unique: boolean }
  | { kind: 'index'; field: FieldDef; index: number; value: Element };

export interface UpdatePlan {
  operations: Operation[];
  /** undefined: unchanged; null: cleared. */
  parentId?: string | null;
  permissions?: unknown;
}

const IGNORED = new Set(['_id', 'id', 'user_id', 'created_at', 'updated_at', 'class_name', 'search_criteria', 'record']);
const OPERATORS = new Set(['inc', 'pull', 'pull_all', 'pop', 'push', 'add_to_set']);
const MAX_INDEX = MAX_ARRAY - 1;

export function parseUpdate(cls: ClassDef, body: Record<string, unknown>): UpdatePlan {
  const plan: UpdatePlan = { operations: [] };
  for (const [key, value] of Object.entries(body)) {
    if (IGNORED.has(key)) continue;
    if (key === 'permissions') {
      plan.permissions = value;
      continue;
    }
    if (key === '_parent_id') {
      plan.parentId = value === null || value === '' ? null : String(typedScalar('Id', '_parent_id', value));
      continue;
    }
    if (OPERATORS.has(key)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw errors.validation(key, 'must be {field: value}');
      for (const [name, operand] of Object.entries(value)) plan.operations.push(operator(cls, key, name, operand));
      continue;
    }
    const field = fieldOf(cls, key);
    // field[i]=v: an object of indexes (JSON, or a form's sparse list).
    if (field.type === 'Array' && isIndexObject(value)) {
      for (const [index, element] of indexEntries(value)) {
        plan.operations.push({ kind: 'index', field, index, value: element });
      }
      continue;
    }
    toColumns(field, value); // validates now, before anything is written
    plan.operations.push({ kind: 'set', field, value });
  }
  return plan;
}

function fieldOf(cls: ClassDef, name: string): FieldDef {
  const field = cls.byName.get(name);
  if (!field) throw errors.validation(name.slice(0, 64), `is not a field of ${cls.name}`);
  return field;
}

function operator(cls: ClassDef, op: string, name: string, rawOperand: unknown): Operation {
  const field = fieldOf(cls, name);
  // Lists arrive comma-joined from the SDK's forms (push[tags][]=a%2Cb).
  const operand = Array.isArray(rawOperand)
    ? rawOperand.filter(() => true).flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]))
    : rawOperand;
  const param = `${op}[${name}]`;
  if (op === 'inc') {
    if (field.type !== 'Integer' && field.type !== 'Float') throw errors.validation(param, 'needs an Integer or Float field');
    return { kind: 'inc', field, by: Number(typedScalar(field.type, param, operand)) };
  }
  if (field.type !== 'Array') throw errors.validation(param, 'needs an Array field');
  switch (op) {
    case 'pull': {
      if (operand !== null && typeof operand === 'object' && !Array.isArray(operand)) {
        const entries = Object.entries(operand);
        const [filterOp, filterValue] = entries[0] ?? [];
        if (entries.length !== 1 || !['lt', 'lte', 'gt', 'gte', 'ne', 'in', 'nin'].includes(filterOp ?? '')) {
          throw errors.validation(param, 'takes one filter: lt, lte, gt, gte, ne, in or nin');
        }
        return { kind: 'pull_filter', field, filter: { op: filterOp as PullFilter['op'], values: texts(param, filterValue) } };
      }
      return { kind: 'pull', field, values: texts(param, operand) };
    }
    case 'pull_all':
      return { kind: 'pull', field, values: texts(param, operand) };
    case 'pop': {
      const n = String(operand);
      if (n !== '1' && n !== '-1') throw errors.validation(param, 'must be 1 (last) or -1 (first)');
      return { kind: 'pop', field, first: n === '-1' };
    }
    default:
      return { kind: 'push', field, values: readArray(param, operand), unique: op === 'add_to_set' };
  }
}

function texts(param: string, operand: unknown): string[] {
  return readArray(param, operand).map(String);
}

function isIndexObject(value: unknown): boolean {
  if (Array.isArray(value)) return value.length !== Object.keys(value).length; // sparse: field[i]=v from a form
  return value !== null && typeof value === 'object' && Object.keys(value).every((k) => /^\d{1,4}$/.test(k));
}

function indexEntries(value: unknown): Array<[number, Element]> {
  return Object.entries(value as object).map(([key, element]) => {
    const index = Number(key);
    if (index > MAX_INDEX) throw errors.validation(key, 'index is too large');
    if (element !== null && !['string', 'number', 'boolean'].includes(typeof element)) {
      throw errors.validation(key, 'elements must be scalars');
    }
    if (typeof element === 'string') checkText(key, element);
    return [index, element as Element];
  });
}

/** Column values after the operations, from the record as stored. */
export function applyUpdate(plan: UpdatePlan, row: Record<string, unknown>): Record<string, DbValue> {
  const changes: Record<string, DbValue> = {};
  const arrays = new Map<string, Element[]>();
  const current = (field: FieldDef): Element[] => {
    const column = columnOf(field);
    let list = arrays.get(column);
    if (!list) {
      const stored = column in changes ? changes[column] : row[column];
      list = stored === null || stored === undefined ? [] : (JSON.parse(String(stored)) as Element[]);
      arrays.set(column, list);
    }
    return list;
  };
  for (const op of plan.operations) {
    const column = columnOf(op.field);
    switch (op.kind) {
      case 'set':
        arrays.delete(column);
        Object.assign(changes, toColumns(op.field, op.value));
        break;
      case 'inc': {
        const stored = column in changes ? changes[column] : row[column];
        const next = Number(stored ?? 0) + op.by;
        if (op.field.type === 'Integer' && !Number.isSafeInteger(next)) throw errors.validation(op.field.name, 'is out of range');
        changes[column] = next;
        break;
      }
      case 'pull':
        arrays.set(
          column,
          current(op.field).filter((e) => !op.values.includes(String(e))),
        );
        break;
      case 'pull_filter':
        arrays.set(
          column,
          current(op.field).filter((e) => !matches(e, op.filter)),
        );
        break;
      case 'pop': {
        const list = current(op.field);
        arrays.set(column, op.first ? list.slice(1) : list.slice(0, -1));
        break;
      }
      case 'push': {
        const list = [...current(op.field)];
        for (const value of op.values) {
          if (op.unique && list.some((e) => String(e) === String(value))) continue;
          list.push(value);
        }
        arrays.set(column, list);
        break;
      }
      case 'index': {
        const list = [...current(op.field)];
        while (list.length < op.index) list.push(null);
        list[op.index] = op.value;
        arrays.set(column, list);
        break;
      }
    }
  }
  for (const [column, list] of arrays) {
    if (list.length > MAX_ARRAY) throw errors.validation(column.slice(2), `has more than ${MAX_ARRAY} elements`);
    changes[column] = JSON.stringify(list);
  }
  return changes;
}

/** A pull filter: numbers compare as numbers when both sides are numbers, else as text. */
function matches(element: Element, filter: PullFilter): boolean {
  const text = String(element);
  if (filter.op === 'in') return filter.values.includes(text);
  if (filter.op === 'nin') return !filter.values.includes(text);
  const target = filter.values[0] ?? '';
  const isNumber = (v: string) => v.trim() !== '' && Number.isFinite(Number(v));
  // As in MongoDB, a number only compares with numbers.
  if (isNumber(target) !== isNumber(text)) return filter.op === 'ne';
  const numeric = isNumber(target);
  const a: number | string = numeric ? Number(text) : text;
  const b: number | string = numeric ? Number(target) : target;
  switch (filter.op) {
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
    default:
      return a !== b;
  }
}
