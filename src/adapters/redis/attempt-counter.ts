import type { RedisClient } from './connection.js';
import type { AttemptCounter } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { recordAttempt } from './scripts.js';

/** Attempt counters that expire with their window. */
export class RedisAttemptCounter implements AttemptCounter {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async count(kind: string, client: string): Promise<number> {
    return Number((await this.redis.get(this.keys.attempts(kind, client))) ?? 0);
  }

  async record(kind: string, client: string, windowMs: number): Promise<number> {
    return Number(await recordAttempt.run(this.redis, [this.keys.attempts(kind, client)], [windowMs]));
  }

  async windowLeftMs(kind: string, client: string): Promise<number> {
    // PTTL answers -2 for a key that is gone (the window ended) and -1 for one without a TTL (never made here).
    return Math.max(0, await this.redis.pttl(this.keys.attempts(kind, client)));
  }
}
