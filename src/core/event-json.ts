// An event's JSON text, made at most once per process however many sockets it goes to. A live
// feed that received the event as JSON hands that very text over, so a live event is never
// serialised again at all.

import type { MailEvent } from './types.js';

const serialized = new WeakMap<MailEvent, string>();

export function eventJson(event: MailEvent): string {
  let json = serialized.get(event);
  if (json === undefined) {
    json = JSON.stringify(event);
    serialized.set(event, json);
  }
  return json;
}

/** Records `json`, the text `event` was parsed from, as its serialisation. */
export function rememberEventJson(event: MailEvent, json: string): void {
  serialized.set(event, json);
}
