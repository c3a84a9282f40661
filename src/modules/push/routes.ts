import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authOf } from '../../core/auth.js';
import type { Caller, EventsService } from './events.js';
import { AnyObject, EventPageReply, EventReply, EventStatusReply, IdParams, SubscriptionsReply } from './schemas.js';
import type { SubscriptionsService } from './subscriptions.js';

type Params = { id: string };
type Body = Record<string, unknown>;

function caller(request: FastifyRequest): Caller {
  const auth = authOf(request);
  return { applicationId: auth.applicationId, userId: auth.userId };
}

/** Subscriptions and events (QuickBlox Push Notifications API). Every route needs a user or an API key. */
export function pushRoutes(app: FastifyInstance, subscriptions: SubscriptionsService, events: EventsService): void {
  const user = { access: 'user' as const };

  app.post<{ Body: Body }>(
    '/subscriptions.json',
    {
      config: user,
      schema: { summary: 'Subscribe a device', tags: ['push'], body: AnyObject, response: { 201: SubscriptionsReply } },
    },
    async (request, reply) => {
      const { applicationId, userId } = caller(request);
      return reply.code(201).send(await subscriptions.create(applicationId, userId, request.body ?? {}));
    },
  );

  app.get(
    '/subscriptions.json',
    { config: user, schema: { summary: "The user's subscriptions", tags: ['push'], response: { 200: SubscriptionsReply } } },
    async (request) => {
      const { applicationId, userId } = caller(request);
      return subscriptions.list(applicationId, userId);
    },
  );

  app.delete<{ Params: Params }>(
    '/subscriptions/:id.json',
    { config: user, schema: { summary: 'Unsubscribe', tags: ['push'], params: IdParams } },
    async (request, reply) => {
      const { applicationId, userId } = caller(request);
      await subscriptions.delete(applicationId, userId, Number(request.params.id));
      return reply.code(200).send();
    },
  );

  app.post<{ Body: Body }>(
    '/events.json',
    { config: user, schema: { summary: 'Create an event', tags: ['push'], body: AnyObject, response: { 200: EventReply } } },
    async (request) => ({ event: await events.create(caller(request), request.body?.event) }),
  );

  app.get<{ Querystring: Body }>(
    '/events.json',
    { config: user, schema: { summary: 'Events', tags: ['push'], querystring: AnyObject, response: { 200: EventPageReply } } },
    async (request) => events.list(caller(request), request.query),
  );

  app.get<{ Params: Params }>(
    '/events/:id.json',
    { config: user, schema: { summary: 'An event', tags: ['push'], params: IdParams, response: { 200: EventReply } } },
    async (request) => ({ event: await events.get(caller(request), Number(request.params.id)) }),
  );

  app.get<{ Params: Params }>(
    '/events/:id/status.json',
    {
      config: user,
      schema: { summary: 'Delivery status of an event', tags: ['push'], params: IdParams, response: { 200: EventStatusReply } },
    },
    async (request) => events.status(caller(request), Number(request.params.id)),
  );

  app.put<{ Params: Params; Body: Body }>(
    '/events/:id.json',
    {
      config: user,
      schema: { summary: 'Change an event', tags: ['push'], params: IdParams, body: AnyObject, response: { 200: EventReply } },
    },
    async (request) => ({ event: await events.update(caller(request), Number(request.params.id), request.body?.event) }),
  );

  app.delete<{ Params: Params }>(
    '/events/:id.json',
    { config: user, schema: { summary: 'Delete an event', tags: ['push'], params: IdParams } },
    async (request, reply) => {
      await events.delete(caller(request), Number(request.params.id));
      return reply.code(200).send();
    },
  );
}
