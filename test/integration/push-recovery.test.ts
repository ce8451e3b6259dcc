// A worker that dies between appending new mail and queueing its Web Push must not take the push
// with it: the append script records the push as pending in the same step, the worker clears it
// once the job is queued, and the next holder of the account queues whatever is still pending.
// (What the outbox records, and for whom, is in the adapter conformance suite.)

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { hashToken } from '../../src/core/tokens.js';
import type { NewEvent } from '../../src/core/types.js';
import type { Dovecot } from '../helpers/dovecot.js';
import { useFixtures } from '../helpers/fixtures.js';
import { gatewayEnv } from '../helpers/gateway-env.js';
import { api, registerWatched } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import { buildMessage } from '../helpers/message.js';
import type { MailpushProcess } from '../helpers/processes.js';
import type { PushService } from '../helpers/push-service.js';
import type { RedisServer } from '../helpers/redis.js';

const events = { batchSize: 25, retentionCount: 1000, retentionMs: 7 * 86400_000 };
let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
let adapters: Adapters;
let env: Record<string, string>;
const running: MailpushProcess[] = [];

const fixtures = useFixtures();

before(async () => {
  [dovecot, redis, push] = await Promise.all([fixtures.dovecot(), fixtures.redis(), fixtures.pushService()]);
  adapters = await fixtures.start('Redis adapters', Promise.resolve(createRedisAdapters({ redis: redis.url, events }, 'push-recovery-test')), (a) => a.close());
  env = gatewayEnv({ redisUrl: redis.url, imapPort: dovecot.imapPort, push, env: { LEASE_TTL_MS: '2000' } });
  running.push(...(await Promise.all([fixtures.mailpush('web', env), fixtures.mailpush('worker', env)])));
});

const newMail = (accountId: string, uid: number, subject: string): NewEvent => ({
  type: 'mail.new', accountId, mailbox: 'INBOX', time: new Date().toISOString(),
  data: { uid, uidValidity: '1', messageId: null, from: { name: 'Ann', address: 'ann@example.test' }, subject, date: null, snippet: null, unseen: 1, catchUp: false },
});

test('a push left pending by a worker killed after the append is sent by the next holder, once', async () => {
  const { user, token, accountId } = await registerWatched(running[0]!.url!, dovecot);
  const name = `recovery-${accountId}`;
  const subscribed = await api(running[0]!.url!, 'POST', '/v1/push/subscriptions', { token, body: { subscription: push.subscribe(name), preview: 'full' } });
  assert.equal(subscribed.status, 201);
  const ref = { userId: (await adapters.users.findByToken(hashToken(token)))!, accountId };

  // The normal path: pushed, and nothing left pending.
  await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'sent normally' }));
  await waitFor(() => push.received.some((r) => r.name === name && r.payload.body?.includes('sent normally')), { timeoutMs: 10_000, what: 'the normal push' });
  await waitFor(async () => (await adapters.pushOutbox.pending(ref)).length === 0, { timeoutMs: 5000, what: 'nothing pending' });

  // The worker dies right after an append whose push it never queued: done here with its lease.
  const worker = running.pop()!;
  await worker.kill('SIGKILL');
  const raw = new Redis(redis.url);
  const [workerId, fence] = (await raw.get(adapters.keys!.lease(ref)))!.split(':') as [string, string];
  raw.disconnect();
  const left = await adapters.eventLog.append({ lease: { ...ref, workerId, fence: Number(fence) }, events: [newMail(accountId, 99, 'left pending')], pushable: [true] });
  assert.ok(left.ok);
  assert.equal((await adapters.pushOutbox.pending(ref)).length, 1);
  // A sentinel through the web process's send queue: had anything but a worker sent the pending
  // push (queued at the append, before this), it would have arrived before the test notification.
  assert.equal((await api(running[0]!.url!, 'POST', `/v1/push/subscriptions/${subscribed.body.id}/test`, { token })).status, 202);
  await waitFor(() => push.received.some((r) => r.name === name && r.payload.type === 'test'), { timeoutMs: 10_000, what: 'the test notification' });
  assert.ok(!push.received.some((r) => r.name === name && r.payload.body?.includes('left pending')), 'nobody sent it yet');

  running.push(await fixtures.mailpush('worker', env));
  await waitFor(() => push.received.some((r) => r.name === name && r.payload.body?.includes('left pending')), { timeoutMs: 15_000, what: 'the recovered push' });
  await waitFor(async () => (await adapters.pushOutbox.pending(ref)).length === 0, { timeoutMs: 5000, what: 'nothing pending after recovery' });
  // A sentinel mail after the case: a repeated push of either mail would have come before its push.
  await dovecot.deliver(user.email, buildMessage({ from: { address: 'a@example.test' }, to: user.email, subject: 'sentinel' }));
  await waitFor(() => push.received.some((r) => r.name === name && r.payload.body?.includes('sentinel')), { timeoutMs: 15_000, what: 'the sentinel push' });
  const forName = push.received.filter((r) => r.name === name);
  assert.equal(forName.filter((r) => r.payload.body?.includes('left pending')).length, 1, 'the recovered push once');
  assert.equal(forName.filter((r) => r.payload.body?.includes('sent normally')).length, 1, 'the earlier push not again');
});
