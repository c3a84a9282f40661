import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLine, removeDir, runCli, tempDir } from '../../helpers/process.js';
import { createPostgresDatabase, type Dialect, dialects } from '../../helpers/server.js';

// `bin/switchboard class ...` as the account owner runs it: a real process on a real database.
describe.each(dialects)('bin/switchboard class (%s)', (dialect: Dialect) => {
  let dataDir: string;
  let env: Record<string, string>;
  let drop: (() => Promise<void>) | undefined;
  let app: string;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    dataDir = tempDir();
    env = { SWITCHBOARD_DATA: dataDir, LOG_LEVEL: 'silent' };
    if (dialect === 'postgres') {
      const database = await createPostgresDatabase();
      env.DATABASE_URL = database.url;
      drop = database.drop;
    }
    app = String(jsonLine(await cli('app', 'create', '--name', 'Classes', '--json')).application_id);
  });
  afterAll(async () => {
    await drop?.();
    removeDir(dataDir);
  });

  it('creates, lists, shows, changes and deletes a class', async () => {
    const made = jsonLine(
      await cli(
        'class',
        'create',
        '--app',
        app,
        '--name',
        'Car',
        '--field',
        'make:String',
        '--field',
        'value:Integer:indexed',
        '--field',
        'spot:Location',
        '--permissions',
        '{"read":{"access":"owner","use_class":true}}',
        '--json',
      ),
    );
    expect(made).toMatchObject({
      name: 'Car',
      fields: [
        { name: 'make', type: 'String', indexed: false },
        { name: 'value', type: 'Integer', indexed: true },
        { name: 'spot', type: 'Location', indexed: false },
      ],
      permissions: {
        create: { access: 'open' },
        read: { access: 'owner', use_class: true },
        update: { access: 'owner', use_class: false },
        delete: { access: 'owner', use_class: false },
      },
    });
    const listed = jsonLine(await cli('class', 'list', '--app', app, '--json'));
    expect(listed.map((c: any) => c.name)).toEqual(['Car']);
    const text = await cli('class', 'list', '--app', app);
    expect(text.stdout).toContain('Car\tmake:String value:Integer:indexed spot:Location');
    const changed = jsonLine(
      await cli(
        'class',
        'update',
        '--app',
        app,
        '--name',
        'Car',
        '--field',
        'sold:Date',
        '--remove-field',
        'make',
        '--index',
        'spot',
        '--unindex',
        'value',
        '--permissions',
        '{"delete":{"access":"not_allowed","use_class":true}}',
        '--json',
      ),
    );
    expect(changed.fields).toEqual([
      { name: 'value', type: 'Integer', indexed: false },
      { name: 'spot', type: 'Location', indexed: true },
      { name: 'sold', type: 'Date', indexed: false },
    ]);
    expect(changed.permissions.delete).toEqual({ access: 'not_allowed', ids: [], groups: [], use_class: true });
    expect(changed.permissions.read.access).toBe('owner');
    expect(jsonLine(await cli('class', 'show', '--app', app, '--name', 'Car'))).toEqual(changed);
    const deleted = await cli('class', 'delete', '--app', app, '--name', 'Car');
    expect(deleted.code).toBe(0);
    expect(jsonLine(await cli('class', 'list', '--app', app, '--json'))).toEqual([]);
  });

  it('refuses bad definitions with a message and exit code 1, changing nothing', async () => {
    const bad = [
      ['class', 'create', '--app', app, '--name', 'X', '--field', 'a:Text'],
      ['class', 'create', '--app', app, '--name', 'X', '--field', 'a"; drop table data_classes; --:String'],
      ['class', 'create', '--app', app, '--name', 'X y', '--field', 'a:String'],
      ['class', 'create', '--app', app, '--name', 'X', '--permissions', '{not json'],
      ['class', 'create', '--app', app, '--name', 'X', '--permissions', '{"create":{"access":"owner"}}'],
      ['class', 'create', '--app', '99999', '--name', 'X'],
      ['class', 'show', '--app', app, '--name', 'Nope'],
      ['class', 'update', '--app', app, '--name', 'Nope', '--field', 'a:String'],
      ['class', 'delete', '--app', app, '--name', 'Nope'],
    ];
    for (const args of bad) {
      const result = await cli(...args);
      expect({ args, code: result.code, said: result.stderr.length > 0 }).toEqual({ args, code: 1, said: true });
    }
    expect(jsonLine(await cli('class', 'list', '--app', app, '--json'))).toEqual([]);
  });
});
