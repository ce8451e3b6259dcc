import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisClusterConfig } from '../../config.js';

/**
 * What every Redis adapter talks to: one Redis, or a Redis Cluster. Both speak the same commands;
 * what differs (pub/sub kind, pipelines across nodes, SCAN) is decided with isCluster().
 */
export type RedisClient = Redis | Cluster;

/** Where Redis is: REDIS_URL, or the cluster of REDIS_CLUSTER_NODES. */
export type RedisTarget = string | RedisClusterConfig;

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

export interface ConnectOptions {
  /** A pub/sub connection: no auto-pipelining and no INFO ready check (see below). */
  subscriber?: boolean;
  onError?: (error: Error) => void;
  /**
   * Options of BullMQ's connections, which want commands to wait for Redis for ever
   * (maxRetriesPerRequest null) and no ready check.
   */
  queue?: boolean;
}

// ioredis 6 speaks RESP3 by default; our Lua scripts, pub/sub handling and reply parsing (and
// BullMQ's scripts, as used here) are written and tested against RESP2 replies (Lua false → nil,
// not a RESP3 boolean), so keep it.
const PROTOCOL = 2;

/**
 * The one place a Redis connection is made: `new Redis(url)` for REDIS_URL, `new Cluster(seeds)`
 * for REDIS_CLUSTER_NODES. Either keeps trying to reconnect (a restarted Redis is normal operation)
 * and names itself in CLIENT LIST, which makes a busy server much easier to read.
 * A `subscriber` connection carries pub/sub only: no auto-pipelining and no INFO ready check,
 * which ioredis would otherwise try to send on a connection already in subscriber mode.
 */
export function connectRedis(target: RedisTarget, name: string, options: ConnectOptions = {}): RedisClient {
  const retryStrategy = (attempt: number) => Math.min(100 * 2 ** attempt, 2000);
  const common: RedisOptions = {
    connectionName: `mailpush:${name}`,
    protocol: PROTOCOL,
    // Commands wait through a short outage instead of failing at once, but not for ever.
    maxRetriesPerRequest: options.queue ? null : 20,
  };
  const redis: RedisClient = typeof target === 'string'
    ? new Redis(target, {
      ...common,
      retryStrategy,
      enableAutoPipelining: !options.subscriber && !options.queue,
      enableReadyCheck: !options.subscriber && !options.queue,
    })
    : new Cluster(target.nodes, {
      redisOptions: {
        ...common,
        ...(target.username ? { username: target.username } : {}),
        ...(target.password ? { password: target.password } : {}),
        ...(target.tls ? { tls: {} } : {}),
      },
      clusterRetryStrategy: retryStrategy,
      // Reads from primaries only: a replica may lag behind an append the caller just made.
      scaleReads: 'master',
      // No auto-pipelining on a cluster: ioredis batches per node and handles a MOVED for the
      // batch, not per command, so after a failover commands for the moved slots kept failing with
      // MOVED (lease renewals for 15 s and more in our failover test; ioredis issue #2075). Commands
      // sent together still share the connection's writes; each follows its own redirect.
      enableAutoPipelining: false,
      // One sharded subscriber per primary, for the per-user live channels (SSUBSCRIBE).
      shardedSubscribers: options.subscriber === true,
    });
  // Without a listener ioredis prints every connection error as "Unhandled error event".
  redis.on('error', options.onError ?? (() => undefined));
  return redis;
}

/** The target as it may be shown in a log or a start-up error: without its password. */
export function printableRedisTarget(target: RedisTarget): string {
  if (typeof target !== 'string') return `Redis Cluster ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  try {
    const url = new URL(target);
    if (url.password) url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return 'REDIS_URL';
  }
}
