import { Type } from '@sinclair/typebox';
import { NullableInt } from '../../core/schemas.js';

const Name = Type.Object({ name: Type.String() });
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const SubscriptionsReply = Type.Array(
  Type.Object({
    subscription: Type.Object({
      id: Type.Integer(),
      notification_channel: Name,
      device: Type.Object({ udid: Type.String(), platform: Name }),
    }),
  }),
);

const EventSchema = Type.Object({
  id: Type.Integer(),
  event_type: Type.String(),
  message: Type.String(),
  active: Type.Boolean(),
  user_id: NullableInt,
  name: Nullable(Type.String()),
  date: Nullable(Type.String()),
  end_date: Nullable(Type.String()),
  period: NullableInt,
  occured_count: Type.Integer(),
  notification_channel: Name,
  environment: Type.String(),
  subscribers_selector: Type.Object({
    environment: Type.String(),
    user_ids: Type.Optional(Type.Array(Type.Integer())),
    external_user_ids: Type.Optional(Type.Array(Type.Integer())),
    tags: Type.Optional(
      Type.Object({
        any: Type.Optional(Type.Array(Type.String())),
        all: Type.Optional(Type.Array(Type.String())),
        exclude: Type.Optional(Type.Array(Type.String())),
      }),
    ),
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
});

export const EventReply = Type.Object({ event: EventSchema });
export const EventStatusReply = Type.Object({
  event: Type.Composite([
    EventSchema,
    Type.Object({ sent_count: Type.Integer(), failed_count: Type.Integer(), removed_count: Type.Integer() }),
  ]),
});
export const EventPageReply = Type.Object({
  current_page: Type.Integer(),
  per_page: Type.Integer(),
  total_entries: Type.Integer(),
  items: Type.Array(EventReply),
});
export const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });
export const AnyObject = Type.Object({}, { additionalProperties: true });
export const ServiceParams = Type.Object({ service: Type.Union([Type.Literal('apns'), Type.Literal('fcm')]) });
const NullableText = Type.Union([Type.String(), Type.Null()]);
export const CredentialsReply = Type.Object({
  push_credentials: Type.Object({
    apns: Type.Union([
      Type.Object({
        auth: Type.String(),
        key_id: Type.Optional(Type.String()),
        team_id: Type.Optional(Type.String()),
        subject: Type.Optional(NullableText),
        topic: NullableText,
      }),
      Type.Null(),
    ]),
    fcm: Type.Union([Type.Object({ project_id: Type.String(), client_email: Type.String() }), Type.Null()]),
  }),
});
