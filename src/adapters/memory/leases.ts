import type { Lease, LeaseManager, WorkerInfo, WorkerRegistry } from '../../core/ports.js';
import { formatAccountRef as key, type AccountRef } from '../../core/account-ref.js';

/** Leases in one process's memory: same contract as the Redis ones, expiry included. */
export class MemoryLeaseManager implements LeaseManager {
  private readonly held = new Map<string, { workerId: string; fence: number; expiresAt: number }>();
  private fence = 0;

  /** Synchronous check for the embedded event log, which appends inside one transaction. */
  holds(lease: Lease): boolean {
    const current = this.held.get(key(lease));
    return !!current && current.expiresAt > Date.now() && current.workerId === lease.workerId && current.fence === lease.fence;
  }

  async acquire(ref: AccountRef, workerId: string, ttlMs: number): Promise<Lease | undefined> {
    const current = this.held.get(key(ref));
    if (current && current.expiresAt > Date.now()) return undefined;
    const fence = ++this.fence;
    this.held.set(key(ref), { workerId, fence, expiresAt: Date.now() + ttlMs });
    return { userId: ref.userId, accountId: ref.accountId, workerId, fence };
  }

  async renew(leases: readonly Lease[], ttlMs: number): Promise<boolean[]> {
    return leases.map((lease) => {
      if (!this.holds(lease)) return false;
      this.held.get(key(lease))!.expiresAt = Date.now() + ttlMs;
      return true;
    });
  }

  async release(lease: Lease): Promise<void> {
    if (this.holds(lease)) this.held.delete(key(lease));
  }

  async holder(ref: AccountRef): Promise<string | undefined> {
    const current = this.held.get(key(ref));
    return current && current.expiresAt > Date.now() ? current.workerId : undefined;
  }
}

export class MemoryWorkerRegistry implements WorkerRegistry {
  private readonly workers = new Map<string, WorkerInfo>();

  async heartbeat(info: WorkerInfo): Promise<void> {
    this.workers.set(info.workerId, info);
  }

  async live(maxAgeMs: number): Promise<WorkerInfo[]> {
    const oldest = Date.now() - maxAgeMs;
    return [...this.workers.values()].filter((w) => w.seenAt >= oldest).sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  async remove(workerId: string): Promise<void> {
    this.workers.delete(workerId);
  }
}
