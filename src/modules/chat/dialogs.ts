import { sql } from 'kysely';
import type { AuthContext } from '../../core/auth.js';
import type { Clock } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import { objectId } from '../../core/ids.js';
import type { DialogDataSchema } from '../data/dialog-data.js';
import type { UsersService } from '../users/service.js';
import {
  type Condition,
  type FieldSpec,
  membership,
  type Op,
  readId,
  readInteger,
  readListParams,
  readString,
  readTime,
} from './filters.js';
import { type DialogJson, formatDialog } from './format.js';
import type { ChatStore, DialogChanges, DialogRow, OccupantRow } from './store.js';
import { readFlag, readObjectIds, readText, readUserIds } from './text.js';

export const PUBLIC_GROUP = 1;
export const GROUP = 2;
export const PRIVATE = 3;

const MAX_NAME = 200;
const MAX_PHOTO = 1024;
/** Occupants named in one request, and in one dialog (each message updates every occupant's counter). */
const MAX_OCCUPANTS_PER_REQUEST = 1000;
const MAX_OCCUPANTS = 10_000;
const MAX_IDS = 100;

const SORTABLE = new Set(['_id', 'type', 'name', 'last_message_date_sent', 'created_at', 'updated_at']);
const SORT_COLUMN: Record<string, string> = { _id: 'id', last_message_date_sent: 'sort_at' };
const LIST_IGNORE = new Set(['data', 'token']);

const DIALOG_FIELDS: Record<string, FieldSpec> = {
  _id: { read: readId, column: 'd.id' },
  type: { read: readInteger, column: 'd.type' },
  name: { read: readString, column: 'd.name' },
  last_message_date_sent: { read: readInteger, column: 'd.last_message_date_sent' },
  created_at: { read: readTime, column: 'd.created_at' },
  updated_at: { read: readTime, column: 'd.updated_at' },
  user_id: { read: readInteger, column: 'd.user_id' },
  occupants_ids: {
    read: readInteger,
    build: (op, values) =>
      membership(
        'occupants_ids',
        op,
        values,
        (id) => sql`exists (select 1 from chat_occupants q where q.dialog_id = d.id and q.user_id = ${id})`,
      ),
  },
};

export interface DeleteReport {
  SuccessfullyDeleted: { ids: string[] };
  NotFound: { ids: string[] };
  WrongPermissions: { ids: string[] };
}

/** A dialog as one user sees it: their occupant row, if they have one. */
export interface DialogAccess {
  dialog: DialogRow;
  occupant: OccupantRow | undefined;
}

/** Chat dialogs: creation, lists with the query language, occupants and their rules per type, deletion. */
export class DialogsService {
  constructor(
    private readonly store: ChatStore,
    private readonly users: UsersService,
    private readonly dataSchema: DialogDataSchema,
    private readonly clock: Clock,
    private readonly chatDomain: string,
  ) {}

  async create(auth: AuthContext, body: Record<string, unknown>): Promise<DialogJson> {
    const me = actingUser(auth);
    const type = body.type === undefined || body.type === '' ? GROUP : Number(body.type);
    if (![PUBLIC_GROUP, GROUP, PRIVATE].includes(type)) throw errors.validation('type', 'must be 1, 2 or 3');
    const others = readUserIds('occupants_ids', body.occupants_ids ?? [], MAX_OCCUPANTS_PER_REQUEST).filter((id) => id !== me);
    if (type === PRIVATE && others.length !== 1) {
      throw errors.validation('occupants_ids', 'a private dialog has exactly one other occupant');
    }
    if (type === GROUP && others.length === 0) throw errors.validation('occupants_ids', 'is required for a group dialog');
    await this.checkUsers(auth.applicationId, others);
    const name = body.name === undefined || body.name === null || body.name === '' ? null : readText('name', body.name, MAX_NAME);
    if (type !== PRIVATE && name === null) throw errors.validation('name', 'is required for a group dialog');
    const photo = optionalText('photo', body.photo, MAX_PHOTO);
    const data = await this.readData(auth.applicationId, body.data);
    const fields = {
      name,
      photo,
      data_class: data?.className ?? null,
      data: data ? JSON.stringify(data.values) : null,
    };
    if (type === PRIVATE)
      return this.format(await this.findOrCreatePrivate(auth.applicationId, me, others[0] as number, fields), me);
    const now = this.clock.now();
    const occupants = [me, ...others].sort((a, b) => a - b);
    const row = await this.store.insertDialog(
      {
        ...fields,
        id: objectId(now),
        application_id: auth.applicationId,
        type,
        user_id: me,
        occupants_ids: JSON.stringify(occupants),
        is_join_required: readFlag(body.is_join_required) ? 1 : 0,
        sort_at: Math.floor(now / 1000),
        created_at: now,
        updated_at: now,
      },
      occupants,
    );
    return this.format(row, me);
  }

