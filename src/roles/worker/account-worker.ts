// The worker role: claims accounts through leases, runs a session for each one it holds, and lets
// go cleanly. Leases make sure that however many workers run, each account has exactly one holder;
// the fence inside each lease keeps a worker that lost its lease from appending anything.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Adapters } from '../../adapters/adapters.js';
import type { Config } from '../../config.js';
import type { AccountChange, Lease } from '../../core/ports.js';
import { SecretBox } from '../../core/secret-box.js';
import { HostLimiter } from '../../imap/host-limiter.js';
import type { AccountRef } from '../../keys.js';
import { AccountSession } from './account-session.js';

type Deps = Pick<Adapters, 'accounts' | 'eventLog' | 'leases' | 'control'>;

function refKey(ref: AccountRef): string {
  return `${ref.userId}/${ref.accountId}`;
}

export class AccountWorker {
  readonly workerId = `wrk_${randomBytes(6).toString('hex')}`;
  private readonly sessions = new Map<string, AccountSession>();
  /** Accounts being claimed or released right now, so two paths never race on one account. */
  private readonly busy = new Set<string>();
  private readonly limiter: HostLimiter;
  private readonly secretBox: SecretBox;
  private renewTimer: NodeJS.Timeout | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Work started by timers and messages; stop() waits for it, and its errors are logged here. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: Deps, private readonly config: Config, private readonly log: Logger) {
    this.limiter = new HostLimiter(config.imap.connectConcurrency);
    this.secretBox = new SecretBox(config.secret);
  }

  async start(): Promise<void> {
    await this.deps.control.subscribe((change) => this.background('account change', () => this.onChange(change)));
    const ttl = this.config.worker.leaseTtlMs;
    this.renewTimer = setInterval(() => this.background('lease renewal', () => this.renewAll()), Math.max(500, Math.floor(ttl / 3)));
    this.scanTimer = setInterval(() => this.background('account scan', () => this.scan()), ttl);
    await this.scan();
    this.log.info({ workerId: this.workerId }, 'worker started');
  }

  /** Logs out of every account and releases its lease, so another worker can take it at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.renewTimer);
    clearInterval(this.scanTimer);
    await Promise.all(this.inFlight);
    await Promise.all([...this.sessions.values()].map((session) => this.drop(session, true)));
    this.log.info({ workerId: this.workerId }, 'worker stopped');
  }

  private background(what: string, task: () => Promise<void>): void {
    const running = task()
      .catch((error: unknown) => this.log.warn({ err: (error as Error).message }, `${what} failed`))
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  heldAccounts(): AccountRef[] {
    return [...this.sessions.values()].map((s) => ({ userId: s.lease.userId, accountId: s.lease.accountId }));
  }

  private async scan(): Promise<void> {
    let cursor = '0';
    try {
      do {
        const page = await this.deps.accounts.scan(cursor);
        cursor = page.cursor;
        for (const ref of page.refs) {
          if (this.stopping || this.sessions.size >= this.config.worker.capacity) return;
          if (!this.sessions.has(refKey(ref))) await this.claim(ref);
        }
      } while (cursor !== '0');
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'account scan failed');
    }
  }

  private async claim(ref: AccountRef): Promise<void> {
    const key = refKey(ref);
    if (this.busy.has(key) || this.sessions.has(key) || this.stopping) return;
    this.busy.add(key);
    try {
      const lease = await this.deps.leases.acquire(ref, this.workerId, this.config.worker.leaseTtlMs);
      if (!lease) return;
      const record = await this.deps.accounts.get(ref);
      if (!record || record.disabled || this.stopping) {
        await this.deps.leases.release(lease);
        return;
      }
      const session = new AccountSession(record, lease, {
        config: this.config,
        eventLog: this.deps.eventLog,
        accounts: this.deps.accounts,
        secretBox: this.secretBox,
        imap: { config: this.config, limiter: this.limiter },
        log: this.log,
        onLeaseLost: (lost) => this.background('lease loss', () => this.onLeaseLost(lost)),
      });
      this.sessions.set(key, session);
      session.start();
    } finally {
      this.busy.delete(key);
    }
  }

  private async drop(session: AccountSession, release: boolean): Promise<void> {
    const key = refKey(session.lease);
    if (this.sessions.get(key) !== session) return;
    this.sessions.delete(key);
    await session.stop();
    if (release) await this.deps.leases.release(session.lease).catch(() => undefined);
  }

  private async renewAll(): Promise<void> {
    const ttl = this.config.worker.leaseTtlMs;
    await Promise.all(
      [...this.sessions.values()].map(async (session) => {
        const renewed = await this.deps.leases.renew(session.lease, ttl).catch(() => undefined);
        // undefined: Redis did not answer. Keep going; the fence protects the log if the lease expires.
        if (renewed === false) await this.onLeaseLost(session.lease);
      }),
    );
  }

  private async onLeaseLost(lease: Lease): Promise<void> {
    const session = this.sessions.get(refKey(lease));
    if (session?.lease.fence !== lease.fence) return;
    this.log.warn({ accountId: lease.accountId }, 'lease lost; letting the account go');
    await this.drop(session, false);
  }

  /** Reacts at once to an account created, changed or deleted through the API. */
  private async onChange(change: AccountChange): Promise<void> {
    if (this.stopping) return;
    const ref = { userId: change.userId, accountId: change.accountId };
    const session = this.sessions.get(refKey(ref));
    if (session) {
      // A new password, other mailboxes, disabled or deleted: start over from the stored record.
      await this.drop(session, true);
    }
    if (change.kind !== 'deleted' && this.sessions.size < this.config.worker.capacity) await this.claim(ref);
  }
}
