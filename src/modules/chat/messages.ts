import { sql } from 'kysely';
import type { AuthContext } from '../../core/auth.js';
import type { Clock } from '../../core/clock.js';
import { ApiError, errors } from '../../core/errors.js';
import { objectId } from '../../core/ids.js';
import { GroupCommit } from '../../storage/group-commit.js';
import { actingUser, type DeleteReport, type DialogAccess, type DialogsService, PRIVATE } from './dialogs.js';
import type { ChatEvents } from './events.js';
import { type FieldSpec, membership, readId, readInteger, readListParams, readString, readTime } from './filters.js';
import { formatMessage, type MessageJson } from './format.js';
import type { ChatStore, MessageRow } from './store.js';
import { OBJECT_ID, readFlag, readObjectIds, readText, readUserId, xmlSafe } from './text.js';

const MAX_MESSAGE = 65_536;
const MAX_ATTACHMENTS = 100;
const MAX_CUSTOM = 50;
const MAX_VALUE = 4096;
const MAX_IDS = 100;
const CUSTOM_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** Parameters of POST /chat/Message.json that are not custom parameters. */
const KNOWN = new Set(['chat_dialog_id', 'recipient_id', 'message', 'attachments', 'send_to_chat', 'markable', 'token']);
/** Names a custom parameter may not take: the message's own fields. */
const RESERVED = new Set([
  '_id',
  'chat_dialog_id',
  'date_sent',
  'sender_id',
  'read',
  'read_ids',
  'delivered_ids',
  'created_at',
  'updated_at',
]);
const SORTABLE = new Set(['_id', 'message', 'date_sent', 'sender_id', 'recipient_id', 'created_at', 'updated_at']);
const LIST_IGNORE = new Set(['chat_dialog_id', 'mark_as_read', 'token']);

const MESSAGE_FIELDS: Record<string, FieldSpec> = {
  _id: { read: readId, column: 'm.id' },
  message: { read: readString, column: 'm.message' },
  date_sent: { read: readInteger, column: 'm.date_sent' },
  sender_id: { read: readInteger, column: 'm.sender_id' },
  recipient_id: { read: readInteger, column: 'm.recipient_id' },
  created_at: { read: readTime, column: 'm.created_at' },
  updated_at: { read: readTime, column: 'm.updated_at' },
  'attachments.type': {
    read: readString,
    build: (op, values) =>
      membership('attachments.type', op, values, (v) => sql`m.attachment_types like ${`%,${String(v).replace(/[%_,]/g, '')},%`}`),
  },
};

/** Chat messages: history, read and delivered marks, per-user deletion, unread counts. */
export class MessagesService {
  private readonly writer: GroupCommit<MessageRow, void>;

  constructor(
    private readonly store: ChatStore,
    private readonly dialogs: DialogsService,
    private readonly events: ChatEvents,
    private readonly clock: Clock,
  ) {
    this.writer = new GroupCommit(async (rows) => {
      await store.insertMessages(rows);
      return rows.map(() => undefined);
    });
  }

  async create(auth: AuthContext, body: Record<string, unknown>): Promise<MessageJson> {
    const me = actingUser(auth);
    const dialog = await this.dialogToWrite(auth, me, body);
    const text = body.message === undefined || body.message === null ? '' : readText('message', body.message, MAX_MESSAGE);
    const attachments = readAttachments(body.attachments);
    const custom = readCustom(body);
    const now = this.clock.now();
    const occupants = JSON.parse(dialog.occupants_ids) as number[];
    const row: MessageRow = {
      id: objectId(now),
      dialog_id: dialog.id,
      application_id: auth.applicationId,
      sender_id: me,
      recipient_id: dialog.type === PRIVATE ? (occupants.find((id) => id !== me) ?? null) : null,
      message: text,
      date_sent: Math.floor(now / 1000),
      attachments: JSON.stringify(attachments),
      attachment_types: `,${attachments.map((a) => String(a.type ?? '').replace(/,/g, '')).join(',')},`,
      custom: JSON.stringify(custom),
      markable: readFlag(body.markable) ? 1 : 0,
      read_ids: `,${me},`,
      delivered_ids: `,${me},`,
      created_at: now,
      updated_at: now,
    };
    await this.writer.submit(row);
    const json = formatMessage(row);
    if (readFlag(body.send_to_chat)) this.events.publishMessage({ applicationId: auth.applicationId, dialog, message: json });
    return json;
  }

