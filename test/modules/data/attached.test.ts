import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectId } from '../../../src/core/ids.js';
import type { RecordsService } from '../../../src/modules/data/records.js';
import { dialects } from '../../helpers/server.js';
import { type DataFixture, dataFixture } from './fixture.js';

/** What the Chat REST module gets from custom objects for a dialog's `data[class_name]`: the service, not the tables. */
describe.each(dialects)('data attached to other objects (%s)', (dialect) => {
  let fx: DataFixture;
  let records: RecordsService;
  let appId: number;
  let cls: string;

  beforeAll(async () => {
    fx = await dataFixture(dialect, { ann: '' });
    records = fx.server.app.services.records;
    appId = fx.app.application_id;
    cls = fx.className('DialogData');
    await fx.admin('POST', '/class.json', { name: cls, fields: { title: 'String', age: 'Integer', tags: 'Array' } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('attaches, changes, finds by criteria and detaches data, typed by the class', async () => {
    const dialogs = Array.from({ length: 6 }, () => objectId());
    const userId = fx.users.ann?.id ?? null;
    for (const [i, dialog] of dialogs.entries()) {
      const data = await records.attachData(appId, cls, dialog, userId, { class_name: cls, title: `t${i}`, age: String(20 + i) });
      expect(data).toEqual({ class_name: cls, title: `t${i}`, age: 20 + i, tags: null });
    }
    // A later attach changes only the given fields, on the same record.
    expect(await records.attachData(appId, cls, dialogs[0] as string, userId, { tags: ['a', 'b'] })).toEqual({
      class_name: cls,
      title: 't0',
      age: 20,
      tags: ['a', 'b'],
    });
    expect((await fx.admin('GET', `/data/${cls}.json?count=1`)).json.count).toBe(dialogs.length);
    const found = await records.attachedData(appId, cls, [dialogs[0] as string, dialogs[3] as string, objectId()]);
    expect([...found.keys()].sort()).toEqual([dialogs[0], dialogs[3]].sort());
    expect(found.get(dialogs[3] as string)).toEqual({ class_name: cls, title: 't3', age: 23, tags: null });
    const older = await records.parentsMatching(appId, cls, { class_name: cls, age: { gte: '23' } });
    expect(older.sort()).toEqual(dialogs.filter((_, i) => 20 + i >= 23).sort());
    expect(await records.parentsMatching(appId, cls, { title: 't1' })).toEqual([dialogs[1]]);
    expect(await records.parentsMatching(appId, cls, { tags: 'b' })).toEqual([dialogs[0]]);
    await records.detachData(appId, cls, [dialogs[0] as string, dialogs[1] as string]);
    expect((await records.attachedData(appId, cls, dialogs)).size).toBe(dialogs.length - 2);
  });

  it('refuses an unknown class, unknown fields and wrong types, writing nothing', async () => {
    const dialog = objectId();
    const refusal = (p: Promise<unknown>) => p.then(() => null).catch((e: { statusCode?: number }) => e.statusCode);
    expect(await refusal(records.attachData(appId, 'NoSuchClass', dialog, null, { a: 1 }))).toBe(404);
    expect(await refusal(records.attachData(appId, cls, dialog, null, { nope: 1 }))).toBe(422);
    expect(await refusal(records.attachData(appId, cls, dialog, null, { age: 'old' }))).toBe(422);
    expect(await refusal(records.parentsMatching(appId, cls, { age: { gt: 'x' } }))).toBe(422);
    expect(await refusal(records.parentsMatching(appId, cls, { "age' or 1=1": 1 }))).toBe(422);
    expect((await records.attachedData(appId, cls, [dialog])).size).toBe(0);
  });
});
