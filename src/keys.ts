// Every Redis key and channel mailpush uses is built here, and nowhere else.
//
// Everything that belongs to one user carries the hash tag `{u:<userId>}`, so in a Redis Cluster
// all of it lives in one slot: the append script can then touch the event stream, the watermark
// and the lease of an account in one atomic step. Only the token index, the account registry and
// the control channel are global.

import type { AccountRef } from './core/account-ref.js';

export class RedisKeys {
  constructor(private readonly prefix = 'mp') {}

  private user(userId: string): string {
    return `${this.prefix}:{u:${userId}}`;
  }

  /** String: userId, keyed by the SHA-256 of a bearer token. */
  token(tokenHash: string): string {
    return `${this.prefix}:token:${tokenHash}`;
  }

  /** Hash: the user's own record (createdAt). */
  userRecord(userId: string): string {
    return `${this.user(userId)}:user`;
  }

  /** Set: ids of the user's accounts. */
  userAccounts(userId: string): string {
    return `${this.user(userId)}:accounts`;
  }

  /** Hash: mailbox identity (host|port|login) → accountId, to refuse the same mailbox twice. */
  userIdentities(userId: string): string {
    return `${this.user(userId)}:identities`;
  }

  /** Hash: one account's settings, encrypted password and live state. */
  account(ref: AccountRef): string {
    return `${this.user(ref.userId)}:acct:${ref.accountId}`;
  }

  /** Hash: mailbox path → "uidValidity:highestNotifiedUid". */
  watermarks(ref: AccountRef): string {
    return `${this.user(ref.userId)}:wm:${ref.accountId}`;
  }

  /** String: "<workerId>:<fence>" of the worker that holds the account. */
  lease(ref: AccountRef): string {
    return `${this.user(ref.userId)}:lease:${ref.accountId}`;
  }

  /** Counter: fencing tokens handed out for the account's lease. */
  leaseFence(ref: AccountRef): string {
    return `${this.user(ref.userId)}:fence:${ref.accountId}`;
  }

  /** Hash: push subscription id → JSON record. */
  pushSubscriptions(userId: string): string {
    return `${this.user(userId)}:push`;
  }

  /**
   * Sorted set: "<accountId>/<eventId>" of each event whose Web Push is not known to be queued yet,
   * scored by the event's time. Written by the append script in the same step as the event.
   */
  pendingPushes(userId: string): string {
    return `${this.user(userId)}:pushpending`;
  }

  /** Hash: SHA-256 of a push endpoint → subscription id, so one endpoint is one subscription. */
  pushEndpoints(userId: string): string {
    return `${this.user(userId)}:pushendpoints`;
  }

  /** Prefix of the push send queue (BullMQ); one hash tag, so the queue works on Redis Cluster. */
  pushQueuePrefix(): string {
    return `{${this.prefix}:push}`;
  }

  /** Stream: the user's event log. Entry ids are the public event ids. */
  events(userId: string): string {
    return `${this.user(userId)}:events`;
  }

  /** Pub/sub channel: each appended event, for live fan-out to web processes. */
  liveChannel(userId: string): string {
    return `${this.user(userId)}:live`;
  }

  /** Set: every account as "<userId>/<accountId>" (formatAccountRef), which workers scan for work. */
  accountRegistry(): string {
    return `${this.prefix}:accounts`;
  }

  /** Pub/sub channel: account created, changed or deleted, so workers react at once. */
  controlChannel(): string {
    return `${this.prefix}:control`;
  }

  /**
   * Pub/sub channel: Dovecot's delivery hints for one IMAP host and login, which only the
   * worker holding such an account listens to (so PUBLISH's answer counts the holders).
   */
  hintChannel(host: string, login: string): string {
    return `${this.prefix}:hint:${host.toLowerCase()}|${login}`;
  }

  /** Hash: workerId → JSON heartbeat of each live worker. */
  workers(): string {
    return `${this.prefix}:workers`;
  }

  /** Prefix for the registration rate limiter's counters. */
  rateLimitPrefix(): string {
    return `${this.prefix}:ratelimit:`;
  }
}
