import type { Clock } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import { hashSecret, randomKey } from '../../core/ids.js';
import { hashPassword } from '../../core/passwords.js';
import { isUniqueViolation } from '../../storage/dialect.js';
import { type AppSettings, DEFAULT_SETTINGS, parseSettings } from './settings.js';
import type { AccountRow, ApplicationRow, AppsStore } from './store.js';

export interface Application {
  id: number;
  accountId: number;
  name: string;
  authKey: string;
  authSecret: string;
  settings: AppSettings;
}

export interface NewApplication {
  name: string;
  id?: number;
  authKey?: string;
  authSecret?: string;
}

export interface Credentials {
  application_id: number;
  auth_key: string;
  auth_secret: string;
  account_key: string;
}

/** A freshly created owner account, with the only copy of its password. */
export interface NewOwner {
  account: AccountRow;
  password: string;
}

// Applications change rarely; a node re-reads one at most this often.
const APP_CACHE_MS = 30_000;

export class AppsService {
  private readonly cache = new Map<number, { app: Application; loadedAt: number }>();
  private readonly apiKeys = new Map<string, { applicationId: number | null; loadedAt: number }>();

  constructor(
    private readonly store: AppsStore,
    private readonly clock: Clock,
  ) {}

  /** The owner account, created on first use with a random password. */
  async ensureOwner(email = 'owner@localhost'): Promise<{ account: AccountRow; created: NewOwner | null }> {
    const existing = await this.store.firstAccount();
    if (existing) return { account: existing, created: null };
    const password = randomKey(16);
    try {
      const account = await this.store.insertAccount({
        owner_email: email,
        password_hash: await hashPassword(password),
        account_key: randomKey(20),
        created_at: this.clock.now(),
      });
      return { account, created: { account, password } };
    } catch (error) {
      // Another process created it first.
      const account = await this.store.firstAccount();
      if (account && isUniqueViolation(error)) return { account, created: null };
      throw error;
    }
  }

  async createApplication(input: NewApplication): Promise<{ credentials: Credentials; owner: NewOwner | null }> {
    const { account, created } = await this.ensureOwner();
    const name = input.name.trim();
    if (!name) throw errors.validation('name', "can't be blank");
    if (input.id !== undefined && (!Number.isSafeInteger(input.id) || input.id < 1)) {
      throw errors.validation('id', 'must be a positive integer');
    }
    const now = this.clock.now();
    try {
      const row = await this.store.insertApplication({
        ...(input.id !== undefined ? { id: input.id } : {}),
        account_id: account.id,
        name,
        auth_key: input.authKey ?? randomKey(16),
        auth_secret: input.authSecret ?? randomKey(16),
        settings: JSON.stringify(DEFAULT_SETTINGS),
        created_at: now,
        updated_at: now,
      });
      this.cache.delete(row.id);
      return { credentials: credentialsOf(row, account), owner: created };
    } catch (error) {
      if (isUniqueViolation(error)) throw errors.validation('application', 'id or auth_key is already taken');
      throw error;
    }
  }

  async listApplications(): Promise<Array<Credentials & { name: string }>> {
    const [rows, account] = await Promise.all([this.store.applications(), this.store.firstAccount()]);
    return rows.map((row) => ({ name: row.name, ...credentialsOf(row, account) }));
  }

  /** An application by id, from memory when it was read recently. */
  async getApplication(id: number): Promise<Application | null> {
    const now = this.clock.now();
    const cached = this.cache.get(id);
    if (cached && now - cached.loadedAt < APP_CACHE_MS) return cached.app;
    const row = await this.store.application(id);
    if (!row) return null; // not remembered: an application created a moment later must be found
    const app = toApplication(row);
    this.cache.set(id, { app, loadedAt: now });
    return app;
  }

  async requireApplication(id: number): Promise<Application> {
    const app = await this.getApplication(id);
    if (!app) throw errors.validation('application_id', 'not found');
    return app;
  }

  /**
   * Changes some settings of an application, values already checked by
   * parseSettingValue. Other nodes see the change within APP_CACHE_MS.
   */
  async updateSettings(id: number, changes: Partial<AppSettings>): Promise<AppSettings> {
    const row = await this.store.application(id);
    if (!row) throw errors.validation('application_id', 'not found');
    const settings = { ...parseSettings(row.settings), ...changes };
    await this.store.updateSettings(id, JSON.stringify(settings), this.clock.now());
    this.cache.delete(id);
    return settings;
  }

  /** Creates a server API key; the plain key is returned once and stored only as a hash. */
  async createApiKey(applicationId: number, name = 'default'): Promise<string> {
    await this.requireApplication(applicationId);
    const key = `sbk_${randomKey(40)}`;
    await this.store.insertApiKey({
      application_id: applicationId,
      key_hash: hashSecret(key),
      name,
      created_at: this.clock.now(),
    });
    return key;
  }

  /** The application an API key belongs to, or null. */
  async resolveApiKey(key: string): Promise<number | null> {
    const hash = hashSecret(key);
    const now = this.clock.now();
    const cached = this.apiKeys.get(hash);
    if (cached && now - cached.loadedAt < APP_CACHE_MS) return cached.applicationId;
    const row = await this.store.apiKeyByHash(hash);
    if (this.apiKeys.size > 10_000) this.apiKeys.clear();
    this.apiKeys.set(hash, { applicationId: row?.application_id ?? null, loadedAt: now });
    return row?.application_id ?? null;
  }

  async accountByKey(accountKey: string): Promise<AccountRow | null> {
    return (await this.store.accountByKey(accountKey)) ?? null;
  }
}

function toApplication(row: ApplicationRow): Application {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    authKey: row.auth_key,
    authSecret: row.auth_secret,
    settings: parseSettings(row.settings),
  };
}

function credentialsOf(row: ApplicationRow, account: AccountRow | undefined): Credentials {
  return {
    application_id: row.id,
    auth_key: row.auth_key,
    auth_secret: row.auth_secret,
    account_key: account?.account_key ?? '',
  };
}
