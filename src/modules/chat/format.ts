import { isoSeconds } from '../../core/clock.js';
import type { DialogRow, MessageRow } from './store.js';

export type DialogJson = Record<string, unknown>;
export type MessageJson = Record<string, unknown>;

/** The dialog object the SDK reads; `unread` is the caller's counter. */
export function formatDialog(row: DialogRow, unread: number, chatDomain: string): DialogJson {
  const json: DialogJson = {
    _id: row.id,
    user_id: row.user_id,
    type: row.type,
    name: row.name,
    photo: row.photo,
    occupants_ids: JSON.parse(row.occupants_ids) as number[],
    xmpp_room_jid: row.type === 3 ? null : `${row.application_id}_${row.id}@muc.${chatDomain}`,
    is_join_required: row.is_join_required,
    last_message: row.last_message,
    last_message_date_sent: row.last_message_date_sent,
    last_message_user_id: row.last_message_user_id,
    last_message_id: row.last_message_id,
    unread_messages_count: unread,
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  };
  if (row.data_class) json.data = { class_name: row.data_class, ...(JSON.parse(row.data ?? '{}') as object) };
  return json;
}

/** ",1,5," as the ids it lists. */
export function idList(commaForm: string): number[] {
  return commaForm
    .split(',')
    .filter((part) => part !== '')
    .map(Number);
}

export function formatMessage(row: MessageRow): MessageJson {
  const readIds = idList(row.read_ids);
  return {
    // Custom parameters first, so no custom name can shadow a field of the message.
    ...(row.custom === '{}' ? null : (JSON.parse(row.custom) as object)),
    _id: row.id,
    chat_dialog_id: row.dialog_id,
    message: row.message,
    date_sent: row.date_sent,
    sender_id: row.sender_id,
    recipient_id: row.recipient_id,
    attachments: row.attachments === '[]' ? [] : (JSON.parse(row.attachments) as unknown[]),
    read_ids: readIds,
    delivered_ids: idList(row.delivered_ids),
    read: readIds.some((id) => id !== row.sender_id) ? 1 : 0,
    ...(row.markable ? { markable: 1 } : {}),
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  };
}
