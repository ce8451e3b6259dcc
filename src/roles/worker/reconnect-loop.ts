// Keeps a watcher's IMAP connection coming back: one session until it ends, a pause, the next
// session, until the watcher stops. What a failure means (the state the account shows, how long to
// wait) is reconnect-policy.ts; this is the loop that applies it. What only the loop knows: a
// connection that lived a while ended as a fresh failure, not as part of a loop (the backoff starts
// over), a lost lease ends the loop for good, and a watcher that stops cuts the pause short instead
// of sitting it out.

import { backoffDelay } from '../../core/backoff.js';
import { planRetry } from './reconnect-policy.js';
import { LeaseLostError, type MailboxWatcherOptions, type WatcherStatus } from './watcher-options.js';

export interface ReconnectLoopHooks {
  /** One connection, from login until it closes. Throws when it could not be set up. */
  session(): Promise<void>;
  /** True once the watcher stopped for good: no session or pause follows. */
  stopped(): boolean;
  /** A session ended with the lease lost: the watcher stops for good (the loop has ended). */
  leaseLost(): void;
  setStatus(status: WatcherStatus): void;
}

export class ReconnectLoop {
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly options: Pick<MailboxWatcherOptions, 'mailbox' | 'config' | 'log' | 'metrics'>,
    private readonly hooks: ReconnectLoopHooks,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Ends the pause between sessions now (the watcher is stopping). */
  cutPause(): void {
    this.wake?.();
  }

  /** Resolves when the loop has ended (after the watcher stopped or lost its lease). */
  async ended(): Promise<void> {
    await this.running;
  }

  private async run(): Promise<void> {
    const { options, hooks } = this;
    let attempt = 0;
    for (let round = 0; !hooks.stopped(); round++) {
      if (round > 0) options.metrics?.imapReconnecting();
      hooks.setStatus({ state: attempt === 0 ? 'connecting' : 'reconnecting' });
      let delay: number;
      try {
        const connectedAt = Date.now();
        await hooks.session();
        // A connection that lived a while resets the backoff: this is a fresh failure, not a loop.
        if (Date.now() - connectedAt > 60_000) attempt = 0;
        delay = backoffDelay(attempt++, options.config.imap.reconnectMinMs, options.config.imap.reconnectMaxMs);
      } catch (error) {
        if (error instanceof LeaseLostError) {
          hooks.leaseLost();
          break;
        }
        if (hooks.stopped()) break;
        const plan = planRetry(error, attempt, options.config.imap);
        attempt = plan.nextAttempt;
        delay = plan.delayMs;
        hooks.setStatus({ state: plan.state, error: plan.error });
        options.log.warn({ mailbox: options.mailbox, kind: plan.kind, err: plan.error }, 'imap connection failed');
      }
      if (!hooks.stopped()) await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
