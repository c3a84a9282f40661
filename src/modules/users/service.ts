import { createHash } from 'node:crypto';
import { type Clock, isoSeconds } from '../../core/clock.js';
import { errors, fieldErrors } from '../../core/errors.js';
import { randomKey } from '../../core/ids.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../../core/passwords.js';
import { isUniqueViolation } from '../../storage/dialect.js';
import { parseFilters, parseOrder } from './filters.js';
import { formatUser, type UserJson } from './format.js';
import { RecentReads } from './recent-reads.js';
import type { LookupColumn, Page, ProviderColumn, RecipientSelector, UserRow, UsersStore } from './store.js';
import { EMAIL, LIMITS, readUserInput } from './validation.js';

export interface LoginCredentials {
  login?: string;
  email?: string;
  password?: string;
}

/** Someone a sign-in provider vouches for: its id for them, and profile fields it offered. */
export interface ProviderIdentity {
  provider: 'facebook' | 'twitter' | 'firebase_phone' | 'custom';
  /** The provider's stable id for this person. */
  uid: string;
  login?: string;
  email?: string;
  fullName?: string;
  phone?: string;
}

/** Who asks: a user acting for themselves, or a server API key (full rights). */
export interface Actor {
  userId: number | null;
  via: 'token' | 'apikey';
}

export interface PageQuery {
  page?: unknown;
  per_page?: unknown;
}

export interface UserPage {
  current_page: number;
  per_page: number;
  total_entries: number;
  items: Array<{ user: UserJson }>;
}

type DeletedListener = (applicationId: number, userId: number) => void;
/** Runs when a password matched, before a session starts; throws to refuse (unconfirmed email). */
type LoginCheck = (applicationId: number, user: UserRow) => Promise<void>;

export class UsersService {
  /** last_request_at times not yet written; flushed in batches. */
  private readonly lastRequest = new Map<number, number>();
  private readonly deletedListeners: DeletedListener[] = [];
  private readonly loginChecks: LoginCheck[] = [];
  private readonly recent: RecentReads;

  constructor(
    private readonly store: UsersStore,
    private readonly clock: Clock,
  ) {
    this.recent = new RecentReads(clock);
  }

  /** Lets other modules drop what they hold for a deleted user (sessions in memory). */
  onDeleted(listener: DeletedListener): void {
    this.deletedListeners.push(listener);
  }

  /** Lets other parts refuse a password sign-in (email confirmation). */
  onLogin(check: LoginCheck): void {
    this.loginChecks.push(check);
  }

  /** Sign-up: POST /users.json. */
  async create(applicationId: number, raw: unknown, options: { emailConfirmed?: boolean } = {}): Promise<UserJson> {
    const input = readUserInput(raw);
    const { changes } = input;
    const problems: Record<string, string[]> = {};
    if (!changes.login && !changes.email) problems.base = ['login or email required'];
    if (input.password === undefined || input.password === '') problems.password = ["can't be blank"];
    // An account whose email must be confirmed needs one.
    if (options.emailConfirmed === false && !changes.email) problems.email = ["can't be blank"];
    if (Object.keys(problems).length > 0) throw fieldErrors(422, problems);
    const now = this.clock.now();
    const passwordHash = await hashPassword(input.password ?? '');
    const row = await this.write(applicationId, () =>
      this.store.insert(
        {
          ...changes,
          application_id: applicationId,
          password_hash: passwordHash,
          user_tags: input.tags?.join(',') ?? null,
          ...(options.emailConfirmed === false ? { email_confirmed: 0 } : {}),
          created_at: now,
          updated_at: now,
        },
        input.tags ?? [],
      ),
    );
    return this.format(row);
  }

  /** PUT /users/{id}.json: users change only themselves; API keys anyone. */
  async update(applicationId: number, actor: Actor, id: number, raw: unknown): Promise<UserJson> {
    this.mustActFor(actor, id);
    const current = await this.store.byId(applicationId, id);
    if (!current) throw errors.notFound();
    const input = readUserInput(raw);
    const changes = { ...input.changes };
    if (input.password !== undefined) {
      // A user proves the old password; a server API key resets it.
      if (actor.via !== 'apikey') {
        if (!input.oldPassword) throw errors.validation('old_password', "can't be blank when changing the password");
        if (!(await verifyPassword(current.password_hash, input.oldPassword))) {
          throw errors.validation('old_password', 'is incorrect');
        }
      }
      changes.password_hash = await hashPassword(input.password);
    }
    const login = 'login' in changes ? changes.login : current.login;
    const email = 'email' in changes ? changes.email : current.email;
    if (!login && !email) throw fieldErrors(422, { base: ['login or email required'] });
    if (input.tags !== undefined) changes.user_tags = input.tags.length > 0 ? input.tags.join(',') : null;
    changes.updated_at = this.clock.now();
    const row = await this.write(applicationId, () => this.store.update(applicationId, id, changes, input.tags));
    if (!row) throw errors.notFound();
    return this.format(row);
  }

