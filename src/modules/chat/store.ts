import { type Insertable, type Kysely, type Selectable, type SqlBool, sql, type Transaction } from 'kysely';
import { type DialectName, isUniqueViolation } from '../../storage/dialect.js';
import { PreparedQuery } from '../../storage/prepared.js';
import type { ChatDialogTable, ChatMessageTable, ChatOccupantTable, Database } from '../../storage/schema.js';
import type { Condition } from './filters.js';

export type DialogRow = Selectable<ChatDialogTable>;
export type MessageRow = Selectable<ChatMessageTable>;
export type OccupantRow = Selectable<ChatOccupantTable>;
export type DialogChanges = Partial<Pick<DialogRow, 'name' | 'photo' | 'data_class' | 'data' | 'updated_at'>>;

export interface Sort {
  /** A dialog or message column; `sort_at` is the dialog's list order. */
  column: string;
  direction: 'asc' | 'desc';
}

export interface DialogPageRow extends DialogRow {
  unread: number;
}

type Db = Kysely<Database> | Transaction<Database>;

/** The chat module's SQL: dialogs, occupants and their counters, messages, hidden messages. */
export class ChatStore {
  /** The statements of every new message, compiled once (they run for each message; see src/storage/prepared.ts). */
  private readonly messageQueries;
  private readonly reads;

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
  ) {
    this.messageQueries = messageQueries(db, dialect);
    this.reads = {
      dialog: new PreparedQuery(['applicationId', 'id'] as const, (v) =>
        db
          .selectFrom('chat_dialogs')
          .selectAll()
          .where('application_id', '=', v.applicationId as number)
          .where('id', '=', v.id as string),
      ),
      occupant: new PreparedQuery(['dialogId', 'userId'] as const, (v) =>
        db
          .selectFrom('chat_occupants')
          .selectAll()
          .where('dialog_id', '=', v.dialogId as string)
          .where('user_id', '=', v.userId as number),
      ),
    };
  }

  /** Inserts a dialog and its occupants; a private pair that already has a dialog returns that one instead. */
  async insertDialog(row: Insertable<ChatDialogTable>, occupants: number[]): Promise<DialogRow> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('chat_dialogs').values(row).execute();
        await this.addOccupants(trx, row.id, row.application_id, occupants, row.sort_at ?? 0);
        return (await this.dialogIn(trx, row.application_id, row.id)) as DialogRow;
      });
    } catch (error) {
      if (!isUniqueViolation(error) || !row.private_pair) throw error;
      // Another request created the pair's dialog meanwhile.
      const existing = await this.privateDialog(row.application_id, row.private_pair);
      if (!existing) throw error;
      return existing;
    }
  }

  privateDialog(applicationId: number, pair: string): Promise<DialogRow | undefined> {
    return this.db
      .selectFrom('chat_dialogs')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('private_pair', '=', pair)
      .executeTakeFirst();
  }

  /** Read on every chat request (who may see or write a dialog), so compiled once. */
  async dialog(applicationId: number, id: string): Promise<DialogRow | undefined> {
    const [row] = await this.reads.dialog.execute(this.db, { applicationId, id });
    return row;
  }

  async occupant(dialogId: string, userId: number): Promise<OccupantRow | undefined> {
    const [row] = await this.reads.occupant.execute(this.db, { dialogId, userId });
    return row;
  }

  /**
   * A page of the dialogs a user sees: those they occupy (one index range of
   * chat_occupants in the default order) and the public ones they do not
   * occupy, each read up to skip + limit rows and merged here.
   */
  async listDialogs(
    applicationId: number,
    userId: number,
    where: Condition[],
    sort: Sort,
    skip: number,
    limit: number,
  ): Promise<DialogPageRow[]> {
    const take = skip + limit;
    const mineSort = sort.column === 'sort_at' ? 'o.sort_at' : `d.${sort.column}`;
    let mine = this.db
      .selectFrom('chat_occupants as o')
      .innerJoin('chat_dialogs as d', 'd.id', 'o.dialog_id')
      .selectAll('d')
      .select(['o.unread_count as unread', sql.ref<string | number | null>(mineSort).as('sort_value')])
      .where('o.application_id', '=', applicationId)
      .where('o.user_id', '=', userId)
      .where('o.hidden', '=', 0);
    for (const condition of where) mine = mine.where(condition);
    // The tie-break on o.dialog_id (not d.id) lets the default order come straight from the occupants index.
    const mineRows = await mine
      .orderBy(sql.ref(mineSort), sort.direction)
      .orderBy('o.dialog_id', sort.direction)
      .limit(take)
      .execute();

    let open = this.publicNotOccupied(applicationId, userId)
      .selectAll('d')
      .select([sql.lit(0).as('unread'), sql.ref<string | number | null>(`d.${sort.column}`).as('sort_value')]);
    for (const condition of where) open = open.where(condition);
    const openRows = await open
      .orderBy(sql.ref(`d.${sort.column}`), sort.direction)
      .orderBy('d.id', sort.direction)
      .limit(take)
      .execute();

    const sign = sort.direction === 'asc' ? 1 : -1;
    const rows = [...mineRows, ...openRows] as Array<DialogPageRow & { sort_value: string | number | null }>;
    rows.sort((a, b) => sign * (compare(a.sort_value, b.sort_value) || compare(a.id, b.id)));
    const page = rows.slice(skip, take);
    for (const row of page) row.unread = Number(row.unread);
    return page;
  }

  async countDialogs(applicationId: number, userId: number, where: Condition[]): Promise<number> {
    // Unfiltered, the user's own dialogs are counted on the occupants index alone, without the join.
    const occupied = this.db
      .selectFrom('chat_occupants as o')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('o.application_id', '=', applicationId)
      .where('o.user_id', '=', userId)
      .where('o.hidden', '=', 0);
    let mine = where.length === 0 ? occupied : occupied.innerJoin('chat_dialogs as d', 'd.id', 'o.dialog_id');
    let open = this.publicNotOccupied(applicationId, userId).select((eb) => eb.fn.countAll<number>().as('n'));
    for (const condition of where) {
      mine = mine.where(condition);
      open = open.where(condition);
    }
    const [a, b] = await Promise.all([mine.executeTakeFirstOrThrow(), open.executeTakeFirstOrThrow()]);
    return Number(a.n) + Number(b.n);
  }

  private publicNotOccupied(applicationId: number, userId: number) {
    return this.db
      .selectFrom('chat_dialogs as d')
      .where('d.application_id', '=', applicationId)
      .where('d.type', '=', 1)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('chat_occupants as x')
              .select('x.user_id')
              .whereRef('x.dialog_id', '=', 'd.id')
              .where('x.user_id', '=', userId),
          ),
        ),
      );
  }

  /** Changes a dialog's fields and occupants in one transaction; removed occupants take their unread counts along. */
  async updateDialog(dialog: DialogRow, changes: DialogChanges, add: number[], remove: number[]): Promise<DialogRow> {
    return this.db.transaction().execute(async (trx) => {
      const current = await this.dialogIn(trx, dialog.application_id, dialog.id, true);
      if (!current) return dialog;
      const occupants = new Set(JSON.parse(current.occupants_ids) as number[]);
      for (const id of add) occupants.add(id);
      for (const id of remove) occupants.delete(id);
      await trx
        .updateTable('chat_dialogs')
        .set({ ...changes, occupants_ids: JSON.stringify([...occupants].sort((a, b) => a - b)) })
        .where('id', '=', dialog.id)
        .execute();
      await this.addOccupants(trx, dialog.id, dialog.application_id, add, current.sort_at);
      await this.removeOccupants(trx, dialog.id, remove);
      return (await this.dialogIn(trx, dialog.application_id, dialog.id)) as DialogRow;
    });
  }

  /** The user deleted the dialog for themselves: it leaves their list until a new message, and nothing in it stays unread. */
  async hideDialog(dialogId: string, userId: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.markRead(trx, dialogId, userId, null);
      await trx
        .updateTable('chat_occupants')
        .set({ hidden: 1 })
        .where('dialog_id', '=', dialogId)
        .where('user_id', '=', userId)
        .execute();
    });
  }

  async showDialog(dialogId: string, userId: number): Promise<void> {
    await this.db
      .updateTable('chat_occupants')
      .set({ hidden: 0 })
      .where('dialog_id', '=', dialogId)
      .where('user_id', '=', userId)
      .execute();
  }

  /** Removes a dialog with its history, for everyone. */
  async deleteDialog(dialogId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const occupants = await trx.selectFrom('chat_occupants').select('user_id').where('dialog_id', '=', dialogId).execute();
      await this.removeOccupants(
        trx,
        dialogId,
        occupants.map((o) => o.user_id),
      );
      await trx.deleteFrom('chat_dialogs').where('id', '=', dialogId).execute();
    });
  }

  async setNotifications(dialogId: string, userId: number, enabled: boolean): Promise<void> {
    await this.db
      .updateTable('chat_occupants')
      .set({ notifications: enabled ? 1 : 0 })
      .where('dialog_id', '=', dialogId)
      .where('user_id', '=', userId)
      .execute();
  }

  /** Stores one message in a transaction of its own (see addMessage). */
  async insertMessage(row: MessageRow): Promise<void> {
    await this.db.transaction().execute((trx) => this.addMessage(trx, row));
  }

  /**
   * Stores messages in one transaction (group commit). Dialogs are locked in
   * id order, so two batches on PostgreSQL never wait on each other in a cycle.
   */
  async insertMessages(rows: MessageRow[]): Promise<void> {
    const ordered = [...rows].sort((a, b) => compare(a.dialog_id, b.dialog_id) || compare(a.id, b.id));
    await this.db.transaction().execute(async (trx) => {
      for (const row of ordered) await this.addMessage(trx, row);
    });
  }

  /**
   * A message and, in the same transaction, the dialog's last-message fields,
   * every other occupant's unread counter (and total), and the dialog shown
   * again to occupants who had hidden it.
   */
  private async addMessage(trx: Transaction<Database>, row: MessageRow): Promise<void> {
    // PostgreSQL: writers of one dialog queue on its row, so their counter updates never interleave into a deadlock.
    // SQLite has one writer at a time anyway.
    if (this.dialect === 'postgres') await this.dialogIn(trx, row.application_id, row.dialog_id, true);
    const q = this.messageQueries;
    await q.insert.execute(trx, row);
    await q.lastMessage.execute(trx, {
      message: row.message,
      sentAt: row.date_sent,
      senderId: row.sender_id,
      messageId: row.id,
      sortAt: row.date_sent,
      updatedAt: row.updated_at,
      dialogId: row.dialog_id,
      olderSecond: row.date_sent,
      sameSecond: row.date_sent,
      lowerId: row.id,
    });
    await q.totals.execute(trx, { dialogId: row.dialog_id, senderId: row.sender_id });
    await q.occupants.execute(trx, { senderId: row.sender_id, sentAt: row.date_sent, dialogId: row.dialog_id });
  }

  message(dialogId: string | null, id: string): Promise<MessageRow | undefined> {
    let query = this.db.selectFrom('chat_messages').selectAll().where('id', '=', id);
    if (dialogId) query = query.where('dialog_id', '=', dialogId);
    return query.executeTakeFirst();
  }

  messagesByIds(applicationId: number, ids: string[]): Promise<MessageRow[]> {
    return this.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', 'in', ids)
      .execute();
  }

  hiddenFor(userId: number, ids: string[]): Promise<Set<string>> {
    return this.db
      .selectFrom('chat_hidden_messages')
      .select('message_id')
      .where('user_id', '=', userId)
      .where('message_id', 'in', ids)
      .execute()
      .then((rows) => new Set(rows.map((r) => r.message_id)));
  }

  /** A page of a dialog's history as a user sees it (without what they deleted for themselves). */
  listMessages(
    dialogId: string,
    userId: number,
    where: Condition[],
    sort: Sort,
    skip: number,
    limit: number,
  ): Promise<MessageRow[]> {
    let query = this.visibleMessages(dialogId, userId).selectAll('m');
    for (const condition of where) query = query.where(condition);
    // Id order is date_sent order: an id starts with the second its message was sent in (both from
    // one clock reading; neither changes) and ties go by id either way. Said so, it pages through
    // chat_messages_by_dialog instead of sorting the dialog (or walking every dialog's ids).
    const column = sort.column === 'id' ? 'date_sent' : sort.column;
    return query
      .orderBy(sql.ref(`m.${column}`), sort.direction)
      .orderBy('m.id', sort.direction)
      .offset(skip)
      .limit(limit)
      .execute();
  }

  async countMessages(dialogId: string, userId: number, where: Condition[]): Promise<number> {
    let query = this.visibleMessages(dialogId, userId).select((eb) => eb.fn.countAll<number>().as('n'));
    for (const condition of where) query = query.where(condition);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  private visibleMessages(dialogId: string, userId: number) {
    return this.db
      .selectFrom('chat_messages as m')
      .where('m.dialog_id', '=', dialogId)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('chat_hidden_messages as h')
              .select('h.user_id')
              .whereRef('h.message_id', '=', 'm.id')
              .where('h.user_id', '=', userId),
          ),
        ),
      );
  }

  /** Marks messages of a dialog (all when `ids` is null) read by a user; their counter drops by as many as changed. */
  readMessages(dialogId: string, userId: number, ids: string[] | null): Promise<number> {
    return this.db.transaction().execute((trx) => this.markRead(trx, dialogId, userId, ids));
  }

  /** Takes a user's read mark off one message; their counter rises when it did. */
  async unreadMessage(dialogId: string, userId: number, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('chat_messages')
        .set({ read_ids: sql`replace(read_ids, ${`,${userId},`}, ',')` })
        .where('id', '=', id)
        .where('dialog_id', '=', dialogId)
        .where('sender_id', '<>', userId)
        .where('read_ids', 'like', `%,${userId},%`)
        .where(this.notHiddenBy(userId))
        .executeTakeFirst();
      await this.addUnread(trx, dialogId, userId, Number(result.numUpdatedRows));
    });
  }

  /** Marks messages (all when `ids` is null) delivered to a user. */
  async deliverMessages(dialogId: string, userId: number, ids: string[] | null): Promise<void> {
    let query = this.db
      .updateTable('chat_messages')
      .set({ delivered_ids: sql`delivered_ids || ${`${userId},`}` })
      .where(this.inDialog(dialogId, ids !== null))
      .where('delivered_ids', 'not like', `%,${userId},%`);
    if (ids) query = query.where('id', 'in', ids);
    await query.execute();
  }

  async editMessage(id: string, text: string, now: number, isLast: boolean): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('chat_messages')
        .set({ message: text, updated_at: now })
        .where('id', '=', id)
        .returning('dialog_id')
        .executeTakeFirst();
      if (isLast && row)
        await trx
          .updateTable('chat_dialogs')
          .set({ last_message: text })
          .where('id', '=', row.dialog_id)
          .where('last_message_id', '=', id)
          .execute();
    });
  }

  /** Deletes messages for one user only: a row per message; those unread by them no longer count. */
  async hideMessages(dialogId: string, userId: number, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      const unread = await trx
        .selectFrom('chat_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(this.inDialog(dialogId, true))
        .where('id', 'in', ids)
        .where('sender_id', '<>', userId)
        .where('read_ids', 'not like', `%,${userId},%`)
        .where(this.notHiddenBy(userId))
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('chat_hidden_messages')
        .values(ids.map((id) => ({ message_id: id, user_id: userId, dialog_id: dialogId })))
        .onConflict((oc) => oc.columns(['message_id', 'user_id']).doNothing())
        .execute();
      await this.addUnread(trx, dialogId, userId, -Number(unread.n));
    });
  }

  /**
   * Removes messages from the history of everyone: each occupant for whom a
   * message was still unread counts one fewer, and the dialog's last message
   * becomes the newest one left.
   */
  async deleteMessages(dialogId: string, messages: MessageRow[]): Promise<void> {
    if (messages.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const message of messages) {
        const stillUnread = (db: Db) =>
          db
            .selectFrom('chat_occupants as o')
            .select('o.user_id')
            .where('o.dialog_id', '=', dialogId)
            .where('o.user_id', '<>', message.sender_id)
            .where(sql<SqlBool>`${message.read_ids} not like ${sql`'%,' || o.user_id || ',%'`}`)
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom('chat_hidden_messages as h')
                    .select('h.user_id')
                    .where('h.message_id', '=', message.id)
                    .whereRef('h.user_id', '=', 'o.user_id'),
                ),
              ),
            );
        await trx
          .updateTable('chat_unread_totals')
          .set((eb) => ({ total: eb('total', '-', 1) }))
          .where('user_id', 'in', stillUnread(trx))
          .execute();
        await trx
          .updateTable('chat_occupants')
          .set((eb) => ({ unread_count: eb('unread_count', '-', 1) }))
          .where('dialog_id', '=', dialogId)
          .where('user_id', 'in', stillUnread(trx))
          .execute();
        await trx.deleteFrom('chat_messages').where('id', '=', message.id).execute();
      }
      const dialog = await trx
        .selectFrom('chat_dialogs')
        .select(['last_message_id', 'created_at'])
        .where('id', '=', dialogId)
        .executeTakeFirst();
      if (!dialog || !messages.some((m) => m.id === dialog.last_message_id)) return;
      const last = await trx
        .selectFrom('chat_messages')
        .selectAll()
        .where('dialog_id', '=', dialogId)
        .orderBy('date_sent', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      const sortAt = last?.date_sent ?? Math.floor(dialog.created_at / 1000);
      await trx
        .updateTable('chat_dialogs')
        .set({
          last_message: last?.message ?? null,
          last_message_date_sent: last?.date_sent ?? null,
          last_message_user_id: last?.sender_id ?? null,
          last_message_id: last?.id ?? null,
          sort_at: sortAt,
        })
        .where('id', '=', dialogId)
        .execute();
      await trx.updateTable('chat_occupants').set({ sort_at: sortAt }).where('dialog_id', '=', dialogId).execute();
    });
  }

  /** Unread counters of a user: in these dialogs, or the total over all of theirs. */
  async unreadCounts(userId: number, dialogIds: string[] | null): Promise<{ total: number; byDialog: Map<string, number> }> {
    const byDialog = new Map<string, number>();
    if (!dialogIds) {
      const row = await this.db.selectFrom('chat_unread_totals').select('total').where('user_id', '=', userId).executeTakeFirst();
      return { total: Number(row?.total ?? 0), byDialog };
    }
    if (dialogIds.length === 0) return { total: 0, byDialog };
    const rows = await this.db
      .selectFrom('chat_occupants')
      .select(['dialog_id', 'unread_count'])
      .where('dialog_id', 'in', dialogIds)
      .where('user_id', '=', userId)
      // Through the primary key: the application is implied by the user (ids are global).
      .execute();
    let total = 0;
    for (const row of rows) {
      byDialog.set(row.dialog_id, Number(row.unread_count));
      total += Number(row.unread_count);
    }
    return { total, byDialog };
  }

  private async markRead(trx: Db, dialogId: string, userId: number, ids: string[] | null): Promise<number> {
    let query = trx
      .updateTable('chat_messages')
      .set({ read_ids: sql`read_ids || ${`${userId},`}` })
      .where(this.inDialog(dialogId, ids !== null))
      .where('sender_id', '<>', userId)
      .where('read_ids', 'not like', `%,${userId},%`)
      .where(this.notHiddenBy(userId));
    if (ids) query = query.where('id', 'in', ids);
    const changed = Number((await query.executeTakeFirst()).numUpdatedRows);
    await this.addUnread(trx, dialogId, userId, -changed);
    return changed;
  }

  /**
   * `dialog_id = ?`. With message ids named as well (`byIds`), SQLite, which has no statistics, would
   * still walk the dialog's whole history through chat_messages_by_dialog rather than look the ids up
   * by primary key (8.8 ms for 50 ids in a dialog of 100,000 messages, on every page read); its unary
   * `+` keeps the term a filter. PostgreSQL refuses `+` on text, and its planner has statistics.
   */
  private inDialog(dialogId: string, byIds: boolean) {
    return byIds && this.dialect === 'sqlite' ? sql<SqlBool>`+dialog_id = ${dialogId}` : sql<SqlBool>`dialog_id = ${dialogId}`;
  }

  private notHiddenBy(userId: number) {
    return sql<SqlBool>`not exists (select 1 from chat_hidden_messages h where h.message_id = chat_messages.id and h.user_id = ${userId})`;
  }

  /** Moves one occupant's counter and their total together (nothing for a reader who is no occupant). */
  private async addUnread(trx: Db, dialogId: string, userId: number, delta: number): Promise<void> {
    if (delta === 0) return;
    const result = await trx
      .updateTable('chat_occupants')
      .set((eb) => ({ unread_count: eb('unread_count', '+', delta) }))
      .where('dialog_id', '=', dialogId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return;
    await trx
      .updateTable('chat_unread_totals')
      .set((eb) => ({ total: eb('total', '+', delta) }))
      .where('user_id', '=', userId)
      .execute();
  }

  private async addOccupants(trx: Db, dialogId: string, applicationId: number, userIds: number[], sortAt: number): Promise<void> {
    if (userIds.length === 0) return;
    await trx
      .insertInto('chat_occupants')
      .values(
        userIds.map((user_id) => ({
          dialog_id: dialogId,
          user_id,
          application_id: applicationId,
          unread_count: 0,
          hidden: 0,
          notifications: 1,
          sort_at: sortAt,
        })),
      )
      .onConflict((oc) => oc.columns(['dialog_id', 'user_id']).doNothing())
      .execute();
    await trx
      .insertInto('chat_unread_totals')
      .values(userIds.map((user_id) => ({ user_id, total: 0 })))
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
  }

  private async removeOccupants(trx: Db, dialogId: string, userIds: number[]): Promise<void> {
    if (userIds.length === 0) return;
    const rows = await trx
      .selectFrom('chat_occupants')
      .select(['user_id', 'unread_count'])
      .where('dialog_id', '=', dialogId)
      .where('user_id', 'in', userIds)
      .execute();
    for (const row of rows) {
      if (Number(row.unread_count) !== 0) {
        await trx
          .updateTable('chat_unread_totals')
          .set((eb) => ({ total: eb('total', '-', Number(row.unread_count)) }))
          .where('user_id', '=', row.user_id)
          .execute();
      }
    }
    await trx.deleteFrom('chat_occupants').where('dialog_id', '=', dialogId).where('user_id', 'in', userIds).execute();
  }

  private async dialogIn(db: Db, applicationId: number, id: string, forUpdate = false): Promise<DialogRow | undefined> {
    let query = db.selectFrom('chat_dialogs').selectAll().where('application_id', '=', applicationId).where('id', '=', id);
    // PostgreSQL: concurrent occupant changes of one dialog queue here; SQLite serialises writers anyway.
    if (forUpdate && this.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }
}

function compare(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

const MESSAGE_COLUMNS = [
  'id',
  'dialog_id',
  'application_id',
  'sender_id',
  'recipient_id',
  'message',
  'date_sent',
  'attachments',
  'attachment_types',
  'custom',
  'markable',
  'read_ids',
  'delivered_ids',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ChatMessageTable>;

/**
 * A new message's writes: the row; the dialog's last-message fields, only
 * when it is newer than the last one (messages sent at once may commit in any
 * order); every other occupant's total and counter; the dialog shown again to
 * occupants who had hidden it. Each named value is bound once, so values used
 * twice have two names; constants are SQL, not parameters.
 */
function messageQueries(db: Kysely<Database>, dialect: DialectName) {
  const later = (sentAt: unknown) =>
    dialect === 'sqlite' ? sql<number>`max(sort_at, ${sentAt})` : sql<number>`greatest(sort_at, ${sentAt})`;
  return {
    insert: new PreparedQuery(MESSAGE_COLUMNS, (v) => db.insertInto('chat_messages').values(v as Insertable<ChatMessageTable>)),
    lastMessage: new PreparedQuery(
      [
        'message',
        'sentAt',
        'senderId',
        'messageId',
        'sortAt',
        'updatedAt',
        'dialogId',
        'olderSecond',
        'sameSecond',
        'lowerId',
      ] as const,
      (v) =>
        db
          .updateTable('chat_dialogs')
          .set({
            last_message: v.message as string,
            last_message_date_sent: v.sentAt as number,
            last_message_user_id: v.senderId as number,
            last_message_id: v.messageId as string,
            sort_at: v.sortAt as number,
            updated_at: v.updatedAt as number,
          })
          .where('id', '=', v.dialogId as string)
          .where((eb) =>
            eb.or([
              eb('last_message_id', 'is', null),
              eb('last_message_date_sent', '<', v.olderSecond as number),
              eb.and([
                eb('last_message_date_sent', '=', v.sameSecond as number),
                eb('last_message_id', '<', v.lowerId as string),
              ]),
            ]),
          ),
    ),
    totals: new PreparedQuery(['dialogId', 'senderId'] as const, (v) =>
      db
        .updateTable('chat_unread_totals')
        .set({ total: sql`total + 1` })
        .where('user_id', 'in', (eb) =>
          eb
            .selectFrom('chat_occupants')
            .select('user_id')
            .where('dialog_id', '=', v.dialogId as string)
            .where('user_id', '<>', v.senderId as number),
        ),
    ),
    occupants: new PreparedQuery(['senderId', 'sentAt', 'dialogId'] as const, (v) =>
      db
        .updateTable('chat_occupants')
        .set({
          unread_count: sql`unread_count + case when user_id = ${v.senderId} then 0 else 1 end`,
          hidden: sql`0`,
          sort_at: later(v.sentAt),
        })
        .where('dialog_id', '=', v.dialogId as string),
    ),
  };
}
