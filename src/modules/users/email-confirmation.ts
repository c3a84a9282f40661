import { errors } from '../../core/errors.js';
import type { AppsService } from '../apps/service.js';
import type { EmailLinks, LinkKind, LinkState } from './email-links.js';
import type { UserJson } from './format.js';
import type { UsersService } from './service.js';
import type { UserRow, UsersStore } from './store.js';

export const CONFIRM_LINK: LinkKind = { purpose: 'confirm_email', path: '/users/confirm/', ttlMs: 7 * 24 * 60 * 60 * 1000 };

export interface ConfirmationLog {
  error(object: object, message: string): void;
}

/**
 * Optional email confirmation (the application's require_email_confirmation
 * setting): sign-up then needs an email and mails a link, and user sessions
 * are refused until it is followed. Users created any other way (CLI,
 * import) and users from before the setting was turned on count as confirmed.
 */
export class EmailConfirmation {
  constructor(
    private readonly users: UsersService,
    private readonly store: UsersStore,
    private readonly apps: AppsService,
    private readonly links: EmailLinks,
    private readonly log: ConfirmationLog,
  ) {}

  /** POST /users.json. A mail that cannot be sent does not undo the sign-up: signing in later sends a new link. */
  async signUp(applicationId: number, raw: unknown): Promise<UserJson> {
    if (!(await this.required(applicationId))) return this.users.create(applicationId, raw);
    const user = await this.users.create(applicationId, raw, { emailConfirmed: false });
    const row = await this.store.byId(applicationId, user.id);
    if (row) await this.mail(row, 0);
    return user;
  }

  /**
   * Runs after a user proved their password, before a user session starts:
   * unconfirmed users are refused with a 422 (what QuickBlox answers then),
   * and get a new link when the last one no longer works.
   */
  readonly checkLogin = async (applicationId: number, user: UserRow): Promise<void> => {
    if (user.email_confirmed !== 0 || !(await this.required(applicationId))) return;
    if (user.email) await this.mail(user, Number.POSITIVE_INFINITY);
    throw errors.unprocessable('Email is not confirmed; follow the link in the confirmation mail');
  };

  inspect(token: string): Promise<LinkState> {
    return this.links.inspect(CONFIRM_LINK, token);
  }

  /** GET /users/confirm/<token>: the link's state after following it ('valid' when this call confirmed the email). */
  async confirm(token: string): Promise<LinkState> {
    const link = await this.inspect(token);
    if (link.state !== 'valid') return link;
    const user = await this.links.redeem(CONFIRM_LINK, token, { email_confirmed: 1 });
    return user ? link : this.inspect(token);
  }

  private async required(applicationId: number): Promise<boolean> {
    return (await this.apps.requireApplication(applicationId)).settings.require_email_confirmation === true;
  }

  private async mail(user: UserRow, quietMs: number): Promise<void> {
    try {
      await this.links.send(CONFIRM_LINK, user, quietMs);
    } catch (error) {
      this.log.error({ err: error, user: user.id }, 'confirmation mail could not be sent');
    }
  }
}
