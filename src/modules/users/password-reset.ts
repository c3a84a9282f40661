import { ApiError, baseError, errors } from '../../core/errors.js';
import { hashPassword } from '../../core/passwords.js';
import type { EmailLinks, LinkKind, LinkState } from './email-links.js';
import type { UsersStore } from './store.js';
import { EMAIL, readUserInput } from './validation.js';

export const RESET_LINK: LinkKind = { purpose: 'reset_password', path: '/password/reset/', ttlMs: 60 * 60 * 1000 };
/** A second reset mail for the same user waits this long: app credentials ship in apps, so anyone may ask. */
export const RESET_QUIET_MS = 60 * 1000;

type ResetListener = (applicationId: number, userId: number) => Promise<void> | void;

export type ResetResult =
  | { outcome: 'done'; appName: string }
  | { outcome: 'invalid-password'; messages: string[]; link: LinkState }
  | { outcome: 'link'; link: LinkState };

export interface ResetLog {
  error(object: object, message: string): void;
}

/**
 * Password reset by mail: GET /users/password/reset.json mails a link to a
 * page of ours (pages.ts), whose form sets the new password. A reset also
 * confirms the email (the link proved the mailbox) and ends the user's sessions.
 */
export class PasswordReset {
  private readonly listeners: ResetListener[] = [];

  constructor(
    private readonly users: UsersStore,
    private readonly links: EmailLinks,
    private readonly log: ResetLog,
  ) {}

  /** Lets other modules react to a reset (the sessions module ends the user's sessions). */
  onPasswordReset(listener: ResetListener): void {
    this.listeners.push(listener);
  }

  /**
   * Mails a reset link to the application's user with this email. An unknown
   * email is a 404, as on QuickBlox: the same caller can already look emails
   * up with GET /users/by_email.json, so hiding it here would protect nothing.
   */
  async request(applicationId: number, email: unknown): Promise<void> {
    if (email === undefined || email === '') throw errors.validation('email', "can't be blank");
    if (typeof email !== 'string') throw errors.validation('email', 'must be a string');
    const address = email.trim().toLowerCase();
    if (address.length > 255 || !EMAIL.test(address)) throw errors.validation('email', 'is invalid');
    const user = await this.users.byEmail(applicationId, address);
    if (!user) throw errors.notFound();
    try {
      await this.links.send(RESET_LINK, user, RESET_QUIET_MS);
    } catch (error) {
      this.log.error({ err: error, user: user.id }, 'password reset mail could not be sent');
      throw baseError(503, 'The mail could not be sent, please try again later');
    }
  }

  inspect(token: string): Promise<LinkState> {
    return this.links.inspect(RESET_LINK, token);
  }

  /** The form's POST: checks the link, then the password as the Users API does, then sets it. */
  async complete(token: string, password: unknown, confirmation: unknown): Promise<ResetResult> {
    const link = await this.inspect(token);
    if (link.state !== 'valid') return { outcome: 'link', link };
    const messages = passwordProblems(password, confirmation);
    if (messages.length > 0) return { outcome: 'invalid-password', messages, link };
    const passwordHash = await hashPassword(password as string);
    const user = await this.links.redeem(RESET_LINK, token, { password_hash: passwordHash, email_confirmed: 1 });
    // Used or expired while the password was being hashed.
    if (!user) return { outcome: 'link', link: await this.inspect(token) };
    for (const listener of this.listeners) await listener(user.application_id, user.id);
    return { outcome: 'done', appName: link.appName };
  }
}

/** The Users API's rules for a password, plus a matching confirmation when the form sends one. */
function passwordProblems(password: unknown, confirmation: unknown): string[] {
  if (typeof password !== 'string' || password === '') return ["Password can't be blank"];
  try {
    readUserInput({ password });
  } catch (error) {
    if (!(error instanceof ApiError) || Array.isArray(error.body.errors)) throw error;
    return (error.body.errors.password ?? ['Password is invalid']).map((message) => `Password ${message}`);
  }
  if (confirmation !== undefined && confirmation !== password) return ['The two passwords do not match'];
  return [];
}
