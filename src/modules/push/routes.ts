import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authOf } from '../../core/auth.js';
import { errors } from '../../core/errors.js';
import type { PushCredentials } from './credentials.js';
import type { Caller, EventsService } from './events.js';
import {
  AnyObject,
  CredentialsReply,
  EventPageReply,
  EventReply,
  EventStatusReply,
  IdParams,
  ServiceParams,
  SubscriptionsReply,
} from './schemas.js';
import type { SubscriptionsService } from './subscriptions.js';

type Params = { id: string };
type Body = Record<string, unknown>;

function caller(request: FastifyRequest): Caller {
  const auth = authOf(request);
  return { applicationId: auth.applicationId, userId: auth.userId };
}

/** Subscriptions and events (QuickBlox Push Notifications API). Every route needs a user or an API key. */
export function pushRoutes(
  app: FastifyInstance,
  subscriptions: SubscriptionsService,
  events: EventsService,
  credentials: PushCredentials,
): void {
  credentialRoutes(app, credentials);
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

/** The account owner over REST is a server API key without On-Behalf-Of (as for custom-object classes). */
function owner(request: FastifyRequest): number {
  const auth = authOf(request);
  if (auth.via !== 'apikey' || auth.userId !== null) throw errors.forbidden('Push credentials are managed with a server API key');
  return auth.applicationId;
}

/**
 * The owner's APNs and FCM credentials (the CLI's `push credentials` over REST).
 * Answers say what is set, never a secret.
 */
function credentialRoutes(app: FastifyInstance, credentials: PushCredentials): void {
  const tags = ['push'];
  const reply = { 200: CredentialsReply };
  app.get(
    '/push_credentials.json',
    { schema: { summary: 'Which push credentials are set (API key)', tags, response: reply } },
    async (request) => ({ push_credentials: await credentials.summary(owner(request)) }),
  );
  app.put<{ Params: { service: string }; Body: Body }>(
    '/push_credentials/:service.json',
    {
      schema: {
        summary:
          'Set APNs (key, key_id, team_id | cert, cert_key, passphrase; topic) or FCM (service_account) credentials (API key)',
        tags,
        params: ServiceParams,
        body: AnyObject,
        response: reply,
      },
    },
    async (request) => {
      const applicationId = owner(request);
      const { service } = request.params;
      const body = (request.body ?? {}) as Body;
      const params = typeof body[service] === 'object' && body[service] !== null ? (body[service] as Body) : body;
      if (service === 'apns') await credentials.setApnsFromParams(applicationId, params);
      else {
        const account = params.service_account;
        if (account === undefined || account === null || account === '') {
          throw errors.validation('service_account', "can't be blank");
        }
        await credentials.setFcm(applicationId, typeof account === 'string' ? account : JSON.stringify(account));
      }
      return { push_credentials: await credentials.summary(applicationId) };
    },
  );
  app.delete<{ Params: { service: string } }>(
    '/push_credentials/:service.json',
    { schema: { summary: 'Forget APNs or FCM credentials (API key)', tags, params: ServiceParams } },
    async (request, res) => {
      if (!(await credentials.remove(owner(request), request.params.service as 'apns' | 'fcm'))) throw errors.notFound();
      return res.code(200).send();
    },
  );
}
