import type { RedisClient } from './connection.js';
import type { Lease, LeaseManager } from '../../core/ports.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { acquireLease, releaseLease, renewLease } from './scripts.js';

const RENEW_PAGE = 1000;

export class RedisLeaseManager implements LeaseManager {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async acquire(ref: AccountRef, workerId: string, ttlMs: number): Promise<Lease | undefined> {
    const value = await acquireLease.run(this.redis, [this.keys.lease(ref), this.keys.leaseFence(ref)], [workerId, ttlMs]);
    if (typeof value !== 'string') return undefined;
    const fence = Number(value.slice(value.lastIndexOf(':') + 1));
    return { userId: ref.userId, accountId: ref.accountId, workerId, fence };
  }

  async renew(leases: readonly Lease[], ttlMs: number): Promise<boolean[]> {
    const renewed: boolean[] = [];
    // Pages keep one pipeline's replies, and Redis's time on them, small.
    for (let from = 0; from < leases.length; from += RENEW_PAGE) {
      const calls = leases.slice(from, from + RENEW_PAGE).map((lease) => ({ keys: [this.keys.lease(lease)], args: [`${lease.workerId}:${lease.fence}`, ttlMs] }));
      for (const reply of await renewLease.runMany(this.redis, calls)) renewed.push(reply === 1);
    }
    return renewed;
  }

  async holder(ref: AccountRef): Promise<string | undefined> {
    const value = await this.redis.get(this.keys.lease(ref));
    return value ? value.slice(0, value.lastIndexOf(':')) : undefined;
  }

  async release(lease: Lease): Promise<void> {
    await releaseLease.run(this.redis, [this.keys.lease(lease)], [`${lease.workerId}:${lease.fence}`]);
  }
}