  async list(auth: AuthContext, params: Record<string, unknown>) {
    const me = actingUser(auth);
    if (typeof params.chat_dialog_id !== 'string' || params.chat_dialog_id === '') {
      throw errors.validation('chat_dialog_id', 'is required');
    }
    const { dialog } = await this.readable(auth, params.chat_dialog_id);
    const query = readListParams(MESSAGE_FIELDS, SORTABLE, params, LIST_IGNORE, this.store.dialect);
    if (query.count) return { items: { count: await this.store.countMessages(dialog.id, me, query.where) } };
    const sort = query.sort ?? { field: 'date_sent', direction: 'asc' as const };
    const rows = await this.store.listMessages(
      dialog.id,
      me,
      query.where,
      { column: sort.field === '_id' ? 'id' : sort.field, direction: sort.direction },
      query.skip,
      query.limit,
    );
    if (params.mark_as_read !== '0' && params.mark_as_read !== 0) {
      const unread = rows.filter((row) => row.sender_id !== me && !row.read_ids.includes(`,${me},`)).map((row) => row.id);
      if (unread.length > 0) await this.store.readMessages(dialog.id, me, unread);
    }
    return { skip: query.skip, limit: query.limit, items: rows.map(formatMessage) };
  }

  /** PUT /chat/Message/{id}.json, or without an id (`PUT /chat/Message.json`) every message of `chat_dialog_id`. */
  async update(auth: AuthContext, id: string | null, body: Record<string, unknown>): Promise<void> {
    const me = actingUser(auth);
    if (id === null) {
      if (typeof body.chat_dialog_id !== 'string') throw errors.validation('chat_dialog_id', 'is required');
      const { dialog } = await this.readable(auth, body.chat_dialog_id);
      if (readFlag(body.read)) await this.store.readMessages(dialog.id, me, null);
      if (readFlag(body.delivered)) await this.store.deliverMessages(dialog.id, me, null);
      return;
    }
    if (!OBJECT_ID.test(id)) throw errors.notFound();
    const message = await this.store.message(null, id);
    if (!message || message.application_id !== auth.applicationId) throw errors.notFound();
    const { dialog } = await this.readable(auth, message.dialog_id);
    if (typeof body.chat_dialog_id === 'string' && body.chat_dialog_id !== dialog.id) throw errors.notFound();
    if ((await this.store.hiddenFor(me, [id])).has(id)) throw errors.notFound();
    if (body.message !== undefined) {
      if (message.sender_id !== me) throw errors.forbidden('Only the sender can change a message');
      const text = readText('message', body.message, MAX_MESSAGE);
      await this.store.editMessage(id, text, this.clock.now(), dialog.last_message_id === id);
    }
    if (body.read !== undefined) {
      if (readFlag(body.read)) await this.store.readMessages(dialog.id, me, [id]);
      else await this.store.unreadMessage(dialog.id, me, id);
    }
    if (readFlag(body.delivered)) await this.store.deliverMessages(dialog.id, me, [id]);
  }

  /** Deletes messages for the caller only, or for everyone with force by their sender. */
  async delete(auth: AuthContext, idList: string, force: boolean): Promise<DeleteReport> {
    const me = actingUser(auth);
    const ids = readObjectIds('message_ids', idList, MAX_IDS);
    const report: DeleteReport = { SuccessfullyDeleted: { ids: [] }, NotFound: { ids: [] }, WrongPermissions: { ids: [] } };
    const rows = new Map((await this.store.messagesByIds(auth.applicationId, ids)).map((row) => [row.id, row]));
    const hidden = await this.store.hiddenFor(me, ids);
    const byDialog = new Map<string, { hide: string[]; remove: MessageRow[] }>();
    const access = new Map<string, DialogAccess | null>();
    for (const id of ids) {
      const row = rows.get(id);
      if (row && !access.has(row.dialog_id)) access.set(row.dialog_id, await this.readableOrNull(auth, row.dialog_id));
      if (!row || hidden.has(id) || !access.get(row.dialog_id)) {
        report.NotFound.ids.push(id);
        continue;
      }
      if (force && row.sender_id !== me) {
        report.WrongPermissions.ids.push(id);
        continue;
      }
      const plan = byDialog.get(row.dialog_id) ?? { hide: [], remove: [] };
      if (force) plan.remove.push(row);
      else plan.hide.push(id);
      byDialog.set(row.dialog_id, plan);
      report.SuccessfullyDeleted.ids.push(id);
    }
    for (const [dialogId, plan] of byDialog) {
      await this.store.hideMessages(dialogId, me, plan.hide);
      await this.store.deleteMessages(dialogId, plan.remove);
    }
    return report;
  }

