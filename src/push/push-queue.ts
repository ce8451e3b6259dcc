// The durable send queue between the workers (which append events) and the web processes (which
// talk to push services).
//
// Why BullMQ: it is a well-kept Redis queue that already does what we would otherwise write by
// hand on Redis Streams: each job goes to exactly one consumer however many web processes run,
// delayed retries with a custom backoff (we need Retry-After for 429), recovery of jobs a killed
// process was holding (stalled jobs), and a record of jobs that failed for good.

import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { PushSubscriptionRecord, PushSubscriptionStore } from '../core/ports.js';
import type { MailEvent } from '../core/types.js';
import { pushFor, type NotificationPayload, type PushMessage } from './payload.js';
import { EndpointNotAllowedError, type PushSender } from './sender.js';

const QUEUE = 'push';

/** One push to one subscription: an event to render, or a ready test payload. */
export interface PushJob {
  userId: string;
  subscriptionId: string;
  event?: MailEvent;
  test?: NotificationPayload;
}

class RetryLater extends Error {
  constructor(message: string, readonly delayMs?: number) {
    super(message);
  }
}

export interface PushQueueOptions {
  redisUrl: string;
  prefix: string;
  maxAttempts: number;
}

function connection(url: string): Redis {
  // BullMQ's blocking commands need a connection that never gives up on a request.
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: false });
  redis.on('error', () => undefined);
  return redis;
}

/** The producing side, used by workers: one job per event and matching subscription. */
export class PushQueue {
  private readonly queue: Queue<PushJob>;
  private readonly redis: Redis;

  constructor(private readonly options: PushQueueOptions, private readonly subscriptions: PushSubscriptionStore) {
    this.redis = connection(options.redisUrl);
    this.queue = new Queue<PushJob>(QUEUE, { connection: this.redis, prefix: options.prefix });
  }

  async enqueueEvents(userId: string, events: MailEvent[]): Promise<number> {
    const pushable = events.filter((event) => pushFor(event, 'none') !== undefined);
    if (pushable.length === 0) return 0;
    const subscriptions = await this.subscriptions.list(userId);
    const jobs = pushable.flatMap((event) =>
      subscriptions
        .filter((s) => s.accounts.length === 0 || s.accounts.includes(event.accountId))
        .map((s) => this.job({ userId, subscriptionId: s.id, event })),
    );
    if (jobs.length) await this.queue.addBulk(jobs);
    return jobs.length;
  }

  async enqueueTest(subscription: PushSubscriptionRecord): Promise<void> {
    const test: NotificationPayload = { v: 1, type: 'test', tag: `test:${subscription.id}`, title: 'mailpush', body: 'Notifications work on this device.', time: new Date().toISOString() };
    await this.queue.addBulk([this.job({ userId: subscription.userId, subscriptionId: subscription.id, test })]);
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }

  private job(data: PushJob) {
    return {
      name: data.event?.type ?? 'test',
      data,
      opts: {
        attempts: this.options.maxAttempts,
        backoff: { type: 'push' },
        removeOnComplete: true,
        // Jobs that failed for good stay inspectable for a while instead of vanishing.
        removeOnFail: { count: 1000 },
      },
    };
  }
}

export interface PushDispatcherDeps extends PushQueueOptions {
  concurrency: number;
  sender: PushSender;
  subscriptions: PushSubscriptionStore;
  log: Logger;
  /** Called with each final outcome, for metrics and tests. */
  onOutcome?(outcome: 'sent' | 'gone' | 'dropped' | 'failed', job: PushJob): void;
}

/** The consuming side, run by web processes: sends, retries, and cleans up dead subscriptions. */
export class PushDispatcher {
  private readonly worker: Worker<PushJob>;
  private readonly redis: Redis;

  constructor(private readonly deps: PushDispatcherDeps) {
    this.redis = connection(deps.redisUrl);
    this.worker = new Worker<PushJob>(QUEUE, (job) => this.process(job), {
      connection: this.redis,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
          error instanceof RetryLater && error.delayMs !== undefined
            ? Math.min(error.delayMs, 3600_000)
            : backoffDelay(attemptsMade - 1, 1000, 300_000),
      },
    });
    this.worker.on('failed', (job, error) => {
      if (!job || (job.attemptsMade < (job.opts.attempts ?? 1) && !(error instanceof UnrecoverableError))) return;
      // Out of attempts: never silently lost, always counted and logged.
      deps.log.error({ subscriptionId: job.data.subscriptionId, attempts: job.attemptsMade, err: error.message }, 'push failed for good');
      deps.onOutcome?.('failed', job.data);
    });
    this.worker.on('error', (error) => deps.log.warn({ err: error.message }, 'push queue error'));
  }

  /** Stops taking jobs and waits for the ones in flight. */
  async close(): Promise<void> {
    await this.worker.close();
    this.redis.disconnect();
    this.deps.sender.close();
  }

  private async process(job: Job<PushJob>): Promise<void> {
    const { userId, subscriptionId, event, test } = job.data;
    const subscription = await this.deps.subscriptions.get(userId, subscriptionId);
    if (!subscription) return; // unsubscribed meanwhile: nothing to do
    const message: PushMessage | undefined = test
      ? { payload: test, urgency: 'normal' }
      : event && pushFor(event, subscription.preview);
    if (!message) return;
    let result;
    try {
      result = await this.deps.sender.send(subscription, message);
      // 413: the push service refused the size; the smallest preview always fits.
      if (result.status === 413 && event && subscription.preview !== 'none') {
        result = await this.deps.sender.send(subscription, pushFor(event, 'none')!);
      }
    } catch (error) {
      if (error instanceof EndpointNotAllowedError) {
        this.deps.log.warn({ subscriptionId, err: error.message }, 'push endpoint refused at send time');
        this.deps.onOutcome?.('dropped', job.data);
        throw new UnrecoverableError(error.message);
      }
      throw new RetryLater(`network: ${(error as Error).message}`);
    }
    const { status } = result;
    if (status >= 200 && status < 300) {
      this.deps.onOutcome?.('sent', job.data);
      return;
    }
    if (status === 404 || status === 410) {
      // The browser unsubscribed or the subscription expired: it will never work again.
      await this.deps.subscriptions.delete(userId, subscriptionId);
      this.deps.log.info({ subscriptionId, status }, 'push subscription gone; removed');
      this.deps.onOutcome?.('gone', job.data);
      return;
    }
    if (status === 429) throw new RetryLater('rate limited by the push service', result.retryAfterMs);
    if (status >= 500) throw new RetryLater(`push service error ${status}`);
    this.deps.log.warn({ subscriptionId, status }, 'push refused by the push service; dropped');
    this.deps.onOutcome?.('dropped', job.data);
  }
}
