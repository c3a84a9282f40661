import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Delivery } from './delivery.js';
import type { EventRow, PushStore, RunKey } from './store.js';

export interface SchedulerLog {
  error(object: object, message: string): void;
}

const DUE_BATCH = 50;
/**
 * A run whose lease was not renewed for this long was left by a node that
 * died mid-send; another node takes it over and sends the rest. Renewed a
 * few times within it, and after every batch.
 */
export const LEASE_MS = 60_000;
const LAPSED_BATCH = 10;

/**
 * Runs due events from the database: one-shot events at once, fixed_date at
 * their date, period_date every period until end_date. Each occurrence is
 * claimed through a run row (PushStore.claim) before it is sent, so with
 * several nodes on one database every occurrence goes out once. The run row
 * is a lease that records the last recipient batch sent: if its node dies
 * mid-send, another goes on from there (only that node's batch in flight may
 * be sent twice).
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
    let sent = await this.resumeLapsed();
    for (;;) {
      const now = this.clock.now();
      const due = await this.store.dueEvents(now, DUE_BATCH);
      let claimed = 0;
      for (const event of due) {
        const dueAt = event.next_run_at as number;
        if (!(await this.store.claim(event, dueAt, nextOccurrence(event, dueAt, now), this.node, now))) continue;
        claimed++;
        await this.send(event, { eventId: event.id, occurrence: event.occured_count + 1, node: this.node }, 0);
        sent++;
      }
      if (due.length < DUE_BATCH || claimed === 0) return sent;
    }
  }

  /** Sends the rest of runs whose node died mid-send, after the last batch it recorded. */
  private async resumeLapsed(): Promise<number> {
    let resumed = 0;
    const now = this.clock.now();
    for (const lapsed of await this.store.lapsedRuns(now - LEASE_MS, LAPSED_BATCH)) {
      if (!(await this.store.takeOver(lapsed, this.node, now))) continue;
      // Deleting an event deletes its runs, so it is there.
      const event = await this.store.eventById(lapsed.event_id);
      if (!event) continue;
      await this.send(event, { eventId: lapsed.event_id, occurrence: lapsed.occurrence, node: this.node }, lapsed.resume_after);
      resumed++;
    }
    return resumed;
  }

  /** One occurrence, from after recipient `after`: each batch recorded as it is sent, the lease renewed meanwhile. */
  private async send(event: EventRow, run: RunKey, after: number): Promise<void> {
    const renewal = setInterval(() => {
      this.store
        .renew(run, this.clock.now())
        .catch((error) => this.log.error({ err: error, event: run.eventId }, 'push lease renewal failed'));
    }, LEASE_MS / 4);
    renewal.unref();
    try {
      await this.delivery.deliver(event, {
        after,
        batchDone: (last, counts) => this.store.recordBatch(run, last, counts, this.clock.now()),
      });
    } catch (error) {
      this.log.error({ err: error, event: event.id }, 'push event delivery failed');
    } finally {
      clearInterval(renewal);
    }
    await this.store.finishRun(run, this.clock.now());
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
