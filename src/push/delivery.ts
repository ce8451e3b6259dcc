// What happens to one push, whichever queue carries it: render the event for the subscription's
// preview level, send it, and turn the push service's answer into done / retry later / give up.

import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { PushSubscriptionRecord, PushSubscriptionStore } from '../core/ports.js';
import type { QuietHours } from '../protocol/quiet-hours.js';
import type { MailEvent } from '../core/types.js';
import { isPushable, isQuietPush, pushFor, type NotificationPayload, type PushMessage } from './payload.js';
import { EndpointNotAllowedError, type PushSender } from './sender.js';

/** One push to one subscription: an event to render, or a ready test payload. */
export interface PushJob {
  userId: string;
  subscriptionId: string;
  /**
   * The subscription as it was when the job was made. The first attempt sends to it without
   * reading the store again (one round trip less between new mail and the push); retries, which
   * come seconds to hours later, read the store, so a subscription deleted meanwhile gets nothing.
   */
  subscription?: PushSubscriptionRecord;
  event?: MailEvent;
  test?: NotificationPayload;
  /**
   * The quiet hours of the subscription's device when the job was made. Whether they apply is
   * decided when the push is sent (a push that waited past the window's end goes out normally).
   */
  quietHours?: QuietHours;
}

/** The producing side, used by workers (events) and the API (test pushes). */
export interface PushQueue {
  enqueue(jobs: PushJob[]): Promise<void>;
  /** Pushes waiting to be sent, including those delayed for a retry. */
  depth(): Promise<number>;
  close(): Promise<void>;
}

export type PushOutcome = 'sent' | 'gone' | 'dropped' | 'failed';

/** Why a queue let go of a push before sending it; see mailpush_push_dropped_total. */
export type QueueDropReason = 'queue_full';

/** Try again later; `delayMs` when the push service said how long (429 Retry-After). */
export class RetryLater extends Error {
  constructor(message: string, readonly delayMs?: number) {
    super(message);
  }
}

export interface DeliveryDeps {
  sender: PushSender;
  subscriptions: PushSubscriptionStore;
  log: Logger;
  /** Called with each final outcome, for metrics and tests. */
  onOutcome?(outcome: PushOutcome, job: PushJob): void;
  /** Called instead of onOutcome for a push a queue dropped unsent (the embedded queue's bound). */
  onQueueDrop?(reason: QueueDropReason, job: PushJob): void;
  /** The clock quiet hours are checked against. @default Date.now */
  now?(): number;
}

/**
 * The jobs for some appended events: one per pushable event and interested subscription, with the
 * quiet hours of the subscription's device (`quietHours`, by device id) when it set any.
 */
export function jobsForEvents(userId: string, events: MailEvent[], subscriptions: PushSubscriptionRecord[], quietHours: ReadonlyMap<string, QuietHours> = new Map()): PushJob[] {
  return events.filter(isPushable).flatMap((event) =>
    subscriptions
      .filter((s) => s.accounts.length === 0 || s.accounts.includes(event.accountId))
      .map((subscription) => {
        const quiet = subscription.deviceId === undefined ? undefined : quietHours.get(subscription.deviceId);
        return { userId, subscriptionId: subscription.id, subscription, event, ...(quiet ? { quietHours: quiet } : {}) };
      }),
  );
}

export function testJob(subscription: PushSubscriptionRecord): PushJob {
  const test: NotificationPayload = { v: 1, type: 'test', tag: `test:${subscription.id}`, title: 'mailpush', body: 'Notifications work on this device.', time: new Date().toISOString() };
  return { userId: subscription.userId, subscriptionId: subscription.id, subscription, test };
}

/** How long to wait before attempt `attemptsMade + 1`. */
export function retryDelay(attemptsMade: number, error: unknown): number {
  return error instanceof RetryLater && error.delayMs !== undefined
    ? Math.min(error.delayMs, 3600_000)
    : backoffDelay(attemptsMade - 1, 1000, 300_000);
}

/**
 * Sends one job; `attempt` counts from 1. Resolves when done (sent, gone or dropped, each reported
 * to onOutcome once); throws RetryLater, and only then may the queue report it as failed (once it
 * is out of attempts). A push is therefore counted exactly once.
 */
export async function deliverPush(job: PushJob, deps: DeliveryDeps, attempt: number): Promise<void> {
  const { userId, subscriptionId, event, test } = job;
  const subscription = attempt === 1 && job.subscription ? job.subscription : await deps.subscriptions.get(userId, subscriptionId);
  if (!subscription) return; // unsubscribed meanwhile: nothing to do
  const quiet = event !== undefined && isQuietPush(event, job.quietHours, (deps.now ?? Date.now)());
  const message: PushMessage | undefined = test ? { payload: test, urgency: 'normal' } : event && pushFor(event, subscription.preview, quiet);
  if (!message) return;
  let result;
  try {
    result = await deps.sender.send(subscription, message);
    // 413: the push service refused the size; the smallest preview always fits.
    if (result.status === 413 && event && subscription.preview !== 'none') {
      result = await deps.sender.send(subscription, pushFor(event, 'none', quiet)!);
    }
  } catch (error) {
    if (error instanceof EndpointNotAllowedError) {
      // Dropped, not failed: another attempt would be refused the same way.
      deps.log.warn({ subscriptionId, err: error.message }, 'push endpoint refused at send time; dropped');
      deps.onOutcome?.('dropped', job);
      return;
    }
    throw new RetryLater(`network: ${(error as Error).message}`);
  }
  const { status } = result;
  if (status >= 200 && status < 300) {
    deps.onOutcome?.('sent', job);
    return;
  }
  if (status === 404 || status === 410) {
    // The browser unsubscribed or the subscription expired: it will never work again.
    await deps.subscriptions.delete(userId, subscriptionId);
    deps.log.info({ subscriptionId, status }, 'push subscription gone; removed');
    deps.onOutcome?.('gone', job);
    return;
  }
  if (status === 429) throw new RetryLater('rate limited by the push service', result.retryAfterMs);
  if (status >= 500) throw new RetryLater(`push service error ${status}`);
  deps.log.warn({ subscriptionId, status }, 'push refused by the push service; dropped');
  deps.onOutcome?.('dropped', job);
}

/** Out of attempts: never silently lost, always counted and logged. */
export function reportFailure(job: PushJob, attempts: number, error: Error, deps: DeliveryDeps): void {
  deps.log.error({ subscriptionId: job.subscriptionId, attempts, err: error.message }, 'push failed for good');
  deps.onOutcome?.('failed', job);
}