  async delete(applicationId: number, actor: Actor, id: number): Promise<void> {
    this.mustActFor(actor, id);
    if (!(await this.store.delete(applicationId, id))) throw errors.notFound();
    this.recent.changed(applicationId);
    this.lastRequest.delete(id);
    for (const listener of this.deletedListeners) listener(applicationId, id);
  }

  async deleteByExternalId(applicationId: number, actor: Actor, externalId: number): Promise<void> {
    const row = await this.store.by(applicationId, 'external_user_id', externalId);
    if (!row) throw errors.notFound();
    await this.delete(applicationId, actor, row.id);
  }

  /** The user these credentials belong to, or null; as slow for unknown users as for wrong passwords. */
  async authenticate(applicationId: number, credentials: LoginCredentials): Promise<UserRow | null> {
    const password = credentials.password ?? '';
    let row: UserRow | undefined;
    if (credentials.login) row = await this.store.byLogin(applicationId, credentials.login);
    else if (credentials.email) row = await this.store.byEmail(applicationId, credentials.email.toLowerCase());
    if (!row || row.password_hash === '') {
      await burnPasswordCheck(password);
      return null;
    }
    if (!(await verifyPassword(row.password_hash, password))) return null;
    for (const check of this.loginChecks) await check(applicationId, row);
    return row;
  }

  /**
   * The user a sign-in provider vouches for, found by the provider's id, or
   * created on first sign-in without a password (so never reachable by
   * password sign-in). Profile fields are taken only at creation, and only
   * when valid and free: an email another user holds is left out, a taken or
   * missing login becomes "<provider>-<id>" (with a random suffix if needed).
   */
  async findOrCreateByProvider(applicationId: number, identity: ProviderIdentity): Promise<{ user: UserRow; created: boolean }> {
    const column = PROVIDER_COLUMNS[identity.provider];
    const now = this.clock.now();
    const generated = generatedLogin(identity);
    const email = identity.email?.trim().toLowerCase();
    const values = {
      login: fits(identity.login?.trim(), LIMITS.loginMax) ?? generated,
      email: email && EMAIL.test(email) ? fits(email, LIMITS.text) : null,
      full_name: fits(identity.fullName?.trim(), LIMITS.text) ?? null,
      phone: fits(identity.phone?.trim(), LIMITS.text) ?? null,
      password_hash: '',
      created_at: now,
      updated_at: now,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const { row, created } = await this.store.findOrCreateBy(applicationId, column, identity.uid, values);
        if (created) this.recent.changed(applicationId);
        return { user: row, created };
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 4) throw error;
        if (takenField(error) === 'email') values.email = null;
        else values.login = attempt === 1 && values.login !== generated ? generated : `${generated.slice(0, 43)}-${randomKey(6)}`;
      }
    }
  }

  /** GET /users/{id}.json: the most frequent read, remembered for a few seconds (recent-reads.ts). */
  async get(applicationId: number, id: number): Promise<UserJson> {
    // Kept formatted, with the stored last-request time, so a hit formats at most that one date.
    const found = await this.recent.get(applicationId, `user:${id}`, async () => {
      const row = await this.store.byId(applicationId, id);
      return row ? { json: formatUser(row), lastRequestAt: row.last_request_at ?? 0 } : null;
    });
    if (!found) throw errors.notFound();
    const pending = this.lastRequest.get(id);
    if (pending === undefined || pending <= found.lastRequestAt) return found.json;
    return { ...found.json, last_request_at: isoSeconds(pending) };
  }

  async getBy(applicationId: number, column: LookupColumn, value: string | number | undefined): Promise<UserJson> {
    if (value === undefined || value === '') throw errors.validation(column, "can't be blank");
    const lookup = column === 'email' && typeof value === 'string' ? value.toLowerCase() : value;
    const row = await this.store.by(applicationId, column, lookup);
    if (!row) throw errors.notFound();
    return this.format(row);
  }

  /** A deleted blob is nobody's avatar any more (the content module calls this). */
  async clearBlob(applicationId: number, blobId: number): Promise<void> {
    if ((await this.store.clearBlob(applicationId, blobId, this.clock.now())) > 0) this.recent.changed(applicationId);
  }

  async exists(applicationId: number, id: number): Promise<boolean> {
    return (await this.store.byId(applicationId, id)) !== undefined;
  }

  /** A page of the user ids a push event addresses, ascending after `afterId` (the push module streams them). */
  recipientIds(applicationId: number, selector: RecipientSelector, afterId: number, limit: number): Promise<number[]> {
    return this.store.recipientIds(applicationId, selector, afterId, limit);
  }

  /** Email addresses of these users (those that have one), for email notifications. */
  async emailsOf(applicationId: number, ids: number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const row of await this.store.emailsOf(applicationId, ids)) out.set(row.id, row.email);
    return out;
  }

  /** Users whose phone is one of these, by id; the address book's registered users. */
  async findByPhones(applicationId: number, phones: string[]): Promise<UserJson[]> {
    if (phones.length === 0) return [];
    return (await this.store.byPhones(applicationId, phones)).map((row) => this.format(row));
  }

  /** GET /users.json with filter[] and order. */
  async list(applicationId: number, query: PageQuery & { filter?: unknown; order?: unknown }): Promise<UserPage> {
    const filters = parseFilters(query.filter);
    const order = parseOrder(query.order);
    const page = readPage(query);
    const [rows, total] = await Promise.all([
      this.store.listPage(applicationId, filters, order, page),
      this.recent.get(applicationId, `count:${JSON.stringify(filters)}`, () => this.store.count(applicationId, filters)),
    ]);
    return this.page(page, { rows, total });
  }

  async listByFullName(applicationId: number, fullName: unknown, query: PageQuery): Promise<UserPage> {
    if (typeof fullName !== 'string' || fullName.trim() === '') throw errors.validation('full_name', "can't be blank");
    const page = readPage(query);
    return this.page(page, await this.store.byFullName(applicationId, fullName.trim(), page));
  }

  async listByTags(applicationId: number, tags: unknown, query: PageQuery): Promise<UserPage> {
    const list = (Array.isArray(tags) ? tags : [tags])
      .filter((t): t is string => typeof t === 'string')
      .flatMap((t) => t.split(','))
      .map((t) => t.trim())
      .filter(Boolean);
    if (list.length === 0) throw errors.validation('tags', "can't be blank");
    if (list.length > 100) throw errors.validation('tags', 'at most 100 tags');
    const page = readPage(query);
    return this.page(page, await this.store.byTags(applicationId, list, page));
  }

  /** Notes a request by the user; the time reaches the database with the next flush. */
  touch(userId: number, at = this.clock.now()): void {
    this.lastRequest.set(userId, at);
  }

  async flush(): Promise<void> {
    if (this.lastRequest.size === 0) return;
    const entries = [...this.lastRequest];
    this.lastRequest.clear();
    await this.store.saveLastRequest(entries);
  }

  format(row: UserRow): UserJson {
    const pending = this.lastRequest.get(row.id);
    return formatUser(pending === undefined ? row : { ...row, last_request_at: Math.max(pending, row.last_request_at ?? 0) });
  }

  private page(page: Page, result: { rows: UserRow[]; total: number }): UserPage {
    return {
      current_page: page.offset / page.limit + 1,
      per_page: page.limit,
      total_entries: result.total,
      items: result.rows.map((row) => ({ user: this.format(row) })),
    };
  }

  private mustActFor(actor: Actor, id: number): void {
    if (actor.via !== 'apikey' && actor.userId !== id) throw errors.forbidden('You can change only your own user');
  }

  /** Runs a write, turning a unique-key clash into QuickBlox's "has already been taken". */
  private async write<T>(applicationId: number, task: () => Promise<T>): Promise<T> {
    try {
      const result = await task();
      this.recent.changed(applicationId);
      return result;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw errors.validation(takenField(error), 'has already been taken');
    }
  }
}

