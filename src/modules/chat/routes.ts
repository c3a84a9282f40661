import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { authOf } from '../../core/auth.js';
import type { DialogsService } from './dialogs.js';
import type { MessagesService } from './messages.js';
import { DialogJsonSchema, DialogListSchema, MessageJsonSchema, MessageListSchema, UnreadSchema } from './schemas.js';
import { readFlag } from './text.js';

const AnyObject = Type.Object({}, { additionalProperties: true });
const IdParams = Type.Object({ id: Type.String({ maxLength: 2600 }) });
const DeleteReply = Type.Object({
  SuccessfullyDeleted: Type.Object({ ids: Type.Array(Type.String()) }),
  NotFound: Type.Object({ ids: Type.Array(Type.String()) }),
  WrongPermissions: Type.Object({ ids: Type.Array(Type.String()) }),
});
const NotificationsReply = Type.Object({ notifications: Type.Object({ enabled: Type.Integer() }) });

type Body = Record<string, unknown>;
type Id = { id: string };

/** Chat REST: every route acts as a user (a user session, or an API key with On-Behalf-Of). */
export function chatRoutes(app: FastifyInstance, dialogs: DialogsService, messages: MessagesService): void {
  const user = { access: 'user' as const };
  const tags = ['chat'];

  app.post<{ Body: Body }>(
    '/chat/Dialog.json',
    { config: user, schema: { summary: 'Create a dialog', tags, body: AnyObject, response: { 201: DialogJsonSchema } } },
    async (request, reply) => reply.code(201).send(await dialogs.create(authOf(request), request.body)),
  );
  app.get<{ Querystring: Body }>(
    '/chat/Dialog.json',
    { config: user, schema: { summary: 'List dialogs', tags, querystring: AnyObject, response: { 200: DialogListSchema } } },
    async (request) => dialogs.list(authOf(request), request.query),
  );
  app.get<{ Params: Id }>(
    '/chat/Dialog/:id.json',
    { config: user, schema: { summary: 'Get a dialog', tags, params: IdParams, response: { 200: DialogJsonSchema } } },
    async (request) => dialogs.get(authOf(request), request.params.id),
  );
  app.put<{ Params: Id; Body: Body }>(
    '/chat/Dialog/:id.json',
    {
      config: user,
      schema: {
        summary: 'Update a dialog (push_all, pull_all, name, photo, data)',
        tags,
        params: IdParams,
        body: AnyObject,
        response: { 200: DialogJsonSchema },
      },
    },
    async (request) => dialogs.update(authOf(request), request.params.id, request.body),
  );
  app.delete<{ Params: Id; Body: Body; Querystring: Body }>(
    '/chat/Dialog/:id.json',
    {
      config: user,
      schema: { summary: 'Delete dialogs (force=1: for everyone)', tags, params: IdParams, response: { 200: DeleteReply } },
    },
    async (request) => dialogs.delete(authOf(request), request.params.id, readFlag(request.body?.force ?? request.query.force)),
  );
  app.get<{ Params: Id }>(
    '/chat/Dialog/:id/notifications.json',
    {
      config: user,
      schema: { summary: 'Notification setting of a dialog', tags, params: IdParams, response: { 200: NotificationsReply } },
    },
    async (request) => dialogs.notifications(authOf(request), request.params.id),
  );
  app.put<{ Params: Id; Body: Body }>(
    '/chat/Dialog/:id/notifications.json',
    {
      config: user,
      schema: {
        summary: 'Change the notification setting of a dialog',
        tags,
        params: IdParams,
        body: AnyObject,
        response: { 200: NotificationsReply },
      },
    },
    async (request) => dialogs.setNotifications(authOf(request), request.params.id, request.body.enabled),
  );
  for (const action of ['add', 'remove'] as const) {
    app.post<{ Body: Body }>(
      `/chat/Dialogs/${action}_occupants.json`,
      { config: user, schema: { summary: `Bulk ${action} occupants`, tags, body: AnyObject, response: { 200: AnyObject } } },
      async (request) => dialogs.bulkOccupants(authOf(request), action, request.body),
    );
  }

  app.post<{ Body: Body }>(
    '/chat/Message.json',
    { config: user, schema: { summary: 'Create a message', tags, body: AnyObject, response: { 201: MessageJsonSchema } } },
    async (request, reply) => reply.code(201).send(await messages.create(authOf(request), request.body)),
  );
  app.get<{ Querystring: Body }>(
    '/chat/Message.json',
    {
      config: user,
      schema: { summary: 'List the messages of a dialog', tags, querystring: AnyObject, response: { 200: MessageListSchema } },
    },
    async (request) => messages.list(authOf(request), request.query),
  );
  app.get<{ Querystring: Body }>(
    '/chat/Message/unread.json',
    { config: user, schema: { summary: 'Unread message counts', tags, querystring: AnyObject, response: { 200: UnreadSchema } } },
    async (request) => messages.unread(authOf(request), request.query.chat_dialog_ids),
  );
  app.put<{ Body: Body }>(
    '/chat/Message.json',
    { config: user, schema: { summary: 'Mark every message of chat_dialog_id read or delivered', tags, body: AnyObject } },
    async (request, reply) => {
      await messages.update(authOf(request), null, request.body);
      return reply.code(200).send();
    },
  );
  app.put<{ Params: Id; Body: Body }>(
    '/chat/Message/:id.json',
    { config: user, schema: { summary: 'Update a message (read, delivered, message)', tags, params: IdParams, body: AnyObject } },
    async (request, reply) => {
      await messages.update(authOf(request), request.params.id, request.body);
      return reply.code(200).send();
    },
  );
  app.delete<{ Params: Id; Body: Body; Querystring: Body }>(
    '/chat/Message/:id.json',
    {
      config: user,
      schema: { summary: 'Delete messages (force=1: for everyone)', tags, params: IdParams, response: { 200: DeleteReply } },
    },
    async (request) => messages.delete(authOf(request), request.params.id, readFlag(request.body?.force ?? request.query.force)),
  );
}
