import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authOf } from '../src/core/auth.js';
import { jsonLine, removeDir, runCli, tempDir } from './helpers/process.js';
import { createPostgresDatabase, startServer, type TestServer } from './helpers/server.js';
import { sessionForm } from './helpers/signature.js';

// `node bin/switchboard ...` as a user runs it: a real process on a real data folder.

function expectCredentials(value: any): void {
  expect(value).toEqual({
    application_id: expect.any(Number),
    auth_key: expect.any(String),
    auth_secret: expect.any(String),
    account_key: expect.any(String),
  });
  expect(Number.isSafeInteger(value.application_id)).toBe(true);
  expect(value.application_id).toBeGreaterThan(0);
  for (const key of ['auth_key', 'auth_secret', 'account_key']) expect(value[key].length).toBeGreaterThanOrEqual(8);
}

describe('CLI on SQLite', () => {
  let dataDir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(() => {
    dataDir = tempDir();
    env = { SWITCHBOARD_DATA: dataDir, LOG_LEVEL: 'silent' };
  });
  afterAll(() => removeDir(dataDir));

  let first: any;

  it('app create --json prints exactly one JSON line with the credentials', async () => {
    const result = await cli('app', 'create', '--name', 'First', '--json');
    first = jsonLine(result);
    expectCredentials(first);
    // The database lives in the data folder.
    expect(existsSync(join(dataDir, 'switchboard.sqlite'))).toBe(true);
    // The first application created the owner account; its one-time password goes to stderr, off the JSON.
    expect(result.stderr).toMatch(/owner account owner@localhost\. Its password, shown only this once: \S{8,}/);
  });

  it('app create --json says nothing on stderr once the owner exists', async () => {
    const result = await cli('app', 'create', '--name', 'Second', '--json');
    jsonLine(result);
    expect(result.stderr).toBe('');
  });

  it('app create honours --id, --auth-key and --auth-secret', async () => {
    const made = jsonLine(
      await cli('app', 'create', '--name', 'Fixed', '--id', '500', '--auth-key', 'K', '--auth-secret', 'S', '--json'),
    );
    expect(made).toEqual({ application_id: 500, auth_key: 'K', auth_secret: 'S', account_key: first.account_key });
  });

  it('a further application gets a new id, random keys and the same account', async () => {
    const made = jsonLine(await cli('app', 'create', '--name', 'Third', '--json'));
    expectCredentials(made);
    expect(made.application_id).toBeGreaterThan(500);
    expect(made.auth_key).not.toBe(first.auth_key);
    expect(made.auth_secret).not.toBe(first.auth_secret);
    expect(made.account_key).toBe(first.account_key);
  });

  it('app create without --json prints the credentials for people', async () => {
    const result = await cli('app', 'create', '--name', 'Readable', '--id', '600');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Application "Readable"');
    expect(result.stdout).toMatch(/application_id: 600\b/);
    expect(result.stdout).toMatch(/auth_key: +\S+/);
    expect(result.stdout).toMatch(/auth_secret: +\S+/);
    // The owner account already exists: no password again.
    expect(result.stdout).not.toContain('password');
  });

  it('a duplicate --id fails with a non-zero exit and says why', async () => {
    const result = await cli('app', 'create', '--name', 'Again', '--id', '500', '--json');
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/already taken/);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('a duplicate --auth-key fails the same way', async () => {
    const result = await cli('app', 'create', '--name', 'Again', '--auth-key', 'K', '--json');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/already taken/);
  });

  it('refuses bad arguments', async () => {
    for (const id of ['abc', '0', '-3', '1.5']) {
      const result = await cli('app', 'create', '--name', 'Bad', '--id', id, '--json');
      expect(result.code, `--id ${id}`).not.toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/--id/);
    }
    const noName = await cli('app', 'create', '--json');
    expect(noName.code).not.toBe(0);
    expect(noName.stderr).toMatch(/--name/);
    const blank = await cli('app', 'create', '--name', '   ', '--json');
    expect(blank.code).not.toBe(0);
    expect(blank.stderr).toMatch(/name/);
  });

  it('app list --json lists every application', async () => {
    const apps = jsonLine(await cli('app', 'list', '--json'));
    // In id order: generated ids continue after the largest one.
    expect(apps.map((a: any) => a.name)).toEqual(['First', 'Second', 'Fixed', 'Third', 'Readable']);
    expect(apps.find((a: any) => a.application_id === 500)).toEqual({
      name: 'Fixed',
      application_id: 500,
      auth_key: 'K',
      auth_secret: 'S',
      account_key: first.account_key,
    });
    expect(apps[0]).toEqual({ name: 'First', ...first });
  });

  it('app list prints a line per application for people', async () => {
    const result = await cli('app', 'list');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(5);
    expect(lines).toContain('500\tFixed\tauth_key=K\tauth_secret=S');
  });

  it('apikey create --app N --json prints a key', async () => {
    const made = jsonLine(await cli('apikey', 'create', '--app', '500', '--json'));
    expect(made).toEqual({ application_id: 500, api_key: expect.stringMatching(/^sbk_\S{20,}$/) });
    const other = jsonLine(await cli('apikey', 'create', '--app', '500', '--name', 'ci', '--json'));
    expect(other.api_key).not.toBe(made.api_key);
  });

  it('apikey create for an unknown application fails clearly', async () => {
    const result = await cli('apikey', 'create', '--app', '9999');
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/application_id/);
    expect(result.stderr).toMatch(/not found/);
  });

  it('migrate succeeds, and again', async () => {
    for (let run = 0; run < 2; run++) {
      const result = await cli('migrate');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/up to date \(sqlite\)/);
      expect(result.stderr).toBe('');
    }
    // Nothing was lost.
    expect(jsonLine(await cli('app', 'list', '--json'))).toHaveLength(5);
  });

  it('migrate creates a database on an empty folder', async () => {
    const fresh = tempDir();
    try {
      const result = await runCli(['migrate'], { SWITCHBOARD_DATA: fresh, LOG_LEVEL: 'silent' });
      expect(result.code).toBe(0);
      expect(existsSync(join(fresh, 'switchboard.sqlite'))).toBe(true);
      expect(jsonLine(await runCli(['app', 'list', '--json'], { SWITCHBOARD_DATA: fresh }))).toEqual([]);
    } finally {
      removeDir(fresh);
    }
  });

  it('user create --json creates a user', async () => {
    const made = jsonLine(
      await cli('user', 'create', '--app', String(first.application_id), '--login', 'u', '--password', 'longenough', '--json'),
    );
    expect(made.user).toMatchObject({ id: expect.any(Number), login: 'u', email: null });
    expect(made.user).not.toHaveProperty('password');
    expect(JSON.stringify(made)).not.toContain('longenough');
  });

  it('user create refuses a taken login, a short password and an unknown application', async () => {
    const app = String(first.application_id);
    const taken = await cli('user', 'create', '--app', app, '--login', 'u', '--password', 'longenough', '--json');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/login/);
    const short = await cli('user', 'create', '--app', app, '--login', 'v', '--password', 'short', '--json');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/password/);
    const unknown = await cli('user', 'create', '--app', '9999', '--login', 'w', '--password', 'longenough', '--json');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/application_id/);
  });
});

