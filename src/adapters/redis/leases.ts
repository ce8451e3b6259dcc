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

/** One page of a renewal, kept for the next: the same leases are renewed every few seconds. */
interface RenewalPage {
  leases: readonly Lease[];
  keys: string[];
  values: string;
}

export class RedisLeaseManager implements LeaseManager {
  /**
   * The last renewal's pages (one Redis only). A worker renews the same thousands of leases every
   * LEASE_TTL_MS / 3; building their keys and values again each time was most of what an idle
   * worker allocated, and so most of its garbage collections (bench:scale's allocation profile,
   * docs/benchmarks.md). About 100 bytes per lease held.
   */
  private pages: RenewalPage[] = [];

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async acquire(ref: AccountRef, workerId: string, ttlMs: number): Promise<Lease | undefined> {
    const value = await acquireLease.run(this.redis, [this.keys.lease(ref), this.keys.leaseFence(ref)], [workerId, ttlMs]);
    if (typeof value !== 'string') return undefined;
    const fence = Number(value.slice(value.lastIndexOf(':') + 1));
    return { userId: ref.userId, accountId: ref.accountId, workerId, fence };
  }

  async renew(leases: readonly Lease[], ttlMs: number): Promise<boolean[]> {
    if (isCluster(this.redis)) return this.renewEach(leases, ttlMs);
    const renewed = new Array<boolean>(leases.length).fill(true);
    const pages: RenewalPage[] = [];
    // Pages keep one call's work in Redis (well under a millisecond) from holding up other clients.
    for (let from = 0; from < leases.length; from += RENEW_PAGE) {
      const page = this.page(pages.length, leases.slice(from, from + RENEW_PAGE));
      pages.push(page);
      const lost = await renewLeases.run(this.redis, page.keys, [ttlMs, page.values]) as number[];
      for (const position of lost) renewed[from + position - 1] = false;
    }
    this.pages = pages;
    return renewed;
  }

  /** Page `index` of this renewal: the last renewal's when it held the same leases, else built anew. */
  private page(index: number, leases: Lease[]): RenewalPage {
    const last = this.pages[index];
    if (last && last.leases.length === leases.length && last.leases.every((lease, i) => lease === leases[i])) return last;
    return { leases, keys: leases.map((lease) => this.keys.lease(lease)), values: leases.map(leaseValue).join(' ') };
  }

  /** On a cluster one call's keys must share a slot: one script call per lease, all sent at once. */
  private async renewEach(leases: readonly Lease[], ttlMs: number): Promise<boolean[]> {
    const renewed: boolean[] = [];
    for (let from = 0; from < leases.length; from += RENEW_PAGE) {
      const calls = leases.slice(from, from + RENEW_PAGE).map((lease) => ({ keys: [this.keys.lease(lease)], args: [leaseValue(lease), ttlMs] }));
      for (const reply of await renewLease.runMany(this.redis, calls)) renewed.push(reply === 1);
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
