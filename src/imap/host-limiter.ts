/**
 * Caps how many logins run at once against one IMAP host, so a worker restart with thousands of
 * accounts queues its logins instead of storming the server (Dovecot's login processes and
 * anti-abuse limits would otherwise start refusing everyone).
 */
export class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Waiters>();
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
      let queue = this.waiting.get(host);
      if (!queue) this.waiting.set(host, (queue = new Waiters()));
      queue.push(resolve);
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

/**
 * One host's waiting logins, first come first served. Not an array's shift(), which moved the
 * whole array on each login: at a worker's start 10,000 wait for one host, and that copying was
 * 0.5 % of the bring-up's CPU.
 */
class Waiters {
  private items: Array<(() => void) | undefined> = [];
  private head = 0;

  push(waiter: () => void): void {
    this.items.push(waiter);
  }

  shift(): (() => void) | undefined {
    if (this.head === this.items.length) return undefined;
    const waiter = this.items[this.head];
    this.items[this.head++] = undefined;
    // Drop the consumed front once it is most of the array, so the array does not grow for ever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return waiter;
  }
}
