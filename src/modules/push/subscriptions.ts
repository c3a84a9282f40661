import type { Clock } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import { GroupCommit } from '../../storage/group-commit.js';
import { formatSubscription } from './format.js';
import type { PushStore, SubscribeRequest, SubscriptionRow } from './store.js';
import { readSubscription } from './validation.js';

type SubscriptionJson = ReturnType<typeof formatSubscription>;

/** Devices users subscribe to pushes with, and the email channel (mail goes to the account's address). */
export class SubscriptionsService {
  /** Subscribes arriving together share one transaction; each is answered after its commit. */
  private readonly writer: GroupCommit<SubscribeRequest, SubscriptionJson[]>;

  constructor(
    private readonly store: PushStore,
    private readonly clock: Clock,
  ) {
    this.writer = new GroupCommit(async (requests) => {
      // Requests of one user in a batch share their answer: formatted once.
      const formatted = new Map<SubscriptionRow[], SubscriptionJson[]>();
      return (await store.subscribe(requests)).map((rows) => {
        let json = formatted.get(rows);
        if (!json) {
          json = rows.map(formatSubscription);
          formatted.set(rows, json);
        }
        return json;
      });
    });
  }

  /** POST /subscriptions.json: answers all the user's subscriptions, as QuickBlox does. */
  async create(applicationId: number, userId: number | null, params: Record<string, unknown>): Promise<SubscriptionJson[]> {
    if (userId === null) throw errors.needUser();
    const input = readSubscription(params);
    const now = this.clock.now();
    return this.writer.submit({
      applicationId,
      userId,
      rows: input.channels.map((channel) => ({
        application_id: applicationId,
        user_id: userId,
        channel,
        platform: input.platform,
        udid: input.udid,
        environment: input.environment,
        bundle_identifier: input.bundleIdentifier,
        token: input.token,
        created_at: now,
        updated_at: now,
      })),
    });
  }

  /** Resolves when every subscribe queued so far is written. */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  async list(applicationId: number, userId: number | null): Promise<SubscriptionJson[]> {
    if (userId === null) throw errors.needUser();
    return (await this.store.subscriptionsOf(applicationId, userId)).map(formatSubscription);
  }

  /** Users delete their own; an API key without a user any of the application's. */
  async delete(applicationId: number, userId: number | null, id: number): Promise<void> {
    if (!(await this.store.deleteSubscription(applicationId, userId, id))) throw errors.notFound();
  }
}
