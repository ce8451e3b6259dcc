// Small polling utilities. Fixtures poll real observable state (a port that
// answers, a process that exited) instead of sleeping for a guessed duration,
// so they are as fast as the machine allows and still tolerate a slow CI box.
import { setTimeout as delay } from 'node:timers/promises';

export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between probes (default 25 ms). */
  intervalMs?: number;
  /** Used in the timeout error message. */
  what?: string;
}

/**
 * The one polling helper of the suite: calls `probe` until it returns a truthy
 * value and resolves with that value. If the probe throws, the error is
 * propagated at once: probes throw to signal "this can never succeed" (e.g. the
 * server process died), which should fail fast rather than wait for the timeout.
 *
 * For waiting on a condition only. "Nothing more arrives" is not a condition to
 * wait for: deliver a sentinel after the case and wait for it instead, then
 * assert on everything that arrived before it.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false | 0 | ''> | T | undefined | null | false | 0 | '',
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as T;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** Rejects with a descriptive error if `promise` does not settle within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      promise,
      delay(ms, undefined, { signal: ac.signal }).then(() => {
        throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      }),
    ]);
  } finally {
    ac.abort(); // cancel the timer so it does not keep the process alive
  }
}
