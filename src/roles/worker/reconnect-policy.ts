// What a watcher does after its connection failed: which state the account shows and how long it
// waits before the next attempt. Kept apart from the watcher because it is policy, not plumbing:
// a wrong password must never be retried in a loop (servers lock accounts out for that), and a
// setting that cannot work (host, port, security, a missing folder) waits the longest pause.

import type { Config } from '../../config.js';
import { backoffDelay } from '../../core/backoff.js';
import { classifyImapError } from '../../imap/client.js';
import type { WatcherState } from './watcher-options.js';

export interface RetryPlan {
  state: WatcherState;
  error: string;
  /** The imap error kind, for the log. */
  kind: string;
  delayMs: number;
  /** The backoff step to use next time. */
  nextAttempt: number;
}

export function planRetry(error: unknown, attempt: number, imap: Config['imap']): RetryPlan {
  const failure = classifyImapError(error);
  const backoff = () => backoffDelay(attempt, imap.reconnectMinMs, imap.reconnectMaxMs);
  if (failure.kind === 'auth_failed') {
    // A PATCH with a new password restarts the watcher; otherwise try again after a long pause.
    return { state: 'auth_failed', error: failure.message, kind: failure.kind, delayMs: imap.authRetryMs, nextAttempt: attempt };
  }
  const hard = failure.kind === 'host_not_allowed' || failure.kind === 'port_not_allowed'
    || failure.kind === 'insecure_not_allowed' || failure.kind === 'mailbox_missing' || failure.kind === 'mechanism_not_offered';
  if (hard) return { state: 'error', error: failure.message, kind: failure.kind, delayMs: imap.reconnectMaxMs, nextAttempt: attempt };
  // A server past the response limits is broken or hostile: say so, but back off as for any
  // fault, since a fixed server (or a deleted message) makes the next attempt work.
  const state = failure.kind === 'response_too_large' ? 'error' : 'reconnecting';
  return { state, error: failure.message, kind: failure.kind, delayMs: backoff(), nextAttempt: attempt + 1 };
}
