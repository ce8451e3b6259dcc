// The push queue of the embedded single-process mode: jobs live in memory, retries are timers.
// A restart forgets pushes that were waiting for a retry; the events themselves are in the log.
//
// Sending order and bounds are the FairScheduler's: users take turns, SendLimits caps what one
// user or one push service holds in flight, and at most `maxQueued` pushes wait, the oldest push
// of the user with the most waiting being dropped first (counted through onQueueDrop).

import { deliverPush, reportFailure, retryDelay, type DeliveryDeps, type PushJob, type PushQueue } from './delivery.js';
import { FairScheduler, type Scheduled } from './fair-scheduler.js';
import { originOf, SendLimits, type SendLimitOptions } from './send-limits.js';

interface Attempted {
  job: PushJob;
  /** Attempts made so far. */
  attempts: number;
}

export interface MemoryQueueOptions extends SendLimitOptions {
  maxAttempts: number;
  /** Pushes that may wait, ready or delayed for a retry. */
  maxQueued: number;
}

export class MemoryPushQueue implements PushQueue {
  private readonly scheduler: FairScheduler<Attempted>;
  private readonly timers = new Map<Scheduled<Attempted>, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** Whether the queue-full warning was logged since the queue was last below its bound. */
  private warnedFull = false;

  constructor(private readonly options: MemoryQueueOptions, private readonly deps: DeliveryDeps) {
    this.scheduler = new FairScheduler(new SendLimits(options), options.maxQueued);
  }

  async enqueue(jobs: PushJob[]): Promise<void> {
    // Sending as they come in: what can leave at once does not count against the bound.
    for (const job of jobs) {
      this.add({ job, attempts: 0 });
      this.pump();
    }
  }

  async depth(): Promise<number> {
    return this.scheduler.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
    this.scheduler.drain();
    await Promise.all(this.inFlight);
    this.deps.sender.close();
  }

  private add(attempted: Attempted, delayMs?: number): void {
    if (this.closed) return;
    const { entry, dropped } = this.scheduler.add(attempted, attempted.job.userId, originOf(attempted.job), { delayed: delayMs !== undefined });
    for (const lost of dropped) {
      const timer = this.timers.get(lost);
      if (timer) clearTimeout(timer);
      this.timers.delete(lost);
      // One warning per episode, not one per push: a flood would otherwise flood the log too.
      if (!this.warnedFull) {
        this.deps.log.warn({ limit: this.options.maxQueued, userId: lost.userId }, 'push queue full: dropping the oldest pushes of the users with the most waiting (see mailpush_push_dropped_total)');
        this.warnedFull = true;
      }
      this.deps.onQueueDrop?.('queue_full', lost.item.job);
    }
    if (delayMs === undefined || dropped.includes(entry)) return;
    const timer = setTimeout(() => {
      this.timers.delete(entry);
      if (this.scheduler.wake(entry)) this.pump();
    }, delayMs);
    this.timers.set(entry, timer);
  }

  private pump(): void {
    while (!this.closed) {
      const next = this.scheduler.next();
      if (!next) return;
      const { entry, release } = next;
      if (this.scheduler.size <= this.options.maxQueued / 2) this.warnedFull = false;
      const running = this.run(entry.item).finally(() => {
        release();
        this.inFlight.delete(running);
        this.pump();
      });
      this.inFlight.add(running);
    }
  }

  private async run({ job, attempts }: Attempted): Promise<void> {
    const attempt = attempts + 1;
    try {
      await deliverPush(job, this.deps, attempt);
    } catch (error) {
      if (attempt >= this.options.maxAttempts) {
        reportFailure(job, attempt, error as Error, this.deps);
        return;
      }
      this.add({ job, attempts: attempt }, retryDelay(attempt, error));
    }
  }
}
