import type { Clock } from '../../core/clock.js';

/**
 * Remembers how many users match a filter for a few seconds. Counting every
 * match is the one part of a user list page that grows with the number of
 * users; paging through one filter asks the same count again and again.
 * Writes through this node forget an application's counts at once; writes on
 * other nodes show after at most TTL_MS.
 */
const TTL_MS = 5_000;
const MAX_ENTRIES = 1_000;

export class CountCache {
  private readonly entries = new Map<string, { count: number; at: number }>();
  /** Bumped on every write to an application, so its old entries stop matching. */
  private readonly generations = new Map<number, number>();

  constructor(private readonly clock: Clock) {}

  async get(applicationId: number, query: string, count: () => Promise<number>): Promise<number> {
    const key = `${applicationId}:${this.generations.get(applicationId) ?? 0}:${query}`;
    const now = this.clock.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < TTL_MS) return hit.count;
    const value = await count();
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { count: value, at: now });
    return value;
  }

  /** Forgets the application's counts after a write. */
  changed(applicationId: number): void {
    this.generations.set(applicationId, (this.generations.get(applicationId) ?? 0) + 1);
  }
}