  /** The private dialog of two users, created when they have none (a message by recipient_id). */
  async privateWith(applicationId: number, me: number, other: number): Promise<DialogRow> {
    if (other === me) throw errors.validation('recipient_id', 'is the sender');
    await this.checkUsers(applicationId, [other], 'recipient_id');
    return this.findOrCreatePrivate(applicationId, me, other, {});
  }

  /** A pair has one private dialog; asking for it again brings it back to `me` if they had deleted it. */
  private async findOrCreatePrivate(applicationId: number, me: number, other: number, fields: DialogChanges): Promise<DialogRow> {
    const occupants = [me, other].sort((a, b) => a - b);
    const pair = occupants.join(':');
    const existing = await this.store.privateDialog(applicationId, pair);
    if (existing) {
      await this.store.showDialog(existing.id, me);
      return existing;
    }
    const now = this.clock.now();
    return this.store.insertDialog(
      {
        ...fields,
        id: objectId(now),
        application_id: applicationId,
        type: PRIVATE,
        user_id: me,
        occupants_ids: JSON.stringify(occupants),
        private_pair: pair,
        is_join_required: 0,
        sort_at: Math.floor(now / 1000),
        created_at: now,
        updated_at: now,
      },
      occupants,
    );
  }

  async list(auth: AuthContext, params: Record<string, unknown>) {
    const me = actingUser(auth);
    const query = readListParams(DIALOG_FIELDS, SORTABLE, params, LIST_IGNORE, this.store.dialect);
    query.where.push(...(await this.dataConditions(auth.applicationId, params.data)));
    if (query.count) return { items: { count: await this.store.countDialogs(auth.applicationId, me, query.where) } };
    const sort = query.sort ?? { field: 'last_message_date_sent', direction: 'desc' as const };
    const [rows, total] = await Promise.all([
      this.store.listDialogs(
        auth.applicationId,
        me,
        query.where,
        { column: SORT_COLUMN[sort.field] ?? sort.field, direction: sort.direction },
        query.skip,
        query.limit,
      ),
      this.store.countDialogs(auth.applicationId, me, query.where),
    ]);
    return {
      total_entries: total,
      skip: query.skip,
      limit: query.limit,
      items: rows.map((row) => formatDialog(row, row.unread, this.chatDomain)),
    };
  }

  async get(auth: AuthContext, id: string): Promise<DialogJson> {
    const me = actingUser(auth);
    const { dialog } = await this.visible(auth, id);
    return this.format(dialog, me);
  }

  async update(auth: AuthContext, id: string, body: Record<string, unknown>): Promise<DialogJson> {
    const me = actingUser(auth);
    const { dialog, occupant } = await this.visible(auth, id);
    const add = readUserIds('push_all.occupants_ids', occupantList(body.push_all), MAX_OCCUPANTS_PER_REQUEST);
    const remove = readUserIds('pull_all.occupants_ids', occupantList(body.pull_all), MAX_OCCUPANTS_PER_REQUEST);
    const changes: DialogChanges = {};
    if (body.name !== undefined) {
      if (dialog.type === PRIVATE) throw errors.validation('name', 'a private dialog has no name');
      const name = readText('name', body.name, MAX_NAME);
      if (name === '') throw errors.validation('name', 'cannot be blank');
      changes.name = name;
    }
    if (body.photo !== undefined) changes.photo = optionalText('photo', body.photo, MAX_PHOTO);
    if (body.data !== undefined) {
      const data = await this.readData(auth.applicationId, body.data);
      changes.data_class = data?.className ?? null;
      changes.data = data ? JSON.stringify(data.values) : null;
    }
    const owner = dialog.user_id === me;
    if (dialog.type === PRIVATE && (add.length > 0 || remove.length > 0)) {
      throw errors.forbidden('The occupants of a private dialog cannot change');
    }
    if (dialog.type === PUBLIC_GROUP && !owner) throw errors.forbidden('Only the owner can change a public dialog');
    if (dialog.type === GROUP) {
      if (!occupant) throw errors.forbidden('Only occupants can change a group dialog');
      if (!owner && remove.some((id) => id !== me)) throw errors.forbidden('Only the owner can remove other occupants');
    }
    const current = new Set(JSON.parse(dialog.occupants_ids) as number[]);
    const adding = add.filter((id) => !current.has(id));
    await this.checkUsers(auth.applicationId, adding, 'push_all.occupants_ids');
    if (current.size + adding.length > MAX_OCCUPANTS) {
      throw errors.validation('push_all.occupants_ids', `a dialog has at most ${MAX_OCCUPANTS} occupants`);
    }
    changes.updated_at = this.clock.now();
    const removing = remove.filter((id) => current.has(id) && !adding.includes(id));
    const row = await this.store.updateDialog(dialog, changes, adding, removing);
    return this.format(row, me);
  }

