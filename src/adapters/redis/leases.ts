import type { Redis } from 'ioredis';
import type { Lease, LeaseManager } from '../../core/ports.js';
import type { AccountRef, RedisKeys } from '../../keys.js';
import { acquireLease, releaseLease, renewLease } from './scripts.js';

export class RedisLeaseManager implements LeaseManager {
  constructor(private readonly redis: Redis, private readonly keys: RedisKeys) {}

  async acquire(ref: AccountRef, workerId: string, ttlMs: number): Promise<Lease | undefined> {
    const value = await acquireLease.run(this.redis, [this.keys.lease(ref), this.keys.leaseFence(ref)], [workerId, ttlMs]);
    if (typeof value !== 'string') return undefined;
    const fence = Number(value.slice(value.lastIndexOf(':') + 1));
    return { userId: ref.userId, accountId: ref.accountId, workerId, fence };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return (await renewLease.run(this.redis, [this.keys.lease(lease)], [`${lease.workerId}:${lease.fence}`, ttlMs])) === 1;
  }

  async holder(ref: AccountRef): Promise<string | undefined> {
    const value = await this.redis.get(this.keys.lease(ref));
    return value ? value.slice(0, value.lastIndexOf(':')) : undefined;
  }

  async release(lease: Lease): Promise<void> {
    await releaseLease.run(this.redis, [this.keys.lease(lease)], [`${lease.workerId}:${lease.fence}`]);
  }
}
