import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { errors, fieldErrors } from '../../core/errors.js';
import { hashSecret, objectId, randomToken } from '../../core/ids.js';
import { signatureMessage } from '../../core/params.js';
import type { Application, AppsService } from '../apps/service.js';
import type { LoginCredentials, UsersService } from '../users/service.js';
import type { UserRow } from '../users/store.js';
import { formatSession } from './format.js';
import type { ProviderParams, SignInProviders } from './providers/index.js';
import type { SessionRow, SessionsStore } from './store.js';
import { SessionWriter } from './writer.js';

/** POST /session.json parameters, as strings, exactly as they arrived. */
export interface SessionRequest {
  application_id?: string;
  auth_key?: string;
  timestamp?: string;
  nonce?: string;
  signature?: string;
  user?: { login?: string; email?: string; password?: string };
  provider?: string;
  keys?: { token?: string; secret?: string };
  firebase_phone?: { project_id?: string; access_token?: string };
  [key: string]: unknown;
}

/** POST /login.json parameters: password credentials, or a provider's (sdk-client-notes §3.2). */
export type LoginRequest = LoginCredentials & ProviderParams;

/** What a token stands for, kept in memory. */
export interface LiveSession {
  row: SessionRow;
  tokenHash: string;
  lastUsedAt: number;
  /** When this node last read the row from the database. */
  checkedAt: number;
  /** This row's reply without the token: formatting its dates costs more than the rest of GET /session.json. */
  formatted?: { row: SessionRow; body: ReturnType<typeof formatSession> };
}

/** A timestamp may be this far from the server's clock (QuickBlox: 60 minutes). */
const TIMESTAMP_WINDOW_MS = 60 * 60 * 1000;
/** Re-read a cached session at most this often, so other nodes' logouts are seen. */
const REVALIDATE_MS = 30_000;
const CACHE_MAX = 200_000;
const UNKNOWN_MAX = 20_000;
/** How often batched last-use times are written. */
export const FLUSH_INTERVAL_MS = 5_000;

export class SessionsService {
  private readonly live = new Map<string, LiveSession>();
  /** Hashes of tokens recently found not to exist: a flood of bad tokens does not reach the database. */
  private readonly unknown = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly ttlMs: number;
  private readonly writer: SessionWriter;

  constructor(
    private readonly store: SessionsStore,
    private readonly apps: AppsService,
    private readonly users: UsersService,
    private readonly clock: Clock,
    ttlSeconds: number,
    private readonly providers: SignInProviders,
  ) {
    this.ttlMs = ttlSeconds * 1000;
    this.writer = new SessionWriter(store);
  }

  describe(session: LiveSession, token: string) {
    // The token is not kept with it: only its hash stays in memory.
    if (session.formatted?.row !== session.row) session.formatted = { row: session.row, body: formatSession(session.row, '') };
    return { ...session.formatted.body, token };
  }

  expiresAt(session: LiveSession): number {
    return session.lastUsedAt + this.ttlMs;
  }

