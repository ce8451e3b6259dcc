import type { Redis } from 'ioredis';
import type { AccountStore, ControlBus, EventLog, HintBus, LeaseManager, LiveFeed, PushOutbox, PushSubscriptionStore, UserStore, WorkerRegistry } from '../core/ports.js';
import type { RedisKeys } from '../keys.js';

/** A Redis connection and key prefix for @fastify/rate-limit's counters (its `redis`, `nameSpace` options). */
export interface RateLimitStore {
  redis: Redis;
  nameSpace: string;
}

/** Everything the roles need from storage, whichever adapter provides it. */
export interface Adapters {
  eventLog: EventLog;
  liveFeed: LiveFeed;
  accounts: AccountStore;
  users: UserStore;
  leases: LeaseManager;
  control: ControlBus;
  /** Dovecot's delivery hints, from the hook on any web process to the account's lease holder. */
  hints: HintBus;
  workers: WorkerRegistry;
  pushSubscriptions: PushSubscriptionStore;
  /** Pushes appended but not yet queued; fed by EventLog.append (AppendRequest.pushable). */
  pushOutbox: PushOutbox;
  /**
   * Present with the Redis adapter, for the composition root (gateway.ts) and tests only: roles use
   * the narrow ports above and rateLimitStore.
   */
  redis?: Redis;
  keys?: RedisKeys;
  /** Where request rate limits are counted, so all web processes share them; in memory when absent. */
  rateLimitStore?: RateLimitStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}
