import { Redis } from 'ioredis';

/**
 * A Redis connection that keeps trying to reconnect (a restarted Redis is normal operation) and
 * names itself in CLIENT LIST, which makes a busy server much easier to read.
 * A `subscriber` connection carries pub/sub only: no auto-pipelining and no INFO ready check,
 * which ioredis would otherwise try to send on a connection already in subscriber mode.
 */
export function connectRedis(url: string, name: string, options: { subscriber?: boolean; onError?: (error: Error) => void } = {}): Redis {
  const redis = new Redis(url, {
    connectionName: `mailpush:${name}`,
    // ioredis 6 speaks RESP3 by default; our Lua scripts, pub/sub handling and reply parsing are
    // written and tested against RESP2 replies (Lua false → nil, not a RESP3 boolean), so keep it.
    protocol: 2,
    // Commands wait through a short outage instead of failing at once, but not for ever.
    maxRetriesPerRequest: 20,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
    enableAutoPipelining: !options.subscriber,
    enableReadyCheck: !options.subscriber,
  });
  // Without a listener ioredis prints every connection error as "Unhandled error event".
  redis.on('error', options.onError ?? (() => undefined));
  return redis;
}
