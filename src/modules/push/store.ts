import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { type DialectName, isUniqueViolation } from '../../storage/dialect.js';
import { PreparedQuery } from '../../storage/prepared.js';
import type { Database, PushEventRunTable, PushEventTable, PushSubscriptionTable } from '../../storage/schema.js';

export type SubscriptionRow = Selectable<PushSubscriptionTable>;
export type EventRow = Selectable<PushEventTable>;
export type NewEventRow = Insertable<PushEventTable>;
export type EventChanges = Updateable<PushEventTable>;
export type RunRow = Selectable<PushEventRunTable>;
/** One occurrence of an event being sent, and the node that holds its lease. */
export interface RunKey {
  eventId: number;
  occurrence: number;
  node: string;
}
export type Counts = { sent: number; failed: number; removed: number };
const SUBSCRIPTION_COLUMNS = [
  'application_id',
  'user_id',
  'channel',
  'platform',
  'udid',
  'environment',
  'bundle_identifier',
  'token',
  'created_at',
  'updated_at',
] as const;

/** One POST /subscriptions.json: its rows (one per channel) for one user. */
export interface SubscribeRequest {
  applicationId: number;
  userId: number;
  rows: Array<Insertable<PushSubscriptionTable>>;
}

/** The push module's SQL: subscriptions, events, claimed occurrences and credentials. */
export class PushStore {
  /** Compiled once: the subscribe path is hot, and building these queries costs more than running them. */
  private readonly upsert: PreparedQuery<(typeof SUBSCRIPTION_COLUMNS)[number], unknown>;
  private readonly userSubscriptions: PreparedQuery<'applicationId' | 'userId', SubscriptionRow>;

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: DialectName,
  ) {
    this.upsert = new PreparedQuery(SUBSCRIPTION_COLUMNS, (values) =>
      this.db
        .insertInto('push_subscriptions')
        .values(values as Insertable<PushSubscriptionTable>)
        .onConflict((oc) =>
          oc.columns(['application_id', 'udid', 'channel', 'bundle_identifier']).doUpdateSet((eb) => ({
            user_id: eb.ref('excluded.user_id'),
            platform: eb.ref('excluded.platform'),
            environment: eb.ref('excluded.environment'),
            token: eb.ref('excluded.token'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        ),
    );

    this.userSubscriptions = new PreparedQuery(['applicationId', 'userId'], (values) =>
      this.db
        .selectFrom('push_subscriptions')
        .selectAll()
        .where('application_id', '=', values.applicationId as number)
        .where('user_id', '=', values.userId as number)
        .orderBy('id'),
    );
  }

  /**
   * Subscribes devices for several requests (a group commit) in one
   * transaction. The same device, channel and bundle replaces the old row
   * (whoever held it) in place: one atomic upsert, so the same device
   * subscribing twice at once cannot trip the unique index. Each request is
   * answered with its user's subscriptions as they are once the whole batch is
   * written (what a read right after the commit would see), read once per user.
   */
  async subscribe(requests: SubscribeRequest[]): Promise<SubscriptionRow[][]> {
    const [only] = requests;
    // A single one-channel request (the usual case when idle) is one statement: no transaction.
    if (requests.length === 1 && only && only.rows.length === 1) return this.subscribeIn(this.db, requests);
    return this.db.transaction().execute((trx) => this.subscribeIn(trx, requests));
  }

  private async subscribeIn(db: Kysely<Database>, requests: SubscribeRequest[]): Promise<SubscriptionRow[][]> {
    for (const request of requests) {
      for (const row of request.rows) await this.upsert.execute(db, { ...row, bundle_identifier: row.bundle_identifier ?? '' });
    }
    const lists = new Map<string, SubscriptionRow[]>();
    const answers: SubscriptionRow[][] = [];
    for (const { applicationId, userId } of requests) {
      const key = `${applicationId} ${userId}`;
      let list = lists.get(key);
      if (!list) {
        list = await this.subscriptionsOf(applicationId, userId, db);
        lists.set(key, list);
      }
      answers.push(list);
    }
    return answers;
  }

  subscriptionsOf(applicationId: number, userId: number, db: Kysely<Database> = this.db): Promise<SubscriptionRow[]> {
    return this.userSubscriptions.execute(db, { applicationId, userId });
  }

  async deleteSubscription(applicationId: number, userId: number | null, id: number): Promise<boolean> {
    let query = this.db.deleteFrom('push_subscriptions').where('application_id', '=', applicationId).where('id', '=', id);
    if (userId !== null) query = query.where('user_id', '=', userId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** A dead token: the subscription goes, unless it was replaced by a new token meanwhile. */
  async removeDeadSubscription(id: number, token: string): Promise<void> {
    await this.db.deleteFrom('push_subscriptions').where('id', '=', id).where('token', '=', token).execute();
  }

  /** The subscriptions of these users on these channels (email ignores the environment). */
  subscriptionsFor(
    applicationId: number,
    userIds: number[],
    channels: string[],
    environment: string,
  ): Promise<SubscriptionRow[]> {
    if (userIds.length === 0 || channels.length === 0) return Promise.resolve([]);
    // The application is checked on the rows, not in SQL: with `application_id = ?` there SQLite walks
    // every subscription of the application through push_subscriptions_device for each batch (37 ms
    // per 500 users at 200,000 subscriptions), instead of each user's through push_subscriptions_user.
    // User ids are unique across applications and the callers' are this application's, so the check
    // is only a guard.
    return this.db
      .selectFrom('push_subscriptions')
      .selectAll()
      .where('user_id', 'in', userIds)
      .where('channel', 'in', channels)
      .where((eb) => eb.or([eb('environment', '=', environment), eb('channel', '=', 'email')]))
      .orderBy('id')
      .execute()
      .then((rows) => rows.filter((row) => row.application_id === applicationId));
  }

  async insertEvent(row: NewEventRow): Promise<EventRow> {
    return this.db.insertInto('push_events').values(row).returningAll().executeTakeFirstOrThrow();
  }

  event(applicationId: number, id: number): Promise<EventRow | undefined> {
    return this.db
      .selectFrom('push_events')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  eventById(id: number): Promise<EventRow | undefined> {
    return this.db.selectFrom('push_events').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listEvents(applicationId: number, userId: number | null, offset: number, limit: number) {
    let base = this.db.selectFrom('push_events').where('application_id', '=', applicationId);
    if (userId !== null) base = base.where('user_id', '=', userId);
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy('id', 'desc').offset(offset).limit(limit).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows, total: Number(total.total) };
  }

  async updateEvent(applicationId: number, id: number, changes: EventChanges): Promise<EventRow | undefined> {
    return this.db
      .updateTable('push_events')
      .set(changes)
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async deleteEvent(applicationId: number, id: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('push_events')
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Events whose next occurrence is due, oldest first. */
  dueEvents(now: number, limit: number): Promise<EventRow[]> {
    return this.db
      .selectFrom('push_events')
      .selectAll()
      .where('active', '=', 1)
      .where('next_run_at', '<=', now)
      .orderBy('next_run_at')
      .limit(limit)
      .execute();
  }

  /**
   * Claims the occurrence due at `dueAt`: inserts its run row (the lease) and
   * moves the event to its next occurrence, in one transaction. Returns
   * false when another node claimed it first.
   */
  async claim(event: EventRow, dueAt: number, next: number | null, node: string, now: number): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const occurrence = event.occured_count + 1;
        await trx
          .insertInto('push_event_runs')
          .values({ event_id: event.id, occurrence, claimed_by: node, claimed_at: now, finished_at: null })
          .execute();
        const moved = await trx
          .updateTable('push_events')
          .set({ occured_count: occurrence, next_run_at: next, active: next === null ? 0 : 1, updated_at: now })
          .where('id', '=', event.id)
          .where('next_run_at', '=', dueAt)
          .where('occured_count', '=', event.occured_count)
          .executeTakeFirst();
        // Changed meanwhile (updated, claimed elsewhere): roll the run row back.
        if (Number(moved.numUpdatedRows) !== 1) throw new LostClaim();
        return true;
      });
    } catch (error) {
      if (error instanceof LostClaim || isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async finishRun(run: RunKey, now: number): Promise<void> {
    await this.updateOwnRun(this.db, run, { finished_at: now });
  }

  /**
   * A batch of the run is sent: its counts and the run's progress (the last
   * recipient done, the lease renewed) are written together. False, and
   * nothing written, when another node has taken the run over.
   */
  async recordBatch(run: RunKey, after: number, counts: Counts, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await this.updateOwnRun(trx, run, { resume_after: after, claimed_at: now }))) return false;
      if (counts.sent + counts.failed + counts.removed > 0) {
        await trx
          .updateTable('push_events')
          .set((eb) => ({
            sent_count: eb('sent_count', '+', counts.sent),
            failed_count: eb('failed_count', '+', counts.failed),
            removed_count: eb('removed_count', '+', counts.removed),
          }))
          .where('id', '=', run.eventId)
          .execute();
      }
      return true;
    });
  }

  /** Renews the lease of a run this node is sending; false when another node has taken it over. */
  renew(run: RunKey, now: number): Promise<boolean> {
    return this.updateOwnRun(this.db, run, { claimed_at: now });
  }

  /** Changes a run this node holds and has not finished; false when another node holds it. */
  private async updateOwnRun(db: Kysely<Database>, run: RunKey, changes: Updateable<PushEventRunTable>): Promise<boolean> {
    const result = await db
      .updateTable('push_event_runs')
      .set(changes)
      .where('event_id', '=', run.eventId)
      .where('occurrence', '=', run.occurrence)
      .where('claimed_by', '=', run.node)
      .where('finished_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Runs whose claimant stopped renewing them before `cutoff` (it died mid-send), oldest first. */
  lapsedRuns(cutoff: number, limit: number): Promise<RunRow[]> {
    return this.db
      .selectFrom('push_event_runs')
      .selectAll()
      .where('finished_at', 'is', null)
      .where('claimed_at', '<', cutoff)
      .orderBy('claimed_at')
      .limit(limit)
      .execute();
  }

  /** Takes over a lapsed run, as it was read; false when another node did first. */
  async takeOver(run: RunRow, node: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('push_event_runs')
      .set({ claimed_by: node, claimed_at: now })
      .where('event_id', '=', run.event_id)
      .where('occurrence', '=', run.occurrence)
      .where('claimed_by', '=', run.claimed_by)
      .where('claimed_at', '=', run.claimed_at)
      .where('finished_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async credential(applicationId: number, service: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('push_credentials')
      .select('secret')
      .where('application_id', '=', applicationId)
      .where('service', '=', service)
      .executeTakeFirst();
    return row?.secret;
  }

  async saveCredential(applicationId: number, service: string, secret: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('push_credentials')
        .where('application_id', '=', applicationId)
        .where('service', '=', service)
        .execute();
      await trx
        .insertInto('push_credentials')
        .values({ application_id: applicationId, service, secret, updated_at: now })
        .execute();
    });
  }

  async deleteCredential(applicationId: number, service: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('push_credentials')
      .where('application_id', '=', applicationId)
      .where('service', '=', service)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

class LostClaim extends Error {}
