import type { Mailer } from '../../adapters/mailer/types.js';
import { createPushGateways } from '../../adapters/push/index.js';
import type { Config } from '../../config.js';
import type { Clock } from '../../core/clock.js';
import type { Storage } from '../../storage/db.js';
import type { UsersService } from '../users/service.js';
import { PushCredentials } from './credentials.js';
import { Delivery } from './delivery.js';
import { EventsService } from './events.js';
import { PushScheduler } from './scheduler.js';
import { PushStore } from './store.js';
import { SubscriptionsService } from './subscriptions.js';

/** The push module's parts, wired once by createServices. */
export interface Push {
  subscriptions: SubscriptionsService;
  events: EventsService;
  credentials: PushCredentials;
  scheduler: PushScheduler;
  close(): Promise<void>;
}

export interface PushLog {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** How often each node looks for due events. */
export const PUSH_TICK_MS = 1000;

export function createPush(
  storage: Storage,
  users: UsersService,
  mailer: Mailer,
  config: Pick<Config, 'push'>,
  clock: Clock,
  log: PushLog,
): Push {
  const store = new PushStore(storage.db, storage.dialect);
  const gateways = createPushGateways(config, mailer, () => clock.now());
  const credentials = new PushCredentials(store, config.push.credentialsKey, clock);
  const scheduler = new PushScheduler(store, new Delivery(store, users, credentials, gateways, log), clock, log);
  const subscriptions = new SubscriptionsService(store, clock);
  const events = new EventsService(store, users, clock, () => scheduler.wake());
  return {
    subscriptions,
    events,
    credentials,
    scheduler,
    async close() {
      await Promise.all([scheduler.idle(), subscriptions.idle()]);
      await gateways.close();
    },
  };
}
