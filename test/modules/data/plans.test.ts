import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import type { ListQuery } from '../../../src/modules/data/query.js';
import { RecordsStore } from '../../../src/modules/data/records-store.js';
import { type PlanProbe, planProbe } from '../../helpers/plans.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

/** Record pages in the orders an index gives walk that index, on both databases (see planProbe). */
describe.each(dialects)('record page plans (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let probe: PlanProbe;

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    await server.app.services.classes.create(app.application_id, {
      name: 'Planned',
      fields: { title: 'String', score: { type: 'Integer', indexed: true } },
    });
    probe = planProbe(server);
  });
  afterAll(async () => {
    await probe?.close();
    await server?.close();
  });

  /** Whether the page query the store sends for `query` sorts. */
  async function sorts(query: Partial<ListQuery>): Promise<boolean> {
    const cls = await server.app.services.classes.require(app.application_id, 'Planned');
    const base: ListQuery = {
      where: [],
      sort: null,
      skip: 0,
      limit: 100,
      last: false,
      count: false,
      include: null,
      exclude: null,
      groupBy: null,
      calcs: [],
    };
    probe.take();
    await new RecordsStore(probe.db, dialect).list(
      probe.db,
      cls,
      { ...base, ...query },
      { action: 'read', verdict: 'all', userId: null, tags: [] },
    );
    const [page] = probe.take();
    if (!page) throw new Error('the store sent no query');
    return probe.sorts(page);
  }

  it('in the default order (_id), both ways', async () => {
    expect(await sorts({})).toBe(false);
    for (const direction of ['asc', 'desc'] as const) {
      expect(await sorts({ sort: { ref: { name: '_id', type: 'Id', column: '_id' }, direction } }), direction).toBe(false);
    }
  });

  it('by an indexed field, both ways', async () => {
    for (const direction of ['asc', 'desc'] as const) {
      expect(await sorts({ sort: { ref: { name: 'score', type: 'Integer', column: 'f_score' }, direction } }), direction).toBe(
        false,
      );
    }
    // The probe can tell: an unindexed field's order is a sort.
    expect(await sorts({ sort: { ref: { name: 'title', type: 'String', column: 'f_title' }, direction: 'asc' } })).toBe(true);
  });
});