  async create(params: SessionRequest) {
    const missing = ['application_id', 'auth_key', 'timestamp', 'nonce', 'signature'].filter(
      (name) => typeof params[name] !== 'string' || params[name] === '',
    );
    if (missing.length > 0) throw fieldErrors(422, Object.fromEntries(missing.map((name) => [name, ["can't be blank"]])));
    const p = params as Required<Pick<SessionRequest, 'application_id' | 'auth_key' | 'timestamp' | 'nonce' | 'signature'>> &
      SessionRequest;

    const applicationId = parseInteger(p.application_id);
    if (applicationId === null || applicationId < 1) throw errors.validation('application_id', 'is invalid');
    const app = await this.apps.getApplication(applicationId);
    if (!app) throw errors.validation('application_id', 'not found');
    if (!safeEqual(p.auth_key, app.authKey)) throw errors.validation('auth_key', 'is invalid');

    const now = this.clock.now();
    const timestamp = parseInteger(p.timestamp);
    if (timestamp === null || Math.abs(timestamp * 1000 - now) > TIMESTAMP_WINDOW_MS) {
      throw errors.unprocessable('Bad timestamp');
    }
    const nonce = parseInteger(p.nonce);
    if (nonce === null) throw errors.validation('nonce', 'is invalid');

    const signature = p.signature.toLowerCase();
    if (!signatureMatches(params, signature, app.authSecret)) throw errors.unprocessable('Unexpected signature');
    // A replay is refused before any sign-in work. For an application session there is none, and
    // the writer checks the database for the whole batch inside its transaction.
    const signsIn = p.provider !== undefined || p.user !== undefined;
    if (
      this.writer.recentlySeen(applicationId, signature, now) ||
      (signsIn && (await this.store.signatureSeen(applicationId, signature)))
    ) {
      throw errors.unprocessable('Unexpected signature');
    }

    let userId: number | null = null;
    if (p.provider !== undefined) {
      userId = (await this.signInWithProvider(app, p)).id;
    } else if (p.user !== undefined) {
      userId = (await this.authenticate(app, p.user)).id;
    }

    const token = randomToken();
    const tokenHash = hashSecret(token);
    const row = await this.writer.insert({
      session: {
        public_id: objectId(now),
        token_hash: tokenHash,
        application_id: applicationId,
        user_id: userId,
        nonce,
        ts: timestamp,
        created_at: now,
        updated_at: now,
        last_used_at: now,
      },
      signature: { signature, expires_at: timestamp * 1000 + TIMESTAMP_WINDOW_MS },
    });
    if (!row) throw errors.unprocessable('Unexpected signature');
    const session = this.remember(row, tokenHash, now);
    return { session: formatSession(row, token), expiresAt: this.expiresAt(session) };
  }

  /**
   * The live session behind a token, or null. Served from memory; marks the
   * session used, and the last-use time reaches the database in a batch.
   */
  async resolve(token: string): Promise<LiveSession | null> {
    const now = this.clock.now();
    const tokenHash = hashSecret(token);
    let session = this.live.get(tokenHash);
    if (!session || now - session.checkedAt > REVALIDATE_MS) {
      const unknownAt = this.unknown.get(tokenHash);
      if (!session && unknownAt !== undefined && now - unknownAt < REVALIDATE_MS) return null;
      session = await this.reload(tokenHash, session, now);
      if (!session) return null;
    }
    if (now - session.lastUsedAt > this.ttlMs) {
      this.forget(tokenHash);
      return null;
    }
    session.lastUsedAt = now;
    this.dirty.add(tokenHash);
    return session;
  }

  async destroy(session: LiveSession): Promise<void> {
    await this.store.delete(session.tokenHash);
    this.forget(session.tokenHash);
  }

  /** POST /login.json: binds the current token to the user, whoever held it before. */
  async login(session: LiveSession, params: LoginRequest) {
    const app = await this.apps.requireApplication(session.row.application_id);
    const user =
      params.provider !== undefined
        ? await this.signInWithProvider(app, params)
        : await this.authenticate(app, { login: params.login, email: params.email, password: params.password });
    await this.setUser(session, user.id);
    return this.users.format(user);
  }

  /** DELETE /login.json: back to an application session. */
  async logout(session: LiveSession): Promise<void> {
    if (session.row.user_id === null) throw errors.unprocessable('You are not logged in');
    await this.setUser(session, null);
  }

  /** Drops a deleted user's sessions from memory (their rows went with the user). */
  forgetUser(applicationId: number, userId: number): void {
    for (const [tokenHash, session] of this.live) {
      if (session.row.application_id === applicationId && session.row.user_id === userId) this.forget(tokenHash);
    }
  }

  /**
   * Ends every session of a user (after a password reset). Other nodes drop
   * theirs from memory when they next re-read them, within REVALIDATE_MS.
   */
  async endUserSessions(applicationId: number, userId: number): Promise<void> {
    await this.store.deleteByUser(applicationId, userId);
    this.forgetUser(applicationId, userId);
  }

