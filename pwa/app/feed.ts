// The feed's state, kept apart from the DOM: which mail is shown, read or gone, the unread count
// per account, and the id of the last event applied. Events at or below that id are ignored, so a
// replay that overlaps what the feed already holds can never show a message twice.

import { compareEventIds } from '../../src/protocol/event-ids.js';
import { notificationTag } from '../../src/protocol/push.js';
import type { Account, MailEvent } from './api.js';

export interface FeedItem {
  /** notificationTag(): the same tag the push notification of this message carries. */
  key: string;
  eventId: string;
  accountId: string;
  mailbox: string | null;
  kind: 'mail' | 'batch';
  from?: string;
  fromAddress?: string;
  subject?: string;
  snippet?: string;
  count?: number;
  time: string;
  read: boolean;
}

export interface FeedState {
  lastEventId?: string;
  items: FeedItem[];
  unseen: Record<string, number>;
}

/** Enough for a notification feed; older items fall off the end. */
const MAX_ITEMS = 200;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export class Feed {
  private state: FeedState;

  constructor(saved?: FeedState) {
    this.state = { items: [], unseen: {}, ...saved };
  }

  get lastEventId(): string | undefined {
    return this.state.lastEventId;
  }

  /** Newest first. */
  get items(): readonly FeedItem[] {
    return this.state.items;
  }

  snapshot(): FeedState {
    return this.state;
  }

  totalUnseen(): number {
    return Object.values(this.state.unseen).reduce((sum, n) => sum + n, 0);
  }

  /** Fresh counts from the gateway (the stream's `ready`, GET /v1/accounts). */
  setAccounts(accounts: readonly Account[]): void {
    const unseen: Record<string, number> = {};
    for (const account of accounts) unseen[account.id] = account.unseen ?? this.state.unseen[account.id] ?? 0;
    this.state.unseen = unseen;
  }

  /** The gateway refused the stored resume point: start from now on the next connection. */
  forgetResumePoint(): void {
    delete this.state.lastEventId;
  }

  forgetAccount(accountId: string): void {
    this.state.items = this.state.items.filter((item) => item.accountId !== accountId);
    delete this.state.unseen[accountId];
  }

  /** Applies one event; false when it was already applied (or changes nothing on screen). */
  apply(event: MailEvent): boolean {
    if (this.state.lastEventId && compareEventIds(event.id, this.state.lastEventId) <= 0) return false;
    this.state.lastEventId = event.id;
    if ('unseen' in event.data && typeof event.data.unseen === 'number') this.state.unseen[event.accountId] = event.data.unseen;
    const tagOf = (uid: number) => notificationTag(event.accountId, event.mailbox, uid);
    switch (event.type) {
      case 'mail.new': {
        const { data } = event;
        const key = tagOf(data.uid);
        if (this.state.items.some((item) => item.key === key)) return true;
        const from: Partial<Record<'name' | 'address', unknown>> = data.from ?? {};
        this.add({
          key, eventId: event.id, accountId: event.accountId, mailbox: event.mailbox, kind: 'mail',
          // No sender or subject stays absent: the view says so in the language of the moment.
          ...(text(from.name) ?? text(from.address) ? { from: (text(from.name) ?? text(from.address))! } : {}),
          ...(text(from.address) ? { fromAddress: text(from.address)! } : {}),
          ...(text(data.subject) ? { subject: text(data.subject)! } : {}),
          ...(text(data.snippet) ? { snippet: text(data.snippet)! } : {}),
          time: event.time, read: false,
        });
        return true;
      }
      case 'mail.batch':
        this.add({
          key: `${event.accountId}:${event.mailbox ?? ''}:batch:${event.id}`, eventId: event.id, accountId: event.accountId,
          mailbox: event.mailbox, kind: 'batch', count: Number(event.data.count) || 0, time: event.time, read: false,
        });
        return true;
      case 'mail.flags': {
        const item = this.state.items.find((i) => i.key === tagOf(event.data.uid));
        if (item) item.read = event.data.seen === true;
        return true;
      }
      case 'mail.expunged': {
        const gone = new Set((Array.isArray(event.data.uids) ? event.data.uids : []).map(tagOf));
        this.state.items = this.state.items.filter((item) => !gone.has(item.key));
        return true;
      }
      case 'mailbox.reset':
        // New UIDVALIDITY: the old uids mean nothing any more.
        this.state.items = this.state.items.filter((i) => !(i.accountId === event.accountId && i.mailbox === event.mailbox));
        return true;
      default:
        return true;
    }
  }

  private add(item: FeedItem): void {
    this.state.items.unshift(item);
    if (this.state.items.length > MAX_ITEMS) this.state.items.length = MAX_ITEMS;
  }
}
