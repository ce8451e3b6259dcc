// Users and their devices in Redis. A device is a hash under the user's hash tag; its token's
// hash points to it from the global token index ("<userId>/<deviceId>"), the one key a request
// reads before it knows the user.

import type { RedisClient } from './connection.js';
import { formatAccountRef, parseAccountRef } from '../../core/account-ref.js';
import type { DeviceRecord, DeviceStore, UserStore } from '../../core/ports.js';
import { newId } from '../../core/tokens.js';
import type { RedisKeys } from '../../keys.js';
import type { QuietHours } from '../../protocol/quiet-hours.js';
import { addDevice, releaseMailboxScript, setQuietHours, updateAccount } from './scripts.js';

const DEFAULT_DEVICE_NAME = 'Device';

function fromHash(userId: string, hash: Record<string, string>): DeviceRecord | undefined {
  if (!hash.id || !hash.tokenHash) return undefined;
  return { id: hash.id, userId, name: hash.name ?? '', tokenHash: hash.tokenHash, createdAt: hash.createdAt ?? '', lastSeenAt: hash.lastSeenAt ?? hash.createdAt ?? '' };
}

/** "<userId>/<deviceId>" from the token index. */
function parseTokenValue(value: string | null): { userId: string; deviceId: string } | undefined {
  const slash = value?.indexOf('/') ?? -1;
  if (!value || slash <= 0) return undefined;
  return { userId: value.slice(0, slash), deviceId: value.slice(slash + 1) };
}

export class RedisDeviceStore implements DeviceStore {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async add(userId: string, tokenHash: string, name: string): Promise<DeviceRecord | undefined> {
    const now = new Date().toISOString();
    const record: DeviceRecord = { id: newId('dev'), userId, name, tokenHash, createdAt: now, lastSeenAt: now };
    const fields = Object.entries({ id: record.id, name, tokenHash, createdAt: now, lastSeenAt: now }).flat();
    const added = await addDevice.run(this.redis, [this.keys.userRecord(userId), this.keys.userDevices(userId), this.keys.device(userId, record.id)], [record.id, ...fields]);
    if (added !== 1) return undefined;
    // The token index is global (another cluster slot), so it is written once the device exists.
    await this.redis.set(this.keys.token(tokenHash), `${userId}/${record.id}`);
    return record;
  }

  async findByToken(tokenHash: string): Promise<DeviceRecord | undefined> {
    const owner = parseTokenValue(await this.redis.get(this.keys.token(tokenHash)));
    if (!owner) return undefined;
    const record = fromHash(owner.userId, await this.redis.hgetall(this.keys.device(owner.userId, owner.deviceId)));
    // A device removed halfway (its hash gone, the index not yet) already counts as removed.
    return record?.tokenHash === tokenHash ? record : undefined;
  }

  async list(userId: string): Promise<DeviceRecord[]> {
    const ids = await this.redis.smembers(this.keys.userDevices(userId));
    const pipeline = this.redis.pipeline();
    ids.forEach((id) => pipeline.hgetall(this.keys.device(userId, id)));
    const replies = (await pipeline.exec()) ?? [];
    return replies
      .map(([, hash]) => fromHash(userId, (hash ?? {}) as Record<string, string>))
      .filter((r): r is DeviceRecord => r !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async rename(userId: string, deviceId: string, name: string): Promise<DeviceRecord | undefined> {
    const updated = await updateAccount.run(this.redis, [this.keys.device(userId, deviceId)], [JSON.stringify({ name })]);
    return updated === 1 ? fromHash(userId, await this.redis.hgetall(this.keys.device(userId, deviceId))) : undefined;
  }

  async touch(userId: string, deviceId: string, at: string): Promise<void> {
    // The update script never re-creates a hash, so a touch racing a removal leaves nothing behind.
    await updateAccount.run(this.redis, [this.keys.device(userId, deviceId)], [JSON.stringify({ lastSeenAt: at })]);
  }

  async delete(userId: string, deviceId: string): Promise<boolean> {
    const tokenHash = await this.redis.hget(this.keys.device(userId, deviceId), 'tokenHash');
    if (!tokenHash) return false;
    // Token first: from this moment the device's requests are refused.
    await this.redis.del(this.keys.token(tokenHash));
    const [[, removed] = []] = (await this.redis.multi()
      .srem(this.keys.userDevices(userId), deviceId)
      .del(this.keys.device(userId, deviceId))
      .hdel(this.keys.quietHours(userId), deviceId)
      .exec()) ?? [];
    return removed === 1;
  }

  async quietHours(userId: string): Promise<Map<string, QuietHours>> {
    const all = await this.redis.hgetall(this.keys.quietHours(userId));
    return new Map(Object.entries(all).map(([deviceId, json]) => [deviceId, JSON.parse(json) as QuietHours]));
  }

  async setQuietHours(userId: string, deviceId: string, quietHours: QuietHours): Promise<boolean> {
    const saved = await setQuietHours.run(this.redis, [this.keys.device(userId, deviceId), this.keys.quietHours(userId)], [deviceId, JSON.stringify(quietHours)]);
    return saved === 1;
  }
}

export class RedisUserStore implements UserStore {
  private readonly devices: RedisDeviceStore;

  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {
    this.devices = new RedisDeviceStore(redis, keys);
  }

  async create(tokenHash: string, deviceName = DEFAULT_DEVICE_NAME): Promise<string> {
    const userId = newId('usr');
    await this.redis.hset(this.keys.userRecord(userId), 'createdAt', new Date().toISOString());
    await this.devices.add(userId, tokenHash, deviceName);
    return userId;
  }

  async findByToken(tokenHash: string): Promise<string | undefined> {
    return (await this.devices.findByToken(tokenHash))?.userId;
  }

  async exists(userId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.userRecord(userId))) === 1;
  }

  async delete(userId: string): Promise<boolean> {
    const { redis, keys } = this;
    if (!(await redis.exists(keys.userRecord(userId)))) return false;
    // Global keys first, tokens before anything: the user's requests stop at the first step.
    const deviceIds = await redis.smembers(keys.userDevices(userId));
    for (const deviceId of deviceIds) {
      const tokenHash = await redis.hget(keys.device(userId, deviceId), 'tokenHash');
      // Only a token that still names this user (a merge may have handed it to another).
      if (tokenHash && (await redis.get(keys.token(tokenHash)))?.startsWith(`${userId}/`)) await redis.del(keys.token(tokenHash));
    }
    const pairings = await redis.smembers(keys.userPairings(userId));
    // One DEL each: pairing keys are global, each in a slot of its own on a Redis Cluster.
    await Promise.all(pairings.map((hash) => redis.del(keys.pairing(hash))));
    const identities = await redis.hgetall(keys.userIdentities(userId));
    for (const [identity, accountId] of Object.entries(identities)) {
      await releaseMailbox(redis, keys, identity, formatAccountRef({ userId, accountId }));
    }
    const accountIds = await redis.smembers(keys.userAccounts(userId));
    if (accountIds.length) await redis.srem(keys.accountRegistry(), ...accountIds.map((accountId) => formatAccountRef({ userId, accountId })));
    // Then everything under the user's hash tag, in one slot, so one command.
    await redis.del(...keys.allUserKeys(userId, accountIds, deviceIds));
    return true;
  }
}

/** Removes a mailbox identity from the global index if it still names this account. */
export async function releaseMailbox(redis: RedisClient, keys: RedisKeys, identity: string, ref: string): Promise<void> {
  if (!parseAccountRef(ref)) return;
  await releaseMailboxScript.run(redis, [keys.mailboxIndex()], [identity, ref]);
}
