/** At most this many items per batch by default (each batch is one transaction). */
const DEFAULT_BATCH_MAX = 64;

interface Pending<I, R> {
  item: I;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit: the writes submitted during one event-loop turn, or while the
 * previous batch is being written, go to the database together through
 * `write`, which must write the whole batch in one transaction and answer one
 * result per item, in order. Each submitter's promise settles only after its
 * batch has committed, so a caller never answers for a write that is not
 * durable yet; only the cost of a commit is shared.
 *
 * A batch that fails is written again one item at a time, so one bad item
 * (a constraint, a row deleted meanwhile) fails only its own submitter. Batches
 * run one after another, so items of a batch see the writes of earlier ones.
 */
export class GroupCommit<I, R> {
  private queue: Array<Pending<I, R>> = [];
  private running: Promise<void> | null = null;
  private readonly batchMax: number;

  constructor(
    private readonly write: (items: I[]) => Promise<R[]>,
    options: { batchMax?: number } = {},
  ) {
    this.batchMax = options.batchMax ?? DEFAULT_BATCH_MAX;
  }

  /** Queues the item; settles with its result once its batch is committed. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when everything submitted so far is written (or failed). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the submissions of this event-loop turn join the first batch.
    await new Promise((next) => setImmediate(next));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchMax);
      await this.writeBatch(batch);
    }
    // In the same microtask as the last look at the queue, so nothing queued meanwhile is stranded.
    this.running = null;
  }

  private async writeBatch(batch: Array<Pending<I, R>>): Promise<void> {
    let results: R[];
    try {
      results = await this.write(batch.map((p) => p.item));
      if (results.length !== batch.length) throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
    } catch (error) {
      const [only] = batch;
      if (batch.length === 1 && only) {
        only.reject(error);
        return;
      }
      for (const pending of batch) await this.writeBatch([pending]);
      return;
    }
    for (const [i, pending] of batch.entries()) pending.resolve(results[i] as R);
  }
}
