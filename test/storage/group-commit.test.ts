import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/storage/group-commit.js';

/** A stand-in for a transactional write: records each batch, commits when `commit` is called. */
function recorder(options: { failOn?: (item: number) => boolean } = {}) {
  const batches: number[][] = [];
  const committed: number[] = [];
  let release: (() => void) | null = null;
  let held = false;
  const write = async (items: number[]) => {
    batches.push([...items]);
    if (held) await new Promise<void>((done) => (release = done));
    // Like a transaction: a bad item fails the whole batch, and nothing of it is committed.
    if (items.some((item) => options.failOn?.(item))) throw new Error(`bad item in ${items.join(',')}`);
    committed.push(...items);
    return items.map((item) => item * 10);
  };
  return {
    batches,
    committed,
    write,
    hold() {
      held = true;
    },
    commit() {
      held = false;
      release?.();
      release = null;
    },
  };
}

const turn = () => new Promise((next) => setImmediate(next));

describe('GroupCommit', () => {
  it('writes the items submitted in one event-loop turn as one batch and answers each its own result', async () => {
    const db = recorder();
    const writer = new GroupCommit(db.write);
    const results = await Promise.all([1, 2, 3, 4].map((n) => writer.submit(n)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(db.batches).toEqual([[1, 2, 3, 4]]);
  });

  it('settles a submitter only after its batch has committed', async () => {
    const db = recorder();
    db.hold();
    const writer = new GroupCommit(db.write);
    let settled = false;
    const done = writer.submit(7).then((r) => {
      settled = true;
      return r;
    });
    await turn();
    await turn();
    expect(db.batches).toEqual([[7]]);
    expect(settled).toBe(false);
    db.commit();
    expect(await done).toBe(70);
    expect(db.committed).toEqual([7]);
  });

  it('queues what arrives while a batch is being written for the next batch, in order', async () => {
    const db = recorder();
    db.hold();
    const writer = new GroupCommit(db.write);
    const first = writer.submit(1);
    await turn();
    await turn();
    const later = [2, 3].map((n) => writer.submit(n));
    db.commit();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30]);
    expect(db.batches).toEqual([[1], [2, 3]]);
    await writer.idle();
  });

  it('never puts more than batchMax items in one batch', async () => {
    const db = recorder();
    const writer = new GroupCommit(db.write, { batchMax: 3 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => writer.submit(n)));
    expect(results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(db.batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('fails only the bad item of a failed batch: the others are written again one by one', async () => {
    const db = recorder({ failOn: (n) => n === 2 });
    const writer = new GroupCommit(db.write);
    const results = await Promise.allSettled([1, 2, 3].map((n) => writer.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[0]).toMatchObject({ value: 10 });
    expect(results[1]).toMatchObject({ reason: new Error('bad item in 2') });
    expect(results[2]).toMatchObject({ value: 30 });
    expect(db.batches).toEqual([[1, 2, 3], [1], [2], [3]]);
    expect(db.committed).toEqual([1, 3]);
  });

  it('treats a write that answers the wrong number of results as failed', async () => {
    const writer = new GroupCommit(async (items: number[]) => items.slice(1));
    await expect(writer.submit(1)).rejects.toThrow('0 results for 1 items');
  });

  it('keeps working after a failure, and idle() waits for everything queued', async () => {
    const db = recorder({ failOn: (n) => n < 0 });
    const writer = new GroupCommit(db.write);
    await expect(writer.submit(-1)).rejects.toThrow();
    const pending = [writer.submit(5), writer.submit(6)];
    await writer.idle();
    expect(db.committed).toEqual([5, 6]);
    expect(await Promise.all(pending)).toEqual([50, 60]);
  });
});
