import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { removeDir, runCli, tempDir } from '../../helpers/process.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

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
    const foreign = await server.createUser(other.application_id, 'other-app-user', 'password-123');
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
    expect((await server.app.services.users.get(other.application_id, foreign.id)).login).toBe('other-app-user');

    // The imported password works, and new users still get fresh ids after imported ones.
    const session = await call((cb) =>
      createSdk(server, app).createSession({ login: 'imported-1', password: 'plain-password' }, cb),
    );
    expect(session.user_id).toBe(9001);
    const fresh = await server.createUser(app.application_id, 'after-import', 'password-123');
    expect(fresh.id).toBeGreaterThan(9005);
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
    expect(records.find((r) => r.id === 9102)).not.toHaveProperty('password_hash');

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
