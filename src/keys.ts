// Every Redis key and channel mailpush uses is built here, and nowhere else.
//
// Everything that belongs to one user carries the hash tag `{u:<userId>}`, so in a Redis Cluster
// all of it lives in one slot: the append script can then touch the event stream, the watermark
// and the lease of an account in one atomic step. Only the token index, the account registry, the
// mailbox index, pairing codes, the schema version and the pub/sub channels are global.

import type { AccountRef } from './core/account-ref.js';

export class RedisKeys {
  constructor(private readonly prefix = 'mp') {}

  private user(userId: string): string {
    return `${this.prefix}:{u:${userId}}`;
  }

  /**
   * String: "<userId>/<deviceId>", keyed by the SHA-256 of a bearer token. Global (it is looked
   * up before the user is known). Before schema 2 the value was the bare userId.
   */
  token(tokenHash: string): string {
    return `${this.prefix}:token:${tokenHash}`;
  }

  /** Set: ids of the user's devices. */
  userDevices(userId: string): string {
    return `${this.user(userId)}:devices`;
  }

  /** Hash: device id → JSON quiet hours (src/protocol/quiet-hours.ts), for the devices that set them. */
  quietHours(userId: string): string {
    return `${this.user(userId)}:quiethours`;
  }

  /** Hash: one device (id, name, tokenHash, createdAt, lastSeenAt). */
  device(userId: string, deviceId: string): string {
    return `${this.user(userId)}:dev:${deviceId}`;
  }

  /** Set: hashes of the user's unexpired pairing codes, so deleting the user finds them. */
  userPairings(userId: string): string {
    return `${this.user(userId)}:pairings`;
  }

  /** String with a TTL: the userId a pairing code signs in to, keyed by the code's SHA-256. Global. */
  pairing(codeHash: string): string {
    return `${this.prefix}:pairing:${codeHash}`;
  }

  /**
   * Hash: mailbox identity (host|port|login) → "<userId>/<accountId>" of the one account that
   * watches it, gateway-wide. Global; each user's own identities hash mirrors its share.
   */
  mailboxIndex(): string {
    return `${this.prefix}:mailboxes`;
  }

  /** Pub/sub channel: devices removed, so web processes close their streams (JSON DeviceRevocation). */
  revocationChannel(): string {
    return `${this.prefix}:revocations`;
  }

  /** String: the data layout's version; the start-up migration moves it to the current one. */
  schemaVersion(): string {
    return `${this.prefix}:schema`;
  }

  /** String with a TTL: held by the one process running the start-up migration. */
  migrationLock(): string {
    return `${this.prefix}:migrating`;
  }

  /**
   * Every key of one user, given its account and device ids: what deleting the user removes. A
   * new per-user key belongs in this list too (the deletion tests SCAN the user's hash tag).
   */
  allUserKeys(userId: string, accountIds: readonly string[], deviceIds: readonly string[]): string[] {
    const accounts = accountIds.flatMap((accountId) => {
      const ref = { userId, accountId };
      return [this.account(ref), this.watermarks(ref), this.lease(ref), this.leaseFence(ref)];
    });
    return [
      this.userRecord(userId), this.userAccounts(userId), this.userIdentities(userId), this.userDevices(userId), this.userPairings(userId), this.quietHours(userId),
      this.pushSubscriptions(userId), this.pendingPushes(userId), this.pushEndpoints(userId), this.events(userId),
      ...accounts, ...deviceIds.map((deviceId) => this.device(userId, deviceId)),
    ];
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

  /**
   * Pub/sub channel: commands for one account (mark read, delete, read a message), which only the
   * worker holding it listens to. Under the user's hash tag, so on a cluster it is sharded with the user.
   */
  mailboxCommandChannel(userId: string, accountId: string): string {
    return `${this.user(userId)}:cmd:${accountId}`;
  }

  /** Pub/sub channel: the answers to one web process's commands (its random instance id). */
  mailboxReplyChannel(instanceId: string): string {
    return `${this.prefix}:cmd-reply:${instanceId}`;
  }

  /** Hash: workerId → JSON heartbeat of each live worker. */
  workers(): string {
    return `${this.prefix}:workers`;
  }

  /** String with a TTL: a pending OAuth sign-in or its handoff (JSON), keyed by the code's SHA-256. Global. */
  oauthFlow(kind: string, keyHash: string): string {
    return `${this.prefix}:oauth:${kind}:${keyHash}`;
  }

  /** Counter with a TTL: attempts of one kind from one client (pairing: wrong codes per address; mailbox-login: checks per mailbox). */
  attempts(kind: string, client: string): string {
    return `${this.prefix}:attempts:${kind}:${client}`;
  }

  /** Prefix for the registration rate limiter's counters. */
  rateLimitPrefix(): string {
    return `${this.prefix}:ratelimit:`;
  }
}
