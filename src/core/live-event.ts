// An event on its way to live sockets. A web process may hand one event to thousands of sockets
// per second, so what it needs per event is kept ready instead of parsed: the id (to skip what a
// socket already had), the JSON text to send as it is, and the few fields metrics read.

import type { MailEvent, NewEvent } from './types.js';

export interface LiveEvent {
  readonly id: string;
  /** The whole event as JSON, id included: the text a socket is sent. */
  readonly json: string | Uint8Array;
  readonly type: MailEvent['type'];
  /** The event's `time` in ms: when the worker saw the change. */
  readonly time: number;
  /** A mail.new found while nobody held the account (not live, so not timed). */
  readonly catchUp: boolean;
}

/** A mail.new found while nobody held the account: not live, so not timed. */
export function isCatchUpMail(event: NewEvent): boolean {
  return event.type === 'mail.new' && (event as NewEvent<'mail.new'>).data.catchUp;
}

/** For a feed that has the event as an object (the embedded one): serialised once, here. */
export function liveEventOf(event: MailEvent): LiveEvent {
  return {
    id: event.id,
    json: JSON.stringify(event),
    type: event.type,
    time: Date.parse(event.time),
    catchUp: isCatchUpMail(event),
  };
}
