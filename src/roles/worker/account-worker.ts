// The worker role: claims accounts through leases, runs a session for each one it holds, and lets
// go cleanly. Leases make sure that however many workers run, each account has exactly one holder;
// the fence inside each lease keeps a worker that lost its lease from appending anything.
//
// Sharing is fair without a coordinator: every worker announces itself with a heartbeat, reads how
// many workers are alive and how many accounts exist, and aims for its share. A worker above its
// share logs out of the surplus and releases it; one below claims whatever is free.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Adapters } from '../../adapters/adapters.js';
import type { Config } from '../../config.js';
import type { AccountChange, ControlMessage, Lease } from '../../core/ports.js';
import { SecretBox } from '../../core/secret-box.js';
import { HostLimiter } from '../../imap/host-limiter.js';
import { formatAccountRef, type AccountRef } from '../../core/account-ref.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { PushHandoff } from '../../push/push-handoff.js';
import { AccountSession } from './account-session.js';

type Deps = Pick<Adapters, 'accounts' | 'eventLog' | 'leases' | 'control' | 'workers'> & Partial<Pick<Adapters, 'hints' | 'mailboxCommands'>> & {
  /**
   * Queues Web Push after each append, and the pushes a previous holder of an account left
   * pending in the outbox; absent when push is off.
   */
  pushes?: PushHandoff;
  /**
   * Caps logins per IMAP host; `mailpush all` shares one with the API's login checks. By
   * default one of its own, of IMAP_CONNECT_CONCURRENCY.
   */
  limiter?: HostLimiter;
};

/**
 * Accounts claimed at once while scanning. Each claim that succeeds adds one session, so a batch
 * no larger than what is left of the share never overshoots it.
 */
const CLAIM_BATCH = 50;

export class AccountWorker {
  readonly workerId = `wrk_${randomBytes(6).toString('hex')}`;
  readonly limiter: HostLimiter;
  private readonly startedAt = new Date().toISOString();
  private readonly sessions = new Map<string, AccountSession>();
  /** Accounts being claimed or released right now, so two paths never race on one account. */
  private readonly busy = new Set<string>();
  private readonly secretBox: SecretBox;
  private renewTimer: NodeJS.Timeout | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private scanning: Promise<void> | undefined;
  /** Work started by timers and messages; stop() waits for it, and its errors are logged here. */
  private readonly inFlight = new Set<Promise<void>>();

  /** Last time the heartbeat and every lease renewal got an answer from storage. */
  private renewedAt = 0;

  constructor(
    private readonly deps: Deps,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics?: GatewayMetrics,
  ) {
    this.limiter = deps.limiter ?? new HostLimiter(config.imap.connectConcurrency);
    this.secretBox = new SecretBox(config.secret);
    metrics?.provide({ accountStates: () => [...this.sessions.values()].map((session) => session.state) });
  }

  /**
   * True while this worker's heartbeat and leases are current: storage answered a renewal within
   * the lease time. A worker that cannot renew will lose its accounts to others; it is not ready.
   */
  leasesCurrent(): boolean {
    return !this.stopping && Date.now() - this.renewedAt < this.config.worker.leaseTtlMs;
  }

  async start(): Promise<void> {
    await this.deps.control.subscribe((message) => this.background('control message', () => this.onControl(message)));
    // An append the storage acknowledged and then lost (a Redis primary died before replicating
    // it) took its watermark move along: fetching again from the stored watermark redoes it.
    this.deps.eventLog.onWritesMayBeLost?.(() => {
      this.log.info({ accounts: this.sessions.size }, 'storage may have lost recent appends; re-reading watermarks');
      for (const session of this.sessions.values()) session.recheck();
    });
    const ttl = this.config.worker.leaseTtlMs;
    await this.heartbeat();
    this.renewedAt = Date.now();
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
    const held = this.sessions.size;
    await Promise.all([...this.sessions.values()].map((session) => this.drop(session, true)));
    await this.deps.workers.remove(this.workerId).catch(() => undefined);
    if (held) await this.deps.control.publish({ kind: 'rebalance', from: this.workerId }).catch(() => undefined);
    this.log.info({ workerId: this.workerId, released: held }, 'worker stopped');
  }

  heldAccounts(): AccountRef[] {
    return [...this.sessions.values()].map((s) => ({ userId: s.lease.userId, accountId: s.lease.accountId }));
  }

