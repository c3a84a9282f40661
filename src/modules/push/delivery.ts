import type { ApnsCredentials, DeliveryResult, FcmCredentials, PushGateways } from '../../adapters/push/types.js';
import type { UsersService } from '../users/service.js';
import type { RecipientSelector } from '../users/store.js';
import type { PushCredentials } from './credentials.js';
import { channelsOf, RECIPIENT_BATCH } from './events.js';
import {
  apnsPushType,
  decodeBase64,
  parseApnsMessage,
  parseGcmMessage,
  parseUniversal,
  type UniversalMessage,
  universalToApns,
  universalToFcm,
} from './payload.js';
import type { Counts, EventRow, PushStore, SubscriptionRow } from './store.js';

export interface DeliveryOptions {
  /** Pushes in flight at once for one event. */
  concurrency: number;
  /** Tries after the first, for answers that say "later". */
  retries: number;
  /** First wait between tries; doubles each time. */
  backoffMs: number;
}

export interface DeliveryLog {
  warn(object: object, message: string): void;
}

/** Where a send starts (after which recipient), and where it reports each batch sent. */
export interface DeliveryRun {
  after: number;
  /** The batch up to recipient `after` is sent; false when the send must stop (another node took the run over). */
  batchDone(after: number, counts: Counts): Promise<boolean>;
}

/**
 * Sends one occurrence of an event: streams its recipients in batches,
 * turns the stored message into each platform's payload, sends through the
 * gateways with bounded concurrency and retries, deletes subscriptions whose
 * tokens are dead, and adds up the event's counters.
 */
export class Delivery {
  constructor(
    private readonly store: PushStore,
    private readonly users: UsersService,
    private readonly credentials: PushCredentials,
    private readonly gateways: PushGateways,
    private readonly log: DeliveryLog,
    private readonly options: DeliveryOptions = { concurrency: 32, retries: 3, backoffMs: 200 },
  ) {}

  async deliver(event: EventRow, run: DeliveryRun): Promise<Counts> {
    const total: Counts = { sent: 0, failed: 0, removed: 0 };
    const selector = JSON.parse(event.recipients) as RecipientSelector;
    const email = event.notification_type === 'email';
    const universal = !email && event.push_type === null ? parseUniversal(event.message) : null;
    const channels = email ? ['email'] : channelsOf(event.push_type, event.message);
    const [apns, fcm] = email
      ? [null, null]
      : await Promise.all([this.credentials.apns(event.application_id), this.credentials.fcm(event.application_id)]);
    const payloads = eventPayloads(event, universal);
    for (let after = run.after; ; ) {
      const ids = await this.users.recipientIds(event.application_id, selector, after, RECIPIENT_BATCH);
      if (ids.length === 0) break;
      after = ids[ids.length - 1] as number;
      let subscriptions = await this.store.subscriptionsFor(event.application_id, ids, channels, event.environment);
      if (universal) subscriptions = pickUniversal(subscriptions, universal);
      if (email) subscriptions = onePerUser(subscriptions);
      const addresses =
        email && subscriptions.length > 0
          ? await this.users.emailsOf(
              event.application_id,
              subscriptions.map((s) => s.user_id),
            )
          : new Map<number, string>();
      const counts: Counts = { sent: 0, failed: 0, removed: 0 };
      await this.pool(subscriptions, async (subscription) => {
        const result = await this.withRetries(() => this.sendOne(payloads, subscription, apns, fcm, addresses));
        if (result.outcome === 'sent') counts.sent++;
        else if (result.outcome === 'dead') {
          await this.store.removeDeadSubscription(subscription.id, subscription.token);
          counts.removed++;
        } else {
          counts.failed++;
          this.log.warn({ event: event.id, subscription: subscription.id, reason: result.reason }, 'push not delivered');
        }
      });
      if (!(await run.batchDone(after, counts))) break;
      total.sent += counts.sent;
      total.failed += counts.failed;
      total.removed += counts.removed;
    }
    return total;
  }

