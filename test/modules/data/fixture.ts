import { randomBytes } from 'node:crypto';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { call, createSdk } from '../../helpers/sdk.js';
import { type Dialect, type RawResponse, startServer, type TestServer } from '../../helpers/server.js';

/** One server, one application, an API key and a few users with sessions: what the custom-object tests share. */
export interface DataFixture {
  server: TestServer;
  app: Credentials;
  apiKey: string;
  users: Record<string, { id: number; token: string }>;
  appToken: string;
  admin(method: string, path: string, json?: unknown): Promise<RawResponse>;
  as(
    token: string,
    method: string,
    path: string,
    opts?: { json?: unknown; form?: Record<string, string>; body?: string | Buffer; headers?: Record<string, string> },
  ): Promise<RawResponse>;
  /** A fresh class name, so tests in one file do not see each other's records. */
  className(prefix: string): string;
  close(): Promise<void>;
}

export const PASSWORD = 'password-123';

/** Users by login, each with tags (comma list) or none. */
export async function dataFixture(
  dialect: Dialect,
  users: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<DataFixture> {
  const server = await startServer(dialect, { env });
  const app = await server.createApplication();
  const apiKey = await server.app.services.apps.createApiKey(app.application_id);
  const made: DataFixture['users'] = {};
  for (const [login, tags] of Object.entries(users)) {
    const user = await server.createUser(app.application_id, login, PASSWORD);
    if (tags !== '') {
      await server.app.services.users.update(app.application_id, { userId: null, via: 'apikey' }, user.id, { tag_list: tags });
    }
    const sdk = createSdk(server, app);
    await call((cb) => sdk.createSession({ login, password: PASSWORD }, cb));
    made[login] = { id: user.id, token: sdk.service.getSession().token };
  }
  const appSdk = createSdk(server, app);
  await call((cb) => appSdk.createSession(cb));
  const as: DataFixture['as'] = (token, method, path, opts = {}) =>
    server.request(method, path, { ...opts, headers: { 'qb-token': token, ...opts.headers } });
  return {
    server,
    app,
    apiKey,
    users: made,
    appToken: appSdk.service.getSession().token,
    admin: (method, path, json) =>
      server.request(method, path, { headers: { authorization: `ApiKey ${apiKey}` }, ...(json !== undefined ? { json } : {}) }),
    as,
    className: (prefix) => `${prefix}${randomBytes(4).toString('hex')}`,
    close: () => server.close(),
  };
}

/** The status and QuickBlox error body of a refused request, for one readable assertion. */
export function refusal(res: RawResponse): { status: number; hasErrors: boolean } {
  return { status: res.status, hasErrors: res.json?.errors !== undefined };
}
