/** Exponential backoff with full jitter: attempt 0 waits about `minMs`, growing to `maxMs`. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  // Half fixed, half random: spreads a crowd of reconnecting accounts without ever retrying at once.
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
