import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { authOf } from '../../core/auth.js';
import type { EmailConfirmation } from './email-confirmation.js';
import { confirmDone, linkProblem, PAGE_HEADERS, type Page, resetDone, resetForm } from './pages.js';
import type { PasswordReset } from './password-reset.js';

const EmailQuery = Type.Object({ email: Type.Optional(Type.Unknown()) }, { additionalProperties: true });
const TokenParams = Type.Object({ token: Type.String() });
const ResetForm = Type.Object(
  { password: Type.Optional(Type.Unknown()), password_confirmation: Type.Optional(Type.Unknown()) },
  { additionalProperties: true },
);

const RESET_AGAIN = 'Ask for a new password reset in the app.';
const CONFIRM_AGAIN = 'Sign in with your email and password to get a new confirmation link.';

/** Password reset and email confirmation: the API call that mails a link, and the pages links open. */
export function emailRoutes(app: FastifyInstance, reset: PasswordReset, confirmation: EmailConfirmation): void {
  // A Buffer: the server's onSend hook turns string error bodies (4xx) into JSON, and these pages are meant as HTML.
  const show = (reply: FastifyReply, page: Page) =>
    reply.code(page.status).headers(PAGE_HEADERS).send(Buffer.from(page.html, 'utf8'));

  // The SDK calls the first path (and reads the answer as text); QuickBlox documents the second.
  for (const path of ['/users/password/reset.json', '/password/reset.json']) {
    app.get<{ Querystring: { email?: unknown } }>(
      path,
      {
        config: { access: 'session' },
        schema: { summary: 'Mail a password reset link', tags: ['users'], querystring: EmailQuery },
      },
      async (request, reply) => {
        await reset.request(authOf(request).applicationId, request.query.email);
        return reply.code(200).send();
      },
    );
  }

  app.get<{ Params: { token: string } }>(
    '/password/reset/:token',
    { config: { access: 'public' }, schema: { summary: 'Page: the new password form', tags: ['users'], params: TokenParams } },
    async (request, reply) => {
      const link = await reset.inspect(request.params.token);
      return show(reply, link.state === 'valid' ? resetForm(link.appName) : linkProblem(link, RESET_AGAIN));
    },
  );

  app.post<{ Params: { token: string }; Body: { password?: unknown; password_confirmation?: unknown } }>(
    '/password/reset/:token',
    {
      config: { access: 'public' },
      schema: { summary: 'Page: set the new password', tags: ['users'], params: TokenParams, body: ResetForm },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const result = await reset.complete(request.params.token, body.password, body.password_confirmation);
      if (result.outcome === 'done') return show(reply, resetDone(result.appName));
      if (result.outcome === 'invalid-password' && result.link.state === 'valid') {
        return show(reply, resetForm(result.link.appName, result.messages));
      }
      return show(reply, linkProblem(result.link, RESET_AGAIN));
    },
  );

  app.get<{ Params: { token: string } }>(
    '/users/confirm/:token',
    { config: { access: 'public' }, schema: { summary: 'Page: confirm an email', tags: ['users'], params: TokenParams } },
    async (request, reply) => {
      // HEAD (link checkers, previews) only looks: the link is used up by a real visit.
      const token = request.params.token;
      const link = request.method === 'HEAD' ? await confirmation.inspect(token) : await confirmation.confirm(token);
      return show(reply, link.state === 'valid' ? confirmDone(link.appName) : linkProblem(link, CONFIRM_AGAIN));
    },
  );
}
