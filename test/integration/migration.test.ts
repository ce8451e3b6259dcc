// The schema-2 migration (issue 15) on both stores, seeded the way schema 1 left data: bare
// tokens, and two users that registered the same mailbox; then a whole gateway starting on such
// data (Redis, a real Dovecot mailbox). The newer user is merged into the
// older: its devices and push subscriptions keep working, its other mailbox moves along, its
// copy of the shared mailbox goes, and the mailbox is one account gateway-wide from then on.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allAccountRefs } from '../helpers/account-refs.js';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { openDatabase } from '../../src/adapters/sqlite/database.js';
import type { PushSubscriptionRecord } from '../../src/core/ports.js';
import { hashToken, newToken } from '../../src/core/tokens.js';
import type { AccountRecord } from '../../src/core/types.js';
import { RedisKeys } from '../../src/keys.js';
import type { RedisClient } from '../../src/adapters/redis/connection.js';
import { useFixtures } from '../helpers/fixtures.js';
import { api, openReadyStream } from '../helpers/gateway.js';
import { TEST_SECRET } from '../helpers/gateway-env.js';
import { buildMessage } from '../helpers/message.js';
import { waitFor } from '../helpers/wait.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { DeviceAccess } from '../../src/roles/web/device-access.js';

const events = { batchSize: 25, retentionCount: 100, retentionMs: 7 * 86400_000 };
const fixtures = useFixtures();

/**
 * What schema 1 held: users A (older) and B sharing the "shared" mailbox; B also has "own", which
 * a third user C registered too (so C is merged along, through B).
 */
function seed() {
  const older = { userId: 'usr_older', createdAt: '2026-01-01T00:00:00.000Z', token: newToken() };
  const newer = { userId: 'usr_newer', createdAt: '2026-02-01T00:00:00.000Z', token: newToken() };
  const third = { userId: 'usr_third', createdAt: '2026-02-15T00:00:00.000Z', token: newToken() };
  const account = (userId: string, accountId: string, user: string): AccountRecord => ({
    userId, accountId, email: `${user}@example.test`, imap: { host: 'imap.example.test', port: 993, security: 'tls', user },
    sealedPassword: `v1.sealed-for-${accountId}`, mailboxes: ['INBOX'], disabled: false, state: 'idle', createdAt: '2026-03-01T00:00:00.000Z', updatedAt: '2026-03-01T00:00:00.000Z',
  });
  const accounts = [
    { record: account(older.userId, 'acc_a_shared', 'shared'), identity: 'imap.example.test|993|shared' },
    { record: account(newer.userId, 'acc_b_shared', 'shared'), identity: 'imap.example.test|993|shared' },
    { record: account(newer.userId, 'acc_b_own', 'own'), identity: 'imap.example.test|993|own' },
    { record: account(third.userId, 'acc_c_own', 'own'), identity: 'imap.example.test|993|own' },
  ];
  const subscription: PushSubscriptionRecord = {
    id: 'sub_b', userId: newer.userId, endpoint: 'https://push.example.test/b', keys: { p256dh: 'p', auth: 'a' }, expirationTime: null,
    accounts: ['acc_b_shared', 'acc_b_own'], preview: 'full', createdAt: '2026-03-01T00:00:00.000Z', updatedAt: '2026-03-01T00:00:00.000Z',
  };
  return { older, newer, third, accounts, subscription };
}

type Seed = ReturnType<typeof seed>;

/** Writes `data` the way schema 1 kept it in Redis. */
async function seedRedis(client: RedisClient, data: Seed): Promise<void> {
  const keys = new RedisKeys();
  for (const user of [data.older, data.newer, data.third]) {
    await client.hset(keys.userRecord(user.userId), 'createdAt', user.createdAt);
    await client.set(keys.token(hashToken(user.token)), user.userId);
  }
  for (const { record, identity } of data.accounts) {
    const { imap, ...rest } = record;
    await client.hset(keys.account(record), {
      userId: rest.userId, accountId: rest.accountId, email: rest.email, host: imap.host, port: String(imap.port), security: imap.security, login: imap.user,
      sealedPassword: rest.sealedPassword, mailboxes: JSON.stringify(rest.mailboxes), disabled: '0', state: rest.state, createdAt: rest.createdAt, updatedAt: rest.updatedAt,
    });
    await client.hset(keys.watermarks(record), 'INBOX', '7:42');
    await client.hset(keys.userIdentities(record.userId), identity, record.accountId);
    await client.sadd(keys.userAccounts(record.userId), record.accountId);
    await client.sadd(keys.accountRegistry(), `${record.userId}/${record.accountId}`);
  }
  await client.hset(keys.pushSubscriptions(data.newer.userId), data.subscription.id, JSON.stringify(data.subscription));
  await client.hset(keys.pushEndpoints(data.newer.userId), 'endpoint-hash-b', data.subscription.id);
}


