// Every role on a real Redis Cluster (three primaries, a replica each): spawned `mailpush worker`
// and two `mailpush web` processes with REDIS_CLUSTER_NODES, a real Dovecot, the HTTPS push
// service double. Mail delivered over LMTP must reach a WebSocket on the other web process (fan-out
// through the user's sharded channel) once each and in order, and a Web Push each (BullMQ on the
// cluster, under its hash-tagged prefix). The start-up migration, which SCANs for schema-1 tokens,
// must scan every primary.
//
// The adapter contract on the cluster is test/integration/adapter-conformance.test.ts; this file is
// the end-to-end case of delivery.test.ts and push.test.ts. The other slow files run on one Redis
// only: they exercise role logic that is the same whichever client carries the commands.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import webpush from 'web-push';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { hashToken, newId, newToken } from '../../src/core/tokens.js';
import { RedisKeys } from '../../src/keys.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv, TEST_SECRET } from '../helpers/gateway-env.js';
import { api, openReadyStream, registerWatched } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import type { PushService } from '../helpers/push-service.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

const MESSAGES = 20;
/** The cluster requires a password, so every connection a process makes must carry REDIS_PASSWORD. */
const PASSWORD = 'cluster-test-password-0123456789';

let dovecot: Dovecot;
let cluster: RedisCluster;
let push: PushService;
let worker: MailpushProcess;
let webA: MailpushProcess;
let webB: MailpushProcess;
/** The test's own view of the cluster, to see where channels and keys live. */
let inspector: Cluster;
const fixtures = useFixtures();

before(async () => {
  [dovecot, cluster, push] = await Promise.all([fixtures.dovecot(), fixtures.redisCluster({ password: PASSWORD }), fixtures.pushService()]);
  const env = gatewayEnv({
    imapPort: dovecot.imapPort, push, vapid: webpush.generateVAPIDKeys(),
    env: { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PASSWORD: PASSWORD, MAILPUSH_SECRET: TEST_SECRET, PUSH_TTL_SECONDS: '3600' },
  });
  [worker, webA, webB] = await Promise.all([fixtures.mailpush('worker', env), fixtures.mailpush('web', env), fixtures.mailpush('web', env)]);
  inspector = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), { redisOptions: { protocol: 2, password: PASSWORD } });
  inspector.on('error', () => undefined);
});

after(() => inspector?.disconnect());

/** Each primary's answer to a PUBSUB subcommand, flattened. */
async function pubsubEverywhere(...args: string[]): Promise<string[]> {
  return (await Promise.all(inspector.nodes('master').map((node) => node.call('PUBSUB', ...args) as Promise<string[]>))).flat();
}

/** KEYS on every primary. */
async function keysEverywhere(pattern: string): Promise<string[]> {
  return (await Promise.all(inspector.nodes('master').map((node) => node.keys(pattern)))).flat();
}

