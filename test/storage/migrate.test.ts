import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openStorage } from '../../src/storage/db.js';
import { createPostgresDatabase, type Dialect, dialects } from '../helpers/server.js';

const run = promisify(execFile);

/** Several processes migrating one empty database at once: each succeeds, each migration is applied once. */
describe.each(dialects)('migrations under a lock (%s)', (dialect: Dialect) => {
  it('lets concurrent `switchboard migrate` runs apply every migration exactly once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-migrate-'));
    const database = dialect === 'postgres' ? await createPostgresDatabase() : null;
    const env = {
      ...process.env,
      SWITCHBOARD_DATA: dataDir,
      LOG_LEVEL: 'silent',
      ...(database ? { DATABASE_URL: database.url } : {}),
    };
    try {
      const runs = await Promise.all([1, 2, 3].map(() => run(process.execPath, ['bin/switchboard', 'migrate'], { env })));
      for (const { stdout } of runs) expect(stdout).toContain('database is up to date');

      const storage = openStorage(loadConfig(env).database);
      try {
        const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(storage.db);
        const names = applied.rows.map((row) => row.name);
        expect(names.length).toBeGreaterThan(0);
        expect(new Set(names).size).toBe(names.length);
        const tables = await storage.db.introspection.getTables();
        expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['applications', 'sessions', 'users']));
      } finally {
        await storage.close();
      }
    } finally {
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
