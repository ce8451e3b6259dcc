// The live wire format's Lua half (LIVE_MESSAGE_LUA) run in a real Redis, read back with the
// TypeScript decoder: the bytes the append script publishes are the ones liveMessage describes and
// parseLiveMessage reads, and a web process forwards the event's JSON exactly as the stream keeps it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { LIVE_MESSAGE_LUA, liveEventArgs, liveMessage, parseLiveMessage } from '../../src/adapters/redis/live-wire.js';
import type { LiveEvent } from '../../src/core/live-event.js';
import type { NewEvent } from '../../src/core/types.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let adapters: Adapters;
const fixtures = useFixtures();

before(async () => {
  server = await fixtures.redis();
  redis = new Redis(server.url, { lazyConnect: true });
  await redis.connect();
  adapters = createRedisAdapters({ redis: server.url, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } }, 'test', { prefix: 'wire' });
});

after(async () => {
  await adapters?.close();
  redis?.disconnect();
});

const time = '2026-11-29T03:00:00.123Z';
const samples: NewEvent[] = [
  {
    type: 'mail.new', accountId: 'acc_1', mailbox: 'Ünïcode\nbox "quoted"', time,
    data: { uid: 4, uidValidity: '7', messageId: '<a@b>', from: { name: 'Zoë \\ 🎉', address: 'z@example.test' }, subject: 'línea\nnueva\u2028 🎉', date: null, snippet: 'x\u0000y', unseen: 2, catchUp: false },
  },
  {
    type: 'mail.new', accountId: 'acc_1', mailbox: 'INBOX', time,
    data: { uid: 5, uidValidity: '7', messageId: null, from: { name: '', address: '' }, subject: '', date: null, snippet: null, unseen: 3, catchUp: true },
  },
  { type: 'mail.batch', accountId: 'acc_1', mailbox: 'INBOX', time, data: { count: 300, firstUid: 6, lastUid: 305, unseen: 303, catchUp: true } },
  { type: 'account.state', accountId: 'acc_1', mailbox: null, time, data: { state: 'idle' } },
];

test('the Lua fragment builds, byte for byte, what liveMessage builds, and the decoder reads it', async () => {
  const script = `${LIVE_MESSAGE_LUA}\nreturn liveMessage(ARGV[1], ARGV[2], ARGV[3])`;
  for (const event of samples) {
    const [header, fields] = liveEventArgs(event);
    const id = '1795921200200-17';
    const fromLua = (await redis.callBuffer('EVAL', script, 0, header, id, fields)) as Buffer;
    assert.deepEqual(fromLua, Buffer.from(liveMessage(header, id, fields)), event.type);
    const parsed = parseLiveMessage(fromLua)!;
    const isCatchUp = event.type === 'mail.new' && (event as NewEvent<'mail.new'>).data.catchUp;
    assert.deepEqual([parsed.id, parsed.type, parsed.time, parsed.catchUp], [id, event.type, Date.parse(time), isCatchUp]);
    assert.deepEqual(Buffer.from(parsed.json), Buffer.from(JSON.stringify({ id, ...event })));
  }
});

test('the append script publishes each event so that a web process forwards exactly the JSON the stream keeps', { timeout: 10_000 }, async () => {
  const userId = 'usr_wire';
  const received: LiveEvent[] = [];
  let allReceived!: () => void;
  const arrived = new Promise<void>((resolve) => (allReceived = resolve));
  const unsubscribe = await adapters.liveFeed.subscribe(userId, (event) => {
    if (received.push(event) === samples.length) allReceived();
  });
  const lease = (await adapters.leases.acquire({ userId, accountId: 'acc_1' }, 'w1', 60_000))!;
  const appended = await adapters.eventLog.append({ lease, events: samples });
  assert.ok(appended.ok);
  await arrived;
  const stored = await adapters.eventLog.read(userId, undefined, 100);
  assert.deepEqual(received.map((event) => event.id), appended.ids);
  received.forEach((event, i) => {
    // The stream's entry, given its id first the way the API sends it, is the live JSON.
    assert.deepEqual(Buffer.from(event.json), Buffer.from(JSON.stringify(stored[i])), samples[i]!.type);
    assert.deepEqual(JSON.parse(Buffer.from(event.json).toString()), { id: appended.ids[i], ...samples[i] });
    assert.equal(event.type, samples[i]!.type);
  });
  await unsubscribe();
});
