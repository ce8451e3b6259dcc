/**
 * Caps how many logins run at once against one IMAP host, so a worker restart with thousands of
 * accounts queues its logins instead of storming the server (Dovecot's login processes and
 * anti-abuse limits would otherwise start refusing everyone).
 */
export class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly peaks = new Map<string, number>();

  constructor(private readonly perHost: number) {}

  async run<T>(host: string, task: () => Promise<T>): Promise<T> {
    await this.acquire(host);
    try {
      return await task();
    } finally {
      this.release(host);
    }
  }

  /** Logins in flight for a host, for tests and metrics. */
  inFlight(host: string): number {
    return this.active.get(host) ?? 0;
  }

  /** The most logins ever in flight at once for a host. */
  peak(host: string): number {
    return this.peaks.get(host) ?? 0;
  }

  private acquire(host: string): Promise<void> {
    const count = this.active.get(host) ?? 0;
    if (count < this.perHost) {
      this.active.set(host, count + 1);
      this.peaks.set(host, Math.max(this.peak(host), count + 1));
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(host) ?? [];
      queue.push(resolve);
      this.waiting.set(host, queue);
    });
  }

  private release(host: string): void {
    const next = this.waiting.get(host)?.shift();
    if (next) {
      next(); // the slot passes straight to the next waiter
      return;
    }
    this.waiting.delete(host);
    const count = (this.active.get(host) ?? 1) - 1;
    if (count <= 0) this.active.delete(host);
    else this.active.set(host, count);
  }
}
