import type { Clock } from '../../core/clock.js';
import type { Storage } from '../../storage/db.js';
import type { UsersService } from '../users/service.js';
import { EventsService } from './events.js';
import { PushStore } from './store.js';
import { SubscriptionsService } from './subscriptions.js';

/** The push module's parts, wired once by createServices. */
export interface Push {
  subscriptions: SubscriptionsService;
  events: EventsService;
  close(): Promise<void>;
}

export function createPush(storage: Storage, users: UsersService, clock: Clock): Push {
  const store = new PushStore(storage.db, storage.dialect);
  const subscriptions = new SubscriptionsService(store, clock);
  const events = new EventsService(store, users, clock);
  return { subscriptions, events, close: async () => {} };
}
