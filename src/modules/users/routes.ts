import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authOf } from '../../core/auth.js';
import { errors } from '../../core/errors.js';
import type { AppsService } from '../apps/service.js';
import type { EmailConfirmation } from './email-confirmation.js';
import { UserSchema } from './schemas.js';
import type { UsersService } from './service.js';
import type { LookupColumn } from './store.js';

const UserReply = Type.Object({ user: UserSchema });
const UserPageReply = Type.Object({
  current_page: Type.Integer(),
  per_page: Type.Integer(),
  total_entries: Type.Integer(),
  items: Type.Array(Type.Object({ user: UserSchema })),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });
const UserBody = Type.Object({ user: Type.Optional(Type.Unknown()) }, { additionalProperties: true });
const Query = Type.Object({}, { additionalProperties: true });

type Params = { id: string };
type Body = { user?: unknown };
type QueryParams = Record<string, unknown>;

/** The single-user lookups, each by one column given as a query parameter. */
const LOOKUPS: Array<[path: string, column: LookupColumn]> = [
  ['/users/by_login.json', 'login'],
  ['/users/by_email.json', 'email'],
  ['/users/by_facebook_id.json', 'facebook_id'],
  ['/users/by_twitter_id.json', 'twitter_id'],
  ['/users/by_twitter_digits_id.json', 'twitter_digits_id'],
  ['/users/phone.json', 'phone'],
];

export function usersRoutes(app: FastifyInstance, users: UsersService, apps: AppsService, confirmation: EmailConfirmation): void {
  /** An application session may do this only when the application's setting allows it. */
  async function requireAllowed(request: FastifyRequest, setting: 'allow_app_session_signup' | 'allow_app_session_list_users') {
    const auth = authOf(request);
    if (auth.via === 'token' && auth.userId === null) {
      const application = await apps.requireApplication(auth.applicationId);
      if (!application.settings[setting]) throw errors.needUser();
    }
  }

  app.post<{ Body: Body }>(
    '/users.json',
    {
      config: { access: 'session' },
      schema: { summary: 'Sign up', tags: ['users'], body: UserBody, response: { 201: UserReply } },
    },
    async (request, reply) => {
      await requireAllowed(request, 'allow_app_session_signup');
      const user = await confirmation.signUp(authOf(request).applicationId, request.body?.user);
      return reply.code(201).send({ user });
    },
  );

  app.get<{ Querystring: QueryParams }>(
    '/users.json',
    { schema: { summary: 'List users', tags: ['users'], querystring: Query, response: { 200: UserPageReply } } },
    async (request) => {
      await requireAllowed(request, 'allow_app_session_list_users');
      return users.list(authOf(request).applicationId, request.query);
    },
  );

  app.get<{ Querystring: QueryParams }>(
    '/users/by_full_name.json',
    { schema: { summary: 'Users by full name', tags: ['users'], querystring: Query, response: { 200: UserPageReply } } },
    async (request) => users.listByFullName(authOf(request).applicationId, request.query.full_name, request.query),
  );

  app.get<{ Querystring: QueryParams }>(
    '/users/by_tags.json',
    { schema: { summary: 'Users by tags', tags: ['users'], querystring: Query, response: { 200: UserPageReply } } },
    async (request) => {
      const tags = request.query.tags ?? request.query['tags[]'];
      return users.listByTags(authOf(request).applicationId, tags, request.query);
    },
  );

  for (const [path, column] of LOOKUPS) {
    app.get<{ Querystring: QueryParams }>(
      path,
      { schema: { summary: `User by ${column}`, tags: ['users'], querystring: Query, response: { 200: UserReply } } },
      async (request) => {
        const value = request.query[column];
        if (value !== undefined && typeof value !== 'string') throw errors.validation(column, 'must be a string');
        return { user: await users.getBy(authOf(request).applicationId, column, value) };
      },
    );
  }

  app.get<{ Params: Params }>(
    '/users/external/:id.json',
    { schema: { summary: 'User by external id', tags: ['users'], params: IdParams, response: { 200: UserReply } } },
    async (request) => ({
      user: await users.getBy(authOf(request).applicationId, 'external_user_id', Number(request.params.id)),
    }),
  );

  app.delete<{ Params: Params }>(
    '/users/external/:id.json',
    { schema: { summary: 'Delete a user by external id', tags: ['users'], params: IdParams } },
    async (request, reply) => {
      const auth = authOf(request);
      await users.deleteByExternalId(auth.applicationId, auth, Number(request.params.id));
      return reply.code(200).send();
    },
  );

  app.get<{ Params: Params }>(
    '/users/:id.json',
    { schema: { summary: 'User by id', tags: ['users'], params: IdParams, response: { 200: UserReply } } },
    async (request) => ({ user: await users.get(authOf(request).applicationId, Number(request.params.id)) }),
  );

  app.put<{ Params: Params; Body: Body }>(
    '/users/:id.json',
    { schema: { summary: 'Update a user', tags: ['users'], params: IdParams, body: UserBody, response: { 200: UserReply } } },
    async (request) => {
      const auth = authOf(request);
      return { user: await users.update(auth.applicationId, auth, Number(request.params.id), request.body?.user) };
    },
  );

  app.delete<{ Params: Params }>(
    '/users/:id.json',
    { schema: { summary: 'Delete a user', tags: ['users'], params: IdParams } },
    async (request, reply) => {
      const auth = authOf(request);
      await users.delete(auth.applicationId, auth, Number(request.params.id));
      return reply.code(200).send();
    },
  );
}
