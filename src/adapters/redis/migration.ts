// Schema 2 of the Redis data, applied at start-up by whichever process gets there first (the
// others wait for it): every bearer token becomes a device, a mailbox that two users registered
// becomes one account of the older user, and the gateway-wide mailbox index is built.
//
// Why merge rather than drop the newer user's account: both users' devices belong to the person
// who knows that mailbox's password, and after the merge all of them keep working (same tokens,
// same push subscriptions) with one IMAP session instead of two. The newer user's own event log
// is dropped; its devices continue on the older user's log.
//
// A start-up migration rather than a `mailpush migrate` command: every process needs schema 2 to
// serve at all (a bare token would be refused), so there is no safe moment to forget the command.

import { isCluster, type RedisClient } from './connection.js';
import type { Logger } from 'pino';
import { formatAccountRef, parseAccountRef } from '../../core/account-ref.js';
import type { PushSubscriptionRecord } from '../../core/ports.js';
import { newId } from '../../core/tokens.js';
import type { RedisKeys } from '../../keys.js';
import type { MigrationReport } from '../adapters.js';
import { RedisUserStore } from './user-store.js';

export const REDIS_SCHEMA_VERSION = 2;
const LOCK_TTL_MS = 120_000;

export async function migrateRedis(redis: RedisClient, keys: RedisKeys, log?: Logger): Promise<MigrationReport> {
  const report: MigrationReport = { usersMerged: 0, accountsRemoved: 0, tokensConverted: 0 };
  const current = async () => Number((await redis.get(keys.schemaVersion())) ?? 1);
  if ((await current()) >= REDIS_SCHEMA_VERSION) return report;
  const lock = newId('mig');
  const deadline = Date.now() + LOCK_TTL_MS;
  while ((await redis.set(keys.migrationLock(), lock, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
    // Another process migrates: wait for it to finish (or for its lock to expire, if it died).
    if ((await current()) >= REDIS_SCHEMA_VERSION) return report;
    if (Date.now() > deadline) throw new Error('waited 2 minutes for another process to migrate the data');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    if ((await current()) >= REDIS_SCHEMA_VERSION) return report;
    // A big store takes a while: the lock is extended as the work goes on, so nobody else starts.
    const keepLock = async () => {
      await redis.pexpire(keys.migrationLock(), LOCK_TTL_MS);
    };
    report.tokensConverted = await convertTokens(redis, keys, keepLock);
    await mergeSharedMailboxes(redis, keys, report, keepLock);
    await redis.set(keys.schemaVersion(), String(REDIS_SCHEMA_VERSION));
    log?.info({ ...report }, 'data migrated to schema 2');
    return report;
  } finally {
    if ((await redis.get(keys.migrationLock())) === lock) await redis.del(keys.migrationLock());
  }
}

/** Every key matching `pattern`: on a Redis Cluster, SCAN sees one node's keys, so every primary is scanned. */
async function* scanKeys(redis: RedisClient, pattern: string): AsyncGenerator<string> {
  for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      yield* found;
    } while (cursor !== '0');
  }
}

/**
 * HGETALL of many users' hashes in one go: a pipeline on one Redis; on a Redis Cluster (where a
 * pipeline may only hold one node's keys) separate commands that auto-pipelining batches per node.
 */
async function hgetallMany(redis: RedisClient, keys: string[]): Promise<Array<Record<string, string>>> {
  if (isCluster(redis)) return Promise.all(keys.map((key) => redis.hgetall(key)));
  const pipeline = redis.pipeline();
  keys.forEach((key) => pipeline.hgetall(key));
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, hash]) => {
    if (error) throw error;
    return (hash ?? {}) as Record<string, string>;
  });
}

/**
 * Schema 1's bare tokens (value: the user id) → one device each, named "Device". Schema 1 gave a
 * user one token, at registration, so a user's push subscriptions were registered with it: they
 * become that device's, and removing the device stops them too (a removed phone must not keep
 * getting notifications). A user with several tokens (none was ever made) keeps them unowned.
 */
async function convertTokens(redis: RedisClient, keys: RedisKeys, keepLock: () => Promise<void>): Promise<number> {
  let converted = 0;
  const devicesByUser = new Map<string, string[]>();
  for await (const key of scanKeys(redis, keys.token('*'))) {
    const userId = await redis.get(key);
    if (!userId || userId.includes('/')) continue;
    const createdAt = (await redis.hget(keys.userRecord(userId), 'createdAt')) ?? new Date().toISOString();
    const deviceId = newId('dev');
    const tokenHash = key.slice(keys.token('').length);
    await redis.multi()
      .hset(keys.device(userId, deviceId), { id: deviceId, name: 'Device', tokenHash, createdAt, lastSeenAt: createdAt })
      .sadd(keys.userDevices(userId), deviceId)
      .exec();
    await redis.set(key, `${userId}/${deviceId}`);
    devicesByUser.set(userId, [...(devicesByUser.get(userId) ?? []), deviceId]);
    converted += 1;
    if (converted % 500 === 0) await keepLock();
  }
  for (const [userId, [deviceId, ...more]] of devicesByUser) {
    if (!deviceId || more.length > 0) continue;
    const subscriptions = await redis.hgetall(keys.pushSubscriptions(userId));
    for (const [id, json] of Object.entries(subscriptions)) {
      const record = JSON.parse(json) as PushSubscriptionRecord;
      if (!record.deviceId) await redis.hset(keys.pushSubscriptions(userId), id, JSON.stringify({ ...record, deviceId }));
    }
  }
  return converted;
}

interface Holder {
  userId: string;
  accountId: string;
}