async function assertMerged(adapters: Adapters, data: Seed): Promise<void> {
  const { older, newer, third, subscription } = data;
  const removeAtEnd: string[] = [];
  assert.deepEqual(await adapters.migrate(), { usersMerged: 2, accountsRemoved: 2, tokensConverted: 3 });
  for (const token of [older.token, newer.token, third.token]) {
    assert.equal(await adapters.users.findByToken(hashToken(token)), older.userId, 'both users\' tokens now reach the older user');
  }
  assert.deepEqual((await adapters.devices.list(older.userId)).map((d) => d.name), ['Device', 'Device', 'Device']);
  const accounts = await adapters.accounts.listForUser(older.userId);
  assert.deepEqual(accounts.map((a) => a.accountId).sort(), ['acc_a_shared', 'acc_b_own']);
  assert.equal(accounts.find((a) => a.accountId === 'acc_b_own')?.sealedPassword, 'v1.sealed-for-acc_b_own', 'the moved account keeps its id, so its sealed password still opens');
  assert.deepEqual(await adapters.accounts.findMailbox('imap.example.test|993|shared'), { userId: older.userId, accountId: 'acc_a_shared' });
  assert.deepEqual(await adapters.accounts.findMailbox('imap.example.test|993|own'), { userId: older.userId, accountId: 'acc_b_own' });
  const [moved] = await adapters.pushSubscriptions.list(older.userId);
  // Schema 1 gave each user one token, which registered the user's subscriptions: they are that device's now.
  const newerDevice = await adapters.devices.findByToken(hashToken(newer.token));
  assert.ok(newerDevice, 'the newer user\'s token is a device');
  assert.deepEqual({ ...moved, accounts: moved?.accounts.sort() }, { ...subscription, userId: older.userId, accounts: ['acc_a_shared', 'acc_b_own'], deviceId: newerDevice.id });
  // So removing that device (the phone) stops its notifications, as for any device: checked at the end.
  removeAtEnd.push(newerDevice.id);
  assert.deepEqual(await adapters.accounts.listForUser(newer.userId), []);
  assert.deepEqual(await adapters.devices.list(newer.userId), []);
  assert.deepEqual(await adapters.accounts.listForUser(third.userId), []);
  // Every account once, for the workers: one IMAP session per mailbox.
  const refs = (await allAccountRefs(adapters.accounts)).map((r) => `${r.userId}/${r.accountId}`);
  assert.deepEqual(refs.sort(), ['usr_older/acc_a_shared', 'usr_older/acc_b_own']);
  // From now on the mailbox cannot get a second account.
  const again = { ...data.accounts[1]!.record, userId: 'usr_fourth', accountId: 'acc_d' };
  assert.equal(await adapters.accounts.create(again, 'imap.example.test|993|shared'), 'exists');
  for (const deviceId of removeAtEnd.splice(0)) {
    assert.equal(await new DeviceAccess(adapters).revoke(older.userId, deviceId), true);
    assert.deepEqual(await adapters.pushSubscriptions.list(older.userId), [], 'the removed device\'s subscription went with it');
  }
}