const PROVIDER_COLUMNS: Record<ProviderIdentity['provider'], ProviderColumn> = {
  facebook: 'facebook_id',
  twitter: 'twitter_id',
  firebase_phone: 'firebase_uid',
  custom: 'custom_identity_uid',
};

/** "facebook-1234"; an id too long for a login is replaced by its hash. */
function generatedLogin(identity: ProviderIdentity): string {
  const prefix = identity.provider === 'firebase_phone' ? 'firebase' : identity.provider;
  const login = `${prefix}-${identity.uid}`;
  if (login.length <= LIMITS.loginMax) return login;
  return `${prefix}-${createHash('sha256').update(identity.uid).digest('hex').slice(0, 32)}`;
}

function fits(value: string | undefined, max: number): string | undefined {
  return value && value.length <= max ? value : undefined;
}

/** Which unique column a violation is about, from the database's message. */
function takenField(error: unknown): string {
  const message = String((error as Error).message) + String((error as { constraint?: string }).constraint ?? '');
  for (const field of ['email', 'external_user_id', 'facebook_id', 'twitter_digits_id', 'twitter_id', 'login']) {
    if (message.includes(field)) return field;
  }
  return 'base';
}

function readPage(query: PageQuery): Page {
  const page = positive(query.page, 'page') ?? 1;
  const perPage = positive(query.per_page, 'per_page') ?? 10;
  const limit = Math.min(perPage, 100);
  return { offset: (page - 1) * limit, limit };
}

function positive(value: unknown, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') throw errors.validation(field, 'must be a positive integer');
  const text = String(value);
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw errors.validation(field, 'must be a positive integer');
  return Number(text);
}
