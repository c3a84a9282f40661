import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthContext } from '../../../src/core/auth.js';
import { ChatStore } from '../../../src/modules/chat/store.js';
import { type PlanProbe, planProbe } from '../../helpers/plans.js';
import { dialects, startServer, type TestServer } from '../../helpers/server.js';

/** Message pages walk the dialog's index in every order the API sorts by an index (see planProbe). */
describe.each(dialects)('message page plans (%s)', (dialect) => {
  let server: TestServer;
  let probe: PlanProbe;
  let me: AuthContext;
  let dialogId: string;

  beforeAll(async () => {
    server = await startServer(dialect);
    const app = await server.createApplication();
    const poster = await server.createUser(app.application_id, 'poster', 'password-1');
    const reader = await server.createUser(app.application_id, 'reader', 'password-1');
    me = { applicationId: app.application_id, userId: poster.id, via: 'token' };
    dialogId = String(
      (await server.app.services.dialogs.create(me, { type: 2, name: 'plans', occupants_ids: String(reader.id) }))._id,
    );
    probe = planProbe(server);
  });
  afterAll(async () => {
    await probe?.close();
    await server?.close();
  });

  async function sorts(column: string, direction: 'asc' | 'desc'): Promise<boolean> {
    probe.take();
    await new ChatStore(probe.db, dialect).listMessages(dialogId, me.userId as number, [], { column, direction }, 0, 100);
    const [page] = probe.take();
    if (!page) throw new Error('the store sent no query');
    return probe.sorts(page);
  }

  it('by date_sent (the default) and by _id, both ways', async () => {
    for (const direction of ['asc', 'desc'] as const) {
      expect(await sorts('date_sent', direction), `date_sent ${direction}`).toBe(false);
      expect(await sorts('id', direction), `_id ${direction}`).toBe(false);
    }
    // The probe can tell: the text's order is a sort.
    expect(await sorts('message', 'asc')).toBe(true);
  });

  it('answers _id order as the ids sort, also for messages sent in one second', async () => {
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      sent.push(String((await server.app.services.messages.create(me, { chat_dialog_id: dialogId, message: `m${i}` }))._id));
    }
    const ascending = [...sent].sort();
    for (const [direction, expected] of [
      ['asc', ascending],
      ['desc', [...ascending].reverse()],
    ] as const) {
      const page = await server.app.services.messages.list(me, {
        chat_dialog_id: dialogId,
        [`sort_${direction}`]: '_id',
        mark_as_read: '0',
      });
      expect((page.items as Array<{ _id: unknown }>).map((item) => item._id)).toEqual(expected);
    }
  });
});
