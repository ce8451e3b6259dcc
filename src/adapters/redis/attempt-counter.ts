import type { RedisClient } from './connection.js';
import type { AttemptCounter } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { recordAttempt } from './scripts.js';

/** Failure counters that expire with their window. */
export class RedisAttemptCounter implements AttemptCounter {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async count(kind: string, client: string): Promise<number> {
    return Number((await this.redis.get(this.keys.failedAttempts(kind, client))) ?? 0);
  }

  async record(kind: string, client: string, windowMs: number): Promise<number> {
    return Number(await recordAttempt.run(this.redis, [this.keys.failedAttempts(kind, client)], [windowMs]));
  }
}
