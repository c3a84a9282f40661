import { isUniqueViolation } from '../../storage/dialect.js';
import { GroupCommit } from '../../storage/group-commit.js';
import type { NewSession, SessionRow, SessionsStore } from './store.js';

/** Signatures remembered in memory, so a replay on this node is refused without I/O. */
const RECENT_MAX = 100_000;

/**
 * New sessions, written with group commit: each new session (and its
 * signature) costs a transaction of about ten pages, so the sessions queued
 * together share one (src/storage/group-commit.ts). Each caller gets its row
 * only after it is committed, so a client never holds a token that is not in
 * the database.
 *
 * The database's unique key on (application_id, signature) stays the
 * authority across nodes; in front of it, duplicates within a batch and
 * signatures this node recently recorded are refused without I/O.
 */
export class SessionWriter {
  private readonly commit: GroupCommit<NewSession, SessionRow | null>;
  /** Keys queued or being written. */
  private readonly pending = new Set<string>();
  /** Recently recorded signatures and when they stop mattering (ms). */
  private readonly recent = new Map<string, number>();

  constructor(store: SessionsStore) {
    this.commit = new GroupCommit((items) => {
      const [only] = items;
      if (items.length > 1 || !only) return store.insertManyWithSignatures(items);
      // Alone (also when a batch failed and is retried one by one), a unique violation means another
      // node recorded the signature first: a replay, not a fault.
      return store.insertWithSignature(only.session, only.signature).then(
        (row) => [row],
        (error: unknown) => {
          if (isUniqueViolation(error)) return [null];
          throw error;
        },
      );
    });
  }

  /** True when this node recorded the signature and it could still be replayed. */
  recentlySeen(applicationId: number, signature: string, now: number): boolean {
    const key = keyOf(applicationId, signature);
    if (this.pending.has(key)) return true;
    const until = this.recent.get(key);
    return until !== undefined && until >= now;
  }

  /** Inserts the session with its signature; null when the signature was already used (a replay). */
  async insert(item: NewSession): Promise<SessionRow | null> {
    const key = keyOf(item.session.application_id, item.signature.signature);
    if (this.pending.has(key)) return null;
    this.pending.add(key);
    try {
      const row = await this.commit.submit(item);
      // Recorded now, or already recorded: either way a replay from here on is refused.
      if (this.recent.size >= RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string);
      this.recent.set(key, item.signature.expires_at);
      return row;
    } finally {
      this.pending.delete(key);
    }
  }

  /** Resolves when everything queued so far is written. */
  idle(): Promise<void> {
    return this.commit.idle();
  }
}

function keyOf(applicationId: number, signature: string): string {
  return `${applicationId} ${signature}`;
}