  private background(what: string, task: () => Promise<void>): void {
    const running = task()
      .catch((error: unknown) => this.log.warn({ err: (error as Error).message }, `${what} failed`))
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  private heartbeat(): Promise<void> {
    return this.deps.workers.heartbeat({
      workerId: this.workerId,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      accounts: this.sessions.size,
      capacity: this.config.worker.capacity,
      seenAt: Date.now(),
    });
  }

  /** How many accounts this worker should hold: an even split among live workers, capped. */
  private async fairShare(): Promise<number> {
    const [workers, total] = await Promise.all([
      this.deps.workers.live(this.config.worker.leaseTtlMs * 2),
      this.deps.accounts.count(),
    ]);
    const count = Math.max(1, workers.filter((w) => w.workerId !== this.workerId).length + 1);
    return Math.min(this.config.worker.capacity, Math.ceil(total / count));
  }

  private scan(): Promise<void> {
    // Timers, rebalance requests and start() may all ask at once: one scan at a time is enough.
    this.scanning ??= this.scanOnce().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    if (this.stopping) return;
    const share = await this.fairShare();
    let cursor = '0';
    do {
      const page = await this.deps.accounts.scan(cursor);
      cursor = page.cursor;
      const unheld = page.refs.filter((ref) => !this.sessions.has(formatAccountRef(ref)));
      // Claimed CLAIM_BATCH at a time: their leases and records are asked for together, in one
      // write to storage each, not a round trip each (a page of 500 took 1,000 of them).
      for (let at = 0; at < unheld.length && !this.stopping && this.sessions.size < share; ) {
        const batch = unheld.slice(at, at + Math.min(CLAIM_BATCH, share - this.sessions.size));
        at += batch.length;
        await Promise.all(batch.map((ref) => this.claim(ref)));
      }
    } while (cursor !== '0' && this.sessions.size < share && !this.stopping);
    await this.shed(this.sessions.size - share);
  }

  /** Hands accounts over to other workers: log out, release the lease, tell them. */
  private async shed(surplus: number): Promise<void> {
    if (surplus <= 0 || this.stopping) return;
    // The newest sessions go first: the longest-held connections stay where they are.
    const surplusSessions = [...this.sessions.values()].slice(-surplus);
    await Promise.all(surplusSessions.map((session) => this.drop(session, true)));
    this.log.info({ released: surplusSessions.length }, 'handed accounts over to other workers');
    await this.deps.control.publish({ kind: 'rebalance', from: this.workerId });
  }

  private async claim(ref: AccountRef): Promise<void> {
    const key = formatAccountRef(ref);
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
      // Before the session appends anything, so a push of ours is never mistaken for a leftover.
      await this.deps.pushes?.recover(lease).catch((error: unknown) => {
        this.log.warn({ accountId: ref.accountId, err: (error as Error).message }, 'could not recover pending pushes');
      });
      const session = new AccountSession(record, lease, {
        config: this.config,
        eventLog: this.deps.eventLog,
        ...(this.deps.pushes ? { pushes: this.deps.pushes } : {}),
        ...(this.deps.hints ? { hints: this.deps.hints } : {}),
        ...(this.deps.mailboxCommands ? { mailboxCommands: this.deps.mailboxCommands } : {}),
        accounts: this.deps.accounts,
        secretBox: this.secretBox,
        imap: { config: this.config, limiter: this.limiter },
        log: this.log,
        onLeaseLost: (lost) => this.background('lease loss', () => this.onLeaseLost(lost)),
        ...(this.metrics ? { metrics: this.metrics } : {}),
        oauthProviders: this.config.oauth.providers,
        onCredentialsChanged: () => this.background('token refresh', () => this.onAccountChange({ kind: 'updated', ...ref })),
      });
      this.sessions.set(key, session);
      session.start();
    } finally {
      this.busy.delete(key);
    }
  }

  private async drop(session: AccountSession, release: boolean): Promise<void> {
    const key = formatAccountRef(session.lease);
    if (this.sessions.get(key) !== session) return;
    this.sessions.delete(key);
    await session.stop();
    if (release) await this.deps.leases.release(session.lease).catch(() => undefined);
  }

  private async renewAll(): Promise<void> {
    const startedAt = Date.now();
    const leases = [...this.sessions.values()].map((session) => session.lease);
    const [heartbeat, renewed] = await Promise.allSettled([this.heartbeat(), this.deps.leases.renew(leases, this.config.worker.leaseTtlMs)]);
    // A renewal storage did not answer: keep going; the fence protects the log if leases expire.
    if (renewed.status === 'fulfilled') {
      // Only the lost ones: a promise per held lease every few seconds was garbage for nothing.
      const lost = leases.filter((_, i) => !renewed.value[i]);
      if (lost.length) await Promise.all(lost.map((lease) => this.onLeaseLost(lease)));
    }
    if (heartbeat.status === 'rejected') throw heartbeat.reason; // logged by background()
    if (renewed.status === 'fulfilled') this.renewedAt = startedAt;
  }

  private async onLeaseLost(lease: Lease): Promise<void> {
    const session = this.sessions.get(formatAccountRef(lease));
    if (session?.lease.fence !== lease.fence) return;
    this.log.warn({ accountId: lease.accountId }, 'lease lost; letting the account go');
    await this.drop(session, false);
  }

  private async onControl(message: ControlMessage): Promise<void> {
    if (this.stopping) return;
    if (message.kind === 'rebalance') {
      if (message.from !== this.workerId) await this.scan();
      return;
    }
    await this.onAccountChange(message);
  }

  /** Reacts at once to an account created, changed or deleted through the API. */
  private async onAccountChange(change: AccountChange): Promise<void> {
    const ref = { userId: change.userId, accountId: change.accountId };
    const session = this.sessions.get(formatAccountRef(ref));
    if (session) {
      // A new password, other mailboxes, disabled or deleted: start over from the stored record.
      await this.drop(session, true);
      if (change.kind === 'deleted') await session.optOutOfDovecotPush();
    }
    if (change.kind !== 'deleted' && this.sessions.size < (await this.fairShare())) await this.claim(ref);
  }
}
