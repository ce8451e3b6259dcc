// Each push is counted exactly once in mailpush_pushes_total, whichever queue carries it: a push
// refused before it is sent (its endpoint became a private address) is `dropped`, not also `failed`.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { pino } from 'pino';
import webpush from 'web-push';
import type { PushSubscriptionRecord } from '../../src/core/ports.js';
import type { MailEvent } from '../../src/core/types.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';
import { BullmqPushDispatcher, BullmqPushQueue } from '../../src/push/bullmq-queue.js';
import type { DeliveryDeps, PushJob, PushOutcome } from '../../src/push/delivery.js';
import { MemoryPushQueue } from '../../src/push/memory-queue.js';
import { PushSender } from '../../src/push/sender.js';
import { VapidSigner } from '../../src/push/vapid.js';
import { useFixtures } from '../helpers/fixtures.js';
import type { PushService } from '../helpers/push-service.js';
import type { RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisServer;
let push: PushService;
const vapidKeys = webpush.generateVAPIDKeys();
const fixtures = useFixtures();

before(async () => {
  [redis, push] = await Promise.all([fixtures.redis(), fixtures.pushService()]);
});

const event: MailEvent = {
  id: '1700000000000-0',
  type: 'mail.new',
  accountId: 'acc_1',
  mailbox: 'INBOX',
  time: new Date().toISOString(),
  data: { uid: 1, uidValidity: '1', from: { address: 'a@example.test' }, subject: 'hi', snippet: '', messageId: null, date: null, unseen: 1, catchUp: false },
} as unknown as MailEvent;

/** A subscription on the push-service double, which is on 127.0.0.1: private, so refused here. */
function subscription(name: string): PushSubscriptionRecord {
  const { endpoint, keys } = push.subscribe(name);
  const now = new Date().toISOString();
  return { id: `sub_${name}`, userId: 'usr_1', endpoint, keys, expirationTime: null, accounts: [], preview: 'full', createdAt: now, updatedAt: now };
}

/** Delivery that refuses private endpoints and records each outcome, in the metrics too. */
function counting(subs: PushSubscriptionRecord[]) {
  /** `<subscription id>:<outcome>`, in the order reported. */
  const outcomes: string[] = [];
  const metrics = new GatewayMetrics({ processMetrics: false });
  const deps: DeliveryDeps = {
    sender: new PushSender({ vapid: new VapidSigner({ publicKey: vapidKeys.publicKey, privateKey: vapidKeys.privateKey, subject: 'mailto:ops@example.test' }), ttlSeconds: 60, timeoutMs: 1000, allowPrivateEndpoints: false }),
    subscriptions: {
      upsert: async () => 'limit',
      list: async () => subs,
      get: async (_userId, id) => subs.find((s) => s.id === id),
      delete: async () => false,
    },
    log: pino({ level: 'silent' }),
    onOutcome: (outcome, job) => {
      outcomes.push(`${job.subscriptionId}:${outcome}`);
      metrics.pushOutcome(outcome, job.event);
    },
  };
  const total = async (outcome: PushOutcome) => {
    const line = (await metrics.render()).split('\n').find((l) => l.startsWith(`mailpush_pushes_total{outcome="${outcome}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return { outcomes, deps, total };
}

const jobsFor = (subs: PushSubscriptionRecord[]): PushJob[] => subs.map((s) => ({ userId: 'usr_1', subscriptionId: s.id, subscription: s, event }));

describe('a push refused at send time', () => {
  test('is counted once, as dropped, by the memory queue', async () => {
    // One at a time, the refused push and then a sentinel: a second count of the first (as
    // `failed`, after its retries) would come before the sentinel's.
    const subs = [subscription('memory-refused'), subscription('memory-sentinel')];
    const { outcomes, deps, total } = counting(subs);
    const queue = new MemoryPushQueue({ concurrency: 1, perUser: 1, perOrigin: 1, maxAttempts: 3, maxQueued: 100 }, deps);
    await queue.enqueue(jobsFor(subs.slice(0, 1)));
    await queue.enqueue(jobsFor(subs.slice(1)));
    await waitFor(() => outcomes.some((o) => o.startsWith('sub_memory-sentinel:')), { timeoutMs: 10_000, what: 'the sentinel' });
    assert.equal(await queue.depth(), 0, 'no retry waiting');
    await queue.close();
    assert.deepEqual(outcomes, ['sub_memory-refused:dropped', 'sub_memory-sentinel:dropped']);
    assert.equal(await total('dropped'), 2);
    assert.equal(await total('failed'), 0);
    assert.equal(push.requests('memory-refused'), 0, 'nothing was sent');
  });

  test('is counted once, as dropped, by the BullMQ dispatcher (and not retried)', async () => {
    const subs = [subscription('bullmq-refused'), subscription('bullmq-sentinel')];
    const { outcomes, deps, total } = counting(subs);
    const options = { redis: redis.url, prefix: 'outcomes', maxAttempts: 3 };
    const queue = new BullmqPushQueue(options);
    // One job at a time: a second count of the first (`failed`, from the queue's failed event)
    // would be reported before the sentinel job, queued after it, is taken.
    const dispatcher = new BullmqPushDispatcher({ ...options, concurrency: 1, perUser: 1, perOrigin: 1 }, deps);
    try {
      await queue.enqueue(jobsFor(subs.slice(0, 1)));
      await queue.enqueue(jobsFor(subs.slice(1)));
      await waitFor(() => outcomes.some((o) => o.startsWith('sub_bullmq-sentinel:')), { timeoutMs: 10_000, what: 'the sentinel' });
      assert.deepEqual(outcomes, ['sub_bullmq-refused:dropped', 'sub_bullmq-sentinel:dropped']);
      assert.equal(await total('dropped'), 2);
      assert.equal(await total('failed'), 0);
      assert.equal(await queue.depth(), 0, 'no retry waiting');
    } finally {
      await dispatcher.close();
      await queue.close();
    }
  });
});