describe('CLI on PostgreSQL', () => {
  let database: { url: string; drop(): Promise<void> };
  let dataDir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    database = await createPostgresDatabase();
    dataDir = tempDir();
    env = { SWITCHBOARD_DATA: dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await database?.drop();
    removeDir(dataDir);
  });

  it('creates and lists applications', async () => {
    const migrate = await cli('migrate');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/up to date \(postgres\)/);

    const fixed = jsonLine(
      await cli('app', 'create', '--name', 'Fixed', '--id', '500', '--auth-key', 'K', '--auth-secret', 'S', '--json'),
    );
    expect(fixed).toMatchObject({ application_id: 500, auth_key: 'K', auth_secret: 'S' });
    // The id sequence moved past the explicit id: the next generated one does not collide.
    const next = jsonLine(await cli('app', 'create', '--name', 'Next', '--json'));
    expectCredentials(next);
    expect(next.application_id).toBeGreaterThan(500);
    expect(next.account_key).toBe(fixed.account_key);

    const duplicate = await cli('app', 'create', '--name', 'Again', '--id', '500', '--json');
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr).toMatch(/already taken/);

    const apps = jsonLine(await cli('app', 'list', '--json'));
    expect(apps).toEqual([
      { name: 'Fixed', ...fixed },
      { name: 'Next', ...next },
    ]);
    // Nothing was written to the data folder's SQLite file.
    expect(existsSync(join(dataDir, 'switchboard.sqlite'))).toBe(false);
  });

  it('fails clearly when the database cannot be reached', async () => {
    const url = new URL(database.url);
    url.pathname = '/no_such_database';
    const result = await runCli(['app', 'list', '--json'], { ...env, DATABASE_URL: url.toString() });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/no_such_database/);
  });
});

