// Lua scripts run by SHA must survive a Redis that forgot them (a restart, SCRIPT FLUSH), singly
// and in the pipelines a worker uses to renew thousands of leases at once.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisLeaseManager } from '../../src/adapters/redis/leases.js';
import { RedisKeys } from '../../src/keys.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let leases: RedisLeaseManager;

const fixtures = useFixtures();

before(async () => {
  server = await fixtures.redis();
  redis = await fixtures.start('ioredis client', (async () => {
    // RESP2, as every connection of the gateway's (src/adapters/redis/connection.ts; ioredis 6 defaults to RESP3).
    const client = new Redis(server.url, { lazyConnect: true, protocol: 2 });
    await client.connect();
    return client;
  })(), (client) => client.disconnect());
  leases = new RedisLeaseManager(redis, new RedisKeys('scripts'));
});

test('a batch renewal after SCRIPT FLUSH loads the script again and answers for every lease', async () => {
  const held = [];
  for (let i = 0; i < 2500; i++) held.push((await leases.acquire({ userId: 'usr_s', accountId: `acc_${i}` }, 'w1', 60_000))!);
  await leases.release(held[1234]!);
  await redis.script('FLUSH');
  // Acquired for a minute (long enough for 2,500 acquires on a slow machine), renewed for ten.
  const renewed = await leases.renew(held, 600_000);
  assert.equal(renewed.length, 2500, 'pages of 1,000 come back in order');
  assert.deepEqual(renewed.map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0), [1234]);
  const ttl = await redis.pttl(new RedisKeys('scripts').lease({ userId: 'usr_s', accountId: 'acc_2499' }));
  assert.ok(ttl > 500_000, `the last page was renewed too (pttl ${ttl})`);

  await redis.script('FLUSH');
  assert.ok(await leases.acquire({ userId: 'usr_s', accountId: 'acc_new' }, 'w1', 1000), 'a single script call recovers as well');
});
