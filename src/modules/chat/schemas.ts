import { Type } from '@sinclair/typebox';
import { NullableInt, NullableText } from '../../core/schemas.js';

/** Reply schemas: typed fields serialise fast and document the shapes in /openapi.json. */
export const DialogJsonSchema = Type.Object(
  {
    _id: Type.String(),
    user_id: Type.Integer(),
    type: Type.Integer(),
    name: NullableText,
    photo: NullableText,
    occupants_ids: Type.Array(Type.Integer()),
    xmpp_room_jid: NullableText,
    is_join_required: Type.Integer(),
    last_message: NullableText,
    last_message_date_sent: NullableInt,
    last_message_user_id: NullableInt,
    last_message_id: NullableText,
    unread_messages_count: Type.Integer(),
    data: Type.Optional(Type.Object({ class_name: Type.String() }, { additionalProperties: true })),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { additionalProperties: false },
);

const Count = Type.Object({ items: Type.Object({ count: Type.Integer() }) });

export const DialogListSchema = Type.Union([
  Type.Object({
    total_entries: Type.Integer(),
    skip: Type.Integer(),
    limit: Type.Integer(),
    items: Type.Array(DialogJsonSchema),
  }),
  Count,
]);

/** Custom parameters are the message's own extra keys. */
export const MessageJsonSchema = Type.Object(
  {
    _id: Type.String(),
    chat_dialog_id: Type.String(),
    message: Type.String(),
    date_sent: Type.Integer(),
    sender_id: Type.Integer(),
    recipient_id: NullableInt,
    attachments: Type.Array(Type.Object({}, { additionalProperties: true })),
    read_ids: Type.Array(Type.Integer()),
    delivered_ids: Type.Array(Type.Integer()),
    read: Type.Integer(),
    markable: Type.Optional(Type.Integer()),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { additionalProperties: true },
);

export const MessageListSchema = Type.Union([
  Type.Object({ skip: Type.Integer(), limit: Type.Integer(), items: Type.Array(MessageJsonSchema) }),
  Count,
]);

export const UnreadSchema = Type.Object({ total: Type.Integer() }, { additionalProperties: Type.Integer() });
