// A worker that dies between appending new mail and queueing its Web Push must not take the push
// with it: the append script records the push as pending in the same step, the worker clears it
// once the job is queued, and the next holder of the account queues whatever is still pending.
// (What the outbox records, and for whom, is in the adapter conformance suite.)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import webpush from 'web-push';
import type { Adapters } from '../../src/adapters/adapters.js';
import { createRedisAdapters } from '../../src/adapters/redis/index.js';
import { hashToken } from '../../src/core/tokens.js';
import type { NewEvent } from '../../src/core/types.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { api, registerWatched, until } from '../helpers/gateway.js';
import { buildMessage } from '../helpers/message.js';
import { spawnMailpush, type MailpushProcess } from '../helpers/processes.js';
import { startPushService, type PushService } from '../helpers/push-service.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const events = { batchSize: 25, retentionCount: 1000, retentionMs: 7 * 86400_000 };
let dovecot: Dovecot;
let redis: RedisServer;
let push: PushService;
let adapters: Adapters;
let env: Record<string, string>;
const running: MailpushProcess[] = [];

before(async () => {
  [dovecot, redis, push] = await Promise.all([startDovecot(), startRedis(), startPushService()]);
  adapters = createRedisAdapters({ redisUrl: redis.url, events }, 'push-recovery-test');
  const vapid = webpush.generateVAPIDKeys();
  env = {
    REDIS_URL: redis.url, MAILPUSH_SECRET: 'push-recovery-secret-long-enough',
    IMAP_DEFAULT_HOST: '127.0.0.1', IMAP_DEFAULT_PORT: String(dovecot.imapPort), IMAP_DEFAULT_SECURITY: 'none',
    IMAP_ALLOW_PRIVATE: 'true', IMAP_ALLOW_INSECURE: 'true', LEASE_TTL_MS: '2000',
    VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:ops@example.test',
    PUSH_ALLOW_PRIVATE_ENDPOINTS: 'true', NODE_EXTRA_CA_CERTS: push.caFile, LOG_LEVEL: 'info',
  };
  running.push(...(await Promise.all([spawnMailpush('web', env), spawnMailpush('worker', env)])));
});

after(async () => {
  await Promise.all(running.map((p) => p.kill('SIGTERM')));
  await adapters?.close();
  await Promise.all([dovecot?.cleanup(), redis?.cleanup(), push?.close()]);
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
  await until(() => push.received.some((r) => r.name === name && r.payload.body?.includes('sent normally')), 10_000, 'the normal push');
  await until(async () => (await adapters.pushOutbox.pending(ref)).length === 0, 5000, 'nothing pending');

  // The worker dies right after an append whose push it never queued: done here with its lease.
  const worker = running.pop()!;
  await worker.kill('SIGKILL');
  const raw = new Redis(redis.url);
  const [workerId, fence] = (await raw.get(adapters.keys!.lease(ref)))!.split(':') as [string, string];
  raw.disconnect();
  const left = await adapters.eventLog.append({ lease: { ...ref, workerId, fence: Number(fence) }, events: [newMail(accountId, 99, 'left pending')], pushable: [true] });
  assert.ok(left.ok);
  assert.equal((await adapters.pushOutbox.pending(ref)).length, 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(!push.received.some((r) => r.name === name && r.payload.body?.includes('left pending')), 'nobody sent it yet');

  running.push(await spawnMailpush('worker', env));
  await until(() => push.received.some((r) => r.name === name && r.payload.body?.includes('left pending')), 15_000, 'the recovered push');
  await until(async () => (await adapters.pushOutbox.pending(ref)).length === 0, 5000, 'nothing pending after recovery');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const forName = push.received.filter((r) => r.name === name);
  assert.equal(forName.filter((r) => r.payload.body?.includes('left pending')).length, 1, 'the recovered push once');
  assert.equal(forName.filter((r) => r.payload.body?.includes('sent normally')).length, 1, 'the earlier push not again');
});
