import type { ClassDef } from './classes.js';
import { fromColumns } from './fields.js';
import { formatRecordPermissions, RECORD_ACTIONS, type RecordPermissions, type Rule } from './permissions.js';
import type { RecordRow } from './records-store.js';

export type RecordJson = Record<string, unknown>;

export interface Projection {
  include?: string[] | null;
  exclude?: string[] | null;
  permissions?: boolean;
}

/** A record as QuickBlox returns it: predefined fields, then the class's fields typed (unset ones null). */
export function formatRecord(cls: ClassDef, row: RecordRow, projection: Projection = {}): RecordJson {
  const out: RecordJson = {
    _id: row._id,
    _parent_id: row._parent_id ?? null,
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
    user_id: row.user_id === null ? 0 : Number(row.user_id),
  };
  for (const field of cls.fields) out[field.name] = fromColumns(field, row);
  if (projection.permissions) out.permissions = formattedPermissions(row);
  const { include, exclude } = projection;
  if (include) {
    // _id stays unless excluded by name.
    for (const key of Object.keys(out)) if (key !== '_id' && !include.includes(key)) delete out[key];
  }
  if (exclude) for (const key of exclude) delete out[key];
  return out;
}

// Records share a handful of permission sets: each is formatted once (the wire shape is only ever serialised).
const formatted = new Map<string, Record<string, unknown>>();

function formattedPermissions(row: RecordRow): Record<string, unknown> {
  let key = '';
  for (const action of RECORD_ACTIONS) key += `${row[`p_${action}`]}|${row[`p_${action}_ids`]}|${row[`p_${action}_groups`]}|`;
  let out = formatted.get(key);
  if (!out) {
    if (formatted.size >= 1000) formatted.clear();
    out = formatRecordPermissions(recordPermissions(row));
    formatted.set(key, out);
  }
  return out;
}

/** A record's own permission rules, from its p_* columns. */
export function recordPermissions(row: RecordRow): RecordPermissions {
  const out = {} as RecordPermissions;
  for (const action of RECORD_ACTIONS) out[action] = ruleOf(row, action);
  return out;
}

export function ruleOf(row: RecordRow, action: string): Rule {
  const list = (value: unknown) => (typeof value === 'string' ? value.split(',').filter((v) => v !== '') : []);
  return {
    access: String(row[`p_${action}`]) as Rule['access'],
    ids: list(row[`p_${action}_ids`]).map(Number),
    groups: list(row[`p_${action}_groups`]),
  };
}

/** Permission columns of a record: ids and groups as `,a,b,` so one substring test finds a member. */
export function permissionColumns(permissions: RecordPermissions): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const action of RECORD_ACTIONS) {
    const rule = permissions[action];
    out[`p_${action}`] = rule.access;
    out[`p_${action}_ids`] = rule.ids.length > 0 ? `,${rule.ids.join(',')},` : null;
    out[`p_${action}_groups`] = rule.groups.length > 0 ? `,${rule.groups.join(',')},` : null;
  }
  return out;
}
