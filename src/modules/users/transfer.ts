import { type Clock, isoSeconds } from '../../core/clock.js';
import { ApiError } from '../../core/errors.js';
import { hashPassword } from '../../core/passwords.js';
import { isUniqueViolation } from '../../storage/dialect.js';
import type { NewUserRow, UserRow, UsersStore } from './store.js';
import { readUserInput } from './validation.js';

/**
 * Import and export of users as JSON lines, one user per line:
 *   {"id":7,"login":"ann","email":"ann@example.com","email_confirmed":true,
 *    "password":"plain text" | "password_hash":"$argon2id$..." | "password_hash":null,
 *    "full_name":..,"phone":..,"website":..,"facebook_id":..,"twitter_id":..,"twitter_digits_id":..,
 *    "firebase_uid":..,"custom_identity_uid":..,"external_user_id":..,"blob_id":..,"custom_data":..,
 *    "tag_list":"a,b","created_at":"2024-01-31T10:00:00Z","updated_at":..}
 * Export writes password_hash, so its files are secrets; `"password_hash":null`
 * is a user without a password (social sign-in), who cannot sign in with one,
 * and imports as such without --require-password-reset. Import keeps ids and
 * is idempotent: a line whose id exists in the application updates that user.
 */
export interface ImportOptions {
  /** Lines without a password are imported without one; those users must reset it. */
  requirePasswordReset: boolean;
  batchSize?: number;
  onProgress?: (linesRead: number) => void;
}

export interface ImportReport {
  lines: number;
  imported: number;
  errors: Array<{ line: number; message: string }>;
}

type Prepared = { line: number; row: NewUserRow & { id: number }; tags: string[] };

/** Line fields that are not `user[...]` fields of the API; read here, not by readUserInput. */
const TRANSFER_ONLY = new Set([
  'id',
  'password_hash',
  'firebase_uid',
  'custom_identity_uid',
  'email_confirmed',
  'created_at',
  'updated_at',
  'last_request_at',
]);
/** As long as sign-in accepts them (sessions/providers). */
const PROVIDER_UID_MAX = 255;

export class UserTransfer {
  constructor(
    private readonly store: UsersStore,
    private readonly clock: Clock,
  ) {}

  async import(applicationId: number, lines: AsyncIterable<string>, options: ImportOptions): Promise<ImportReport> {
    const report: ImportReport = { lines: 0, imported: 0, errors: [] };
    const batchSize = options.batchSize ?? 500;
    let pending: Array<{ line: number; text: string }> = [];
    const flush = async () => {
      const batch = pending;
      pending = [];
      const prepared = await this.prepareAll(applicationId, batch, options, report);
      await this.write(applicationId, prepared, report);
      options.onProgress?.(report.lines);
    };
    for await (const text of lines) {
      report.lines++;
      if (text.trim() === '') continue;
      pending.push({ line: report.lines, text });
      if (pending.length >= batchSize) await flush();
    }
    await flush();
    if (report.imported > 0) await this.store.refreshStatistics();
    return report;
  }

  /** Every user of the application as JSON lines, read in id order a page at a time. */
  async *export(applicationId: number): AsyncGenerator<string> {
    let afterId = 0;
    for (;;) {
      const rows = await this.store.exportPage(applicationId, afterId, 1000);
      for (const row of rows) yield JSON.stringify(exportLine(row));
      const last = rows.at(-1);
      if (!last) return;
      afterId = last.id;
    }
  }

  private async prepareAll(
    applicationId: number,
    batch: Array<{ line: number; text: string }>,
    options: ImportOptions,
    report: ImportReport,
  ) {
    const results = await Promise.all(
      batch.map(async ({ line, text }) => {
        try {
          return await this.prepare(applicationId, line, text, options);
        } catch (error) {
          report.errors.push({ line, message: describe(error) });
          return null;
        }
      }),
    );
    return results.filter((p): p is Prepared => p !== null);
  }

