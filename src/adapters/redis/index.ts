import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { RedisKeys } from '../../keys.js';
import type { Adapters } from '../adapters.js';
import { RedisAccountStore } from './account-store.js';
import { connectRedis, type RedisTarget } from './connection.js';
import { isControlMessage, isDeviceRevocation, RedisBroadcastChannel } from './broadcast-channel.js';
import { RedisEventLog, type ReplicaWait } from './event-log.js';
import { RedisHintBus } from './hint-bus.js';
import { RedisLeaseManager } from './leases.js';
import { RedisLiveFeed } from './live-feed.js';
import { RedisMailboxCommands } from './mailbox-commands.js';
import { RedisPushOutbox } from './push-outbox.js';
import { RedisPushSubscriptionStore } from './push-subscriptions.js';
import { RedisDeviceStore, RedisUserStore } from './user-store.js';
import { RedisOAuthFlowStore } from './oauth-flow-store.js';
import { RedisPairingStore } from './pairing-store.js';
import { migrateRedis } from './migration.js';
import { RedisAttemptCounter } from './attempt-counter.js';
import { RedisWorkerRegistry } from './worker-registry.js';

/**
 * Builds every Redis-backed adapter over two connections, commands and pub/sub, to one Redis
 * (a REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES).
 */
export function createRedisAdapters(
  config: { redis: RedisTarget; events: Config['events']; wait?: ReplicaWait },
  role: string,
  options: { prefix?: string; log?: Logger } = {},
): Adapters {
  const keys = new RedisKeys(options.prefix);
  let lastError = '';
  // Log each distinct connection error once, not once per retry.
  const onError = (error: Error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    options.log?.warn({ err: error.message }, 'redis connection error');
  };
  const redis = connectRedis(config.redis, role, { onError });
  const subscriber = connectRedis(config.redis, `${role}:sub`, { subscriber: true, onError });
  redis.on('ready', () => (lastError = ''));
  const liveFeed = new RedisLiveFeed(subscriber, keys);
  const control = new RedisBroadcastChannel(redis, subscriber, keys.controlChannel(), isControlMessage);
  const revocations = new RedisBroadcastChannel(redis, subscriber, keys.revocationChannel(), isDeviceRevocation);
  const hints = new RedisHintBus(redis, subscriber, keys);
  const mailboxCommands = new RedisMailboxCommands(redis, subscriber, keys);
  return {
    keys,
    redis,
    rateLimitStore: { redis, nameSpace: keys.rateLimitPrefix() },
    eventLog: new RedisEventLog(redis, keys, {
      maxEvents: config.events.retentionCount,
      maxAgeMs: config.events.retentionMs,
    }, config.wait, options.log),
    liveFeed,
    accounts: new RedisAccountStore(redis, keys),
    users: new RedisUserStore(redis, keys),
    devices: new RedisDeviceStore(redis, keys),
    pairings: new RedisPairingStore(redis, keys),
    oauthFlows: new RedisOAuthFlowStore(redis, keys),
    revocations,
    attempts: new RedisAttemptCounter(redis, keys),
    leases: new RedisLeaseManager(redis, keys),
    control,
    hints,
    mailboxCommands,
    workers: new RedisWorkerRegistry(redis, keys),
    pushSubscriptions: new RedisPushSubscriptionStore(redis, keys),
    pushOutbox: new RedisPushOutbox(redis, keys),
    migrate: () => migrateRedis(redis, keys, options.log),
    async ping() {
      await redis.ping();
    },
    async close() {
      await liveFeed.close();
      await control.close();
      await revocations.close();
      await hints.close();
      await mailboxCommands.close();
      subscriber.disconnect();
      // QUIT lets pending replies arrive; without a connection it would wait through every retry.
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
