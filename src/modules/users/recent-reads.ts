import type { Clock } from '../../core/clock.js';

/**
 * Remembers recent reads of an application's users for a few seconds: match
 * counts of list filters (counting every match is the one part of a list page
 * that grows with the number of users) and single users read by id (the
 * most frequent read). Any write through this node to an application's users
 * forgets everything remembered for it at once; writes on other nodes show
 * after at most TTL_MS.
 */
const TTL_MS = 5_000;
const MAX_ENTRIES = 20_000;

export class RecentReads {
  private readonly entries = new Map<string, { value: unknown; at: number }>();
  /** Bumped on every write to an application, so its old entries stop matching. */
  private readonly generations = new Map<number, number>();

  constructor(private readonly clock: Clock) {}

  async get<T>(applicationId: number, key: string, load: () => Promise<T>): Promise<T> {
    const fullKey = `${applicationId}:${this.generations.get(applicationId) ?? 0}:${key}`;
    const now = this.clock.now();
    const hit = this.entries.get(fullKey);
    if (hit && now - hit.at < TTL_MS) return hit.value as T;
    const value = await load();
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(fullKey, { value, at: now });
    return value;
  }

  /** Forgets what was remembered for the application, after a write. */
  changed(applicationId: number): void {
    this.generations.set(applicationId, (this.generations.get(applicationId) ?? 0) + 1);
  }
}
