// A Redis Cluster primary dies while mail flows. Spawned `mailpush worker` and `mailpush web` on a
// real six-node cluster (three primaries, a replica each, cluster-node-timeout 1 s), a real Dovecot:
// 100 LMTP deliveries, and halfway through the primary that owns the user's slot is SIGKILLed. Its
// replica is promoted; the worker re-reads its watermark (an append the dead primary acknowledged
// but never replicated is redone), the web process re-subscribes the user's sharded channel on the
// new primary and catches the socket up. The socket must see exactly UIDs 1..100 once each and in
// order, and no process restarts.
//
// The second test makes the loss certain instead of a race: the replica is cut off before five
// appends, so the promoted replica lacks them, and the worker must append them again.
//
// The push half of the guarantee (WAIT before queueing) is not exercised here: the push queue's
// one slot may sit on any primary, and its own failover is BullMQ's.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { RedisKeys } from '../../src/keys.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv, TEST_SECRET } from '../helpers/gateway-env.js';
import { openReadyStream, registerWatched } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import type { RedisCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait.js';

const MESSAGES = 100;
const fixtures = useFixtures();
let dovecot: Dovecot;

before(async () => {
  dovecot = await fixtures.dovecot();
});

/** A fresh cluster with a worker and a web process on it, and a watched mailbox with an open stream. */
async function deployment() {
  const cluster = await fixtures.redisCluster();
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
  const userKey = await userKeyIn(cluster);
  const deliver = (subject: string) => dovecot.deliver(user.email, buildMessage({ from: { address: 'load@example.test' }, to: user.email, subject }));
  const uids = (): number[] => stream.events('mail.new').map((event: { data: { uid: number } }) => event.data.uid);
  return { cluster, worker, web, exits, stream, userKey, deliver, uids };
}

/** The one user's record key: all its keys carry its hash tag, so their primary is this key's. */
async function userKeyIn(cluster: RedisCluster): Promise<string> {
  const inspector = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), { redisOptions: { protocol: 2 } });
  inspector.on('error', () => undefined);
  try {
    await new Promise((resolve) => inspector.once('ready', resolve));
    const found = (await Promise.all(inspector.nodes('master').map((node) => node.keys(new RedisKeys().userRecord('*'))))).flat();
    assert.equal(found.length, 1, 'one user record in the cluster');
    return found[0]!;
  } finally {
    inspector.disconnect();
  }
}

test('a primary SIGKILLed mid-delivery: the socket still gets UIDs 1..100 once each and in order, and no process restarts', async () => {
  const { cluster, worker, web, exits, stream, userKey, deliver, uids } = await deployment();
  const owner = await cluster.ownerOf(userKey);
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

test('appends the dead primary acknowledged but never replicated are made again on the promoted replica', async () => {
  const { cluster, worker, web, exits, stream, userKey, deliver, uids } = await deployment();
  const owner = await cluster.ownerOf(userKey);
  const replica = await cluster.replicaOf(owner);
  for (let i = 1; i <= 5; i++) await deliver(`m${i}`);
  await waitFor(() => uids().includes(5), { timeoutMs: 10_000, what: 'UIDs 1..5' });

  // Cut the replica off: frozen, and its replication link dropped by the primary, so what comes
  // next exists on the primary alone (each append's WAIT comes back short).
  replica.freeze();
  const primary = new Redis(owner.url, { protocol: 2 });
  try {
    await primary.call('CLIENT', 'KILL', 'TYPE', 'replica');
  } finally {
    primary.disconnect();
  }
  for (let i = 6; i <= 10; i++) await deliver(`m${i}`);
  // Appended and published by the primary: the socket has them.
  await waitFor(() => uids().includes(10), { timeoutMs: 10_000, what: 'UIDs 6..10 from the primary alone' });
  await owner.kill();
  replica.thaw();
  assert.equal((await cluster.awaitTakeover(userKey, owner)).port, replica.port);
  // Made again without waiting for new mail to reveal the gap: the worker re-read its watermark
  // when the slot changed primary, and the redone events reach the socket.
  await waitFor(() => uids().filter((uid) => uid === 10).length === 2, { timeoutMs: 15_000, what: 'UID 10 announced again after the redo' }).catch((error: Error) => {
    throw new Error(`${error.message}; UIDs so far ${JSON.stringify(uids())}\n${worker.logTail()}`);
  });

  await deliver('sentinel');
  await waitFor(() => uids().includes(11), { timeoutMs: 20_000, what: 'the sentinel mail.new' }).catch((error: Error) => {
    throw new Error(`${error.message}; UIDs so far ${JSON.stringify(uids())}\n${worker.logTail()}\n${web.logTail()}`);
  });
  // The user's log on the promoted replica, which is what every later replay reads: each UID once,
  // in order, the five lost appends made again.
  const log = new Redis(replica.url, { protocol: 2 });
  try {
    const entries = await log.xrange(new RedisKeys().events(userKey.replace(/^mp:\{u:([^}]+)\}.*$/, '$1')), '-', '+');
    const logged = entries.map(([, fields]) => JSON.parse(fields[1]!) as { type: string; data: { uid: number } }).filter((event) => event.type === 'mail.new').map((event) => event.data.uid);
    assert.deepEqual(logged, Array.from({ length: 11 }, (_, i) => i + 1));
  } finally {
    log.disconnect();
  }
  // The socket missed nothing. It saw 6..10 twice: once from the primary that died, once after the
  // redo (under new event ids), the window the README names.
  assert.deepEqual([...new Set(uids())], Array.from({ length: 11 }, (_, i) => i + 1));
  assert.equal(uids().at(-1), 11, 'the sentinel came last');
  assert.equal(stream.closeCode, undefined);
  assert.deepEqual(exits, []);
  stream.close();
});
