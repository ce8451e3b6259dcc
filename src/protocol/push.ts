// What a Web Push message carries (the gateway builds it in src/push/payload.ts, the service
// worker shows it) and the notification tags both ends agree on. The service worker is a classic
// script and imports this file's types only.

import type { PreviewLevel } from './accounts.js';

export interface PushPayload {
  v: 1;
  /**
   * `dismiss` closes notifications of mail read or deleted elsewhere; `test` is POST …/test;
   * `reauth`: an OAuth mailbox's provider refused the sign-in, the person must sign in again.
   */
  type: 'mail.new' | 'mail.batch' | 'dismiss' | 'test' | 'reauth';
  accountId?: string;
  mailbox?: string | null;
  /** Notification tag: a repeat with the same tag replaces the earlier notification. */
  tag?: string;
  /** Tags of notifications to close (dismiss). */
  tags?: string[];
  /**
   * Chosen by the gateway for the subscription's preview level, in English. The service worker
   * renders the gateway's own words (not the sender or subject) from the app's catalog in the
   * device's language, using `preview`, `count` and `unseen`; title and body are the fallback.
   */
  title?: string;
  body?: string;
  /** mail.new: the preview level title and body were chosen for. */
  preview?: PreviewLevel;
  /** mail.batch: how many new messages. */
  count?: number;
  /** The account's unread count, for the icon badge. */
  unseen?: number;
  eventId?: string;
  time?: string;
  /**
   * New mail during the device's quiet hours (or pause): shown without sound or vibration, under
   * the account's quiet tag (quietNotificationTag), so the night's mail is one notification per
   * account in the morning.
   */
  silent?: boolean;
  /**
   * mail.new: the message's UID and its mailbox's UIDVALIDITY, so a notification's "Mark as read"
   * and "Delete" (POST /v1/accounts/:id/messages/:uid/actions) and a tap (the message view) can name it.
   */
  uid?: number;
  uidValidity?: number;
}

/** The settings a device's push subscription is saved with (POST /v1/push/subscriptions). */
export interface PushSubscriptionBody {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

export interface SubscribeRequest {
  subscription: PushSubscriptionBody;
  accounts?: string[];
  preview?: PreviewLevel;
}

/** A saved subscription as the API shows it: only the endpoint's origin (the URL is a capability). */
export interface PushSubscriptionView {
  id: string;
  /** Account ids whose mail it gets; empty means all of the user's accounts. */
  accounts: string[];
  preview: PreviewLevel;
  createdAt: string;
  endpointOrigin: string;
}

/**
 * The tag of one message's notification, "<accountId>:<mailbox>:<uid>": a dismiss names it to
 * close that notification, and the web app's feed keys the message by it.
 */
export function notificationTag(accountId: string, mailbox: string | null, uid: number): string {
  return `${accountId}:${mailbox ?? ''}:${uid}`;
}

/** The tag of an account's quiet notification: each new mail during quiet hours replaces the one before. */
export function quietNotificationTag(accountId: string): string {
  return `${accountId}:quiet`;
}

/** The tag of an account's "sign in again" notification: one per account, however often it is sent. */
export function reauthNotificationTag(accountId: string): string {
  return `${accountId}::reauth`;
}

/** The tag of an account's "n new messages" notification: each batch replaces the one before. */
export function batchNotificationTag(accountId: string, mailbox: string | null): string {
  return `${accountId}:${mailbox ?? ''}:batch`;
}
