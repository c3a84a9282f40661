import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

let cwd: string;
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

/** The ConfigError loadConfig throws for env; fails the test when it does not throw one. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

function writeJson(name: string, content: string): string {
  const path = join(cwd, name);
  writeFileSync(path, content);
  return path;
}

describe('loadConfig defaults', () => {
  it('with an empty environment', () => {
    const config = loadConfig({}, cwd);
    expect(config.port).toBe(8443);
    expect(config.host).toBe('0.0.0.0');
    expect(config.dataDir).toBe(join(cwd, 'data'));
    expect(config.database).toEqual({ kind: 'sqlite', file: join(cwd, 'data', 'switchboard.sqlite') });
    expect(config.tls).toEqual({ mode: 'self-signed' });
    expect(config.logLevel).toBe('info');
    expect(config.endpoints).toEqual({ api: 'https://localhost:8443', chat: 'localhost', turnserver: 'localhost' });
    expect(config.bodyLimit).toBe(1024 * 1024);
    expect(config.sessionTtlSeconds).toBe(7200);
  });

  it('reads only the environment it is given, never process.env', () => {
    const before = process.env.PORT;
    process.env.PORT = '1234';
    try {
      expect(loadConfig({}, cwd).port).toBe(8443);
    } finally {
      if (before === undefined) delete process.env.PORT;
      else process.env.PORT = before;
    }
  });

  it('treats empty and blank values as unset and trims the others', () => {
    const config = loadConfig({ PORT: '', HOST: '   ', LOG_LEVEL: ' debug ', SWITCHBOARD_DATA: '' }, cwd);
    expect(config.port).toBe(8443);
    expect(config.host).toBe('0.0.0.0');
    expect(config.logLevel).toBe('debug');
    expect(config.dataDir).toBe(join(cwd, 'data'));
  });
});

describe('loadConfig settings', () => {
  it('resolves a relative SWITCHBOARD_DATA against cwd and keeps the SQLite file inside it', () => {
    const config = loadConfig({ SWITCHBOARD_DATA: 'var/sb' }, cwd);
    expect(config.dataDir).toBe(join(cwd, 'var', 'sb'));
    expect(config.database).toEqual({ kind: 'sqlite', file: join(cwd, 'var', 'sb', 'switchboard.sqlite') });
  });

  it('takes an absolute SWITCHBOARD_DATA as it is', () => {
    const elsewhere = join(tmpdir(), 'somewhere-else');
    expect(loadConfig({ SWITCHBOARD_DATA: elsewhere }, cwd).dataDir).toBe(elsewhere);
  });

  it('derives the endpoints from PORT, HOST and PUBLIC_HOST', () => {
    expect(loadConfig({ PORT: '9000', HOST: '127.0.0.1' }, cwd).endpoints).toEqual({
      api: 'https://127.0.0.1:9000',
      chat: '127.0.0.1',
      turnserver: '127.0.0.1',
    });
    // A wildcard address is not something clients can reach.
    expect(loadConfig({ HOST: '::' }, cwd).endpoints.api).toBe('https://localhost:8443');
    expect(loadConfig({ HOST: '0.0.0.0', PUBLIC_HOST: 'chat.example.com' }, cwd).endpoints).toEqual({
      api: 'https://chat.example.com:8443',
      chat: 'chat.example.com',
      turnserver: 'chat.example.com',
    });
  });

  it('takes explicit endpoints over the derived ones', () => {
    const config = loadConfig(
      { API_ENDPOINT: 'https://api.example.com', CHAT_ENDPOINT: 'chat.example.com', TURN_ENDPOINT: 'turn.example.com' },
      cwd,
    );
    expect(config.endpoints).toEqual({
      api: 'https://api.example.com',
      chat: 'chat.example.com',
      turnserver: 'turn.example.com',
    });
  });

  it('accepts PORT=0 and the ends of the range', () => {
    expect(loadConfig({ PORT: '0' }, cwd).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }, cwd).port).toBe(65535);
  });

  it('reads BODY_LIMIT and SESSION_TTL', () => {
    const config = loadConfig({ BODY_LIMIT: '2048', SESSION_TTL: '60' }, cwd);
    expect(config.bodyLimit).toBe(2048);
    expect(config.sessionTtlSeconds).toBe(60);
  });

  it('accepts every log level', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      expect(loadConfig({ LOG_LEVEL: level }, cwd).logLevel).toBe(level);
    }
  });
});

describe('DATABASE_URL', () => {
  it('is a SQLite file path relative to cwd (not to the data folder)', () => {
    const config = loadConfig({ DATABASE_URL: 'db/main.sqlite', SWITCHBOARD_DATA: '/srv/data' }, cwd);
    expect(config.database).toEqual({ kind: 'sqlite', file: join(cwd, 'db', 'main.sqlite') });
    expect(config.dataDir).toBe('/srv/data');
  });

  it('is an absolute SQLite file path', () => {
    expect(loadConfig({ DATABASE_URL: '/var/lib/sb/main.sqlite' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: '/var/lib/sb/main.sqlite',
    });
  });

  it('may carry a sqlite:// or file:// prefix', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:///var/lib/sb.sqlite' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: '/var/lib/sb.sqlite',
    });
    expect(loadConfig({ DATABASE_URL: 'file://rel.sqlite' }, cwd).database).toEqual({
      kind: 'sqlite',
      file: join(cwd, 'rel.sqlite'),
    });
  });

  it('is a postgres:// or postgresql:// URL, kept as it is', () => {
    const url = 'postgres://switchboard:s3cret@db.internal:5432/switchboard?sslmode=require';
    expect(loadConfig({ DATABASE_URL: url }, cwd).database).toEqual({ kind: 'postgres', url });
    const long = 'postgresql://localhost/sb';
    expect(loadConfig({ DATABASE_URL: long }, cwd).database).toEqual({ kind: 'postgres', url: long });
  });

  it('refuses other schemes and broken postgres URLs, naming DATABASE_URL', () => {
    for (const value of ['mysql://x', 'mysql://user:pw@localhost/db', 'http://example.com/db', 'postgres://[broken']) {
      const error = configError({ DATABASE_URL: value });
      expect(error.setting).toBe('DATABASE_URL');
      expect(error.message).toContain('DATABASE_URL');
    }
  });
});

describe('TLS', () => {
  it('is off with off, false, 0 or no, which makes the endpoints http', () => {
    for (const value of ['off', 'OFF', 'false', '0', 'no']) {
      const config = loadConfig({ TLS: value, PORT: '8080' }, cwd);
      expect(config.tls).toEqual({ mode: 'off' });
      expect(config.endpoints.api).toBe('http://localhost:8080');
    }
  });

  it('is self-signed with on, true, 1 or yes', () => {
    for (const value of ['on', 'true', '1', 'yes', 'Yes']) {
      expect(loadConfig({ TLS: value }, cwd).tls).toEqual({ mode: 'self-signed' });
    }
  });

  it('uses TLS_CERT and TLS_KEY, resolved against cwd', () => {
    expect(loadConfig({ TLS_CERT: 'certs/cert.pem', TLS_KEY: '/etc/ssl/key.pem' }, cwd).tls).toEqual({
      mode: 'files',
      certFile: join(cwd, 'certs', 'cert.pem'),
      keyFile: '/etc/ssl/key.pem',
    });
  });

  it('wants TLS_CERT and TLS_KEY together', () => {
    const noKey = configError({ TLS_CERT: 'cert.pem' });
    expect(noKey.setting).toBe('TLS_KEY');
    expect(noKey.message).toMatch(/TLS_KEY.*TLS_CERT/);
    const noCert = configError({ TLS_KEY: 'key.pem' });
    expect(noCert.setting).toBe('TLS_CERT');
    expect(noCert.message).toMatch(/TLS_CERT.*TLS_KEY/);
  });

  it('TLS=off ignores certificate files', () => {
    expect(loadConfig({ TLS: 'off', TLS_CERT: 'cert.pem' }, cwd).tls).toEqual({ mode: 'off' });
  });
});

describe('invalid values stop with a ConfigError that names the setting', () => {
  // [environment, the setting named, a part of the message that says what was wrong]
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ PORT: 'abc' }, 'PORT', '"abc"'],
    [{ PORT: '70000' }, 'PORT', '70000'],
    [{ PORT: '65536' }, 'PORT', '65536'],
    [{ PORT: '-1' }, 'PORT', '"-1"'],
    [{ PORT: '80.5' }, 'PORT', '"80.5"'],
    [{ PORT: '1e3' }, 'PORT', '"1e3"'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', '"loud"'],
    [{ LOG_LEVEL: 'INFO' }, 'LOG_LEVEL', '"INFO"'],
    [{ TLS: 'maybe' }, 'TLS', '"maybe"'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', '"mysql://x"'],
    [{ BODY_LIMIT: '10' }, 'BODY_LIMIT', '10'],
    [{ BODY_LIMIT: 'lots' }, 'BODY_LIMIT', '"lots"'],
    [{ SESSION_TTL: '59' }, 'SESSION_TTL', '59'],
    [{ SESSION_TTL: String(31 * 24 * 3600) }, 'SESSION_TTL', String(31 * 24 * 3600)],
  ];
  it.each(cases)('%j names %s', (env, setting, fragment) => {
    const error = configError(env);
    expect(error).toBeInstanceOf(Error);
    expect(error.setting).toBe(setting);
    expect(error.message).toContain(setting);
    expect(error.message).toContain(fragment);
  });

  it('checks every setting, not only the first one', () => {
    expect(configError({ PORT: '8443', LOG_LEVEL: 'loud' }).setting).toBe('LOG_LEVEL');
    expect(configError({ TLS: 'off', DATABASE_URL: 'mysql://x' }).setting).toBe('DATABASE_URL');
  });
});

describe('SWITCHBOARD_CONFIG', () => {
  it('reads the same names from a JSON file, with numbers and booleans as values', () => {
    const file = writeJson(
      'full.json',
      JSON.stringify({ PORT: 9443, HOST: '127.0.0.1', LOG_LEVEL: 'warn', TLS: false, DATABASE_URL: 'postgres://db/sb' }),
    );
    const config = loadConfig({ SWITCHBOARD_CONFIG: file }, cwd);
    expect(config.port).toBe(9443);
    expect(config.host).toBe('127.0.0.1');
    expect(config.logLevel).toBe('warn');
    expect(config.tls).toEqual({ mode: 'off' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://db/sb' });
    expect(config.endpoints.api).toBe('http://127.0.0.1:9443');
  });

  it('is found relative to cwd', () => {
    mkdirSync(join(cwd, 'etc'), { recursive: true });
    writeJson('etc/relative.json', JSON.stringify({ PORT: '7000' }));
    expect(loadConfig({ SWITCHBOARD_CONFIG: 'etc/relative.json' }, cwd).port).toBe(7000);
  });

  it('loses to the environment', () => {
    const file = writeJson('loses.json', JSON.stringify({ PORT: 9443, LOG_LEVEL: 'warn', SWITCHBOARD_DATA: 'from-file' }));
    const config = loadConfig({ SWITCHBOARD_CONFIG: file, PORT: '9444', SWITCHBOARD_DATA: 'from-env' }, cwd);
    expect(config.port).toBe(9444);
    expect(config.dataDir).toBe(join(cwd, 'from-env'));
    // What the environment leaves out still comes from the file.
    expect(config.logLevel).toBe('warn');
  });

  it('is checked like the environment', () => {
    const file = writeJson('bad-value.json', JSON.stringify({ PORT: 'abc' }));
    expect(configError({ SWITCHBOARD_CONFIG: file }).setting).toBe('PORT');
  });

  it('a missing file is a ConfigError naming SWITCHBOARD_CONFIG', () => {
    const error = configError({ SWITCHBOARD_CONFIG: join(cwd, 'no-such-file.json') });
    expect(error.setting).toBe('SWITCHBOARD_CONFIG');
    expect(error.message).toContain('SWITCHBOARD_CONFIG');
  });

  it('a file that is not JSON is a ConfigError naming SWITCHBOARD_CONFIG and the file', () => {
    const file = writeJson('broken.json', '{ "PORT": 9443, ');
    const error = configError({ SWITCHBOARD_CONFIG: file });
    expect(error.setting).toBe('SWITCHBOARD_CONFIG');
    expect(error.message).toContain('SWITCHBOARD_CONFIG');
    expect(error.message).toContain(file);
  });

  it('JSON that is not an object is a ConfigError naming SWITCHBOARD_CONFIG', () => {
    for (const content of ['[1, 2]', '"PORT=9443"', '42', 'null', 'true']) {
      const file = writeJson('not-object.json', content);
      const error = configError({ SWITCHBOARD_CONFIG: file });
      expect(error.setting).toBe('SWITCHBOARD_CONFIG');
      expect(error.message).toContain('SWITCHBOARD_CONFIG');
    }
  });

  it('a nested value is a ConfigError naming its key', () => {
    const file = writeJson('nested.json', JSON.stringify({ PORT: { value: 9443 } }));
    const error = configError({ SWITCHBOARD_CONFIG: file });
    expect(error.setting).toBe('PORT');
    expect(error.message).toContain('PORT');
  });

  it('an empty SWITCHBOARD_CONFIG means no file', () => {
    expect(loadConfig({ SWITCHBOARD_CONFIG: '' }, cwd).port).toBe(8443);
  });
});
