import type { Mailer } from '../../adapters/mailer/index.js';
import type { Clock } from '../../core/clock.js';
import { hashSecret, randomToken } from '../../core/ids.js';
import type { AppsService } from '../apps/service.js';
import { renderEmail } from './email-templates.js';
import type { EmailTokenPurpose, EmailTokensStore } from './email-tokens-store.js';
import type { UserChanges, UserRow } from './store.js';

/** One kind of mailed link: what it is for, where it points, how long it works. */
export interface LinkKind {
  purpose: EmailTokenPurpose;
  /** Path of the page the link opens, followed by the token. */
  path: string;
  ttlMs: number;
}

/** Why a link does not work, or the application it belongs to when it does. */
export type LinkState =
  | { state: 'valid'; applicationId: number; appName: string }
  | { state: 'unknown' }
  | { state: 'used' | 'expired'; applicationId: number; appName: string };

const TOKEN = /^[0-9a-f]{40}$/;

/**
 * Issues single-use links, mails them with the application's template, and
 * checks and redeems them. Tokens are random (160 bits) and stored only as
 * hashes; a new link replaces the user's previous one of the same purpose.
 */
export class EmailLinks {
  private readonly base: string;

  constructor(
    private readonly tokens: EmailTokensStore,
    private readonly apps: AppsService,
    private readonly mailer: Mailer,
    private readonly clock: Clock,
    apiEndpoint: string,
  ) {
    this.base = apiEndpoint.replace(/\/+$/, '');
  }

  /**
   * Mails the user a fresh link, unless one that still works went out less
   * than `quietMs` ago (then false). Throws when the mail cannot be handed
   * over; the link is then withdrawn, so asking again is not held back.
   */
  async send(kind: LinkKind, user: UserRow, quietMs = 0): Promise<boolean> {
    if (!user.email) throw new Error(`user ${user.id} has no email to send a link to`);
    const now = this.clock.now();
    if (quietMs > 0) {
      const previous = await this.tokens.latest(user.id, kind.purpose);
      if (previous && previous.used_at === null && previous.expires_at > now && now - previous.created_at < quietMs) {
        return false;
      }
    }
    const app = await this.apps.requireApplication(user.application_id);
    const token = randomToken();
    const row = await this.tokens.issue({
      application_id: user.application_id,
      user_id: user.id,
      purpose: kind.purpose,
      token_hash: hashSecret(token),
      email: user.email,
      created_at: now,
      expires_at: now + kind.ttlMs,
      used_at: null,
    });
    const name = user.login ?? user.email;
    const mail = renderEmail(app.settings, kind.purpose, {
      full_name: user.full_name ?? name,
      login: name,
      link: `${this.base}${kind.path}${token}`,
      app_name: app.name,
    });
    try {
      await this.mailer.send({ to: user.email, ...mail });
    } catch (error) {
      await this.tokens.delete(row.id).catch(() => {});
      throw error;
    }
    return true;
  }

  /** What following this link would do, without using it up. */
  async inspect(kind: LinkKind, token: string): Promise<LinkState> {
    const row = TOKEN.test(token) ? await this.tokens.byHash(hashSecret(token)) : undefined;
    if (!row || row.purpose !== kind.purpose) return { state: 'unknown' };
    const app = await this.apps.getApplication(row.application_id);
    const owner = { applicationId: row.application_id, appName: app?.name ?? '' };
    if (row.used_at !== null) return { state: 'used', ...owner };
    if (row.expires_at <= this.clock.now()) return { state: 'expired', ...owner };
    return { state: 'valid', ...owner };
  }

  /** Uses the link up and applies the changes to its user; null when it no longer works (see inspect for why). */
  async redeem(kind: LinkKind, token: string, changes: UserChanges): Promise<UserRow | null> {
    if (!TOKEN.test(token)) return null;
    const now = this.clock.now();
    return (await this.tokens.redeem(hashSecret(token), kind.purpose, now, { ...changes, updated_at: now })) ?? null;
  }
}
