// The push queue of the embedded single-process mode: jobs live in memory, retries are timers.
// A restart forgets pushes that were waiting for a retry; the events themselves are in the log.

import { deliverPush, reportFailure, retryDelay, type DeliveryDeps, type PushJob, type PushQueue } from './delivery.js';

export class MemoryPushQueue implements PushQueue {
  private readonly waiting: Array<{ job: PushJob; attempts: number }> = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly options: { concurrency: number; maxAttempts: number },
    private readonly deps: DeliveryDeps,
  ) {}

  async enqueue(jobs: PushJob[]): Promise<void> {
    for (const job of jobs) this.push(job, 0);
  }

  async depth(): Promise<number> {
    return this.waiting.length + this.timers.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timers.forEach((timer) => clearTimeout(timer));
    await Promise.all(this.inFlight);
    this.deps.sender.close();
  }

  private push(job: PushJob, attempts: number): void {
    if (this.closed) return;
    this.waiting.push({ job, attempts });
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight.size < this.options.concurrency && this.waiting.length) {
      const { job, attempts } = this.waiting.shift()!;
      const running = this.run(job, attempts + 1).finally(() => {
        this.inFlight.delete(running);
        this.pump();
      });
      this.inFlight.add(running);
    }
  }

  private async run(job: PushJob, attempt: number): Promise<void> {
    try {
      await deliverPush(job, this.deps, attempt);
    } catch (error) {
      if (attempt >= this.options.maxAttempts) {
        reportFailure(job, attempt, error as Error, this.deps);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.push(job, attempt);
      }, retryDelay(attempt, error));
      this.timers.add(timer);
    }
  }
}
