// The send order and bounds of src/push (no services): users take turns, one user or one push
// service never holds more than its share of the slots, the embedded queue's bound drops the
// greediest user's oldest push, and keep-alive agents are capped and closed when idle.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { PushSubscriptionRecord } from '../../src/core/ports.js';
import { testJob } from '../../src/push/delivery.js';
import { deferralMs } from '../../src/push/bullmq-queue.js';
import { FairScheduler, type Scheduled } from '../../src/push/fair-scheduler.js';
import { MemoryPushQueue } from '../../src/push/memory-queue.js';
import { OriginAgents } from '../../src/push/origin-agents.js';
import { PushSender, type SendResult } from '../../src/push/sender.js';
import { originOf, SendLimits } from '../../src/push/send-limits.js';
import { generateVapidKeys, VapidSigner } from '../../src/push/vapid.js';
import { waitFor } from '../helpers/wait.js';

function scheduler(limits: { concurrency: number; perUser: number; perOrigin: number }, maxQueued = 1000) {
  return new FairScheduler<string>(new SendLimits(limits), maxQueued);
}

/** Takes every push the limits allow now, without finishing any. */
function takeAll(s: FairScheduler<string>) {
  const taken: Array<{ entry: Scheduled<string>; release: () => void }> = [];
  for (let next = s.next(); next; next = s.next()) taken.push(next);
  return taken;
}

test('users take turns: a user with many pushes waiting does not delay another user\'s first', () => {
  const s = scheduler({ concurrency: 1, perUser: 1, perOrigin: 100 });
  for (let i = 0; i < 100; i++) s.add(`a${i}`, 'alice', 'https://a.test');
  s.add('b0', 'bob', 'https://b.test');
  s.add('b1', 'bob', 'https://b.test');
  s.add('c0', 'carol', 'https://c.test');
  const order: string[] = [];
  for (let i = 0; i < 7; i++) {
    const next = s.next()!;
    order.push(next.entry.item);
    next.release();
  }
  assert.deepEqual(order, ['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3']);
});

test('a user who joins waits until everyone already waiting had one turn, then takes turns with them', () => {
  const s = scheduler({ concurrency: 1, perUser: 1, perOrigin: 100 });
  for (const user of ['u1', 'u2', 'u3']) for (let i = 0; i < 3; i++) s.add(`${user}-${i}`, user, 'https://x.test');
  const first = s.next()!;
  first.release();
  s.add('late-0', 'late', 'https://x.test');
  const order = [first.entry.item];
  for (let next = s.next(); next; next = s.next()) {
    order.push(next.entry.item);
    next.release();
  }
  assert.deepEqual(order, ['u1-0', 'u2-0', 'u3-0', 'u1-1', 'late-0', 'u2-1', 'u3-1', 'u1-2', 'u2-2', 'u3-2']);
});

test('one user holds at most perUser slots while they hang; the others get the rest', () => {
  const s = scheduler({ concurrency: 8, perUser: 2, perOrigin: 100 });
  for (let i = 0; i < 50; i++) s.add(`a${i}`, 'alice', 'https://hang.test');
  const hanging = takeAll(s);
  assert.deepEqual(hanging.map((t) => t.entry.item), ['a0', 'a1'], 'alice is capped');
  s.add('b0', 'bob', 'https://fcm.test');
  assert.equal(s.next()?.entry.item, 'b0', 'bob goes out while alice\'s two still hang');
  hanging[0]!.release();
  assert.equal(s.next()?.entry.item, 'a2', 'a finished send frees its slot for the same user');
});

test('one push service holds at most perOrigin slots, however many users point at it', () => {
  const s = scheduler({ concurrency: 10, perUser: 2, perOrigin: 3 });
  for (let u = 0; u < 5; u++) for (let i = 0; i < 2; i++) s.add(`m${u}-${i}`, `mallory${u}`, 'https://hostile.test');
  s.add('b0', 'bob', 'https://fcm.test');
  const taken = takeAll(s).map((t) => t.entry.item);
  assert.equal(taken.filter((item) => item.startsWith('m')).length, 3, 'three to the hostile origin');
  assert.ok(taken.includes('b0'));
});

test('a user\'s push to another origin is not stuck behind one to a capped origin', () => {
  const s = scheduler({ concurrency: 10, perUser: 10, perOrigin: 1 });
  s.add('a-hang-0', 'alice', 'https://hang.test');
  s.add('a-hang-1', 'alice', 'https://hang.test');
  s.add('a-phone', 'alice', 'https://fcm.test');
  assert.deepEqual(takeAll(s).map((t) => t.entry.item), ['a-hang-0', 'a-phone']);
});

test('the global concurrency is never exceeded', () => {
  const s = scheduler({ concurrency: 3, perUser: 3, perOrigin: 3 });
  for (let u = 0; u < 10; u++) s.add(`u${u}`, `user${u}`, `https://o${u}.test`);
  const taken = takeAll(s);
  assert.equal(taken.length, 3);
  taken[1]!.release();
  assert.equal(takeAll(s).length, 1);
});

