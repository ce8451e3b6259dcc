// A Redis Cluster primary dies while mail flows. Spawned `mailpush worker` and `mailpush web` on a
// real six-node cluster (three primaries, a replica each, cluster-node-timeout 1 s), a real Dovecot:
// 100 LMTP deliveries, and halfway through the primary that owns the user's slot is SIGKILLed. Its
// replica is promoted; the worker re-reads its watermark (an append the dead primary acknowledged
// but never replicated is redone), the web process re-subscribes the user's sharded channel on the
// new primary and catches the socket up. The socket must see exactly UIDs 1..100 once each and in
// order, and no process restarts.
//
// The push half of the guarantee (WAIT before queueing) is not exercised here: the push queue's
// one slot may sit on any primary, and its own failover is BullMQ's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { RedisKeys } from '../../src/keys.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv, TEST_SECRET } from '../helpers/gateway-env.js';
import { openReadyStream, registerWatched } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import { waitFor } from '../helpers/wait.js';

const MESSAGES = 100;
const fixtures = useFixtures();

test('a primary SIGKILLed mid-delivery: the socket still gets UIDs 1..100 once each and in order, and no process restarts', async () => {
  const [dovecot, cluster] = await Promise.all([fixtures.dovecot(), fixtures.redisCluster()]);
  // Mail piles up while the slot has no primary (2-3 s); the worker must still announce each one
  // (by default more than 25 found at once become one mail.batch count).
  const env = gatewayEnv({
    imapPort: dovecot.imapPort,
    env: {
      REDIS_CLUSTER_NODES: cluster.seeds, MAILPUSH_SECRET: TEST_SECRET, EVENT_BATCH_SIZE: String(MESSAGES * 2),
      // A deployment's lease time: the tests' usual 3 s is about what a failover takes, so the
      // promoted replica would expire the lease under the worker (which would let the account go
      // and claim it again: no loss either, but not the path this test is about).
      LEASE_TTL_MS: '15000',
    },
  });
  const [worker, web] = await Promise.all([fixtures.mailpush('worker', env), fixtures.mailpush('web', env)]);
  const exits: string[] = [];
  for (const process of [worker, web]) void process.exited.then(({ code, signal }) => exits.push(`mailpush ${process.role} (pid ${process.pid}) exited: ${code ?? signal}\n${process.logTail()}`));
  const { user, token } = await registerWatched(web.url!, dovecot);
  const stream = await openReadyStream(web.url!, token);

  // The user's keys all carry its hash tag: find them (and so the primary to kill) on whichever node holds them.
  const inspector = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), { redisOptions: { protocol: 2 } });
  inspector.on('error', () => undefined);
  await new Promise((resolve) => inspector.once('ready', resolve));
  const userKey = (await Promise.all(inspector.nodes('master').map((node) => node.keys(new RedisKeys().userRecord('*'))))).flat()[0];
  inspector.disconnect();
  assert.ok(userKey, 'the user record is in the cluster');
  const owner = await cluster.ownerOf(userKey);

  const deliver = (subject: string) => dovecot.deliver(user.email, buildMessage({ from: { address: 'load@example.test' }, to: user.email, subject }));
  const uids = () => stream.events('mail.new').map((event: { data: { uid: number } }) => event.data.uid);
  for (let i = 1; i <= MESSAGES / 2; i++) await deliver(`m${i}`);
  // Mid-flow: some of the first half may still be on their way from IMAP to the log.
  await owner.kill();
  for (let i = MESSAGES / 2 + 1; i <= MESSAGES; i++) await deliver(`m${i}`);
  const promoted = await cluster.awaitTakeover(userKey, owner);
  assert.notEqual(promoted.port, owner.port);

  // A sentinel after the case: a repeat of any earlier message would arrive before it.
  await deliver('sentinel');
  await waitFor(() => uids().includes(MESSAGES + 1), { timeoutMs: 20_000, what: 'the sentinel mail.new' }).catch((error: Error) => {
    throw new Error(`${error.message}; UIDs so far ${JSON.stringify(uids())}\n${worker.logTail()}\n${web.logTail()}`);
  });
  assert.deepEqual(uids(), Array.from({ length: MESSAGES + 1 }, (_, i) => i + 1), 'every UID once, in order');
  assert.equal(stream.events('mail.batch').length, 0);
  assert.equal(stream.closeCode, undefined, 'the socket stayed open through the failover');
  assert.ok(worker.logs.some((line) => line.msg === 'storage may have lost recent appends; re-reading watermarks'), 'the worker noticed the new primary and re-read its watermark');
  // Nobody restarted: the processes spawned at the start are still the ones running.
  assert.deepEqual(exits, []);
  stream.close();
});
