// One suite, three setups: the Redis adapters on one Redis, the same adapters on a real Redis
// Cluster (three primaries: a script or multi-key command whose keys span slots is refused there
// with CROSSSLOT, a pipeline across nodes is refused by the client, so every case that passes
// proves its commands stay in one slot), and the embedded (SQLite + memory) adapters must keep
// the same contract, case for case. The cases are in test/conformance/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createEmbeddedAdapters } from '../../src/adapters/embedded.js';
import { openDatabase } from '../../src/adapters/sqlite/database.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import type { PushSubscriptionRecord, Watermark } from '../../src/core/ports.js';
import { hashToken } from '../../src/core/tokens.js';
import type { AccountRecord, MailEvent } from '../../src/core/types.js';
import { movingPartCases } from '../conformance/moving-part-cases.js';
import { account, events, note } from '../conformance/shared.js';
import { storeCases } from '../conformance/store-cases.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';

function conformance(name: string, setup: () => Promise<{ adapters: Adapters; teardown(): Promise<void> }>) {
  describe(name, () => {
    let adapters: Adapters;
    let teardown: (() => Promise<void>) | undefined;
    before(async () => ({ adapters, teardown } = await setup()));
    after(() => teardown?.());
    storeCases(() => adapters);
    movingPartCases(() => adapters);
  });
}

const fixtures = useFixtures();
let redis: RedisServer;
conformance('Redis adapters', async () => {
  redis = await fixtures.redis();
  const adapters = createRedisAdapters({ redis: redis.url, events }, 'conformance');
  return { adapters, teardown: () => adapters.close() };
});

let cluster: RedisCluster;
conformance('Redis adapters on a Redis Cluster', async () => {
  cluster = await fixtures.redisCluster();
  const nodes = cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  const adapters = createRedisAdapters({ redis: { nodes, tls: false }, events }, 'conformance-cluster');
  return { adapters, teardown: () => adapters.close() };
});

conformance('embedded adapters (SQLite + memory)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-embedded-'));
  const adapters = createEmbeddedAdapters({ dataDir: dir, events });
  return { adapters, teardown: async () => { await adapters.close(); await rm(dir, { recursive: true, force: true }); } };
});

// The embedded store moved from better-sqlite3 to node:sqlite (December 2026). A DATA_DIR written
// by the old adapter (test/fixtures/make-better-sqlite3-store.mjs wrote the fixture) must open
// with today's and read back exactly what was written, then go on appending after it.
describe('embedded store written by better-sqlite3', () => {
  const fixture = path.join(import.meta.dirname, '../../../test/fixtures/better-sqlite3-store');

  test('is read by the node:sqlite adapter as it was written, and appends continue after it', async () => {
    const expected = JSON.parse(await readFile(path.join(fixture, 'expected.json'), 'utf8')) as {
      token: string; userId: string; identity: string; account: AccountRecord; subscription: PushSubscriptionRecord;
      watermark: { mailbox: string; value: Watermark }; appendedIds: string[]; events: MailEvent[];
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'mailpush-fixture-'));
    await cp(path.join(fixture, 'mailpush.sqlite'), path.join(dir, 'mailpush.sqlite'));
    const adapters = createEmbeddedAdapters({ dataDir: dir, events: { batchSize: 25, retentionCount: 3, retentionMs: 3650 * 86400_000 } });
    try {
      const { userId, account: record } = expected;
      assert.equal(await adapters.users.findByToken(hashToken(expected.token)), userId);
      assert.deepEqual(await adapters.accounts.listForUser(userId), [record]);
      assert.deepEqual(await adapters.accounts.findMailbox(expected.identity), { userId, accountId: record.accountId });
      const devices = await adapters.devices.list(userId);
      assert.equal(devices.length, 1, 'the schema-1 token became a device');
      assert.equal(await adapters.accounts.create(account(userId), expected.identity), 'exists');
      // The user's one token registered its subscription: the migration makes it that device's.
      assert.deepEqual(await adapters.pushSubscriptions.list(userId), [{ ...expected.subscription, deviceId: devices[0]!.id }]);
      assert.deepEqual(await adapters.eventLog.read(userId, undefined, 100), expected.events);
      assert.equal(expected.events.length, 3, 'the fixture kept three of five events');
      assert.equal(await adapters.eventLog.latestId(userId), expected.appendedIds.at(-1));
      // Retention dropped the first two: a client at the first is told to resync, one at the second is not.
      assert.equal(await adapters.eventLog.isTrimmedAfter(userId, expected.appendedIds[0]!), true);
      assert.equal(await adapters.eventLog.isTrimmedAfter(userId, expected.appendedIds[1]!), false);
      const { mailbox, value } = expected.watermark;
      assert.deepEqual(await adapters.eventLog.watermark(record, mailbox), value);

      const lease = (await adapters.leases.acquire(record, 'w1', 60_000))!;
      const next = { uidValidity: value.uidValidity, lastUid: value.lastUid + 1 };
      const result = await adapters.eventLog.append({ lease, events: [note(6)], watermark: { mailbox, expected: value, next } });
      assert.ok(result.ok);
      const after = await adapters.eventLog.read(userId, expected.appendedIds.at(-1), 10);
      assert.deepEqual(after.map((event) => event.id), result.ids);
      assert.deepEqual(await adapters.eventLog.watermark(record, mailbox), next);
    } finally {
      await adapters.close();
    }
    // The durability settings the store always had: write-ahead log, and a commit is on disk before it returns.
    const db = openDatabase(dir);
    try {
      assert.deepEqual([db.pragma('journal_mode'), db.pragma('synchronous')], ['wal', 2]);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
