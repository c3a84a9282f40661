import { isUniqueViolation } from '../../storage/dialect.js';
import type { NewSession, SessionRow, SessionsStore } from './store.js';

/** At most this many sessions per transaction (each size is its own prepared statement). */
const BATCH_MAX = 64;
/** Signatures remembered in memory, so a replay on this node is refused without I/O. */
const RECENT_MAX = 100_000;

interface Pending extends NewSession {
  key: string;
  resolve(row: SessionRow | null): void;
  reject(error: unknown): void;
}

/**
 * Group commit for new sessions. Each new session (and its signature) costs a
 * transaction of about ten pages; the sessions queued during one event-loop
 * turn, or while the previous batch commits, share one transaction instead.
 * Each caller's promise settles only after its row is committed, so a client
 * never holds a token that is not in the database.
 *
 * The database's unique key on (application_id, signature) stays the
 * authority across nodes; in front of it, duplicates within a batch and
 * signatures this node recently recorded are refused without I/O.
 */
export class SessionWriter {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  /** Keys queued or being written. */
  private readonly pending = new Set<string>();
  /** Recently recorded signatures and when they stop mattering (ms). */
  private readonly recent = new Map<string, number>();

  constructor(private readonly store: SessionsStore) {}

  /** True when this node recorded the signature and it could still be replayed. */
  recentlySeen(applicationId: number, signature: string, now: number): boolean {
    const key = `${applicationId} ${signature}`;
    if (this.pending.has(key)) return true;
    const until = this.recent.get(key);
    return until !== undefined && until >= now;
  }

  /** Inserts the session with its signature; null when the signature was already used (a replay). */
  insert(item: NewSession): Promise<SessionRow | null> {
    const key = `${item.session.application_id} ${item.signature.signature}`;
    if (this.pending.has(key)) return Promise.resolve(null);
    this.pending.add(key);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, key, resolve, reject });
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
      // write() settles every item; this is only a guard against a fault of its own.
      await this.write(batch).catch((error: unknown) => {
        for (const item of batch) this.settle(item, null, error);
      });
    }
    // In the same microtask as the last check of the queue, so nothing queued meanwhile is stranded.
    this.running = null;
  }

  private async write(batch: Pending[]): Promise<void> {
    let rows: Array<SessionRow | null> | null = null;
    try {
      rows = await this.store.insertManyWithSignatures(batch);
    } catch (error) {
      const [only] = batch;
      if (batch.length === 1 && only) {
        this.fail(only, error);
        return;
      }
      // One bad row (another node recorded the signature first, a user deleted meanwhile) must fail only its own request.
      for (const item of batch) {
        try {
          this.settle(item, await this.store.insertWithSignature(item.session, item.signature));
        } catch (error) {
          this.fail(item, error);
        }
      }
      return;
    }
    for (const [i, item] of batch.entries()) this.settle(item, rows[i] ?? null);
  }

  /** A unique violation means the signature was used already: a replay, not a fault. */
  private fail(item: Pending, error: unknown): void {
    if (isUniqueViolation(error)) this.settle(item, null);
    else this.settle(item, null, error);
  }

  private settle(item: Pending, row: SessionRow | null, error?: unknown): void {
    this.pending.delete(item.key);
    if (error !== undefined) {
      item.reject(error);
      return;
    }
    // Recorded now, or already recorded: either way a replay from here on is refused.
    if (this.recent.size >= RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(item.key, item.signature.expires_at);
    item.resolve(row);
  }
}
