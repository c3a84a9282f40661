import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

/** last_request_at with several nodes: each flushes its own batch, and a later time always wins. */
describe.each(dialects)('users: last_request_at only moves forward (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
  });
  afterAll(() => server?.close());

  const stored = async (id: number) =>
    (
      await server.app.services.storage.db
        .selectFrom('users')
        .select('last_request_at')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).last_request_at;

  it('a flush of an older time leaves a newer one another node wrote', async () => {
    const users = server.app.services.users;
    const [early, late, fresh] = await Promise.all(
      ['early', 'late', 'fresh'].map((login) => server.createUser(app.application_id, `lr-${login}`, 'password-123')),
    );
    if (!early || !late || !fresh) throw new Error('users not created');
    const now = server.clock.now();
    // This node saw requests a minute ago; another node has since written later ones for two of them.
    users.touch(early.id, now - 60_000);
    users.touch(late.id, now - 60_000);
    users.touch(fresh.id, now - 60_000);
    const db = server.app.services.storage.db;
    await db.updateTable('users').set({ last_request_at: now }).where('id', '=', early.id).execute();
    await db
      .updateTable('users')
      .set({ last_request_at: now - 120_000 })
      .where('id', '=', late.id)
      .execute();
    await users.flush();
    expect(await stored(early.id)).toBe(now);
    expect(await stored(late.id)).toBe(now - 60_000);
    expect(await stored(fresh.id)).toBe(now - 60_000);

    // The same time again changes nothing, a later one moves it on.
    users.touch(early.id, now);
    users.touch(late.id, now + 1_000);
    await users.flush();
    expect(await stored(early.id)).toBe(now);
    expect(await stored(late.id)).toBe(now + 1_000);
  });
});
