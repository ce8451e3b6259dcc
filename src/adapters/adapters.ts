import type { Redis } from 'ioredis';
import type { AccountStore, ControlBus, EventLog, LeaseManager, LiveFeed, PushOutbox, PushSubscriptionStore, UserStore, WorkerRegistry } from '../core/ports.js';
import type { RedisKeys } from '../keys.js';

/** Everything the roles need from storage, whichever adapter provides it. */
export interface Adapters {
  eventLog: EventLog;
  liveFeed: LiveFeed;
  accounts: AccountStore;
  users: UserStore;
  leases: LeaseManager;
  control: ControlBus;
  workers: WorkerRegistry;
  pushSubscriptions: PushSubscriptionStore;
  /** Pushes appended but not yet queued; fed by EventLog.append (AppendRequest.pushable). */
  pushOutbox: PushOutbox;
  /** Present with the Redis adapter: rate limiting shares it. */
  redis?: Redis;
  keys?: RedisKeys;
  ping(): Promise<void>;
  close(): Promise<void>;
}