describe('schema-2 migration', () => {
  test('Redis: merges the newer user into the older, converts tokens, builds the mailbox index; idempotent', async () => {
    const redis = await fixtures.redis();
    const data = seed();
    const adapters = createRedisAdapters({ redis: redis.url, events }, 'migration');
    try {
      await seedRedis(adapters.redis!, data);
      const client = adapters.redis!;
      const keys = new RedisKeys();
      await assertMerged(adapters, data);
      assert.deepEqual(await adapters.eventLog.watermark({ userId: data.older.userId, accountId: 'acc_b_own' }, 'INBOX'), { uidValidity: '7', lastUid: 42 }, 'watermarks move along');
      assert.deepEqual(await client.keys(`*{u:${data.newer.userId}}*`), [], 'nothing of the newer user is left');
      assert.deepEqual(await client.keys(`*{u:${data.third.userId}}*`), [], 'nor of the third');
      assert.equal(await client.get(keys.schemaVersion()), '2');
      assert.deepEqual(await adapters.migrate(), { usersMerged: 0, accountsRemoved: 0, tokensConverted: 0 }, 'a second run changes nothing');
    } finally {
      await adapters.close();
    }
  });

  test('SQLite: the same merge when the embedded store opens; idempotent', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-migration-'));
    const data = seed();
    try {
      const db = openDatabase(dir);
      for (const user of [data.older, data.newer, data.third]) {
        db.prepare('INSERT INTO users (id, created_at) VALUES (?, ?)').run(user.userId, user.createdAt);
        db.prepare('INSERT INTO tokens (hash, user_id) VALUES (?, ?)').run(hashToken(user.token), user.userId);
      }
      let seq = 0;
      for (const { record, identity } of data.accounts) {
        db.prepare('INSERT INTO accounts (user_id, id, identity, record, seq) VALUES (?, ?, ?, ?, ?)').run(record.userId, record.accountId, identity, JSON.stringify(record), ++seq);
        db.prepare('INSERT INTO watermarks (user_id, account_id, mailbox, value) VALUES (?, ?, ?, ?)').run(record.userId, record.accountId, 'INBOX', '7:42');
      }
      db.prepare('INSERT INTO push_subscriptions (user_id, id, endpoint_hash, record, seq) VALUES (?, ?, ?, ?, 1)').run(data.newer.userId, data.subscription.id, 'endpoint-hash-b', JSON.stringify(data.subscription));
      db.close();

      const adapters = createEmbeddedAdapters({ dataDir: dir, events });
      try {
        await assertMerged(adapters, data);
        assert.deepEqual(await adapters.eventLog.watermark({ userId: data.older.userId, accountId: 'acc_b_own' }, 'INBOX'), { uidValidity: '7', lastUid: 42 }, 'watermarks move along');
      } finally {
        await adapters.close();
      }
      const reopened = createEmbeddedAdapters({ dataDir: dir, events });
      try {
        assert.deepEqual(await reopened.migrate(), { usersMerged: 0, accountsRemoved: 0, tokensConverted: 0 }, 'opening again changes nothing');
        assert.equal((await reopened.devices.list(data.older.userId)).length, 2, 'three devices, less the one assertMerged removed');
      } finally {
        await reopened.close();
      }
      const check = openDatabase(dir);
      try {
        for (const table of ['users', 'tokens', 'devices', 'accounts', 'watermarks', 'push_subscriptions']) {
          const column = table === 'users' ? 'id' : 'user_id';
          const { n } = check.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?`).get(data.newer.userId) as { n: number };
          assert.equal(n, 0, `nothing of the newer user in ${table}`);
        }
      } finally {
        check.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a gateway starting on schema-1 data', () => {
  test('migrates before serving: both users\' tokens reach one user, and the shared mailbox has one IMAP session', async () => {
    const [dovecot, redis] = await Promise.all([fixtures.dovecot(), fixtures.redis()]);
    const [shared, own] = await dovecot.addUsers([`shared${Date.now()}`, `own${Date.now()}`]);
    const box = new SecretBox(TEST_SECRET);
    const data = seed();
    const real = { shared: shared!, own: own! };
    data.accounts = data.accounts.map(({ record }) => {
      const mailbox = record.imap.user === 'shared' ? real.shared : real.own;
      const imap = { host: '127.0.0.1', port: dovecot.imapPort, security: 'none' as const, user: mailbox.user };
      return {
        record: { ...record, email: mailbox.email, imap, sealedPassword: box.seal(mailbox.pass, record.accountId), state: 'connecting' as const },
        identity: `127.0.0.1|${dovecot.imapPort}|${mailbox.user.toLowerCase()}`,
      };
    });
    const seeder = createRedisAdapters({ redis: redis.url, events }, 'seed');
    try {
      await seedRedis(seeder.redis!, data);
    } finally {
      await seeder.close();
    }

    const gateway = await fixtures.gateway({ redisUrl: redis.url, imapPort: dovecot.imapPort });
    const base = gateway.url!;
    assert.ok(gateway.logs.some((l) => l.includes('data migrated to schema 2')));
    for (const token of [data.older.token, data.newer.token]) {
      const accounts = await api(base, 'GET', '/v1/accounts', { token });
      assert.equal(accounts.status, 200);
      assert.deepEqual(accounts.body.accounts.map((a: { id: string }) => a.id).sort(), ['acc_a_shared', 'acc_b_own']);
    }
    const devices = await api(base, 'GET', '/v1/devices', { token: data.newer.token });
    assert.deepEqual(devices.body.devices.map((d: { current: boolean }) => d.current).sort(), [false, false, true]);
    const state = async (id: string) => (await api(base, 'GET', `/v1/accounts/${id}`, { token: data.older.token })).body.account.state;
    await waitFor(async () => (await state('acc_a_shared')) === 'idle' && (await state('acc_b_own')) === 'idle', { timeoutMs: 15_000, what: 'both accounts idle' });
    // Mail to the shared mailbox reaches a stream of the newer user's former token, once.
    const stream = await openReadyStream(base, data.newer.token);
    await dovecot.deliver(real.shared.email, buildMessage({ from: { address: 'ann@example.test' }, to: real.shared.email, subject: 'after the merge' }));
    const event = await stream.waitFor((m) => m.type === 'mail.new', 10_000, 'mail.new');
    assert.equal(event.accountId, 'acc_a_shared');
    const log = (await dovecot.readLog()).split('\n');
    const logins = log.filter((l) => l.includes(`Login: user=<${real.shared.user}>`)).length;
    const ends = log.filter((l) => l.includes(`imap(${real.shared.user})`) && /Logged out|Disconnected/.test(l)).length;
    assert.equal(logins - ends, 1, 'one IMAP session for the shared mailbox');
    stream.close();
  });
});
