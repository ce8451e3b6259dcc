// What a push notification carries, per event and preview level. Pure functions.
//
// RFC 8291 puts the whole encrypted message in one record of at most 4096 bytes; after the 86-byte
// header, the 16-byte tag and the padding delimiter, 3993 bytes of plaintext remain. We stay under
// MAX_PAYLOAD_BYTES and shorten the text to fit, never cutting a UTF-8 character in two.

import type { PreviewLevel } from '../core/ports.js';
import type { MailEvent } from '../core/types.js';
import { batchNotificationTag, notificationTag, quietNotificationTag, reauthNotificationTag, type PushPayload } from '../protocol/push.js';
import { isQuietAt, isVip, type QuietHours } from '../protocol/quiet-hours.js';

export const MAX_PAYLOAD_BYTES = 3900;
const MAX_TITLE_BYTES = 256;

/** The payload as the service worker reads it (src/protocol/push.ts). */
export type NotificationPayload = PushPayload;

export interface PushMessage {
  payload: NotificationPayload;
  urgency: 'high' | 'normal' | 'low';
  /** RFC 8030 Topic: a newer message with the same topic replaces an undelivered older one. */
  topicKey?: string;
}

/** Cuts `text` to at most `maxBytes` of UTF-8, on a character boundary, marking the cut with "…". */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = '…';
  const budget = maxBytes - Buffer.byteLength(ellipsis);
  if (budget <= 0) return '';
  let used = 0;
  let out = '';
  for (const char of text) {
    // for…of walks code points, so a surrogate pair (an emoji) is never split either
    const size = Buffer.byteLength(char);
    if (used + size > budget) break;
    out += char;
    used += size;
  }
  return out + ellipsis;
}

/** The smallest version of a payload whose JSON fits, shortening body first, then title. */
export function fitPayload(payload: NotificationPayload, maxBytes = MAX_PAYLOAD_BYTES): NotificationPayload {
  const size = (p: NotificationPayload) => Buffer.byteLength(JSON.stringify(p));
  let fitted: NotificationPayload = { ...payload, ...(payload.title ? { title: truncateUtf8(payload.title, MAX_TITLE_BYTES) } : {}) };
  for (let attempt = 0; attempt < 20 && size(fitted) > maxBytes; attempt++) {
    const excess = size(fitted) - maxBytes;
    if (fitted.body && Buffer.byteLength(fitted.body) > 0) {
      fitted = { ...fitted, body: truncateUtf8(fitted.body, Math.max(0, Buffer.byteLength(fitted.body) - excess - 8)) };
    } else if (fitted.tags && fitted.tags.length > 1) {
      fitted = { ...fitted, tags: fitted.tags.slice(0, Math.ceil(fitted.tags.length / 2)) };
    } else if (fitted.title) {
      fitted = { ...fitted, title: truncateUtf8(fitted.title, Math.max(0, Buffer.byteLength(fitted.title) - excess - 8)) };
    } else {
      break;
    }
  }
  return fitted;
}

function sender(from: { name: string; address: string }): string {
  return from.name || from.address || 'Unknown sender';
}

/**
 * Whether an event is worth waking a device for: new mail, a dismissal (read or deleted
 * elsewhere), or an OAuth mailbox that needs its person to sign in again (it is not watched until
 * then, so without a push they would simply stop getting mail). Cheap, and known before the event has an id, so the worker can ask it on the way in.
 */
export function isPushable(event: Pick<MailEvent, 'type' | 'data'>): boolean {
  switch (event.type) {
    case 'mail.new':
    case 'mail.batch':
      return true;
    case 'mail.flags':
      return (event.data as MailEvent<'mail.flags'>['data']).seen;
    case 'mail.expunged':
      return Boolean((event.data as MailEvent<'mail.expunged'>['data']).uids?.length);
    case 'account.state':
      return (event.data as MailEvent<'account.state'>['data']).state === 'reauth_required';
    default:
      return false;
  }
}