  /** Writes batched last-use times. Called on a timer and at shutdown. */
  async flush(): Promise<void> {
    await this.writer.idle();
    if (this.dirty.size === 0) return;
    const entries: Array<[string, number]> = [];
    for (const tokenHash of this.dirty) {
      const session = this.live.get(tokenHash);
      if (session) entries.push([tokenHash, session.lastUsedAt]);
    }
    this.dirty.clear();
    await this.store.saveLastUse(entries);
  }

  /** Removes idle sessions and signatures that can no longer be replayed. */
  async cleanup(): Promise<number> {
    await this.flush();
    const now = this.clock.now();
    await this.store.deleteSignaturesBefore(now - TIMESTAMP_WINDOW_MS);
    for (const [tokenHash, session] of this.live) {
      if (now - session.lastUsedAt > this.ttlMs) this.forget(tokenHash);
    }
    return this.store.deleteIdleBefore(now - this.ttlMs);
  }

  /**
   * Password sign-in; for an application with a custom identity provider the
   * login and password (the provider's user id and token) are checked there.
   */
  private async authenticate(app: Application, credentials: LoginCredentials): Promise<UserRow> {
    if (!credentials.login && !credentials.email) throw errors.validation('login', "can't be blank");
    if (!credentials.password) throw errors.validation('password', "can't be blank");
    if (this.providers.usesCustomIdentityProvider(app)) {
      const identity = await this.providers.verifyCustom(app, { ...credentials, password: credentials.password });
      return (await this.users.findOrCreateByProvider(app.id, identity)).user;
    }
    const user = await this.users.authenticate(app.id, credentials);
    if (!user) throw errors.unauthorized();
    return user;
  }

  /** Social or phone sign-in: the provider says who it is; the first sign-in creates the user. */
  private async signInWithProvider(app: Application, params: ProviderParams): Promise<UserRow> {
    const identity = await this.providers.verify(app, params);
    return (await this.users.findOrCreateByProvider(app.id, identity)).user;
  }

  private async setUser(session: LiveSession, userId: number | null): Promise<void> {
    const now = this.clock.now();
    await this.store.setUser(session.tokenHash, userId, now);
    session.row = { ...session.row, user_id: userId, updated_at: now, last_used_at: now };
    session.lastUsedAt = now;
  }

  private async reload(tokenHash: string, cached: LiveSession | undefined, now: number): Promise<LiveSession | undefined> {
    const row = await this.store.byTokenHash(tokenHash);
    if (!row) {
      this.forget(tokenHash);
      if (this.unknown.size >= UNKNOWN_MAX) this.unknown.clear();
      this.unknown.set(tokenHash, now);
      return undefined;
    }
    const session = this.remember(row, tokenHash, now);
    // Another node may have used it more recently, or this node more recently than its last flush.
    session.lastUsedAt = Math.max(row.last_used_at, cached?.lastUsedAt ?? 0);
    return session;
  }

  private remember(row: SessionRow, tokenHash: string, now: number): LiveSession {
    if (this.live.size >= CACHE_MAX) {
      // Drop the oldest entry; it is re-read from the database if used again.
      const oldest = this.live.keys().next().value;
      if (oldest !== undefined) this.live.delete(oldest);
    }
    const session: LiveSession = { row, tokenHash, lastUsedAt: row.last_used_at, checkedAt: now };
    this.live.set(tokenHash, session);
    this.unknown.delete(tokenHash);
    return session;
  }

  private forget(tokenHash: string): void {
    this.live.delete(tokenHash);
    this.dirty.delete(tokenHash);
  }
}

function parseInteger(text: string): number | null {
  if (!/^-?\d{1,15}$/.test(text)) return null;
  return Number(text);
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** HMAC-SHA1 (40 hex) or HMAC-SHA256 (64 hex) of the signed message; the length tells which. */
function signatureMatches(params: Record<string, unknown>, signature: string, secret: string): boolean {
  const algorithm = signature.length === 40 ? 'sha1' : signature.length === 64 ? 'sha256' : null;
  if (!algorithm || !/^[0-9a-f]+$/.test(signature)) return false;
  const message = signatureMessage(params);
  if (message === null) return false;
  const expected = createHmac(algorithm, secret).update(message).digest('hex');
  return safeEqual(expected, signature);
}
