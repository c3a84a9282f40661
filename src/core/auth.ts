import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { expirationHeader } from './clock.js';
import { errors } from './errors.js';

/** Who is calling: an application session, a user session, or a server API key. */
export interface AuthContext {
  applicationId: number;
  /** The user acting, or null for an application session or an API key without On-Behalf-Of. */
  userId: number | null;
  via: 'token' | 'apikey';
  /** The raw QB-Token, when the caller sent one. */
  token?: string;
  /** What the token resolved to, kept for the sessions module so it does not resolve it twice (opaque here). */
  session?: unknown;
}

/**
 * What a route needs:
 *   public   no credentials (POST /session.json, health, account settings)
 *   session  any session or API key (default for GET)
 *   user     a user session or an API key (default for writes: app sessions only read)
 */
export type Access = 'public' | 'session' | 'user';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyInstance {
    /** Checks credentials as a route of this access would (QB-Token, else tokenFallback, or an API key); throws the 401/403. */
    authenticate(
      request: FastifyRequest,
      reply: FastifyReply,
      access: Exclude<Access, 'public'>,
      tokenFallback?: string,
    ): Promise<AuthContext>;
  }
}

export interface CredentialResolver {
  /** The context for a QB-Token and its new expiry, or null when unknown or expired. */
  byToken(token: string): Promise<{ auth: AuthContext; expiresAt: number } | null>;
  /** The context for a server API key, optionally acting as a user; null when the key is unknown. */
  byApiKey(key: string, onBehalfOf: string | undefined): Promise<AuthContext | null>;
}

export function registerAuth(app: FastifyInstance, resolver: CredentialResolver): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access ?? defaultAccess(request.method);
    // Unknown routes answer 404 whatever the credentials.
    if (access === 'public' || request.is404) return;
    await authenticate(request, reply, access);
  });

  /** The hook's check, for public routes that need a caller only sometimes (blob downloads, ?token=). */
  async function authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
    access: Exclude<Access, 'public'>,
    tokenFallback?: string,
  ): Promise<AuthContext> {
    const authorization = header(request, 'authorization');
    const token = header(request, 'qb-token') ?? (tokenFallback || undefined);
    let auth: AuthContext | null = null;
    if (authorization?.startsWith('ApiKey ')) {
      auth = await resolver.byApiKey(authorization.slice(7).trim(), header(request, 'on-behalf-of'));
      if (!auth) throw errors.unauthorized();
    } else if (token) {
      const found = await resolver.byToken(token);
      if (found) {
        auth = found.auth;
        reply.header('QB-Token-ExpirationDate', expirationHeader(found.expiresAt));
      }
    }
    if (!auth) throw errors.noSession();
    if (access === 'user' && auth.via === 'token' && auth.userId === null) throw errors.needUser();
    request.auth = auth;
    return auth;
  }
  app.decorate('authenticate', authenticate);
}

/**
 * The caller, for the request's log lines: added where Switchboard writes one
 * (the info-level request line, unhandled errors), not bound to each request's
 * logger, which costs every request at any log level.
 */
export function callerOf(request: FastifyRequest): { app?: number; user?: number } {
  const auth = request.auth;
  if (!auth) return {};
  return auth.userId === null ? { app: auth.applicationId } : { app: auth.applicationId, user: auth.userId };
}

function defaultAccess(method: string): Access {
  return method === 'GET' || method === 'HEAD' ? 'session' : 'user';
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The auth context of a route that is not public; the hook guarantees it. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw errors.noSession();
  return request.auth;
}
