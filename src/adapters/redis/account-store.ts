import type { RedisClient } from './connection.js';
import type { AccountChanges, AccountStatePatch, AccountStore } from '../../core/ports.js';
import type { AccountRecord, AccountState } from '../../core/types.js';
import type { ImapSecurity } from '../../config.js';
import { formatAccountRef, parseAccountRef, type AccountRef } from '../../core/account-ref.js';
import type { RedisKeys } from '../../keys.js';
import { claimMailbox, createAccount, updateAccount } from './scripts.js';
import { releaseMailbox } from './user-store.js';

/** The account hash, field by field. Kept flat so the worker can update state with one HSET. */
function toHash(record: AccountRecord): Record<string, string> {
  return {
    userId: record.userId,
    accountId: record.accountId,
    email: record.email,
    host: record.imap.host,
    port: String(record.imap.port),
    security: record.imap.security,
    login: record.imap.user,
    sealedPassword: record.sealedPassword,
    mailboxes: JSON.stringify(record.mailboxes),
    disabled: record.disabled ? '1' : '0',
    state: record.state,
    ...(record.lastError ? { lastError: record.lastError } : {}),
    ...(record.unseen !== undefined ? { unseen: String(record.unseen) } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.auth ? { auth: record.auth, provider: record.provider ?? '' } : {}),
    ...(record.webmailUrl ? { webmailUrl: record.webmailUrl } : {}),
  };
}

function fromHash(hash: Record<string, string>): AccountRecord | undefined {
  if (!hash.accountId || !hash.userId || !hash.sealedPassword) return undefined;
  return {
    userId: hash.userId,
    accountId: hash.accountId,
    email: hash.email ?? '',
    imap: {
      host: hash.host ?? '',
      port: Number(hash.port),
      security: (hash.security ?? 'tls') as ImapSecurity,
      user: hash.login ?? '',
    },
    sealedPassword: hash.sealedPassword,
    mailboxes: JSON.parse(hash.mailboxes ?? '["INBOX"]') as string[],
    disabled: hash.disabled === '1',
    state: (hash.state ?? 'connecting') as AccountState,
    ...(hash.lastError ? { lastError: hash.lastError } : {}),
    ...(hash.unseen !== undefined ? { unseen: Number(hash.unseen) } : {}),
    createdAt: hash.createdAt ?? '',
    updatedAt: hash.updatedAt ?? '',
    ...(hash.auth === 'oauth2' ? { auth: 'oauth2' as const, provider: hash.provider ?? '' } : {}),
    ...(hash.webmailUrl ? { webmailUrl: hash.webmailUrl } : {}),
  };
}

export class RedisAccountStore implements AccountStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async create(record: AccountRecord, identity: string): Promise<'created' | 'exists'> {
    // The gateway-wide index is claimed first (it is global, another cluster slot than the
    // account): of two registrations of one mailbox at once, exactly one gets past this line.
    const ref = formatAccountRef(record);
    if ((await claimMailbox.run(this.redis, [this.keys.mailboxIndex()], [identity, ref])) !== ref) return 'exists';
    const fields = Object.entries(toHash(record)).flat();
    const created = await createAccount.run(
      this.redis,
      [this.keys.userIdentities(record.userId), this.keys.account(record), this.keys.userAccounts(record.userId)],
      [identity, record.accountId, ...fields],
    );
    if (created !== 1) {
      await releaseMailbox(this.redis, this.keys, identity, ref);
      return 'exists';
    }
    // The registry is global (another cluster slot), so it is written after the account exists;
    // a worker that finds a registry entry without its account simply skips it.
    await this.redis.sadd(this.keys.accountRegistry(), formatAccountRef(record));
    return 'created';
  }

  async findMailbox(identity: string): Promise<AccountRef | undefined> {
    const holder = await this.redis.hget(this.keys.mailboxIndex(), identity);
    return holder ? parseAccountRef(holder) : undefined;
  }

  async get(ref: AccountRef): Promise<AccountRecord | undefined> {
    const record = fromHash(await this.redis.hgetall(this.keys.account(ref)));
    return record && record.userId === ref.userId ? record : undefined;
  }

  async listForUser(userId: string): Promise<AccountRecord[]> {
    const ids = (await this.redis.smembers(this.keys.userAccounts(userId))).sort();
    const records = await Promise.all(ids.map((accountId) => this.get({ userId, accountId })));
    return records
      .filter((r): r is AccountRecord => r !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.accountId.localeCompare(b.accountId));
  }

  async update(ref: AccountRef, changes: AccountChanges): Promise<AccountRecord | undefined> {
    const fields: Record<string, string | false> = { updatedAt: new Date().toISOString() };
    if (changes.sealedPassword !== undefined) fields.sealedPassword = changes.sealedPassword;
    if (changes.mailboxes !== undefined) fields.mailboxes = JSON.stringify(changes.mailboxes);
    if (changes.disabled !== undefined) fields.disabled = changes.disabled ? '1' : '0';
    if (changes.webmailUrl !== undefined) fields.webmailUrl = changes.webmailUrl ?? false;
    const updated = await updateAccount.run(this.redis, [this.keys.account(ref)], [JSON.stringify(fields)]);
    return updated === 1 ? this.get(ref) : undefined;
  }

  async setState(ref: AccountRef, patch: AccountStatePatch): Promise<void> {
    const fields: Record<string, string | false> = { state: patch.state, updatedAt: new Date().toISOString() };
    if (patch.lastError === null) fields.lastError = false;
    else if (patch.lastError !== undefined) fields.lastError = patch.lastError;
    if (patch.unseen !== undefined) fields.unseen = String(patch.unseen);
    await updateAccount.run(this.redis, [this.keys.account(ref)], [JSON.stringify(fields)]);
  }

  async delete(ref: AccountRef): Promise<boolean> {
    const record = await this.get(ref);
    if (!record) return false;
    const identities = this.keys.userIdentities(ref.userId);
    const owned = await this.redis.hgetall(identities);
    const mine = Object.keys(owned).filter((identity) => owned[identity] === ref.accountId);
    const tx = this.redis.multi();
    if (mine.length) tx.hdel(identities, ...mine);
    tx.del(this.keys.account(ref), this.keys.watermarks(ref), this.keys.lease(ref), this.keys.leaseFence(ref));
    tx.srem(this.keys.userAccounts(ref.userId), ref.accountId);
    await tx.exec();
    await this.redis.srem(this.keys.accountRegistry(), formatAccountRef(ref));
    for (const identity of mine) await releaseMailbox(this.redis, this.keys, identity, formatAccountRef(ref));
    return true;
  }

  async count(): Promise<number> {
    return this.redis.scard(this.keys.accountRegistry());
  }

  async scan(cursor: string): Promise<{ cursor: string; refs: AccountRef[] }> {
    const [next, members] = await this.redis.sscan(this.keys.accountRegistry(), cursor, 'COUNT', 500);
    const refs = members.map(parseAccountRef).filter((r): r is AccountRef => r !== undefined);
    return { cursor: next, refs };
  }
}
