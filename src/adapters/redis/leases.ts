import type { RedisClient } from './connection.js';
import type { Lease, LeaseManager } from '../../core/ports.js';
import type { AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { isCluster } from './connection.js';
import { acquireLease, releaseLease, renewLease, renewLeases } from './scripts.js';

/** Leases per renewal call: Redis runs one call's GETs and PEXPIREs (well under a millisecond) without serving others. */
const RENEW_PAGE = 1000;

/** What a lease key holds while this lease is current (acquireLease's answer). */
const leaseValue = (lease: Lease): string => `${lease.workerId}:${lease.fence}`;

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
    // Pages keep one call's replies, and Redis's time on them, small.
    for (let from = 0; from < leases.length; from += RENEW_PAGE) {
      const page = leases.slice(from, from + RENEW_PAGE);
      if (isCluster(this.redis)) {
        const calls = page.map((lease) => ({ keys: [this.keys.lease(lease)], args: [leaseValue(lease), ttlMs] }));
        for (const reply of await renewLease.runMany(this.redis, calls)) renewed.push(reply === 1);
      } else {
        // One script call for the whole page instead of one per lease: a worker holding 10,000
        // accounts renews them every few seconds, and per-lease commands were the largest part of
        // its JavaScript work while idle (bench:scale's CPU profile, docs/benchmarks.md).
        const replies = await renewLeases.run(this.redis, page.map((lease) => this.keys.lease(lease)), [ttlMs, ...page.map(leaseValue)]) as number[];
        for (const reply of replies) renewed.push(reply === 1);
      }
    }
    return renewed;
  }

  async holder(ref: AccountRef): Promise<string | undefined> {
    const value = await this.redis.get(this.keys.lease(ref));
    return value ? value.slice(0, value.lastIndexOf(':')) : undefined;
  }

  async release(lease: Lease): Promise<void> {
    await releaseLease.run(this.redis, [this.keys.lease(lease)], [leaseValue(lease)]);
  }
}
