import type { ClassDef } from './classes.js';
import type { DbValue } from './fields.js';
import type { RecordsStore } from './records-store.js';

/** At most this many records per insert statement (16 columns each stays far below SQLite's 32,766 variables). */
const BATCH_MAX = 64;

interface Pending {
  cls: ClassDef;
  row: Record<string, DbValue>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Group commit for single record creates (POST /data/{class}.json). A commit
 * costs far more than the insert itself (WAL frames for the table and each
 * index page, checkpoints); the creates queued during one event-loop turn,
 * or while the previous batch commits, share one transaction. Each caller's
 * promise settles only after its record is committed. A batch that fails is
 * retried record by record, so one bad record fails only its own request.
 */
export class RecordWriter {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly store: RecordsStore) {}

  insert(cls: ClassDef, row: Record<string, DbValue>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ cls, row, resolve, reject });
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Let the requests of this event-loop turn join the first batch.
    await new Promise((next) => setImmediate(next));
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, BATCH_MAX);
      this.queue = this.queue.slice(BATCH_MAX);
      await this.write(batch);
    }
    // In the same microtask as the last check of the queue, so nothing queued meanwhile is stranded.
    this.running = null;
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      await this.store.transaction(async (db) => {
        for (const group of byTable(batch))
          await this.store.insertRows(
            db,
            group[0]?.cls as ClassDef,
            group.map((p) => p.row),
          );
      });
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      for (const item of batch) {
        try {
          await this.store.transaction((db) => this.store.insertRows(db, item.cls, [item.row]));
          item.resolve();
        } catch (one) {
          item.reject(one);
        }
      }
      return;
    }
    for (const item of batch) item.resolve();
  }
}

function byTable(batch: Pending[]): Pending[][] {
  const groups = new Map<string, Pending[]>();
  for (const item of batch) {
    const group = groups.get(item.cls.table);
    if (group) group.push(item);
    else groups.set(item.cls.table, [item]);
  }
  return [...groups.values()];
}
