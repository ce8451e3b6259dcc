// What /readyz reports, for the web role, the worker role and the metrics port alike: storage
// answers, and (in a process running a worker) the worker's leases are current, because a
// worker that cannot renew them is about to lose its accounts to the others.

import type { Adapters } from '../adapters/adapters.js';

export interface Readiness {
  ready: boolean;
  checks: { storage: 'ok' | 'unreachable'; worker?: 'ok' | 'leases_stale' };
}

export type ReadinessCheck = () => Promise<Readiness>;

const PING_TIMEOUT_MS = 2000;

export function readinessCheck(adapters: Pick<Adapters, 'ping'>, worker?: { leasesCurrent(): boolean }): ReadinessCheck {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS);
    });
    const storage = await Promise.race([adapters.ping(), timeout]).then(() => 'ok' as const, () => 'unreachable' as const);
    clearTimeout(timer);
    const checks: Readiness['checks'] = { storage };
    if (worker) checks.worker = worker.leasesCurrent() ? 'ok' : 'leases_stale';
    return { ready: storage === 'ok' && checks.worker !== 'leases_stale', checks };
  };
}
