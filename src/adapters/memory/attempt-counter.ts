import type { AttemptCounter } from '../../core/ports.js';

/**
 * At most this many clients are remembered per kind; past it, expired windows are dropped first.
 * Enough that a stranger cannot evict a mailbox's login budget by cycling through other mailboxes;
 * each kind is bounded on its own, so a flood of one (wrong pairing codes from many addresses)
 * cannot push out the counters of another.
 */
const MAX_CLIENTS_PER_KIND = 50_000;

interface Window {
  count: number;
  endsAt: number;
}

/** Attempt counters in one process (embedded mode), bounded in size. */
export class MemoryAttemptCounter implements AttemptCounter {
  private readonly kinds = new Map<string, Map<string, Window>>();

  constructor(private readonly now: () => number = Date.now) {}

  async count(kind: string, client: string): Promise<number> {
    const window = this.kinds.get(kind)?.get(client);
    return window && window.endsAt > this.now() ? window.count : 0;
  }

  async record(kind: string, client: string, windowMs: number): Promise<number> {
    let windows = this.kinds.get(kind);
    if (!windows) this.kinds.set(kind, (windows = new Map()));
    const now = this.now();
    let window = windows.get(client);
    if (!window || window.endsAt <= now) {
      if (windows.size >= MAX_CLIENTS_PER_KIND) prune(windows, now);
      window = { count: 0, endsAt: now + windowMs };
      windows.set(client, window);
    }
    window.count += 1;
    return window.count;
  }

  async windowLeftMs(kind: string, client: string): Promise<number> {
    const window = this.kinds.get(kind)?.get(client);
    return window ? Math.max(0, window.endsAt - this.now()) : 0;
  }
}

function prune(windows: Map<string, Window>, now: number): void {
  for (const [client, window] of windows) if (window.endsAt <= now) windows.delete(client);
  // Still full of live windows: forget the oldest (insertion order), a bounded cost of a flood.
  for (const client of windows.keys()) {
    if (windows.size < MAX_CLIENTS_PER_KIND) break;
    windows.delete(client);
  }
}