  /** Deletes dialogs for the caller (private: hidden; groups: the caller leaves), or for everyone with force by the owner. */
  async delete(auth: AuthContext, idList: string, force: boolean): Promise<DeleteReport> {
    const me = actingUser(auth);
    const report: DeleteReport = { SuccessfullyDeleted: { ids: [] }, NotFound: { ids: [] }, WrongPermissions: { ids: [] } };
    for (const id of readObjectIds('dialog_ids', idList, MAX_IDS)) {
      const found = await this.find(auth.applicationId, me, id);
      if (!found) {
        report.NotFound.ids.push(id);
        continue;
      }
      const { dialog, occupant } = found;
      if (force) {
        if (dialog.user_id !== me) {
          report.WrongPermissions.ids.push(id);
          continue;
        }
        await this.store.deleteDialog(id);
      } else if (dialog.type === PRIVATE) {
        await this.store.hideDialog(id, me);
      } else if (occupant) {
        await this.store.updateDialog(dialog, { updated_at: this.clock.now() }, [], [me]);
      } else {
        report.WrongPermissions.ids.push(id);
        continue;
      }
      report.SuccessfullyDeleted.ids.push(id);
    }
    return report;
  }

  async notifications(auth: AuthContext, id: string) {
    const { occupant } = await this.occupied(auth, id);
    return { notifications: { enabled: occupant.notifications } };
  }

  async setNotifications(auth: AuthContext, id: string, enabled: unknown) {
    const { occupant } = await this.occupied(auth, id);
    if (!['0', '1', 0, 1, true, false].includes(enabled as string)) throw errors.validation('enabled', 'must be 0 or 1');
    await this.store.setNotifications(id, occupant.user_id, readFlag(enabled));
    return { notifications: { enabled: readFlag(enabled) ? 1 : 0 } };
  }

  /** Bulk add or remove occupants of several dialogs, each by the caller's rights on it. */
  async bulkOccupants(auth: AuthContext, action: 'add' | 'remove', body: Record<string, unknown>) {
    actingUser(auth);
    const userIds = readUserIds('users_ids', body.users_ids ?? [], MAX_OCCUPANTS_PER_REQUEST);
    const dialogIds = readObjectIds('dialogs_ids', body.dialogs_ids ?? '', MAX_IDS);
    if (userIds.length === 0) throw errors.validation('users_ids', 'is required');
    if (dialogIds.length === 0) throw errors.validation('dialogs_ids', 'is required');
    const users = { SuccessfullyDeleted: [] as number[], NotFound: [] as number[], WrongPermissions: [] as number[] };
    const known: number[] = [];
    for (const id of userIds) {
      if (await this.users.exists(auth.applicationId, id)) known.push(id);
      else users.NotFound.push(id);
    }
    users.SuccessfullyDeleted = known;
    const dialogs = { SuccessfullyDeleted: [] as string[], NotFound: [] as string[], WrongPermissions: [] as string[] };
    for (const id of dialogIds) {
      try {
        await this.update(
          auth,
          id,
          action === 'add' ? { push_all: { occupants_ids: known } } : { pull_all: { occupants_ids: known } },
        );
        dialogs.SuccessfullyDeleted.push(id);
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 404) dialogs.NotFound.push(id);
        else if (status === 403 || status === 422) dialogs.WrongPermissions.push(id);
        else throw error;
      }
    }
    return { users, dialogs };
  }

  /** A dialog the caller may read (an occupant, or any user of a public dialog); 404 otherwise. */
  async visible(auth: AuthContext, id: string): Promise<DialogAccess> {
    const found = await this.find(auth.applicationId, actingUser(auth), id);
    if (!found) throw errors.notFound();
    return found;
  }

  /** The dialog as `me` sees it, with their unread counter. */
  async format(row: DialogRow, me: number): Promise<DialogJson> {
    const occupant = await this.store.occupant(row.id, me);
    return formatDialog(row, Number(occupant?.unread_count ?? 0), this.chatDomain);
  }

  private async find(applicationId: number, me: number, id: string): Promise<DialogAccess | null> {
    if (!/^[0-9a-f]{24}$/.test(id)) return null;
    const dialog = await this.store.dialog(applicationId, id);
    if (!dialog) return null;
    const occupant = await this.store.occupant(id, me);
    if (!occupant && dialog.type !== PUBLIC_GROUP) return null;
    return { dialog, occupant };
  }

  private async occupied(auth: AuthContext, id: string): Promise<{ dialog: DialogRow; occupant: OccupantRow }> {
    const { dialog, occupant } = await this.visible(auth, id);
    if (!occupant) throw errors.forbidden('Only occupants have notification settings');
    return { dialog, occupant };
  }

  private async checkUsers(applicationId: number, ids: number[], field = 'occupants_ids'): Promise<void> {
    for (const id of ids) {
      if (!(await this.users.exists(applicationId, id)))
        throw errors.validation(field, `names no user of this application (${id})`);
    }
  }

  private async readData(applicationId: number, raw: unknown) {
    if (raw === undefined || raw === null || raw === '') return null;
    if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.validation('data', 'must be an object with class_name');
    const data = raw as Record<string, unknown>;
    const fields = await this.dataSchema.fields(applicationId, data.class_name);
    return { className: data.class_name as string, values: this.dataSchema.read(fields, data) };
  }

  /** `data[class_name]=C&data[field][op]=v`: conditions on the dialog's custom data, typed by the class. */
  private async dataConditions(applicationId: number, raw: unknown): Promise<Condition[]> {
    if (raw === undefined) return [];
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw errors.validation('data', 'must name class_name and fields');
    const data = raw as Record<string, unknown>;
    const fields = await this.dataSchema.fields(applicationId, data.class_name);
    const conditions: Condition[] = [sql`d.data_class = ${data.class_name as string}` as Condition];
    const specs: Record<string, FieldSpec> = {};
    for (const [name, type] of fields) {
      const path = this.store.dialect === 'sqlite' ? sql`json_extract(d.data, ${`$.${name}`})` : sql`(d.data::jsonb -> ${name})`;
      const read = (field: string, value: string) => this.dataSchema.filterValue(type, field, value);
      specs[name] = {
        read,
        build: (op, values) => dataCondition(this.store.dialect, path, type === 'Array', op, values, `data.${name}`),
      };
    }
    const { class_name: _, ...filters } = data;
    conditions.push(...readListParams(specs, new Set(), filters, new Set(), this.store.dialect).where);
    return conditions;
  }
}

