import type { Clock } from '../../core/clock.js';
import { errors, fieldErrors } from '../../core/errors.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../../core/passwords.js';
import { isUniqueViolation } from '../../storage/dialect.js';
import { formatUser, type UserJson } from './format.js';
import type { UserRow, UsersStore } from './store.js';

export interface NewUser {
  login?: string;
  email?: string;
  password: string;
  fullName?: string;
}

export interface LoginCredentials {
  login?: string;
  email?: string;
  password?: string;
}

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 40;

/**
 * Users and the password check that sessions need. The Users API issue
 * builds the rest of the module on this.
 */
export class UsersService {
  constructor(
    private readonly store: UsersStore,
    private readonly clock: Clock,
  ) {}

  async create(applicationId: number, input: NewUser): Promise<UserJson> {
    const problems: Record<string, string[]> = {};
    if (!input.login && !input.email) problems.base = ['login or email required'];
    if (input.password.length < PASSWORD_MIN) problems.password = [`is too short (minimum is ${PASSWORD_MIN} characters)`];
    if (input.password.length > PASSWORD_MAX) problems.password = [`is too long (maximum is ${PASSWORD_MAX} characters)`];
    if (Object.keys(problems).length > 0) throw fieldErrors(422, problems);
    const now = this.clock.now();
    try {
      const row = await this.store.insert({
        application_id: applicationId,
        login: input.login ?? null,
        email: input.email ?? null,
        password_hash: await hashPassword(input.password),
        full_name: input.fullName ?? null,
        created_at: now,
        updated_at: now,
      });
      return formatUser(row);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const field = (error as Error).message.includes('email') ? 'email' : 'login';
      throw errors.validation(field, 'has already been taken');
    }
  }

  /** The user these credentials belong to, or null; as slow for unknown users as for wrong passwords. */
  async authenticate(applicationId: number, credentials: LoginCredentials): Promise<UserRow | null> {
    const password = credentials.password ?? '';
    let row: UserRow | undefined;
    if (credentials.login) row = await this.store.byLogin(applicationId, credentials.login);
    else if (credentials.email) row = await this.store.byEmail(applicationId, credentials.email);
    if (!row) {
      await burnPasswordCheck(password);
      return null;
    }
    return (await verifyPassword(row.password_hash, password)) ? row : null;
  }

  async get(applicationId: number, id: number): Promise<UserJson | null> {
    const row = await this.store.byId(applicationId, id);
    return row ? formatUser(row) : null;
  }

  async exists(applicationId: number, id: number): Promise<boolean> {
    return (await this.store.byId(applicationId, id)) !== undefined;
  }

  format(row: UserRow): UserJson {
    return formatUser(row);
  }
}
