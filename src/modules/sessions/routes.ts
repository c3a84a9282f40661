import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authOf } from '../../core/auth.js';
import { expirationHeader } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import { UserSchema } from '../users/schemas.js';
import type { LiveSession, LoginRequest, SessionRequest, SessionsService } from './service.js';

const SessionSchema = Type.Object({
  id: Type.Integer(),
  _id: Type.String(),
  application_id: Type.Integer(),
  user_id: Type.Integer(),
  token: Type.String(),
  nonce: Type.Integer(),
  ts: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const SessionReply = Type.Object({ session: SessionSchema });
const UserReply = Type.Object({ user: UserSchema });

// Everything arrives as strings so the signature is checked over exactly what was sent.
const Text = Type.Optional(Type.String());
const CreateSessionBody = Type.Object(
  {
    application_id: Text,
    auth_key: Text,
    timestamp: Text,
    nonce: Text,
    signature: Text,
    provider: Text,
    scope: Text,
    user: Type.Optional(Type.Object({ login: Text, email: Text, password: Text })),
    keys: Type.Optional(Type.Object({ token: Text, secret: Text })),
    firebase_phone: Type.Optional(Type.Object({ project_id: Text, access_token: Text })),
  },
  { additionalProperties: true },
);
const LoginBody = Type.Object(
  {
    login: Text,
    email: Text,
    password: Text,
    provider: Text,
    keys: Type.Optional(Type.Object({ token: Text, secret: Text })),
    firebase_phone: Type.Optional(Type.Object({ project_id: Text, access_token: Text })),
  },
  { additionalProperties: true },
);

export function sessionsRoutes(app: FastifyInstance, sessions: SessionsService): void {
  /** The live session of a request that came with a token (API keys have none). */
  async function current(request: FastifyRequest): Promise<LiveSession> {
    const auth = authOf(request);
    // The auth hook resolved it already for this request.
    if (auth.session) return auth.session as LiveSession;
    const token = auth.token;
    const session = token ? await sessions.resolve(token) : null;
    if (!session) throw errors.noSession();
    return session;
  }

  app.post(
    '/session.json',
    {
      // Any QB-Token sent along (the SDK sends the old one) is ignored.
      config: { access: 'public' },
      schema: {
        summary: 'Create an application or user session',
        tags: ['sessions'],
        body: CreateSessionBody,
        response: { 201: SessionReply },
      },
    },
    async (request, reply) => {
      const { session, expiresAt } = await sessions.create((request.body ?? {}) as SessionRequest);
      reply.header('QB-Token-ExpirationDate', expirationHeader(expiresAt));
      return reply.code(201).send({ session });
    },
  );

  app.get(
    '/session.json',
    { schema: { summary: 'The current session', tags: ['sessions'], response: { 200: SessionReply } } },
    async (request) => {
      const session = await current(request);
      return { session: sessions.describe(session, authOf(request).token ?? '') };
    },
  );

  app.delete(
    '/session.json',
    { config: { access: 'session' }, schema: { summary: 'Destroy the current session', tags: ['sessions'] } },
    async (request, reply) => {
      await sessions.destroy(await current(request));
      return reply.code(200).send();
    },
  );

  app.post(
    '/login.json',
    {
      config: { access: 'session' },
      schema: {
        summary: 'Bind the current session to a user',
        tags: ['sessions'],
        body: LoginBody,
        response: { 200: UserReply },
      },
    },
    async (request) => {
      const user = await sessions.login(await current(request), (request.body ?? {}) as LoginRequest);
      return { user };
    },
  );

  app.delete(
    '/login.json',
    { config: { access: 'session' }, schema: { summary: 'Back to an application session', tags: ['sessions'] } },
    async (request, reply) => {
      await sessions.logout(await current(request));
      return reply.code(200).send();
    },
  );
}
