// Lua scripts run by SHA must survive a Redis that forgot them (a restart, SCRIPT FLUSH), singly
// and in the pipelines a worker uses to renew thousands of leases at once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisLeaseManager } from '../../src/adapters/redis/leases.js';
import { RedisKeys } from '../../src/keys.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let leases: RedisLeaseManager;

before(async () => {
  server = await startRedis();
  // RESP2, as every connection of the gateway's (src/adapters/redis/connection.ts; ioredis 6 defaults to RESP3).
  redis = new Redis(server.url, { lazyConnect: true, protocol: 2 });
  await redis.connect();
  leases = new RedisLeaseManager(redis, new RedisKeys('scripts'));
});

after(async () => {
  redis?.disconnect();
  await server?.cleanup();
});

test('a batch renewal after SCRIPT FLUSH loads the script again and answers for every lease', async () => {
  const held = [];
  // 30 s: 2,500 acquires one after another take over a second on a busy machine, and an expired
  // lease would (rightly) not renew. Renewing to 60 s shows in the TTL checked below.
  for (let i = 0; i < 2500; i++) held.push((await leases.acquire({ userId: 'usr_s', accountId: `acc_${i}` }, 'w1', 30_000))!);
  await leases.release(held[1234]!);
  await redis.script('FLUSH');
  const renewed = await leases.renew(held, 60_000);
  assert.equal(renewed.length, 2500, 'pages of 1,000 come back in order');
  assert.deepEqual(renewed.map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0), [1234]);
  const ttl = await redis.pttl(new RedisKeys('scripts').lease({ userId: 'usr_s', accountId: 'acc_2499' }));
  assert.ok(ttl > 50_000, `the last page was renewed too (pttl ${ttl})`);

  await redis.script('FLUSH');
  assert.ok(await leases.acquire({ userId: 'usr_s', accountId: 'acc_new' }, 'w1', 1000), 'a single script call recovers as well');
});
