import type { Redis } from 'ioredis';
import type { UserStore } from '../../core/ports.js';
import { newId } from '../../core/tokens.js';
import type { RedisKeys } from '../../keys.js';

export class RedisUserStore implements UserStore {
  constructor(private readonly redis: Redis, private readonly keys: RedisKeys) {}

  async create(tokenHash: string): Promise<string> {
    const userId = newId('usr');
    await this.redis.hset(this.keys.userRecord(userId), 'createdAt', new Date().toISOString());
    await this.redis.set(this.keys.token(tokenHash), userId);
    return userId;
  }

  async findByToken(tokenHash: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.token(tokenHash))) ?? undefined;
  }
}
