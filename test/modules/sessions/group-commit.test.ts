import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';
import { sessionForm } from '../../helpers/signature.js';

const BAD_SIGNATURE = { errors: { base: ['Unexpected signature'] } };

// New sessions made at the same time share one transaction; each must still succeed or fail on its own.
describe.each(dialects)('concurrent session creation (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
  });
  afterAll(() => server?.close());

  const create = (form: Record<string, string>) => server.request('POST', '/session.json', { form });

  it('answers every one of many simultaneous requests with its own usable token', async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, () => create(sessionForm(app, server.clock.now()))));
    for (const response of responses) expect(response.status, response.text).toBe(201);
    const tokens = responses.map((response) => response.json.session.token as string);
    expect(new Set(tokens).size).toBe(tokens.length);
    const ids = responses.map((response) => response.json.session.id as number);
    expect(new Set(ids).size).toBe(ids.length);
    for (const token of tokens) {
      const current = await server.request('GET', '/session.json', { headers: { 'QB-Token': token } });
      expect(current.status).toBe(200);
      expect(current.json.session.token).toBe(token);
    }
  });

  it('refuses all but one copy of a signature sent several times at once, and no other request', async () => {
    const replayed = sessionForm(app, server.clock.now());
    const forms = [
      ...Array.from({ length: 8 }, () => replayed),
      ...Array.from({ length: 8 }, () => sessionForm(app, server.clock.now())),
    ];
    const responses = await Promise.all(forms.map(create));
    const copies = responses.slice(0, 8);
    expect(copies.filter((response) => response.status === 201)).toHaveLength(1);
    for (const response of copies.filter((r) => r.status !== 201)) {
      expect(response.status).toBe(422);
      expect(response.json).toEqual(BAD_SIGNATURE);
    }
    for (const response of responses.slice(8)) expect(response.status, response.text).toBe(201);
    // And again later, one at a time.
    const again = await create(replayed);
    expect(again.status).toBe(422);
    expect(again.json).toEqual(BAD_SIGNATURE);
  });

  it('refuses a signature another node recorded, failing only that request among simultaneous ones', async () => {
    const recorded = sessionForm(app, server.clock.now());
    // As another node sharing the database would have left it.
    await server.app.services.storage.db
      .insertInto('session_signatures')
      .values({
        application_id: app.application_id,
        signature: recorded.signature as string,
        expires_at: server.clock.now() + 3_600_000,
      })
      .execute();
    const fresh = Array.from({ length: 6 }, () => sessionForm(app, server.clock.now()));
    const responses = await Promise.all([recorded, ...fresh].map(create));
    expect(responses[0]?.status).toBe(422);
    expect(responses[0]?.json).toEqual(BAD_SIGNATURE);
    for (const response of responses.slice(1)) expect(response.status, response.text).toBe(201);
  });
});