test('LMTP deliveries reach a WebSocket on another web process once each and in order, and a Web Push each', async () => {
  const { user, token, accountId } = await registerWatched(webA.url!, dovecot);
  const subscription = push.subscribe(`cluster-${accountId}`);
  const subscribed = await api(webA.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription } });
  assert.equal(subscribed.status, 201, JSON.stringify(subscribed.body));
  // The stream is on web B, the registration went through web A: fan-out crosses processes.
  const stream = await openReadyStream(webB.url!, token);

  // The user's live channel is a sharded channel on the one primary that owns its slot, not a
  // classic channel (which the cluster would copy to every node).
  const shardChannels = await pubsubEverywhere('SHARDCHANNELS', 'mp:{u:*}:live');
  assert.equal(shardChannels.length, 1, `one sharded live channel in the cluster, got ${JSON.stringify(shardChannels)}`);
  assert.deepEqual(await pubsubEverywhere('CHANNELS', 'mp:{u:*}:live'), [], 'no classic live channel');

  for (let i = 1; i <= MESSAGES; i++) {
    await dovecot.deliver(user.email, buildMessage({ from: { address: 'load@example.test' }, to: user.email, subject: `m${i}` }));
  }
  // A sentinel after the case: a repeat of any earlier message would arrive before it.
  await dovecot.deliver(user.email, buildMessage({ from: { address: 'load@example.test' }, to: user.email, subject: 'sentinel' }));
  const uids = () => stream.events('mail.new').map((event: { data: { uid: number } }) => event.data.uid);
  await waitFor(() => uids().includes(MESSAGES + 1), { timeoutMs: 30_000, what: 'the sentinel mail.new' });
  assert.deepEqual(uids(), Array.from({ length: MESSAGES + 1 }, (_, i) => i + 1), 'every UID once, in order');
  assert.equal(stream.events('mail.batch').length, 0);

  const pushed = () => push.received.filter((r) => r.name === `cluster-${accountId}`);
  await waitFor(() => pushed().length >= MESSAGES + 1, { timeoutMs: 30_000, what: 'a push per message' });
  const pushedEvents = pushed().map((r) => r.payload.eventId as string);
  assert.equal(new Set(pushedEvents).size, MESSAGES + 1, 'no event pushed twice');
  assert.deepEqual(new Set(pushedEvents), new Set(stream.events('mail.new').map((event: { id: string }) => event.id)), 'the pushes are the streamed events');
  assert.deepEqual(push.rejected, []);
  stream.close();

  // The push queue's keys are in one slot (the `{mp:push}` prefix), as BullMQ's scripts need.
  const queueKeys = (await Promise.all(inspector.nodes('master').map((node) => node.keys('{mp:push}:*')))).filter((keys) => keys.length > 0);
  assert.equal(queueKeys.length, 1, 'the push queue lives on one primary');
  // The registration's rate limiter counted in the cluster too (@fastify/rate-limit on the Cluster client).
  assert.ok((await keysEverywhere('mp:ratelimit:*')).length > 0, 'rate-limit counters in the cluster');

  // Nothing was refused on the way (a cross-slot command would have been logged, not thrown here).
  for (const process of [worker, webA, webB]) {
    const complaints = process.logs.filter((line) => Number(line.level) >= 40);
    assert.deepEqual(complaints, [], `mailpush ${process.role} logged warnings or errors`);
  }
});

test('the start-up migration finds schema-1 tokens on every primary (SCAN per node) and makes each a device', async () => {
  // A prefix of its own, so the running processes' data (already migrated) stays out of it.
  const keys = new RedisKeys('mig');
  const users = Array.from({ length: 30 }, () => ({ userId: newId('usr'), token: newToken() }));
  for (const { userId, token } of users) {
    await inspector.hset(keys.userRecord(userId), 'createdAt', new Date().toISOString());
    await inspector.set(keys.token(hashToken(token)), userId); // schema 1: the bare user id
  }
  const holding = await Promise.all(inspector.nodes('master').map(async (node) => (await node.keys('mig:token:*')).length));
  assert.ok(holding.filter((n) => n > 0).length >= 2, `the tokens are spread over several primaries: ${holding.join(', ')}`);

  const adapters = createRedisAdapters({ redis: { nodes: [{ host: '127.0.0.1', port: cluster.nodes[0]!.port }], password: PASSWORD, tls: false }, events: { batchSize: 25, retentionCount: 100, retentionMs: 86400_000 } }, 'migration', { prefix: 'mig' });
  try {
    assert.deepEqual(await adapters.migrate(), { usersMerged: 0, accountsRemoved: 0, tokensConverted: users.length });
    for (const { userId, token } of users) {
      assert.equal(await adapters.users.findByToken(hashToken(token)), userId);
      assert.deepEqual((await adapters.devices.list(userId)).map((device) => device.name), ['Device']);
    }
    assert.equal(await inspector.get(keys.schemaVersion()), '2');
  } finally {
    await adapters.close();
  }
});
