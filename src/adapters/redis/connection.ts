import { Redis } from 'ioredis';

/**
 * A Redis connection that keeps trying to reconnect (a restarted Redis is normal operation) and
 * names itself in CLIENT LIST, which makes a busy server much easier to read.
 */
export function connectRedis(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: `mailpush:${name}`,
    // Commands wait through a short outage instead of failing at once, but not for ever.
    maxRetriesPerRequest: 20,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
    enableAutoPipelining: true,
    lazyConnect: false,
  });
}
