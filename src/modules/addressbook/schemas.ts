import { Type } from '@sinclair/typebox';
import { UserSchema } from '../users/schemas.js';

/** Parameters are read and checked in validation.ts, so that form and JSON bodies get the same messages. */
export const UploadBody = Type.Object(
  {
    contacts: Type.Unknown({ description: 'array of {name, phone, destroy?}' }),
    force: Type.Optional(Type.Unknown({ description: '1 replaces the whole book' })),
    udid: Type.Optional(Type.Unknown({ description: "the device's book (max 64 characters); none for the global book" })),
  },
  { additionalProperties: true },
);

export const BookQuery = Type.Object({}, { additionalProperties: true });

export const UploadReply = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  deleted: Type.Integer(),
  rejected: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'messages by contact index' }),
});

/** A bare array, not {items}: what the SDK reads. */
export const ContactsReply = Type.Array(Type.Object({ name: Type.String(), phone: Type.String() }));

/** Full users, or with compact=1 only id and phone: every field but those two is optional. */
const RegisteredUser = Type.Object({ ...Type.Partial(UserSchema).properties, id: Type.Integer(), phone: Type.String() });

export const RegisteredUsersReply = Type.Object({ items: Type.Array(Type.Object({ user: RegisteredUser })) });