/**
 * Whether a device with these quiet hours gets this event's push quietly at `now`: new mail while
 * it is paused or inside its window, unless a VIP sent it. A batch names no sender, so it is quiet.
 */
export function isQuietPush(event: MailEvent, quietHours: QuietHours | undefined, now: number): boolean {
  if (!quietHours || (event.type !== 'mail.new' && event.type !== 'mail.batch')) return false;
  if (!isQuietAt(quietHours, now)) return false;
  return !(event.type === 'mail.new' && isVip(quietHours, (event as MailEvent<'mail.new'>).data.from.address));
}

/**
 * The push for one event, or undefined when it is not pushable (see isPushable).
 * New mail is urgent; a dismissal is not. New mail sent `quiet` (see isQuietPush) has low urgency,
 * says silent, and carries the account's quiet tag and a Topic of its own, so the push service
 * keeps only the newest of a night's pushes per account for a sleeping phone, and the phone shows
 * one notification per account; a VIP's push (normal Topic) never replaces it.
 */
export function pushFor(event: MailEvent, preview: PreviewLevel, quiet = false): PushMessage | undefined {
  const message = loudPushFor(event, preview);
  if (!message || !quiet || message.payload.type === 'dismiss') return message;
  return {
    payload: { ...message.payload, tag: quietNotificationTag(event.accountId), silent: true },
    urgency: 'low',
    topicKey: `${event.accountId}:quiet`,
  };
}

function loudPushFor(event: MailEvent, preview: PreviewLevel): PushMessage | undefined {
  if (!isPushable(event)) return undefined;
  const base = { v: 1 as const, accountId: event.accountId, mailbox: event.mailbox, eventId: event.id, time: event.time };
  switch (event.type) {
    case 'mail.new': {
      const data = (event as MailEvent<'mail.new'>).data;
      const title = preview === 'none' ? 'New mail' : sender(data.from);
      const full = [data.subject || '(no subject)', data.snippet].filter(Boolean).join('\n');
      const body = preview === 'full' ? full : preview === 'sender' ? 'New message' : `${data.unseen} unread`;
      return {
        payload: fitPayload({ ...base, type: 'mail.new', tag: notificationTag(event.accountId, event.mailbox, data.uid), title, body, preview, unseen: data.unseen, uid: data.uid, uidValidity: Number(data.uidValidity) }),
        urgency: 'high',
        topicKey: event.accountId,
      };
    }
    case 'mail.batch': {
      const data = (event as MailEvent<'mail.batch'>).data;
      return {
        payload: fitPayload({ ...base, type: 'mail.batch', tag: batchNotificationTag(event.accountId, event.mailbox), title: `${data.count} new messages`, body: `${data.unseen} unread`, count: data.count, unseen: data.unseen }),
        urgency: 'high',
        topicKey: event.accountId,
      };
    }
    case 'mail.flags': {
      const data = (event as MailEvent<'mail.flags'>).data;
      return { payload: fitPayload({ ...base, type: 'dismiss', tags: [notificationTag(event.accountId, event.mailbox, data.uid)], unseen: data.unseen }), urgency: 'low' };
    }
    case 'mail.expunged': {
      const data = (event as MailEvent<'mail.expunged'>).data;
      const uids = data.uids ?? [];
      return { payload: fitPayload({ ...base, type: 'dismiss', tags: uids.map((uid) => notificationTag(event.accountId, event.mailbox, uid)), unseen: data.unseen }), urgency: 'low' };
    }
    case 'account.state':
      // The service worker says it in the device's language (push.reauthTitle); this is the fallback.
      return {
        payload: fitPayload({ ...base, type: 'reauth', tag: reauthNotificationTag(event.accountId), title: 'Sign in again to keep getting mail', body: 'Your mail provider no longer accepts mailpush\'s sign-in. Open mailpush and sign in again.' }),
        urgency: 'normal',
      };
    default:
      return undefined;
  }
}
