import type { Cluster, Redis } from 'ioredis';
import type {
  AccountStore, AttemptCounter, ControlBus, DeviceStore, EventLog, HintBus, LeaseManager, LiveFeed, MailboxCommands, OAuthFlowStore, PairingStore, PushOutbox, PushSubscriptionStore, RevocationBus, UserStore,
  WorkerRegistry,
} from '../core/ports.js';
import type { RedisKeys } from '../keys.js';

/** A Redis connection and key prefix for @fastify/rate-limit's counters (its `redis`, `nameSpace` options). */
export interface RateLimitStore {
  redis: Redis | Cluster;
  nameSpace: string;
}

/** What a migration changed; all zero when the data was current already. */
export interface MigrationReport {
  /** Users merged into the older user that held the same mailbox. */
  usersMerged: number;
  /** Accounts removed because the surviving user already watched that mailbox. */
  accountsRemoved: number;
  /** Bare tokens that became devices. */
  tokensConverted: number;
}

/** Everything the roles need from storage, whichever adapter provides it. */
export interface Adapters {
  eventLog: EventLog;
  liveFeed: LiveFeed;
  accounts: AccountStore;
  users: UserStore;
  devices: DeviceStore;
  pairings: PairingStore;
  /** Pending OAuth sign-ins and their handoffs. */
  oauthFlows: OAuthFlowStore;
  /** Removed devices, to web processes. */
  revocations: RevocationBus;
  /** Failed attempts per client (wrong pairing codes). */
  attempts: AttemptCounter;
  leases: LeaseManager;
  control: ControlBus;
  /** Dovecot's delivery hints, from the hook on any web process to the account's lease holder. */
  hints: HintBus;
  /** Mark read, delete, read a message: from any web process to the account's lease holder, and back. */
  mailboxCommands: MailboxCommands;
  workers: WorkerRegistry;
  pushSubscriptions: PushSubscriptionStore;
  /** Pushes appended but not yet queued; fed by EventLog.append (AppendRequest.pushable). */
  pushOutbox: PushOutbox;
  /**
   * Present with the Redis adapter, for the composition root (gateway.ts) and tests only: roles use
   * the narrow ports above and rateLimitStore.
   */
  redis?: Redis | Cluster;
  keys?: RedisKeys;
  /** Where request rate limits are counted, so all web processes share them; in memory when absent. */
  rateLimitStore?: RateLimitStore;
  /**
   * Brings stored data to the current layout (schema 2: one account per mailbox gateway-wide,
   * every token a device); idempotent and cheap once done. Run at start-up before serving.
   */
  migrate(): Promise<MigrationReport>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
