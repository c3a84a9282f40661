import type { Clock } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import { type ClassesStore, type ClassRow, DuplicateClass } from './classes-store.js';
import { CLASS_NAME, checkFieldName, type FieldDef, isFieldType, tableOf } from './fields.js';
import { type ClassPermissions, readClassPermissions } from './permissions.js';

/** A class as the records code uses it. */
export interface ClassDef {
  id: number;
  applicationId: number;
  name: string;
  table: string;
  fields: FieldDef[];
  byName: Map<string, FieldDef>;
  permissions: ClassPermissions;
}

export interface ClassJson {
  name: string;
  fields: FieldDef[];
  permissions: ClassPermissions;
  created_at: number;
  updated_at: number;
}

export interface ClassInput {
  name?: unknown;
  /** {name: Type} or {name: {type, indexed}} or [{name, type, indexed}] */
  fields?: unknown;
  permissions?: unknown;
}

export interface ClassChange {
  add_fields?: unknown;
  remove_fields?: unknown;
  /** Field names to index; `unindex` the reverse. */
  index?: unknown;
  unindex?: unknown;
  permissions?: unknown;
}

const MAX_FIELDS = 200;
/**
 * How long a class definition read by the records code is kept. Every record
 * request needs its class (fields, permissions); reading and parsing it was
 * a fifth of a record create. Changes through this process forget it at once;
 * changes by another process (the CLI, another node) show within this time.
 */
const DEFINITION_TTL_MS = 1000;
const DEFINITIONS_MAX = 1000;

/** Classes: defined by the account owner (CLI, API key), never by app users. */
export class ClassesService {
  private readonly definitions = new Map<string, { def: ClassDef; at: number }>();

  constructor(
    private readonly store: ClassesStore,
    private readonly clock: Clock,
  ) {}

  async create(applicationId: number, input: ClassInput): Promise<ClassJson> {
    const name = className(input.name);
    const fields = readFields(input.fields ?? {});
    const permissions = readClassPermissions(input.permissions);
    try {
      const row = await this.store.create(applicationId, name, fields, JSON.stringify(permissions), this.clock.now());
      this.forget(applicationId);
      return formatClass(row);
    } catch (error) {
      if (error instanceof DuplicateClass) throw errors.validation('name', 'has already been taken');
      throw error;
    }
  }

  async list(applicationId: number): Promise<ClassJson[]> {
    return (await this.store.list(applicationId)).map(formatClass);
  }

  async show(applicationId: number, name: string): Promise<ClassJson> {
    return formatClass(await this.row(applicationId, name));
  }

  async update(applicationId: number, name: string, change: ClassChange): Promise<ClassJson> {
    const row = await this.row(applicationId, name);
    const current = JSON.parse(row.fields) as FieldDef[];
    const added = readFields(change.add_fields ?? {});
    const removedNames = names('remove_fields', change.remove_fields);
    const byName = new Map(current.map((f) => [f.name.toLowerCase(), f]));
    for (const field of added) {
      if (byName.has(field.name.toLowerCase())) throw errors.validation('add_fields', `"${field.name}" already exists`);
    }
    const removed = removedNames.map((n) => {
      const field = byName.get(n.toLowerCase());
      if (!field) throw errors.validation('remove_fields', `"${n.slice(0, 64)}" is not a field of ${row.name}`);
      return field;
    });
    const removedSet = new Set(removed.map((f) => f.name));
    const toIndex = new Set(names('index', change.index));
    const toUnindex = new Set(names('unindex', change.unindex));
    const indexed: FieldDef[] = [];
    const unindexed: FieldDef[] = [];
    const fields: FieldDef[] = [];
    for (const field of current) {
      if (removedSet.has(field.name)) continue;
      let next = field;
      if (toIndex.has(field.name) && !field.indexed) {
        next = { ...field, indexed: true };
        indexed.push(next);
      } else if (toUnindex.has(field.name) && field.indexed) {
        next = { ...field, indexed: false };
        unindexed.push(next);
      }
      toIndex.delete(field.name);
      toUnindex.delete(field.name);
      fields.push(next);
    }
    for (const field of added) {
      if (toIndex.delete(field.name)) field.indexed = true;
      if (field.indexed) indexed.push(field);
      fields.push(field);
    }
    const unknown = [...toIndex, ...toUnindex];
    if (unknown.length > 0) throw errors.validation('index', `"${unknown[0]?.slice(0, 64)}" is not a field of ${row.name}`);
    if (fields.length > MAX_FIELDS) throw errors.validation('fields', `at most ${MAX_FIELDS} fields`);
    const permissions = readClassPermissions(change.permissions, JSON.parse(row.permissions) as ClassPermissions);
    const updated = await this.store.update(
      row,
      { fields, added, removed, indexed: indexed.filter((f) => !added.includes(f)), unindexed },
      JSON.stringify(permissions),
      this.clock.now(),
    );
    this.forget(applicationId);
    return formatClass(updated);
  }

