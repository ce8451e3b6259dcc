// The durable send queue between the workers (which append events) and the web processes (which
// talk to push services), when Redis is there.
//
// Why BullMQ: it is a well-kept Redis queue that already does what we would otherwise write by
// hand on Redis Streams: each job goes to exactly one consumer however many web processes run,
// delayed retries with a custom backoff (we need Retry-After for 429), recovery of jobs a killed
// process was holding (stalled jobs), and a record of jobs that failed for good.

import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { connectRedis, type RedisClient, type RedisTarget } from '../adapters/redis/connection.js';
import { deliverPush, reportFailure, retryDelay, type DeliveryDeps, type PushJob, type PushQueue } from './delivery.js';
import { originOf, SendLimits, type SendLimitOptions } from './send-limits.js';

const QUEUE = 'push';

export interface BullmqQueueOptions {
  /** REDIS_URL or the cluster; on a cluster the prefix must be one hash tag (keys.pushQueuePrefix). */
  redis: RedisTarget;
  prefix: string;
  maxAttempts: number;
}

function connection(target: RedisTarget, name: string): RedisClient {
  // BullMQ's blocking commands need a connection that never gives up on a request (queue: true).
  return connectRedis(target, name, { queue: true });
}

export class BullmqPushQueue implements PushQueue {
  private readonly queue: Queue<PushJob>;
  private readonly redis: RedisClient;

  constructor(private readonly options: BullmqQueueOptions) {
    this.redis = connection(options.redis, 'push-queue');
    this.queue = new Queue<PushJob>(QUEUE, { connection: this.redis, prefix: options.prefix });
  }

  async enqueue(jobs: PushJob[]): Promise<void> {
    if (jobs.length === 1) {
      // The usual case, one new mail for one device: a single script call, no MULTI around it.
      const { name, data, opts } = this.job(jobs[0]!);
      await this.queue.add(name, data, opts);
    } else if (jobs.length > 1) {
      await this.queue.addBulk(jobs.map((job) => this.job(job)));
    }
  }

  async depth(): Promise<number> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
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

/**
 * How long a job waits when its user or push service is at its cap, before it is tried again: a
 * quarter second the first time, doubling for a job deferred again up to 4 s (a user whose
 * endpoints hang for good then costs Redis a few commands per job every few seconds, not a
 * stream of them), plus up to half again so that deferred jobs do not all come back together.
 */
export function deferralMs(deferredBefore: number): number {
  const base = 250 * 2 ** Math.min(Math.max(deferredBefore, 0), 4);
  return base + Math.floor(Math.random() * base * 0.5);
}

/**
 * The consuming side, run by web processes: sends, retries, and cleans up dead subscriptions.
 *
 * Fairness, the BullMQ way. Open-source BullMQ has no per-group concurrency (that is BullMQ Pro's
 * "groups"), and its worker takes jobs first in, first out. So each process checks SendLimits
 * (per process: `concurrency` in all, `perUser`, `perOrigin`) as a job starts: a job whose user or
 * push service already has its share in flight is not sent but put back as delayed for a moment
 * (moveToDelayed + DelayedError, which BullMQ does not count as an attempt), and the worker's slot
 * goes to the next job at once. A user with a thousand pushes to an endpoint that never answers
 * thus holds `perUser` slots; the others cycle through the delayed set, each costing a few Redis
 * commands per deferral, while the next user's push is taken within a few milliseconds. The price
 * is order within one over-cap user (a deferred push may leave after a later one), which the
 * notification tags make harmless. The worker's own concurrency is the process's `concurrency`,
 * so a deferral never waits for a slot it holds.
 */
export class BullmqPushDispatcher {
  private readonly worker: Worker<PushJob>;
  private readonly redis: RedisClient;
  private readonly limits: SendLimits;

  constructor(options: BullmqQueueOptions & SendLimitOptions, private readonly deps: DeliveryDeps) {
    this.redis = connection(options.redis, 'push-dispatch');
    this.limits = new SendLimits(options);
    this.worker = new Worker<PushJob>(QUEUE, (job, token) => this.process(job, token), {
      connection: this.redis,
      prefix: options.prefix,
      concurrency: options.concurrency,
      settings: { backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) => retryDelay(attemptsMade, error) },
    });
    this.worker.on('failed', (job, error) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      reportFailure(job.data, job.attemptsMade, error, deps);
    });
    this.worker.on('error', (error) => deps.log.warn({ err: error.message }, 'push queue error'));
  }

  /** Stops taking jobs and waits for the ones in flight. */
  async close(): Promise<void> {
    await this.worker.close();
    this.redis.disconnect();
    this.deps.sender.close();
  }

  private async process(job: Job<PushJob>, token?: string): Promise<void> {
    const release = this.limits.tryStart(job.data.userId, originOf(job.data));
    if (!release) {
      // attemptsStarted counts every time the job became active: this one, earlier attempts, earlier deferrals.
      await job.moveToDelayed(Date.now() + deferralMs(job.attemptsStarted - 1 - job.attemptsMade), token);
      throw new DelayedError();
    }
    try {
      await deliverPush(job.data, this.deps, job.attemptsMade + 1);
    } finally {
      release();
    }
  }
}
