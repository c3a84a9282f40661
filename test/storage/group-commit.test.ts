import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/storage/group-commit.js';

describe('group commit', () => {
  it('writes what is queued in one turn as one batch, answering each caller in order', async () => {
    const batches: number[][] = [];
    const writer = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        return items.map((n) => n * 10);
      },
      async (n) => {
        batches.push([n]);
        return n * 10;
      },
    );
    const answers = await Promise.all([1, 2, 3, 4].map((n) => writer.write(n)));
    expect(answers).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    // Later writes form a batch of their own.
    expect(await writer.write(5)).toBe(50);
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
  });

  it('falls back to one write per transaction when a batch fails, so only the bad write fails', async () => {
    const singles: number[] = [];
    const writer = new GroupCommit<number, string>(
      async () => {
        throw new Error('batch refused');
      },
      async (n) => {
        singles.push(n);
        if (n === 2) throw new Error(`bad ${n}`);
        return `ok ${n}`;
      },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => writer.write(n)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'ok 1',
      'bad 2',
      'ok 3',
    ]);
    expect(singles).toEqual([1, 2, 3]);
    await writer.idle();
  });

  it('never holds more than 64 writes in one batch, and keeps writing what arrives while a batch commits', async () => {
    const sizes: number[] = [];
    const writer = new GroupCommit<number, number>(
      async (items) => {
        sizes.push(items.length);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return items;
      },
      async (n) => {
        sizes.push(1);
        return n;
      },
    );
    const first = Array.from({ length: 100 }, (_, i) => writer.write(i));
    await new Promise((resolve) => setImmediate(resolve));
    const late = writer.write(1000);
    expect(await Promise.all(first)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await late).toBe(1000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(101);
  });
});