  /** Validates one line into a row; throws a message for a bad line. */
  private async prepare(applicationId: number, line: number, text: string, options: ImportOptions): Promise<Prepared> {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error('not valid JSON');
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('must be a JSON object');
    const record = data as Record<string, unknown>;
    const id = record.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new Error('id must be a positive integer');

    const fields = Object.fromEntries(Object.entries(record).filter(([key]) => !TRANSFER_ONLY.has(key)));
    const input = readUserInput(fields);
    if (!input.changes.login && !input.changes.email) throw new Error('login or email required');

    // Read before the password is hashed, so a bad line costs no hashing.
    const firebaseUid = readUid(record.firebase_uid, 'firebase_uid');
    const customIdentityUid = readUid(record.custom_identity_uid, 'custom_identity_uid');
    const emailConfirmed = readFlag(record.email_confirmed, 'email_confirmed');

    let passwordHash = '';
    if (typeof record.password_hash === 'string' && record.password_hash !== '') {
      if (!record.password_hash.startsWith('$argon2'))
        throw new Error('password_hash must be an argon2 hash (as export writes it)');
      passwordHash = record.password_hash;
    } else if (input.password) {
      passwordHash = await hashPassword(input.password);
    } else if (record.password_hash === null) {
      // Said outright (export writes it for social sign-in users): no password, none can sign in as them with one.
    } else if (!options.requirePasswordReset) {
      throw new Error(
        'no password (give password, password_hash, or "password_hash": null for a user without one; or import with --require-password-reset)',
      );
    }
    const now = this.clock.now();
    const createdAt = readTime(record.created_at, 'created_at') ?? now;
    return {
      line,
      tags: input.tags ?? [],
      row: {
        login: null,
        email: null,
        full_name: null,
        phone: null,
        website: null,
        facebook_id: null,
        twitter_id: null,
        twitter_digits_id: null,
        external_user_id: null,
        blob_id: null,
        custom_data: null,
        ...input.changes,
        id,
        application_id: applicationId,
        firebase_uid: firebaseUid,
        custom_identity_uid: customIdentityUid,
        email_confirmed: emailConfirmed ? 1 : 0,
        password_hash: passwordHash,
        user_tags: input.tags && input.tags.length > 0 ? input.tags.join(',') : null,
        created_at: createdAt,
        updated_at: readTime(record.updated_at, 'updated_at') ?? createdAt,
      },
    };
  }

  /** One transaction for the batch; if the database refuses it, line by line so only the bad lines fail. */
  private async write(applicationId: number, prepared: Prepared[], report: ImportReport): Promise<void> {
    if (prepared.length === 0) return;
    try {
      const foreign = await this.store.importBatch(applicationId, prepared);
      this.count(prepared, foreign, report);
      return;
    } catch (error) {
      if (prepared.length === 1) {
        const [only] = prepared;
        report.errors.push({ line: only?.line ?? 0, message: describe(error) });
        return;
      }
    }
    for (const one of prepared) await this.write(applicationId, [one], report);
  }

  private count(prepared: Prepared[], foreign: number[], report: ImportReport): void {
    for (const p of prepared) {
      if (foreign.includes(p.row.id))
        report.errors.push({ line: p.line, message: `id ${p.row.id} belongs to another application` });
      else report.imported++;
    }
  }
}

function exportLine(row: UserRow) {
  return {
    id: row.id,
    login: row.login,
    email: row.email,
    email_confirmed: row.email_confirmed !== 0,
    // null: the user has no password (social sign-in), not a password left out.
    password_hash: row.password_hash || null,
    full_name: row.full_name,
    phone: row.phone,
    website: row.website,
    facebook_id: row.facebook_id,
    twitter_id: row.twitter_id,
    twitter_digits_id: row.twitter_digits_id,
    firebase_uid: row.firebase_uid,
    custom_identity_uid: row.custom_identity_uid,
    external_user_id: row.external_user_id,
    blob_id: row.blob_id,
    custom_data: row.custom_data,
    tag_list: row.user_tags ?? '',
    created_at: isoSeconds(row.created_at),
    updated_at: isoSeconds(row.updated_at),
  };
}

/** A sign-in provider's id for the user: text (a custom provider's may be a number), or null. */
function readUid(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || text.trim() === '' || text.length > PROVIDER_UID_MAX) {
    throw new Error(`${field} must be a string of at most ${PROVIDER_UID_MAX} characters`);
  }
  return text;
}

/** email_confirmed: true/false (as export writes it) or 1/0; absent means confirmed, as for users created without the setting. */
function readFlag(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return true;
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  throw new Error(`${field} must be true or false`);
}

function readTime(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new Error(`${field} must be an ISO date or unix seconds`);
  return ms;
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return JSON.stringify(error.body.errors);
  if (isUniqueViolation(error)) return 'login, email or another unique field is already taken by another user';
  return (error as Error).message;
}
