import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { removeDir, runCli, tempDir } from '../../helpers/process.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

async function* linesOf(text: string) {
  for (const line of text.split('\n')) yield line;
}

describe.each(dialects)('user import and export (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let other: Credentials;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    other = await server.createApplication();
  });
  afterAll(() => server?.close());

  const transfer = () => server.app.services.userTransfer;

  it('imports good lines with their ids, reports each bad line, and writes nothing for it', async () => {
    await server.createUser(app.application_id, 'already-here', 'password-123');
    const foreign = await server.app.services.users.create(other.application_id, {
      login: 'other-app-user',
      password: 'password-123',
      tag_list: 'theirs,kept',
    });
    const file = [
      JSON.stringify({ id: 9001, login: 'imported-1', password: 'plain-password', full_name: 'One', tag_list: 'a,b' }),
      '{not json',
      JSON.stringify({ login: 'no-id', password: 'plain-password' }),
      JSON.stringify({ id: 9002, login: 'bad-email', email: 'nope', password: 'plain-password' }),
      JSON.stringify({ id: 9003, login: 'already-here', password: 'plain-password' }),
      JSON.stringify({ id: foreign.id, login: 'steal', password: 'plain-password' }),
      JSON.stringify({ id: 9004, email: 'four@example.com' }),
      '',
      JSON.stringify({ id: 9005, login: 'imported-5', password: 'plain-password', created_at: '2020-01-02T03:04:05Z' }),
    ].join('\n');

    const report = await transfer().import(app.application_id, linesOf(file), { requirePasswordReset: false, batchSize: 3 });
    expect(report.imported).toBe(2);
    expect(report.errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(report.errors.find((e) => e.line === 4)?.message).toContain('email');
    expect(report.errors.find((e) => e.line === 6)?.message).toContain('another application');

    const one = await server.app.services.users.get(app.application_id, 9001);
    expect(one).toMatchObject({ id: 9001, login: 'imported-1', full_name: 'One', user_tags: 'a,b' });
    expect((await server.app.services.users.get(app.application_id, 9005)).created_at).toBe('2020-01-02T03:04:05Z');
    for (const missing of [9002, 9003, 9004]) {
      await expect(server.app.services.users.get(app.application_id, missing)).rejects.toMatchObject({ statusCode: 404 });
    }
    // The other application's user is untouched, still found by its tags (the batch that refused it once cleared them).
    expect((await server.app.services.users.get(other.application_id, foreign.id)).login).toBe('other-app-user');
    const tagged = await server.app.services.users.listByTags(other.application_id, 'theirs', {});
    expect(tagged.items.map((item) => item.user.id)).toEqual([foreign.id]);

    // The imported password works, and new users still get fresh ids after imported ones.
    const session = await call((cb) =>
      createSdk(server, app).createSession({ login: 'imported-1', password: 'plain-password' }, cb),
    );
    expect(session.user_id).toBe(9001);
    const fresh = await server.createUser(app.application_id, 'after-import', 'password-123');
    expect(fresh.id).toBeGreaterThan(9005);
  });

  it("leaves another application's user alone, tags included, in a batch that imports others", async () => {
    const theirs = await server.app.services.users.create(other.application_id, {
      login: 'tagged-elsewhere',
      password: 'password-123',
      tag_list: 'elsewhere',
    });
    const file = [
      JSON.stringify({ id: 9301, login: 'batch-mate', password: 'plain-password', tag_list: 'mine' }),
      JSON.stringify({ id: theirs.id, login: 'steal-tags', password: 'plain-password', tag_list: 'mine' }),
    ].join('\n');
    const report = await transfer().import(app.application_id, linesOf(file), { requirePasswordReset: false });
    expect(report.imported).toBe(1);
    expect(report.errors).toEqual([{ line: 2, message: `id ${theirs.id} belongs to another application` }]);
    const tagged = await server.app.services.users.listByTags(other.application_id, 'elsewhere', {});
    expect(tagged.items.map((item) => item.user.id)).toEqual([theirs.id]);
    const mine = await server.app.services.users.listByTags(app.application_id, 'mine', {});
    expect(mine.items.map((item) => item.user.id)).toEqual([9301]);
  });

  it.runIf(dialect === 'postgres')('leaves PostgreSQL statistics of the users it imported', async () => {
    const file = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({ id: 9400 + i, login: `stats-${i}`, password: 'plain-password' }),
    );
    const report = await transfer().import(app.application_id, linesOf(file.join('\n')), { requirePasswordReset: false });
    expect(report.imported).toBe(30);
    // ANALYZE sets the row estimate (and no ordinary insert does): at least the 30 just imported.
    const estimate = await sql<{ reltuples: number }>`select reltuples from pg_class where relname = 'users'`.execute(
      server.app.services.storage.db,
    );
    expect(Number(estimate.rows[0]?.reltuples)).toBeGreaterThanOrEqual(30);
  });

  it('is idempotent, and an export imports back with passwords intact', async () => {
    const lines = [
      JSON.stringify({ id: 9101, login: 'round-trip', password: 'round-password', tag_list: 'x' }),
      JSON.stringify({ id: 9102, email: 'reset@example.com' }),
    ].join('\n');
    const first = await transfer().import(app.application_id, linesOf(lines), { requirePasswordReset: true });
    const again = await transfer().import(app.application_id, linesOf(lines), { requirePasswordReset: true });
    expect(first).toEqual({ lines: 2, imported: 2, errors: [] });
    expect(again).toEqual(first);

    const exported: string[] = [];
    for await (const line of transfer().export(app.application_id)) exported.push(line);
    const records = exported.map((line) => JSON.parse(line));
    const roundTrip = records.find((r) => r.id === 9101);
    expect(roundTrip).toMatchObject({ login: 'round-trip', tag_list: 'x' });
    expect(roundTrip.password_hash).toMatch(/^\$argon2id\$/);
    // A user without a password says so (null), rather than leaving the field out.
    expect(records.find((r) => r.id === 9102)).toHaveProperty('password_hash', null);

    // Change a field in the export and import it back: same ids, updated, password still valid.
    const edited = exported.map((line) => line.replace('"tag_list":"x"', '"tag_list":"y,z"')).join('\n');
    const back = await transfer().import(app.application_id, linesOf(edited), { requirePasswordReset: true });
    expect(back.errors).toEqual([]);
    expect((await server.app.services.users.get(app.application_id, 9101)).user_tags).toBe('y,z');
    const session = await call((cb) =>
      createSdk(server, app).createSession({ login: 'round-trip', password: 'round-password' }, cb),
    );
    expect(session.user_id).toBe(9101);
    // A user imported without a password cannot log in with any password.
    const none = await call((cb) =>
      createSdk(server, app).createSession({ email: 'reset@example.com', password: 'anything-1' }, cb),
    ).catch((e) => e);
    expect(none.code).toBe(401);
  });

  it('round-trips sign-in provider links, email confirmation and users without a password', async () => {
    const social = await server.createApplication();
    const users = server.app.services.users;
    const firebase = await users.findOrCreateByProvider(social.application_id, {
      provider: 'firebase_phone',
      uid: 'firebase-uid-abc',
      phone: '+15550001',
    });
    const custom = await users.findOrCreateByProvider(social.application_id, {
      provider: 'custom',
      uid: 'idp-42',
      email: 'idp@example.com',
      fullName: 'From IdP',
    });
    const unconfirmed = await users.create(
      social.application_id,
      { login: 'unconfirmed', email: 'wait@example.com', password: 'password-123' },
      { emailConfirmed: false },
    );
    expect(firebase.created && custom.created).toBe(true);
    const ids = [firebase.user.id, custom.user.id, unconfirmed.id];
    const db = server.app.services.storage.db;
    const rowsOf = () => db.selectFrom('users').selectAll().where('id', 'in', ids).orderBy('id').execute();
    const before = await rowsOf();
    expect(before.map((r) => r.email_confirmed)).toEqual([1, 1, 0]);

    const exported: string[] = [];
    for await (const line of transfer().export(social.application_id)) exported.push(line);
    const records = exported.map((line) => JSON.parse(line));
    expect(records.map((r) => r.id)).toEqual(ids);
    expect(records[0]).toMatchObject({ firebase_uid: 'firebase-uid-abc', custom_identity_uid: null, password_hash: null });
    expect(records[1]).toMatchObject({ firebase_uid: null, custom_identity_uid: 'idp-42', password_hash: null });
    expect(records.map((r) => r.email_confirmed)).toEqual([true, true, false]);

    // Gone, then back from the export alone, without --require-password-reset.
    for (const id of ids) await users.delete(social.application_id, { userId: null, via: 'apikey' }, id);
    expect(await rowsOf()).toEqual([]);
    const report = await transfer().import(social.application_id, linesOf(exported.join('\n')), {
      requirePasswordReset: false,
    });
    expect(report).toEqual({ lines: 3, imported: 3, errors: [] });

    // The same rows, but for the sub-second part of the times (the line format has whole seconds).
    const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;
    const after = await rowsOf();
    expect(after).toEqual(
      before.map((row) => ({ ...row, created_at: seconds(row.created_at), updated_at: seconds(row.updated_at) })),
    );
    // The providers find the same users again instead of creating new ones.
    const again = await users.findOrCreateByProvider(social.application_id, {
      provider: 'firebase_phone',
      uid: 'firebase-uid-abc',
    });
    expect(again).toMatchObject({ created: false, user: { id: firebase.user.id } });
    const idpAgain = await users.findOrCreateByProvider(social.application_id, { provider: 'custom', uid: 'idp-42' });
    expect(idpAgain).toMatchObject({ created: false, user: { id: custom.user.id } });
    // The unconfirmed user is still refused until they confirm; the password-less ones cannot sign in with a password.
    await server.app.services.apps.updateSettings(social.application_id, { require_email_confirmation: true });
    const refused = await server.request('POST', '/session.json', {
      form: sessionForm(social, server.clock.now(), { 'user[login]': 'unconfirmed', 'user[password]': 'password-123' }),
    });
    expect(refused.status).toBe(422);
    const noPassword = await server.request('POST', '/session.json', {
      form: sessionForm(social, server.clock.now(), {
        'user[login]': firebase.user.login ?? '',
        'user[password]': 'anything-123',
      }),
    });
    expect(noPassword.status).toBe(401);
  });

  it('refuses bad provider ids and confirmation flags, and a line that says nothing about a password', async () => {
    const lines = [
      JSON.stringify({ id: 9201, login: 'bad-uid', password_hash: null, firebase_uid: { a: 1 } }),
      JSON.stringify({ id: 9202, login: 'long-uid', password_hash: null, custom_identity_uid: 'x'.repeat(256) }),
      JSON.stringify({ id: 9203, login: 'bad-flag', password_hash: null, email_confirmed: 'yes' }),
      JSON.stringify({ id: 9204, login: 'silent' }),
      JSON.stringify({ id: 9205, login: 'numeric-uid', password_hash: null, custom_identity_uid: 1234 }),
    ].join('\n');
    const report = await transfer().import(app.application_id, linesOf(lines), { requirePasswordReset: false });
    expect(report.errors.map((e) => e.line)).toEqual([1, 2, 3, 4]);
    expect(report.errors[3]?.message).toContain('password');
    expect(report.imported).toBe(1);
    for (const id of [9201, 9202, 9203, 9204]) expect(await server.app.services.users.exists(app.application_id, id)).toBe(false);
    const row = await server.app.services.storage.db
      .selectFrom('users')
      .select(['custom_identity_uid', 'password_hash', 'email_confirmed'])
      .where('id', '=', 9205)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ custom_identity_uid: '1234', password_hash: '', email_confirmed: 1 });
  });
});

describe('user import and export from the command line', () => {
  it('imports a file, reports bad lines with a non-zero exit, and exports JSON lines', async () => {
    const dir = tempDir();
    try {
      const env = { SWITCHBOARD_DATA: join(dir, 'data'), LOG_LEVEL: 'silent' };
      const created = await runCli(['app', 'create', '--name', 'transfer', '--json'], env);
      const appId = JSON.parse(created.stdout.trim()).application_id;
      const file = join(dir, 'users.jsonl');
      writeFileSync(file, `${JSON.stringify({ id: 70, login: 'cli-user', password: 'cli-password' })}\n{broken\n`);

      const imported = await runCli(['user', 'import', '--app', String(appId), file], env);
      expect(imported.code).toBe(1);
      expect(imported.stdout).toContain('imported 1 users from 2 lines, 1 errors');
      expect(imported.stderr).toContain('line 2: not valid JSON');

      const out = join(dir, 'export.jsonl');
      const exported = await runCli(['user', 'export', '--app', String(appId), out], env);
      expect(exported.code).toBe(0);
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      expect(lines.map((line) => JSON.parse(line).login)).toEqual(['cli-user']);
    } finally {
      removeDir(dir);
    }
  });
});
