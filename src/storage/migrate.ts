import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import type { DialectName } from './dialect.js';
import { foundation } from './migrations/0001-foundation.js';
import { usersApi } from './migrations/0002-users-api.js';
import { addressBook } from './migrations/0003-address-book.js';
import { emailFlows } from './migrations/0004-email-flows.js';
import { socialSignIn } from './migrations/0005-social-sign-in.js';
import { content } from './migrations/0006-content.js';
import { customObjects } from './migrations/0007-custom-objects.js';
import { push } from './migrations/0008-push.js';
import { chat } from './migrations/0010-chat.js';
import { usersNullsFirst } from './migrations/0011-users-nulls-first.js';
import { pushRunProgress } from './migrations/0012-push-run-progress.js';
import { contentIndexes } from './migrations/0013-content-indexes.js';
import type { Database } from './schema.js';

/** Forward-only migrations, shared by both dialects, applied in name order. */
function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001-foundation': foundation(dialect),
    '0002-users-api': usersApi(dialect),
    '0003-address-book': addressBook(dialect),
    '0004-email-flows': emailFlows(dialect),
    '0005-social-sign-in': socialSignIn(dialect),
    '0006-content': content(dialect),
    '0007-custom-objects': customObjects(dialect),
    '0008-push': push(dialect),
    '0010-chat': chat(dialect),
    '0011-users-nulls-first': usersNullsFirst(dialect),
    '0012-push-run-progress': pushRunProgress(),
    '0013-content-indexes': contentIndexes(),
  };
}

/**
 * Applies pending migrations. PostgreSQL serialises concurrent runs with an
 * advisory lock; on SQLite a run that loses the race for the write lock is
 * rolled back and tried again, and then finds nothing left to do.
 */
export async function migrateToLatest(db: Kysely<Database>, dialect: DialectName): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  // Modules land independently, so a database may have run a later-numbered
  // migration before an earlier one existed; each migration stands alone.
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return (results ?? []).map((r) => r.migrationName);
    const code = (error as { code?: string }).code ?? '';
    if (!code.startsWith('SQLITE_BUSY') || attempt >= 20) throw error;
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
  }
}
