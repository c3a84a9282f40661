import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

/** List totals and users by id are remembered briefly: exact after this node's writes, at most 5 s late for others'. */
describe.each(dialects)('users read recently (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let headers: Record<string, string>;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    const session = await server.request('POST', '/session.json', { form: sessionForm(app, server.clock.now()) });
    headers = { 'QB-Token': session.json.session.token };
  });
  afterAll(() => server?.close());

  const total = async (query = 'filter[]=string+login+ge+count') =>
    (await server.request('GET', `/users.json?${query}`, { headers })).json.total_entries;

  it('counts a sign-up and a deletion made through this server at once', async () => {
    expect(await total()).toBe(0);
    const user = await server.createUser(app.application_id, 'count-1', 'password-123');
    expect(await total()).toBe(1);
    await server.app.services.users.delete(app.application_id, { userId: null, via: 'apikey' }, user.id);
    expect(await total()).toBe(0);
  });

  it('shows a user changed through this server at once, and one changed elsewhere within five seconds', async () => {
    const user = await server.createUser(app.application_id, 'recent-1', 'password-123');
    const get = async () => (await server.request('GET', `/users/${user.id}.json`, { headers })).json.user.full_name;
    expect(await get()).toBeNull();
    await server.app.services.users.update(app.application_id, { userId: null, via: 'apikey' }, user.id, { full_name: 'Here' });
    expect(await get()).toBe('Here');
    await server.app.services.storage.db.updateTable('users').set({ full_name: 'Elsewhere' }).where('id', '=', user.id).execute();
    expect(await get()).toBe('Here');
    server.clock.advance(5_001);
    expect(await get()).toBe('Elsewhere');
  });

  it('shows rows written elsewhere (another node, an import) within five seconds', async () => {
    expect(await total('filter[]=string+login+eq+elsewhere-1')).toBe(0);
    const now = server.clock.now();
    await server.app.services.storage.db
      .insertInto('users')
      .values({ application_id: app.application_id, login: 'elsewhere-1', password_hash: '', created_at: now, updated_at: now })
      .execute();
    expect(await total('filter[]=string+login+eq+elsewhere-1')).toBe(0);
    server.clock.advance(5_001);
    expect(await total('filter[]=string+login+eq+elsewhere-1')).toBe(1);
  });
});