/** Every account's mailbox identity, from the users' own identity hashes (pipelined, 500 users a trip). */
async function holdersByIdentity(redis: RedisClient, keys: RedisKeys): Promise<Map<string, Holder[]>> {
  const users = new Set<string>();
  let cursor = '0';
  do {
    const [next, members] = await redis.sscan(keys.accountRegistry(), cursor, 'COUNT', 1000);
    cursor = next;
    for (const member of members) {
      const ref = parseAccountRef(member);
      if (ref) users.add(ref.userId);
    }
  } while (cursor !== '0');
  const byIdentity = new Map<string, Holder[]>();
  const all = [...users];
  for (let i = 0; i < all.length; i += 500) {
    const batch = all.slice(i, i + 500);
    const replies = await hgetallMany(redis, batch.map((userId) => keys.userIdentities(userId)));
    batch.forEach((userId, j) => {
      for (const [identity, accountId] of Object.entries(replies[j] ?? {})) {
        byIdentity.set(identity, [...(byIdentity.get(identity) ?? []), { userId, accountId }]);
      }
    });
  }
  return byIdentity;
}

/**
 * Users linked by a shared mailbox (also through a third: A and B share one, B and C another)
 * form a group; each group is merged into its oldest user. One read of every identity before and
 * one after, however many merges, so the migration stays linear in the number of users.
 */
async function mergeSharedMailboxes(redis: RedisClient, keys: RedisKeys, report: MigrationReport, keepLock: () => Promise<void>): Promise<void> {
  const parent = new Map<string, string>();
  const root = (user: string): string => {
    let r = user;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(user, r);
    return r;
  };
  for (const holders of (await holdersByIdentity(redis, keys)).values()) {
    for (const { userId } of holders) if (!parent.has(userId)) parent.set(userId, userId);
    for (const { userId } of holders.slice(1)) parent.set(root(userId), root(holders[0]!.userId));
  }
  const groups = new Map<string, string[]>();
  for (const user of parent.keys()) groups.set(root(user), [...(groups.get(root(user)) ?? []), user]);
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const created = await Promise.all(members.map(async (userId) => (await redis.hget(keys.userRecord(userId), 'createdAt')) ?? ''));
    const [survivor, ...others] = members
      .map((userId, i) => ({ userId, createdAt: created[i]! }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.userId.localeCompare(b.userId));
    for (const other of others) {
      report.accountsRemoved += await mergeUser(redis, keys, other.userId, survivor!.userId);
      report.usersMerged += 1;
      await keepLock();
    }
  }
  // No mailbox is shared any more: index each one under its single account.
  for (const [identity, [holder]] of await holdersByIdentity(redis, keys)) await redis.hsetnx(keys.mailboxIndex(), identity, formatAccountRef(holder!));
}

/** Moves everything of `from` into `into`; returns how many of its accounts were duplicates and went. */
async function mergeUser(redis: RedisClient, keys: RedisKeys, from: string, into: string): Promise<number> {
  let removed = 0;
  const accountMap = new Map<string, string>();
  const intoIdentities = await redis.hgetall(keys.userIdentities(into));
  for (const [identity, accountId] of Object.entries(await redis.hgetall(keys.userIdentities(from)))) {
    const fromRef = { userId: from, accountId };
    const kept = intoIdentities[identity];
    if (kept) {
      accountMap.set(accountId, kept);
      removed += 1;
    } else {
      // The sealed password is bound to the account id, which stays: it still opens.
      const toRef = { userId: into, accountId };
      const account = await redis.hgetall(keys.account(fromRef));
      const watermarks = await redis.hgetall(keys.watermarks(fromRef));
      const tx = redis.multi().hset(keys.account(toRef), { ...account, userId: into });
      if (Object.keys(watermarks).length) tx.hset(keys.watermarks(toRef), watermarks);
      await tx.hset(keys.userIdentities(into), identity, accountId).sadd(keys.userAccounts(into), accountId).exec();
      await redis.sadd(keys.accountRegistry(), formatAccountRef(toRef));
      accountMap.set(accountId, accountId);
    }
    await redis.srem(keys.accountRegistry(), formatAccountRef(fromRef));
  }
  for (const deviceId of await redis.smembers(keys.userDevices(from))) {
    const device = await redis.hgetall(keys.device(from, deviceId));
    if (!device.tokenHash) continue;
    await redis.multi().hset(keys.device(into, deviceId), device).sadd(keys.userDevices(into), deviceId).exec();
    await redis.set(keys.token(device.tokenHash), `${into}/${deviceId}`);
  }
  const intoEndpoints = await redis.hgetall(keys.pushEndpoints(into));
  const fromEndpoints = await redis.hgetall(keys.pushEndpoints(from));
  const fromSubscriptions = await redis.hgetall(keys.pushSubscriptions(from));
  for (const [endpointHash, id] of Object.entries(fromEndpoints)) {
    const json = fromSubscriptions[id];
    if (!json || intoEndpoints[endpointHash]) continue; // the same browser subscribed to both: the older user's stays
    const record = JSON.parse(json) as PushSubscriptionRecord;
    const moved = { ...record, userId: into, accounts: [...new Set(record.accounts.map((a) => accountMap.get(a) ?? a))] };
    await redis.multi().hset(keys.pushSubscriptions(into), id, JSON.stringify(moved)).hset(keys.pushEndpoints(into), endpointHash, id).exec();
  }
  // What is left of `from` goes as a whole; its devices' tokens now name `into`, so they stay.
  await new RedisUserStore(redis, keys).delete(from);
  return removed;
}