  async delete(applicationId: number, name: string): Promise<ClassDef> {
    const row = await this.row(applicationId, name);
    await this.store.delete(row);
    this.forget(applicationId);
    return toDef(row);
  }

  /** The class records are read and written through; 404 when there is none of that name. */
  async require(applicationId: number, name: string): Promise<ClassDef> {
    const key = `${applicationId}:${name}`;
    const now = this.clock.now();
    const hit = this.definitions.get(key);
    if (hit && now - hit.at >= 0 && now - hit.at < DEFINITION_TTL_MS) return hit.def;
    const def = toDef(await this.row(applicationId, name));
    if (this.definitions.size >= DEFINITIONS_MAX) this.definitions.clear();
    this.definitions.set(key, { def, at: now });
    return def;
  }

  /** Forgets the kept definitions of an application's classes (after a change, or a query that failed on one). */
  forget(applicationId: number): void {
    for (const key of this.definitions.keys()) if (key.startsWith(`${applicationId}:`)) this.definitions.delete(key);
  }

  /** Every class of an application, for _parent_id cascades. */
  async all(applicationId: number): Promise<ClassDef[]> {
    return (await this.store.list(applicationId)).map(toDef);
  }

  private async row(applicationId: number, name: string): Promise<ClassRow> {
    if (!CLASS_NAME.test(name)) throw errors.notFound();
    const row = await this.store.byName(applicationId, name);
    if (!row) throw errors.notFound();
    return row;
  }
}

function toDef(row: ClassRow): ClassDef {
  const fields = JSON.parse(row.fields) as FieldDef[];
  return {
    id: row.id,
    applicationId: row.application_id,
    name: row.name,
    table: tableOf(row.id),
    fields,
    byName: new Map(fields.map((f) => [f.name, f])),
    permissions: JSON.parse(row.permissions) as ClassPermissions,
  };
}

function formatClass(row: ClassRow): ClassJson {
  return {
    name: row.name,
    fields: JSON.parse(row.fields) as FieldDef[],
    permissions: JSON.parse(row.permissions) as ClassPermissions,
    created_at: Math.floor(row.created_at / 1000),
    updated_at: Math.floor(row.updated_at / 1000),
  };
}

function className(value: unknown): string {
  if (typeof value !== 'string' || !CLASS_NAME.test(value)) {
    throw errors.validation('name', 'must be a letter, then up to 63 letters, digits or _');
  }
  return value;
}

function names(param: string, value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : null;
  if (!list?.every((v) => typeof v === 'string')) throw errors.validation(param, 'must be a list of field names');
  return (list as string[]).map((v) => v.trim());
}

/** Fields as {name: Type}, {name: {type, indexed}}, [{name, type, indexed}] or ["name:Type[:indexed]"]. */
export function readFields(raw: unknown): FieldDef[] {
  const entries: Array<[string, unknown]> = Array.isArray(raw)
    ? raw.map((item): [string, unknown] => {
        if (typeof item === 'string') {
          const [name = '', type, flag] = item.split(':');
          return [name, { type, indexed: flag === 'indexed' }];
        }
        const o = (item ?? {}) as Record<string, unknown>;
        return [String(o.name ?? ''), o];
      })
    : raw !== null && typeof raw === 'object'
      ? Object.entries(raw)
      : [];
  if (!Array.isArray(raw) && (raw === null || typeof raw !== 'object')) throw errors.validation('fields', 'must be an object');
  if (entries.length > MAX_FIELDS) throw errors.validation('fields', `at most ${MAX_FIELDS} fields`);
  const seen = new Set<string>();
  return entries.map(([name, spec]) => {
    checkFieldName(name);
    // Column names are case-insensitive in SQLite: fields may not differ by case alone.
    if (seen.has(name.toLowerCase())) throw errors.validation('fields', `"${name}" appears twice`);
    seen.add(name.toLowerCase());
    const o = typeof spec === 'string' ? { type: spec } : ((spec ?? {}) as Record<string, unknown>);
    if (!isFieldType(o.type)) {
      throw errors.validation('fields', `"${name}" needs a type: Integer, Float, Boolean, String, Array, File, Location or Date`);
    }
    const indexed = o.indexed === true || o.indexed === 'true' || o.indexed === '1';
    if (indexed && (o.type === 'File' || o.type === 'Array')) throw errors.validation('fields', `"${name}" cannot be indexed`);
    return { name, type: o.type, indexed };
  });
}
