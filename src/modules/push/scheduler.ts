import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Delivery } from './delivery.js';
import type { EventRow, PushStore } from './store.js';

export interface SchedulerLog {
  error(object: object, message: string): void;
}

const DUE_BATCH = 50;

/**
 * Runs due events from the database: one-shot events at once, fixed_date at
 * their date, period_date every period until end_date. Each occurrence is
 * claimed through a run row (PushStore.claim) before it is sent, so with
 * several nodes on one database every occurrence goes out exactly once.
 */
export class PushScheduler {
  readonly node = randomUUID();
  private running: Promise<number> | null = null;
  private again = false;

  constructor(
    private readonly store: PushStore,
    private readonly delivery: Delivery,
    private readonly clock: Clock,
    private readonly log: SchedulerLog,
  ) {}

  /** Delivers what is due now; resolves with the number of occurrences this node sent. Overlapping calls share one run. */
  tick(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.tick();
      }
    });
    return this.running;
  }

  /** An event may be due now: run without waiting for the next timer tick. */
  wake(): void {
    this.tick().catch((error) => this.log.error({ err: error }, 'push delivery failed'));
  }

  /** Resolves once no run is in progress (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
  }

  private async run(): Promise<number> {
    let sent = 0;
    for (;;) {
      const now = this.clock.now();
      const due = await this.store.dueEvents(now, DUE_BATCH);
      let claimed = 0;
      for (const event of due) {
        const dueAt = event.next_run_at as number;
        if (!(await this.store.claim(event, dueAt, nextOccurrence(event, dueAt, now), this.node, now))) continue;
        claimed++;
        try {
          await this.delivery.deliver(event);
        } catch (error) {
          this.log.error({ err: error, event: event.id }, 'push event delivery failed');
        }
        await this.store.finishRun(event.id, event.occured_count + 1, this.clock.now());
        sent++;
      }
      if (due.length < DUE_BATCH || claimed === 0) return sent;
    }
  }
}

/** When a period_date event occurs next after the one due at `dueAt` (missed periods are skipped), or null. */
export function nextOccurrence(event: EventRow, dueAt: number, now: number): number | null {
  if (event.event_type !== 'period_date' || !event.period) return null;
  const period = event.period * 1000;
  let next = dueAt + period;
  if (next <= now) next += Math.ceil((now - next + 1) / period) * period;
  if (event.end_date !== null && next > event.end_date) return null;
  return next;
}