/** Comparisons on a JSON value; PostgreSQL compares jsonb to jsonb, which orders numbers as numbers. */
function dataCondition(
  dialect: 'sqlite' | 'postgres',
  path: ReturnType<typeof sql>,
  isArray: boolean,
  op: Op,
  values: Array<string | number | boolean>,
  field: string,
): Condition {
  const bind = (v: string | number | boolean) =>
    dialect === 'sqlite' ? sql`${typeof v === 'boolean' ? Number(v) : v}` : sql`${JSON.stringify(v)}::jsonb`;
  if (isArray) {
    const contains = (v: string | number | boolean) =>
      dialect === 'sqlite'
        ? sql`exists (select 1 from json_each(d.data, ${`$.${field.slice(5)}`}) e where e.value = ${v})`
        : sql`${path} @> ${JSON.stringify([v])}::jsonb`;
    return membership(field, op, values, contains);
  }
  const compare: Record<string, string> = { eq: '=', ne: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' };
  if (op in compare) return sql`${path} ${sql.raw(compare[op] as string)} ${bind(values[0] as string)}` as Condition;
  if (op === 'in') return sql`${path} in (${sql.join(values.map(bind))})` as Condition;
  if (op === 'nin') return sql`(${path} is null or ${path} not in (${sql.join(values.map(bind))}))` as Condition;
  if (op === 'ctn' && typeof values[0] === 'string') {
    return (
      dialect === 'sqlite' ? sql`instr(${path}, ${values[0]}) > 0` : sql`strpos(${path} #>> '{}', ${values[0]}) > 0`
    ) as Condition;
  }
  throw errors.validation(field, `does not take ${op}`);
}

/** The user a chat request acts as: chat needs one (a user session, or an API key with On-Behalf-Of). */
export function actingUser(auth: AuthContext): number {
  if (auth.userId === null) throw errors.needUser();
  return auth.userId;
}

function optionalText(field: string, value: unknown, max: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return readText(field, value, max);
}

/** `{occupants_ids: [..]}` from JSON, or `[occupants_ids][]=1,2` from a form. */
function occupantList(raw: unknown): unknown {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.validation('occupants_ids', 'must be {occupants_ids: [...]}');
  return (raw as { occupants_ids?: unknown }).occupants_ids ?? [];
}