describe('CLI configuration errors', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = tempDir();
  });
  afterAll(() => removeDir(dataDir));

  it('exits with code 2 and names the setting', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ PORT: 'abc' }, 'PORT'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
      [{ SWITCHBOARD_CONFIG: join(dataDir, 'missing.json') }, 'SWITCHBOARD_CONFIG'],
    ];
    for (const [settings, name] of cases) {
      const result = await runCli(['app', 'list', '--json'], { SWITCHBOARD_DATA: dataDir, ...settings });
      expect(result.code, name).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(name);
    }
  });

  it('serve exits with code 2 too, before creating anything', async () => {
    const result = await runCli(['serve'], { SWITCHBOARD_DATA: dataDir, PORT: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PORT.*"abc"/);
    expect(existsSync(join(dataDir, 'switchboard.sqlite'))).toBe(false);
  });
});

describe('CLI while a server runs on the same data', () => {
  let dataDir: string;
  let server: TestServer;
  const cli = (...args: string[]) => runCli(args, { SWITCHBOARD_DATA: dataDir, LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    dataDir = tempDir();
    server = await startServer('sqlite', {
      env: { SWITCHBOARD_DATA: dataDir },
      // Shows who a request authenticates as; real routes for API keys arrive with later modules.
      beforeListen: (instance) => {
        instance.get('/test/whoami.json', async (request) => authOf(request));
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    removeDir(dataDir);
  });
  afterEach(() => {
    // The server really uses this folder.
    expect(server.config.database).toEqual({ kind: 'sqlite', file: join(dataDir, 'switchboard.sqlite') });
  });

  it('creates an application the running server accepts sessions for', async () => {
    const made = jsonLine(await cli('app', 'create', '--name', 'Live', '--json'));
    expectCredentials(made);
    const response = await server.request('POST', '/session.json', { form: sessionForm(made, server.clock.now()) });
    expect(response.status).toBe(201);
    expect(response.json.session).toMatchObject({ application_id: made.application_id, user_id: 0 });

    // A signature made with another secret is still refused.
    const forged = await server.request('POST', '/session.json', {
      form: sessionForm({ ...made, auth_secret: 'not-the-secret' }, server.clock.now()),
    });
    expect(forged.status).toBe(422);
  });

  it('an application id the server was asked about before it existed works once created', async () => {
    const planned = { application_id: 700, auth_key: 'planned-key', auth_secret: 'planned-secret' };
    const before = await server.request('POST', '/session.json', { form: sessionForm(planned, server.clock.now()) });
    expect(before.status).toBe(422);
    jsonLine(
      await cli(
        'app',
        'create',
        '--name',
        'Planned',
        '--id',
        '700',
        '--auth-key',
        'planned-key',
        '--auth-secret',
        'planned-secret',
        '--json',
      ),
    );
    const after = await server.request('POST', '/session.json', { form: sessionForm(planned, server.clock.now()) });
    expect(after.status).toBe(201);
  });

  it('sees what the server created, and the server sees its users and API keys', async () => {
    const fromServer = await server.createApplication();
    const apps = jsonLine(await cli('app', 'list', '--json'));
    expect(apps.map((a: any) => a.application_id)).toContain(fromServer.application_id);

    const id = String(fromServer.application_id);
    jsonLine(await cli('user', 'create', '--app', id, '--login', 'carol', '--password', 'carol-password', '--json'));
    const login = await server.request('POST', '/session.json', {
      form: sessionForm(fromServer, server.clock.now(), { 'user[login]': 'carol', 'user[password]': 'carol-password' }),
    });
    expect(login.status).toBe(201);

    const { api_key } = jsonLine(await cli('apikey', 'create', '--app', id, '--json'));
    const withKey = await server.request('GET', '/test/whoami.json', { headers: { Authorization: `ApiKey ${api_key}` } });
    expect(withKey.status).toBe(200);
    expect(withKey.json).toMatchObject({ applicationId: fromServer.application_id, via: 'apikey' });
  });

  it('migrate is harmless while the server runs', async () => {
    const result = await cli('migrate');
    expect(result.code).toBe(0);
    expect((await server.request('GET', '/health/ready')).status).toBe(200);
  });
});
