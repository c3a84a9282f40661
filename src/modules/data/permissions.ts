import { errors } from '../../core/errors.js';

/**
 * Custom-object permissions. A class has a rule per action; for read,
 * update and delete it also says whether the class rule applies to every
 * record (`use_class`) or each record's own rule does. A record's owner
 * always passes its own record's rules, never a class rule that excludes
 * them. An API key without On-Behalf-Of is the account administrator.
 */
export const ACCESS_LEVELS = ['open', 'owner', 'not_allowed', 'open_for_groups', 'open_for_users_ids'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];
export type Action = 'create' | 'read' | 'update' | 'delete';
export type RecordAction = 'read' | 'update' | 'delete';
export const RECORD_ACTIONS: RecordAction[] = ['read', 'update', 'delete'];

export interface Rule {
  access: Access;
  ids: number[];
  groups: string[];
}

export interface ClassRule extends Rule {
  /** read, update, delete: the class rule applies instead of each record's. */
  use_class: boolean;
}

export type ClassPermissions = Record<Action, ClassRule>;
export type RecordPermissions = Record<RecordAction, Rule>;

/** QuickBlox's defaults: create and read open, update and delete by the owner; records decide. */
export function defaultClassPermissions(): ClassPermissions {
  const rule = (access: Access): ClassRule => ({ access, ids: [], groups: [], use_class: false });
  return { create: rule('open'), read: rule('open'), update: rule('owner'), delete: rule('owner') };
}

export function defaultRecordPermissions(): RecordPermissions {
  const rule = (access: Access): Rule => ({ access, ids: [], groups: [] });
  return { read: rule('open'), update: rule('owner'), delete: rule('owner') };
}

/** Who acts on records. */
export interface Caller {
  applicationId: number;
  /** null: an application session or the administrator. */
  userId: number | null;
  /** An API key without On-Behalf-Of: every right. */
  admin: boolean;
  tags: string[];
}

/** The outcome of a class rule for a caller, before any record is looked at. */
export type ClassVerdict = 'all' | 'none' | 'own' | 'records';

/** What a caller may do under the class rule of an action: everything, nothing, own records, or what each record says. */
export function classVerdict(permissions: ClassPermissions, action: Action, caller: Caller): ClassVerdict {
  if (caller.admin) return 'all';
  const rule = permissions[action];
  if (action !== 'create' && !rule.use_class) return 'records';
  if (!ruleAllows(rule, caller)) return rule.access === 'owner' && caller.userId !== null ? 'own' : 'none';
  return 'all';
}

/** Whether a rule lets this caller in, owner rules aside. */
function ruleAllows(rule: Rule, caller: Caller): boolean {
  switch (rule.access) {
    case 'open':
      return true;
    case 'open_for_users_ids':
      return caller.userId !== null && rule.ids.includes(caller.userId);
    case 'open_for_groups':
      return caller.userId !== null && rule.groups.some((group) => caller.tags.includes(group));
    default:
      return false;
  }
}

/** Whether the caller may act on one record (its owner and its rule for the action). */
export function recordAllows(
  permissions: ClassPermissions,
  action: RecordAction,
  caller: Caller,
  record: { user_id: number; rule: Rule },
): boolean {
  const verdict = classVerdict(permissions, action, caller);
  if (verdict === 'all') return true;
  if (verdict === 'none') return false;
  if (verdict === 'own') return record.user_id === caller.userId;
  if (caller.userId !== null && record.user_id === caller.userId) return true;
  return ruleAllows(record.rule, caller);
}

/** Class permissions from a request or the CLI, merged over the current ones. */
export function readClassPermissions(raw: unknown, current = defaultClassPermissions()): ClassPermissions {
  if (raw === undefined || raw === null || raw === '') return current;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.validation('permissions', 'must be an object');
  const out: ClassPermissions = structuredClone(current);
  for (const [action, value] of Object.entries(raw)) {
    if (!['create', 'read', 'update', 'delete'].includes(action)) {
      throw errors.validation('permissions', `unknown action "${action.slice(0, 32)}"`);
    }
    const rule = readRule(`permissions.${action}`, value, true);
    if (action === 'create' && rule.access === 'owner') throw errors.validation('permissions.create', 'cannot be owner');
    const useClass = (value as Record<string, unknown>).use_class;
    out[action as Action] = {
      ...rule,
      use_class: action === 'create' ? true : useClass === undefined ? out[action as Action].use_class : truthy(useClass),
    };
  }
  return out;
}

/** Record permissions from `permissions[action][access|ids|groups]`, over the defaults or the current ones. */
export function readRecordPermissions(raw: unknown, current = defaultRecordPermissions()): RecordPermissions {
  if (raw === undefined || raw === null || raw === '') return current;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.validation('permissions', 'must be an object');
  const out: RecordPermissions = structuredClone(current);
  for (const [action, value] of Object.entries(raw)) {
    if (!(RECORD_ACTIONS as string[]).includes(action)) {
      throw errors.validation('permissions', `unknown action "${action.slice(0, 32)}" (read, update, delete)`);
    }
    out[action as RecordAction] = readRule(`permissions.${action}`, value, false);
  }
  return out;
}

function readRule(name: string, value: unknown, classLevel: boolean): Rule {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw errors.validation(name, 'must be an object');
  const input = value as Record<string, unknown>;
  const access = input.access;
  if (typeof access !== 'string' || !(ACCESS_LEVELS as readonly string[]).includes(access)) {
    throw errors.validation(name, `access must be one of ${ACCESS_LEVELS.join(', ')}`);
  }
  if (!classLevel && access === 'not_allowed') throw errors.validation(name, 'not_allowed is for classes only');
  const ids = access === 'open_for_users_ids' ? list(input.ids ?? input.users_ids).map((id) => userId(name, id)) : [];
  const groups = access === 'open_for_groups' ? list(input.groups ?? input.users_groups).map((g) => group(name, g)) : [];
  if (access === 'open_for_users_ids' && ids.length === 0) throw errors.validation(name, 'needs ids');
  if (access === 'open_for_groups' && groups.length === 0) throw errors.validation(name, 'needs groups');
  if (ids.length > 1000 || groups.length > 100) throw errors.validation(name, 'lists too many ids or groups');
  return { access: access as Access, ids: [...new Set(ids)], groups: [...new Set(groups)] };
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));
  if (typeof value === 'string')
    return value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
  if (typeof value === 'number') return [value];
  return [];
}

function userId(name: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw errors.validation(name, 'ids must be user ids');
  return n;
}

function group(name: string, value: unknown): string {
  const tag = typeof value === 'string' ? value.trim() : '';
  if (tag === '' || tag.length > 64 || tag.includes(',') || tag.includes('\u0000')) {
    throw errors.validation(name, 'groups must be user tags');
  }
  return tag;
}

function truthy(value: unknown): boolean {
  return value === true || value === 1 || value === 'true' || value === '1';
}

/** The wire shape of record permissions (QuickBlox names the group list users_groups). */
export function formatRecordPermissions(permissions: RecordPermissions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const action of RECORD_ACTIONS) {
    const rule = permissions[action];
    out[action] = {
      access: rule.access,
      ...(rule.access === 'open_for_users_ids' ? { ids: rule.ids.map(String) } : {}),
      ...(rule.access === 'open_for_groups' ? { users_groups: rule.groups } : {}),
    };
  }
  return out;
}
