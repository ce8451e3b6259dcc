// Subscriptions on one Redis go out together: a worker starting a batch of accounts subscribes to
// all their command channels in one SUBSCRIBE (src/adapters/redis/channels.ts), in the order asked.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { fanoutChannels } from '../../src/adapters/redis/channels.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;
let subscriber: Redis;

const fixtures = useFixtures();

/** How many SUBSCRIBE and UNSUBSCRIBE commands Redis has run so far (INFO commandstats). */
async function subscriptionCommands(): Promise<{ subscribe: number; unsubscribe: number }> {
  const info = await redis.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { subscribe: calls('subscribe'), unsubscribe: calls('unsubscribe') };
}

const connect = async () => {
  // RESP2, as every connection of the gateway's (src/adapters/redis/connection.ts).
  const client = new Redis(server.url, { lazyConnect: true, protocol: 2 });
  await client.connect();
  return client;
};

before(async () => {
  server = await fixtures.redis();
  redis = await fixtures.start('ioredis client', connect(), (client) => client.disconnect());
  subscriber = await fixtures.start('ioredis subscriber', connect(), (client) => client.disconnect());
});

test('subscriptions asked for together go out as one command per run, in order, and each channel delivers', async () => {
  const channels = fanoutChannels(subscriber);
  const heard: string[] = [];
  channels.onMessage((channel, message) => heard.push(`${channel.toString()}=${message.toString()}`));
  const before = await subscriptionCommands();

  const names = Array.from({ length: 120 }, (_, i) => `accounts:${i}`);
  await Promise.all(names.map((name) => channels.subscribe(name)));
  assert.deepEqual(await subscriptionCommands(), { ...before, subscribe: before.subscribe + 1 }, '120 channels, one SUBSCRIBE');
  for (const name of names) assert.equal(await redis.publish(name, 'hi'), 1, `${name} is listened to`);

  // Asked in one turn: subscribe, then unsubscribe the same channel, then subscribe another. The
  // unsubscribe must still come after the subscribe it undoes.
  await Promise.all([channels.subscribe('flip'), channels.unsubscribe('flip'), channels.subscribe('kept'), channels.unsubscribe('accounts:0')]);
  assert.deepEqual(await subscriptionCommands(), { subscribe: before.subscribe + 3, unsubscribe: before.unsubscribe + 2 });
  assert.equal(await redis.publish('flip', 'x'), 0, 'unsubscribed after it was subscribed');
  assert.equal(await redis.publish('accounts:0', 'x'), 0);
  assert.equal(await redis.publish('kept', 'sentinel'), 1);
  // Messages arrive in order on one connection: the sentinel last means nothing else is coming.
  await waitForSentinel(heard, 'kept=sentinel');
  assert.equal(heard.length, 121);
  assert.deepEqual(heard.slice(0, 120), names.map((name) => `${name}=hi`));
});

async function waitForSentinel(heard: string[], sentinel: string): Promise<void> {
  for (let i = 0; i < 200 && heard.at(-1) !== sentinel; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(heard.at(-1), sentinel);
}
