import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../../../src/modules/apps/service.js';
import type { RecipientSelector } from '../../../src/modules/users/store.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

const TAGS = ['red', 'green', 'blue', 'gold'];

/** The users a push event addresses (users.recipientIds), paged as delivery pages them, against the rule computed here. */
describe.each(dialects)('push recipients by ids, external ids and tags (%s)', (dialect) => {
  let server: TestServer;
  let app: Credentials;
  let other: Credentials;
  const people: Array<{ id: number; external: number; tags: string[] }> = [];

  beforeAll(async () => {
    server = await startServer(dialect);
    app = await server.createApplication();
    other = await server.createApplication();
    for (let i = 0; i < 24; i++) {
      // Tag sets that overlap in every way the selectors can tell apart.
      const tags = TAGS.filter((_, bit) => (i >> bit) & 1);
      const user = await server.app.services.users.create(app.application_id, {
        login: `r${i}`,
        password: 'password-1',
        external_user_id: 5000 + i,
        tag_list: tags.join(','),
      });
      people.push({ id: user.id, external: 5000 + i, tags });
    }
    // Another application's user with the same tags and an external id the selectors name: never a recipient.
    await server.app.services.users.create(other.application_id, {
      login: 'stranger',
      password: 'password-1',
      external_user_id: 5003,
      tag_list: TAGS.join(','),
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const selector = (s: Partial<RecipientSelector>): RecipientSelector => ({
    userIds: [],
    externalIds: [],
    tagsAny: [],
    tagsAll: [],
    tagsExclude: [],
    ...s,
  });

  /** Every recipient, three at a time, as delivery streams them (after the last id of the previous page). */
  async function recipients(s: RecipientSelector): Promise<number[]> {
    const out: number[] = [];
    for (let after = 0; ; ) {
      const page = await server.app.services.users.recipientIds(app.application_id, s, after, 3);
      if (page.length === 0) return out;
      out.push(...page);
      after = page[page.length - 1] as number;
    }
  }

  function expected(s: RecipientSelector): number[] {
    return people
      .filter((p) => {
        const named = s.userIds.length > 0 || s.externalIds.length > 0;
        if (named && !s.userIds.includes(p.id) && !s.externalIds.includes(p.external)) return false;
        if (s.tagsAny.length > 0 && !s.tagsAny.some((t) => p.tags.includes(t))) return false;
        if (!s.tagsAll.every((t) => p.tags.includes(t))) return false;
        return !s.tagsExclude.some((t) => p.tags.includes(t));
      })
      .map((p) => p.id);
  }

  it('match the rule for every combination, across pages', async () => {
    const id = (i: number) => (people[i] as { id: number }).id;
    const cases: Array<Partial<RecipientSelector>> = [
      {},
      { tagsAny: ['red'] },
      { tagsAny: ['red', 'blue'] },
      { tagsAll: ['red', 'green'] },
      { tagsAll: ['red', 'green', 'blue'] },
      { tagsAny: ['gold', 'blue'], tagsAll: ['red'] },
      { tagsAny: ['gold'], tagsAll: ['red', 'green'], tagsExclude: ['blue'] },
      { tagsExclude: ['red', 'gold'] },
      { userIds: [id(1), id(3), id(7), id(20)] },
      { externalIds: [5002, 5003, 5015] },
      { userIds: [id(1), id(4)], externalIds: [5004, 5009, 5023] },
      { userIds: [id(3), id(5), id(7), id(11)], tagsAll: ['red', 'green'] },
      { externalIds: [5001, 5003, 5007, 5015], tagsAny: ['blue', 'gold'], tagsExclude: ['green'] },
      { tagsAll: ['nobody-has-this'] },
    ];
    for (const c of cases) {
      const s = selector(c);
      const want = expected(s);
      expect(await recipients(s), JSON.stringify(c)).toEqual(want);
    }
    // The cases are not vacuous: most select some users and none selects everyone but the first.
    const sizes = cases.map((c) => expected(selector(c)).length);
    expect(sizes.filter((n) => n > 0 && n < people.length).length).toBeGreaterThan(10);
  });
});