  /** `{total, <dialog id>: n, ...}`: the counters kept on write, for these dialogs or the total over all. */
  async unread(auth: AuthContext, dialogIds: unknown): Promise<Record<string, number>> {
    const me = actingUser(auth);
    const ids = dialogIds === undefined || dialogIds === '' ? null : readObjectIds('chat_dialog_ids', dialogIds, MAX_IDS);
    const { total, byDialog } = await this.store.unreadCounts(me, ids);
    const out: Record<string, number> = { total };
    for (const id of ids ?? []) out[id] = byDialog.get(id) ?? 0;
    return out;
  }

  /** The dialog a new message goes to: by chat_dialog_id (occupants; anyone in a public one), or the private dialog with recipient_id. */
  private async dialogToWrite(auth: AuthContext, me: number, body: Record<string, unknown>) {
    if (body.chat_dialog_id !== undefined && body.chat_dialog_id !== '') {
      if (typeof body.chat_dialog_id !== 'string') throw errors.validation('chat_dialog_id', 'is not an id');
      return (await this.readable(auth, body.chat_dialog_id)).dialog;
    }
    if (body.recipient_id === undefined || body.recipient_id === '') {
      throw errors.validation('chat_dialog_id', 'or recipient_id is required');
    }
    return this.dialogs.privateWith(auth.applicationId, me, readUserId('recipient_id', body.recipient_id));
  }

  private async readableOrNull(auth: AuthContext, dialogId: string): Promise<DialogAccess | null> {
    try {
      return await this.readable(auth, dialogId);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) return null;
      throw error;
    }
  }

  private async readable(auth: AuthContext, dialogId: string): Promise<DialogAccess> {
    if (!OBJECT_ID.test(dialogId)) throw errors.validation('chat_dialog_id', 'is not an id');
    return this.dialogs.visible(auth, dialogId);
  }
}

/** Attachments as a JSON array, or `attachments[0][type]=image` from a form (an array or an object by index). */
function readAttachments(raw: unknown): Array<Record<string, string | number>> {
  if (raw === undefined || raw === null || raw === '') return [];
  if (typeof raw !== 'object') throw errors.validation('attachments', 'must be a list of objects');
  const list = Array.isArray(raw) ? raw : Object.values(raw);
  if (list.length > MAX_ATTACHMENTS) throw errors.validation('attachments', `has more than ${MAX_ATTACHMENTS} items`);
  return list.map((item, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw errors.validation(`attachments.${index}`, 'must be an object');
    }
    const out: Record<string, string | number> = {};
    for (const [key, value] of Object.entries(item)) {
      if (!CUSTOM_NAME.test(key) && key !== 'content-type') throw errors.validation(`attachments.${index}`, 'has a bad key');
      if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
      else out[key] = readText(`attachments.${index}.${key}`, value, MAX_VALUE);
    }
    return out;
  });
}

/** Every other parameter is a custom one, kept and returned: scalar values under plain names. */
function readCustom(body: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  let count = 0;
  for (const [key, value] of Object.entries(body)) {
    if (KNOWN.has(key) || value === undefined) continue;
    if (!CUSTOM_NAME.test(key) || RESERVED.has(key)) throw errors.validation(key.slice(0, 64), 'is not a custom parameter name');
    if (++count > MAX_CUSTOM) throw errors.validation('base', `at most ${MAX_CUSTOM} custom parameters`);
    if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    else if (typeof value === 'string') {
      if (value.length > MAX_VALUE) throw errors.validation(key, 'is too long');
      out[key] = xmlSafe(value);
    } else throw errors.validation(key, 'must be a single value');
  }
  return out;
}