  private sendOne(
    payloads: EventPayloads,
    subscription: SubscriptionRow,
    apns: ApnsCredentials | null,
    fcm: FcmCredentials | null,
    addresses: Map<number, string>,
  ): Promise<DeliveryResult> {
    const failed = (reason: string) => Promise.resolve<DeliveryResult>({ outcome: 'failed', reason });
    switch (subscription.channel) {
      case 'apns':
      case 'apns_voip': {
        if (!apns) return failed('no APNs credentials for this application');
        const topic = subscription.bundle_identifier || apns.topic;
        if (!topic) return failed('no bundle identifier (APNs topic)');
        const voip = subscription.channel === 'apns_voip';
        const { payload, pushType } = payloads.apns();
        return this.gateways.apns.send({
          token: subscription.token,
          environment: subscription.environment === 'production' ? 'production' : 'development',
          topic: voip ? `${topic}.voip` : topic,
          pushType: voip ? 'voip' : pushType,
          payload,
          collapseId: payloads.collapse,
          credentials: apns,
        });
      }
      case 'gcm': {
        if (!fcm) return failed('no FCM credentials for this application');
        return this.gateways.fcm.send({
          token: subscription.token,
          data: payloads.fcm(),
          collapseKey: payloads.collapse,
          credentials: fcm,
        });
      }
      case 'email': {
        // The user's own address only: an address given as the subscription's token would let any user
        // make the server mail whoever they like.
        const to = addresses.get(subscription.user_id);
        if (!to) return failed('the user has no email address');
        return this.gateways.email.send({ to, subject: payloads.subject, text: payloads.emailText() });
      }
      default:
        return failed(`unknown channel ${subscription.channel}`);
    }
  }

  private async withRetries(send: () => Promise<DeliveryResult>): Promise<DeliveryResult> {
    for (let attempt = 0; ; attempt++) {
      let result: DeliveryResult;
      try {
        result = await send();
      } catch (error) {
        result = { outcome: 'failed', reason: (error as Error).message };
      }
      if (result.outcome !== 'retry') return result;
      if (attempt >= this.options.retries) return { outcome: 'failed', reason: `gave up after retries: ${result.reason}` };
      const wait = Math.min(result.retryAfterMs ?? this.options.backoffMs * 2 ** attempt, 30_000);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Runs the task over the items, at most `concurrency` at a time. */
  private async pool<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < items.length) await task(items[next++] as T);
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, items.length) }, worker));
  }
}

/**
 * A universal push goes to apns and gcm subscriptions; with ios_voip=1 a
 * user's VoIP subscriptions replace their apns ones (users without VoIP get
 * the standard push); without it, channelsOf leaves VoIP subscriptions out.
 */
function pickUniversal(subscriptions: SubscriptionRow[], universal: UniversalMessage): SubscriptionRow[] {
  if (!universal.iosVoip) return subscriptions;
  const withVoip = new Set(subscriptions.filter((s) => s.channel === 'apns_voip').map((s) => s.user_id));
  return subscriptions.filter((s) => s.channel !== 'apns' || !withVoip.has(s.user_id));
}

/** Mail goes to the user's address, so a user with email subscriptions on several devices gets it once. */
function onePerUser(subscriptions: SubscriptionRow[]): SubscriptionRow[] {
  const seen = new Set<number>();
  return subscriptions.filter((s) => !seen.has(s.user_id) && seen.add(s.user_id));
}

/** What every push of one event carries, made once per send rather than once per recipient. */
interface EventPayloads {
  collapse: string;
  subject: string;
  apns(): { payload: Record<string, unknown>; pushType: 'alert' | 'background' };
  fcm(): Record<string, string>;
  emailText(): string;
}

function eventPayloads(event: EventRow, universal: UniversalMessage | null): EventPayloads {
  return {
    collapse: `event${event.id}`,
    subject: event.name ?? 'Notification',
    apns: once(() => {
      const payload = universal ? universalToApns(universal) : parseApnsMessage(event.message);
      return { payload, pushType: apnsPushType(payload) };
    }),
    fcm: once(() => (universal ? universalToFcm(universal) : parseGcmMessage(event.message))),
    emailText: once(() => decodeBase64(event.message)?.toString('utf8') ?? ''),
  };
}

/** Made on first use, then reused; a failure is thrown again to every caller (each push counts it). */
function once<T>(make: () => T): () => T {
  let made: { value: T } | { error: unknown } | null = null;
  return () => {
    if (!made) {
      try {
        made = { value: make() };
      } catch (error) {
        made = { error };
      }
    }
    if ('error' in made) throw made.error;
    return made.value;
  };
}