test('the bound drops the oldest push of the user with the most waiting, delayed ones included', () => {
  const s = scheduler({ concurrency: 1, perUser: 1, perOrigin: 1 }, 5);
  const delayed = s.add('a-retry', 'alice', 'https://a.test', { delayed: true }).entry;
  for (let i = 0; i < 3; i++) assert.deepEqual(s.add(`a${i}`, 'alice', 'https://a.test').dropped, []);
  assert.deepEqual(s.add('b0', 'bob', 'https://b.test').dropped, []);
  assert.equal(s.size, 5);
  // Full: bob's next push costs alice her oldest (the delayed retry), then her oldest ready one.
  assert.deepEqual(s.add('b1', 'bob', 'https://b.test').dropped.map((d) => d.item), ['a-retry']);
  assert.equal(s.wake(delayed), false, 'a dropped retry is not woken');
  assert.deepEqual(s.add('b2', 'bob', 'https://b.test').dropped.map((d) => d.item), ['a0']);
  assert.equal(s.size, 5);
  // Now bob has the most: his own oldest goes.
  assert.deepEqual(s.add('b3', 'bob', 'https://b.test').dropped.map((d) => d.item), ['b0']);
  const order: string[] = [];
  for (let next = s.next(); next; next = s.next()) {
    order.push(next.entry.item);
    next.release();
  }
  assert.deepEqual(order, ['a1', 'b1', 'a2', 'b2', 'b3'], 'what stayed still goes out, in turns');
  assert.equal(s.size, 0);
});

test('a delayed retry is sent only once woken, and takes its turn then', () => {
  const s = scheduler({ concurrency: 1, perUser: 1, perOrigin: 1 });
  const retry = s.add('a-retry', 'alice', 'https://a.test', { delayed: true }).entry;
  assert.equal(s.next(), undefined);
  assert.equal(s.size, 1);
  assert.equal(s.wake(retry), true);
  assert.equal(s.next()?.entry.item, 'a-retry');
  assert.equal(s.size, 0);
});

test('a release counts once, however often it is called', () => {
  const limits = new SendLimits({ concurrency: 2, perUser: 2, perOrigin: 2 });
  const release = limits.tryStart('u', 'o')!;
  release();
  release();
  assert.equal(limits.inFlight, 0);
  assert.ok(limits.tryStart('u', 'o') && limits.tryStart('u', 'o'));
  assert.equal(limits.tryStart('u', 'o'), undefined);
});

test('originOf: the endpoint\'s origin, or "" for a job without a usable endpoint', () => {
  const job = (endpoint?: string) => ({ userId: 'u', subscriptionId: 's', ...(endpoint ? { subscription: { endpoint } as never } : {}) });
  assert.equal(originOf(job('https://fcm.googleapis.com/fcm/send/abc')), 'https://fcm.googleapis.com');
  assert.equal(originOf(job('not a url')), '');
  assert.equal(originOf(job()), '');
});

/** Records which agents were closed. */
function watchClosing(agents: OriginAgents) {
  const closed = new Set<unknown>();
  const acquire = agents.acquire.bind(agents);
  agents.acquire = (origin) => {
    const taken = acquire(origin);
    const destroy = taken.agent.destroy.bind(taken.agent);
    taken.agent.destroy = () => {
      closed.add(taken.agent);
      destroy();
    };
    return taken;
  };
  return closed;
}

test('keep-alive agents: at most maxAgents, the least recently used idle one evicted, a one-shot agent when all are busy', () => {
  const agents = new OriginAgents({ maxAgents: 2, idleMs: 60_000, socketsPerOrigin: 4 });
  const closed = watchClosing(agents);
  const a = agents.acquire('https://a.test');
  const b = agents.acquire('https://b.test');
  const c = agents.acquire('https://c.test');
  assert.deepEqual(agents.origins(), ['https://a.test', 'https://b.test'], 'every agent busy: c got a one-shot agent');
  c.release();
  assert.ok(closed.has(c.agent), 'the one-shot agent is closed after its request');
  a.release();
  agents.acquire('https://d.test').release();
  assert.deepEqual(agents.origins(), ['https://b.test', 'https://d.test']);
  assert.ok(closed.has(a.agent), 'a, idle and least recently used, was closed for d');
  assert.equal(closed.has(b.agent), false, 'b, busy, was kept');
  b.release();
  assert.equal(agents.acquire('https://b.test').agent, b.agent, 'an origin in the pool reuses its agent');
  agents.close();
});

test('keep-alive agents unused for idleMs are closed; a busy one is kept however long it takes', async () => {
  const agents = new OriginAgents({ maxAgents: 10, idleMs: 300, socketsPerOrigin: 4 });
  const closed = watchClosing(agents);
  const busy = agents.acquire('https://busy.test');
  const idle = agents.acquire('https://idle.test');
  idle.release();
  await waitFor(() => closed.has(idle.agent), { timeoutMs: 5000, what: 'the idle agent to be closed' });
  assert.deepEqual(agents.origins(), ['https://busy.test']);
  busy.release();
  await waitFor(() => agents.size === 0, { timeoutMs: 5000, what: 'the second agent to be closed once idle' });
  assert.ok(closed.has(busy.agent));
  agents.close();
});

