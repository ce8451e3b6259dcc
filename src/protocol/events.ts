// Events: one shape on every channel (the stream, GET /v1/events, the log), `data` typed per
// event type. Type-only apart from EVENT_TYPES.

import type { AccountState } from './accounts.js';

export interface MailAddress {
  name: string;
  address: string;
}

export interface EventDataByType {
  'mail.new': {
    uid: number;
    uidValidity: string;
    messageId: string | null;
    from: MailAddress;
    subject: string;
    date: string | null;
    snippet: string | null;
    unseen: number;
    catchUp: boolean;
  };
  'mail.batch': { count: number; firstUid: number; lastUid: number; unseen: number; catchUp: boolean };
  'mail.flags': { uid: number; seen: boolean; flags: string[]; unseen: number };
  'mail.expunged': { uids?: number[]; unseen: number };
  'mailbox.reset': { uidValidity: string };
  'account.state': { state: AccountState; error?: string };
}

export type EventType = keyof EventDataByType;

/** Every event type once: a missing or unknown one does not compile. */
const EVENT_TYPE_SET = {
  'mail.new': true, 'mail.batch': true, 'mail.flags': true, 'mail.expunged': true, 'mailbox.reset': true, 'account.state': true,
} as const satisfies Record<EventType, true>;
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as EventType[];

/** An event before the log gives it an id. */
export interface NewEvent<T extends EventType = EventType> {
  type: T;
  accountId: string;
  mailbox: string | null;
  time: string;
  data: EventDataByType[T];
}

/** An event as every channel carries it. `id` is the event log's (see event-ids.ts). */
export type MailEvent<T extends EventType = EventType> = NewEvent<T> & { id: string };

/** Any one event, narrowed by `type` (`MailEvent` alone leaves `data` a union unrelated to `type`). */
export type AnyMailEvent = { [T in EventType]: MailEvent<T> }[EventType];
