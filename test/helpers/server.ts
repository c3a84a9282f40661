import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { Agent, request as undiciRequest } from 'undici';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { loadTls } from '../../src/core/certificate.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Credentials } from '../../src/modules/apps/service.js';
import { buildServer } from '../../src/server.js';

export type Dialect = 'sqlite' | 'postgres';
/** Every test that touches storage runs on both. */
export const dialects: Dialect[] = ['sqlite', 'postgres'];

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Sent as-is. */
  body?: string | Buffer;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent form-encoded, values already in their final string form. */
  form?: Record<string, string>;
}

export interface TestServer {
  /** https://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, what the SDK takes as endpoints.api */
  apiHost: string;
  app: FastifyInstance;
  clock: ManualClock;
  config: Config;
  cert: string;
  dialect: Dialect;
  createApplication(): Promise<Credentials>;
  createUser(applicationId: number, login: string, password: string, email?: string): Promise<{ id: number }>;
  request(method: string, path: string, options?: RequestOptions): Promise<RawResponse>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Called with the built app before it listens, to add test-only routes. */
  beforeListen?: (app: FastifyInstance) => void | Promise<void>;
}

/** A real server on an ephemeral port over real HTTPS with its generated certificate, on a fresh database. */
export async function startServer(dialect: Dialect, options: StartOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const database = dialect === 'postgres' ? await createPostgresDatabase() : null;
  const config = loadConfig({
    SWITCHBOARD_DATA: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    // Tests never reach the internet: sign-in providers point at a closed loopback port unless a test stands one in.
    FACEBOOK_GRAPH_URL: 'http://127.0.0.1:9',
    TWITTER_API_URL: 'http://127.0.0.1:9',
    FIREBASE_JWKS_URL: 'http://127.0.0.1:9/jwks',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  });
  const tls = await loadTls(config);
  if (!tls) throw new Error('tests run over HTTPS');
  trustCertificate(tls.cert);
  const clock = new ManualClock(Date.now());
  const app = await buildServer(config, { clock, tls });
  await options.beforeListen?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const dispatcher = new Agent({ connect: { ca: tls.cert } });

  return {
    url: `https://127.0.0.1:${port}`,
    apiHost: `127.0.0.1:${port}`,
    app,
    clock,
    config,
    cert: tls.cert,
    dialect,
    async createApplication() {
      return (await app.services.apps.createApplication({ name: `test-${randomBytes(3).toString('hex')}` })).credentials;
    },
    async createUser(applicationId, login, password, email) {
      return app.services.users.create(applicationId, { login, password, ...(email ? { email } : {}) });
    },
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | Buffer | undefined = opts.body;
      if (opts.json !== undefined) {
        body = JSON.stringify(opts.json);
        headers['content-type'] ??= 'application/json';
      } else if (opts.form) {
        body = new URLSearchParams(opts.form).toString().replaceAll('+', '%20');
        headers['content-type'] ??= 'application/x-www-form-urlencoded; charset=UTF-8';
      }
      const response = await undiciRequest(`https://127.0.0.1:${port}${path}`, {
        method: method as 'GET',
        headers,
        body,
        dispatcher,
      });
      const text = await response.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.statusCode, headers: response.headers, text, json };
    },
    async close() {
      await app.close();
      await dispatcher.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The SDK uses node-fetch over the global https agent: teach that agent our certificate. */
function trustCertificate(cert: string): void {
  const current = https.globalAgent.options.ca;
  const list = Array.isArray(current) ? current : current ? [current] : [];
  https.globalAgent.options.ca = [...list, cert];
}

/** A fresh database on the PostgreSQL server the test run started. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject('postgresUrl');
  const name = `sb_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