/** A sender whose sends to hanging endpoints never settle (until released); the others answer 201. */
class HangingSender extends PushSender {
  readonly sent: string[] = [];
  private readonly held: Array<() => void> = [];
  constructor() {
    super({ vapid: new VapidSigner({ ...generateVapidKeys(), subject: 'mailto:a@example.test' }), ttlSeconds: 60, timeoutMs: 1000, allowPrivateEndpoints: true });
  }

  override async send(subscription: PushSubscriptionRecord): Promise<SendResult> {
    if (subscription.endpoint.startsWith('https://hang.test/')) {
      await new Promise<void>((resolve) => this.held.push(resolve));
      return { status: 201 };
    }
    this.sent.push(subscription.id);
    return { status: 201 };
  }

  releaseAll(): void {
    this.held.splice(0).forEach((resolve) => resolve());
  }

  get hanging(): number {
    return this.held.length;
  }
}

function record(userId: string, id: string, endpoint: string): PushSubscriptionRecord {
  const now = new Date().toISOString();
  return { id, userId, endpoint, keys: { p256dh: 'p', auth: 'a' }, expirationTime: null, accounts: [], preview: 'full', createdAt: now, updatedAt: now };
}

test('the memory queue: a user whose endpoints hang holds perUser slots, drops are hers and counted, and others are sent at once', async () => {
  const sender = new HangingSender();
  const drops: string[] = [];
  const queue = new MemoryPushQueue({ concurrency: 4, perUser: 2, perOrigin: 3, maxAttempts: 1, maxQueued: 5 }, {
    sender,
    subscriptions: { upsert: async () => 'limit', list: async () => [], get: async () => undefined, delete: async () => false },
    log: pino({ level: 'silent' }),
    onQueueDrop: (reason, job) => drops.push(`${reason}:${job.subscriptionId}`),
  });
  const malloryJobs = Array.from({ length: 10 }, (_, i) => testJob(record('mallory', `m${i}`, `https://hang.test/${i}`)));
  await queue.enqueue(malloryJobs);
  assert.equal(sender.hanging, 2, 'two of hers in flight');
  assert.equal(await queue.depth(), 5, 'the rest waits up to the bound');
  assert.deepEqual(drops, ['queue_full:m2', 'queue_full:m3', 'queue_full:m4'], 'her oldest waiting ones were dropped');
  await queue.enqueue([testJob(record('bob', 'b0', 'https://fcm.test/b0'))]);
  await waitFor(() => sender.sent.includes('b0'), { timeoutMs: 2000, what: 'bob\'s push' });
  assert.deepEqual(drops.slice(3), ['queue_full:m5'], 'bob\'s push into a full queue cost mallory her oldest waiting one');
  // Her endpoints answer again: what she has left goes out.
  await waitFor(async () => {
    sender.releaseAll();
    return (await queue.depth()) === 0 && sender.hanging === 0;
  }, { timeoutMs: 2000, what: 'the queue to drain' });
  await queue.close();
});

test('BullMQ deferral: a quarter second first, doubling for a job deferred again, never more than 6 s', () => {
  for (let i = 0; i < 50; i++) {
    const first = deferralMs(0);
    assert.ok(first >= 250 && first < 375, `first deferral ${first} ms`);
    const third = deferralMs(2);
    assert.ok(third >= 1000 && third < 1500, `third deferral ${third} ms`);
    const late = deferralMs(100);
    assert.ok(late >= 4000 && late < 6000, `a long-deferred job waits ${late} ms`);
  }
});

test('config: the push limits have safe defaults, and a bad value names its variable', () => {
  const base = { DATA_DIR: '/tmp/unused', LOG_LEVEL: 'silent' };
  const { push } = loadConfig(base);
  assert.deepEqual(
    { perUser: push.concurrencyPerUser, perOrigin: push.concurrencyPerOrigin, queueLimit: push.queueLimit, maxOriginAgents: push.maxOriginAgents, originIdleMs: push.originIdleMs, timeoutMs: push.timeoutMs },
    { perUser: 4, perOrigin: 16, queueLimit: 10000, maxOriginAgents: 64, originIdleMs: 60_000, timeoutMs: 10_000 },
  );
  for (const variable of ['PUSH_CONCURRENCY_PER_USER', 'PUSH_CONCURRENCY_PER_ORIGIN', 'PUSH_QUEUE_LIMIT', 'PUSH_MAX_ORIGINS', 'PUSH_ORIGIN_IDLE_SECONDS']) {
    assert.throws(() => loadConfig({ ...base, [variable]: '0' }), (error: Error) => error instanceof ConfigError && error.message.startsWith(`${variable} must be between 1 and`));
  }
});
