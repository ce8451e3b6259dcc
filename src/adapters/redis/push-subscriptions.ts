import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.js';
import type { PushSubscriptionRecord, PushSubscriptionStore } from '../../core/ports.js';
import type { RedisKeys } from '../../keys.js';
import { upsertPushSubscription } from './scripts.js';

const endpointHash = (endpoint: string) => createHash('sha256').update(endpoint).digest('hex');

export class RedisPushSubscriptionStore implements PushSubscriptionStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async upsert(record: PushSubscriptionRecord, maxPerUser: number): Promise<{ record: PushSubscriptionRecord; created: boolean } | 'limit'> {
    const hash = endpointHash(record.endpoint);
    for (let attempt = 0; attempt < 5; attempt++) {
      const existingId = (await this.redis.hget(this.keys.pushEndpoints(record.userId), hash)) ?? '';
      const existing = existingId ? await this.get(record.userId, existingId) : undefined;
      // The same endpoint again: keep its id and creation time, take everything else from now.
      const stored = existing ? { ...record, id: existing.id, createdAt: existing.createdAt } : record;
      const result = await upsertPushSubscription.run(
        this.redis,
        [this.keys.pushSubscriptions(record.userId), this.keys.pushEndpoints(record.userId)],
        [hash, existingId, JSON.stringify(stored), stored.id, maxPerUser],
      );
      if (result === 'limit') return 'limit';
      if (result === 'created' || result === 'updated') return { record: stored, created: result === 'created' };
    }
    throw new Error('push subscription kept changing under this request');
  }

  async list(userId: string): Promise<PushSubscriptionRecord[]> {
    const all = await this.redis.hvals(this.keys.pushSubscriptions(userId));
    return all.map((json) => JSON.parse(json) as PushSubscriptionRecord).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async get(userId: string, id: string): Promise<PushSubscriptionRecord | undefined> {
    const json = await this.redis.hget(this.keys.pushSubscriptions(userId), id);
    return json ? (JSON.parse(json) as PushSubscriptionRecord) : undefined;
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const record = await this.get(userId, id);
    if (!record) return false;
    await this.redis
      .multi()
      .hdel(this.keys.pushSubscriptions(userId), id)
      .hdel(this.keys.pushEndpoints(userId), endpointHash(record.endpoint))
      .exec();
    return true;
  }
}
