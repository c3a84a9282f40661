/** At most this many writes share one transaction. */
const BATCH_MAX = 64;

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit. A durable commit costs more than the few rows most requests
 * write, so the writes queued during one event-loop turn, or while the
 * previous batch commits, share one transaction. Each caller's promise
 * settles only after its write is committed: durability is unchanged. When a
 * batch fails, its writes are tried again one per transaction, so one bad
 * write fails only its own caller.
 */
export class GroupCommit<T, R> {
  private queue: Array<Pending<T, R>> = [];
  private running: Promise<void> | null = null;

  constructor(
    /** Writes the items in one transaction; answers one result per item, in order. */
    private readonly writeBatch: (items: T[]) => Promise<R[]>,
    /** Writes one item in a transaction of its own. */
    private readonly writeOne: (item: T) => Promise<R>,
  ) {}

  write(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when everything queued so far is written. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the requests of this event-loop turn join the first batch.
    await new Promise((next) => setImmediate(next));
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, BATCH_MAX);
      this.queue = this.queue.slice(BATCH_MAX);
      await this.flush(batch);
    }
    // In the same microtask as the last look at the queue, so nothing queued meanwhile is stranded.
    this.running = null;
  }

  private async flush(batch: Array<Pending<T, R>>): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await this.writeBatch(batch.map((p) => p.item));
        for (const [i, pending] of batch.entries()) pending.resolve(results[i] as R);
        return;
      } catch {
        // Fall through: each write alone, so only the bad one fails.
      }
    }
    for (const pending of batch) {
      try {
        pending.resolve(await this.writeOne(pending.item));
      } catch (error) {
        pending.reject(error);
      }
    }
  }
}
