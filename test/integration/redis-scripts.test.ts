// Lua scripts run by SHA must survive a Redis that forgot them (a restart, SCRIPT FLUSH), singly,
// in the pipelines a worker uses to renew thousands of leases at once, and in the append that waits
// for replicas (REDIS_WAIT_REPLICAS).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisEventLog } from '../../src/adapters/redis/event-log.js';
import { RedisLeaseManager } from '../../src/adapters/redis/leases.js';
import type { NewEvent } from '../../src/core/types.js';
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

test('a renewal of the same leases again reuses nothing stale: a lease taken over is reported lost, a lease swapped in is renewed', async () => {
  const keys = new RedisKeys('scripts');
  const ref = (i: number) => ({ userId: 'usr_again', accountId: `acc_${i}` });
  const [a, b, c] = await Promise.all([0, 1, 2].map(async (i) => (await leases.acquire(ref(i), 'w1', 60_000))!));
  assert.deepEqual(await leases.renew([a!, b!], 600_000), [true, true]);
  // Another worker takes b after it expired: the same two leases renewed again must say so.
  await redis.del(keys.lease(ref(1)));
  const taken = (await leases.acquire(ref(1), 'w2', 60_000))!;
  assert.deepEqual(await leases.renew([a!, b!], 600_000), [true, false]);
  assert.ok((await redis.pttl(keys.lease(ref(1)))) <= 60_000, 'the other worker\'s lease was not extended');
  // The worker let b go; its page now holds c in b's place.
  assert.deepEqual(await leases.renew([a!, c!], 600_000), [true, true]);
  assert.ok((await redis.pttl(keys.lease(ref(2)))) > 500_000, 'the lease swapped in was renewed');
  assert.equal(await leases.holder(ref(1)), taken.workerId);
});

test('an append that must WAIT for a replica Redis does not have still stands, loads its forgotten script, warns once and stops waiting for a while', async () => {
  const keys = new RedisKeys('scripts-wait');
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const timeoutMs = 1500;
  const eventLog = new RedisEventLog(redis, keys, { maxEvents: 100, maxAgeMs: 86400_000 }, { replicas: 1, timeoutMs }, log);
  const lease = (await new RedisLeaseManager(redis, keys).acquire({ userId: 'usr_w', accountId: 'acc_w' }, 'w1', 60_000))!;
  const event = (uid: number): NewEvent => ({ type: 'mail.flags', accountId: 'acc_w', mailbox: 'INBOX', time: new Date().toISOString(), data: { uid, seen: true, flags: ['\\Seen'], unseen: 0 } });
  await redis.script('FLUSH');

  const started = Date.now();
  const first = await eventLog.append({ lease, events: [event(1)] });
  assert.ok(Date.now() - started >= timeoutMs - 50, 'this Redis has no replica: the WAIT ran out');
  assert.equal(first.ok, true, 'the append stands');
  const second = Date.now();
  assert.equal((await eventLog.append({ lease, events: [event(2)] })).ok, true);
  assert.ok(Date.now() - second < timeoutMs, 'the next append does not wait again');
  assert.deepEqual((await eventLog.read('usr_w', undefined, 10)).map((e) => (e.data as { uid: number }).uid), [1, 2]);
  assert.deepEqual(lines.filter((line) => line.level >= 40).length, 1, 'one warning for the episode');
});
