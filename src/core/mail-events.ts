// Turning what IMAP told us into events. Pure functions: no I/O, easy to test.

import { capText, FIELD_CAPS } from './field-caps.js';
import type { EventDataByType, MailAddress, NewEvent } from './types.js';

/** The fields of a new message that a notification needs, already decoded. */
export interface NewMessage {
  uid: number;
  messageId: string | null;
  from: MailAddress;
  subject: string;
  date: string | null;
  /** The start of the text, for previews; null when the message has no text part. */
  snippet: string | null;
}

export interface MailboxContext {
  accountId: string;
  mailbox: string;
  uidValidity: string;
  /** Unseen messages in the mailbox after these arrived. */
  unseen: number;
  /** True when these arrived while nobody held the account. */
  catchUp: boolean;
  /** More messages than this become one mail.batch event. */
  batchSize: number;
  now: Date;
}

/**
 * One mail.new per message in UID order, or a single mail.batch for a burst larger than the batch
 * size, so a client that was away does not get hundreds of notifications.
 */
export function newMailEvents(messages: readonly NewMessage[], ctx: MailboxContext): NewEvent[] {
  if (messages.length === 0) return [];
  const sorted = [...messages].sort((a, b) => a.uid - b.uid);
  if (sorted.length > ctx.batchSize) {
    return [batchEvent({ count: sorted.length, first: sorted[0]!.uid, last: sorted[sorted.length - 1]!.uid }, ctx)];
  }
  const time = ctx.now.toISOString();
  return sorted.map((message) => ({
    type: 'mail.new' as const,
    accountId: ctx.accountId,
    mailbox: ctx.mailbox,
    time,
    data: {
      uid: message.uid,
      uidValidity: ctx.uidValidity,
      messageId: message.messageId === null ? null : capText(message.messageId, FIELD_CAPS.messageId),
      from: { name: capText(message.from.name, FIELD_CAPS.name), address: capText(message.from.address, FIELD_CAPS.address) },
      subject: capText(message.subject, FIELD_CAPS.subject),
      date: message.date,
      snippet: message.snippet === null ? null : capText(message.snippet, FIELD_CAPS.snippet),
      unseen: ctx.unseen,
      catchUp: ctx.catchUp,
    },
  }));
}

/** How many UIDs, and the lowest and highest: what a mail.batch says, in constant memory. */
export interface UidSpan {
  count: number;
  first: number;
  last: number;
}

/** Adds one UID to a span (a new span for the first). No spread: any number of UIDs is fine. */
export function widenSpan(span: UidSpan | undefined, uid: number): UidSpan {
  if (!span) return { count: 1, first: uid, last: uid };
  span.count++;
  if (uid < span.first) span.first = uid;
  if (uid > span.last) span.last = uid;
  return span;
}

export function uidSpanOf(uids: Iterable<number>): UidSpan | undefined {
  let span: UidSpan | undefined;
  for (const uid of uids) span = widenSpan(span, uid);
  return span;
}

export function batchEvent(span: UidSpan, ctx: MailboxContext): NewEvent<'mail.batch'> {
  return {
    type: 'mail.batch',
    accountId: ctx.accountId,
    mailbox: ctx.mailbox,
    time: ctx.now.toISOString(),
    data: { count: span.count, firstUid: span.first, lastUid: span.last, unseen: ctx.unseen, catchUp: ctx.catchUp },
  };
}

/**
 * Gathers new messages as a FETCH streams them: the messages themselves while there are at most
 * `limit` (what mail.new events need), then only their span (a mail.batch), so a mailbox import
 * of any size takes constant memory.
 */
export class NewMailCollector<M extends { uid: number }> {
  private kept: M[] = [];
  private span: UidSpan | undefined;

  constructor(private readonly limit: number) {}

  add(message: M): void {
    this.span = widenSpan(this.span, message.uid);
    if (this.span.count <= this.limit) this.kept.push(message);
    else this.kept = [];
  }

  /** The messages when at most `limit` came, else undefined (use span()). */
  messages(): M[] | undefined {
    return this.span && this.span.count > this.limit ? undefined : this.kept;
  }

  spanOf(): UidSpan | undefined {
    return this.span;
  }
}

/** One mail.expunged names at most this many UIDs, so it stays within MAX_EVENT_BYTES. */
export const EXPUNGED_UIDS_PER_EVENT = 512;
/** A bulk delete of more UIDs becomes one mail.expunged without `uids`, as servers without QRESYNC send. */
export const MAX_EXPUNGED_UIDS = 4 * EXPUNGED_UIDS_PER_EVENT;

/** The data of the mail.expunged events for UIDs removed together: in UID order, chunked. */
export function expungedData(uids: readonly number[], unseen: number): Array<EventDataByType['mail.expunged']> {
  if (uids.length === 0 || uids.length > MAX_EXPUNGED_UIDS) return [{ unseen }];
  const sorted = [...uids].sort((a, b) => a - b);
  const chunks: Array<EventDataByType['mail.expunged']> = [];
  for (let at = 0; at < sorted.length; at += EXPUNGED_UIDS_PER_EVENT) {
    chunks.push({ uids: sorted.slice(at, at + EXPUNGED_UIDS_PER_EVENT), unseen });
  }
  return chunks;
}

/** Normalises an IMAP envelope address list into the one sender we show. */
export function senderOf(from: ReadonlyArray<{ name?: string; address?: string }> | undefined): MailAddress {
  const first = from?.[0];
  return { name: first?.name?.trim() ?? '', address: first?.address?.trim() ?? '' };
}

export function isoDate(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
