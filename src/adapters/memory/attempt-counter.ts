import type { AttemptCounter } from '../../core/ports.js';

/** At most this many clients are remembered; past it, expired windows are dropped first. */
const MAX_KEYS = 10_000;

/** Failure counters in one process (embedded mode), bounded in size. */
export class MemoryAttemptCounter implements AttemptCounter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async count(kind: string, client: string): Promise<number> {
    const window = this.windows.get(`${kind}:${client}`);
    return window && window.endsAt > this.now() ? window.count : 0;
  }

  async record(kind: string, client: string, windowMs: number): Promise<number> {
    const key = `${kind}:${client}`;
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      if (this.windows.size >= MAX_KEYS) this.prune(now);
      window = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return window.count;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    // Still full of live windows: forget the oldest (insertion order), a bounded cost of a flood.
    for (const key of this.windows.keys()) {
      if (this.windows.size < MAX_KEYS) break;
      this.windows.delete(key);
    }
  }
}
