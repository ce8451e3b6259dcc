// The live wire format: what the append script publishes on a user's live channel for each event,
// and how a web process reads it back. The TypeScript half that packs the script's arguments, the
// Lua that builds the message from them, and the decoder are side by side here because they must
// agree byte for byte (test/unit/live-wire.test.ts, and test/integration/live-wire.test.ts runs
// the Lua in a real Redis). One message:
//
//   <type> <time ms> <catch-up 0|1> <id>\n{"id":"<id>",<the event's other fields>}
//
// A web process reads the id and the few fields it needs from that one short line and sends the
// JSON after it untouched, so a live event is never parsed, decoded to a string or serialised again
// on its way to the sockets (a web process carries some 60k events/s: keep it that way).

import { isCatchUpMail, liveEventOf, type LiveEvent } from '../../core/live-event.js';
import type { EventType, MailEvent, NewEvent } from '../../core/types.js';

/** The header without its id, "<type> <time ms> <catch-up 0|1>": the script adds " <id>\n". */
export function liveHeader(event: NewEvent): string {
  return `${event.type} ${Date.parse(event.time)} ${isCatchUpMail(event) ? 1 : 0}`;
}

/**
 * The append script's two arguments for one event: its live header, then the event as JSON
 * without an id (the stream entry's id is the event id; the script stores this JSON as the entry
 * and splices the id into the copy it publishes).
 */
export function liveEventArgs(event: NewEvent): [header: string, fields: string] {
  return [liveHeader(event), JSON.stringify(event)];
}

/**
 * Lua for the append script: `liveMessage(header, id, fields)` builds the message published for
 * one event from the two arguments of liveEventArgs and the id XADD gave it.
 */
export const LIVE_MESSAGE_LUA = String.raw`local function liveMessage(header, id, fields)
  return header .. ' ' .. id .. '\n{"id":"' .. id .. '",' .. string.sub(fields, 2)
end`;

/**
 * What LIVE_MESSAGE_LUA builds, in TypeScript: for publishing the way the script does without it
 * (benchmarks, tests). `fields` is the JSON of liveEventArgs.
 */
export function liveMessage(header: string, id: string, fields: string): string {
  return `${header} ${id}\n{"id":"${id}",${fields.slice(1)}`;
}

/** The other side: the event a published message carries, or undefined for anything else. */
export function parseLiveMessage(message: Buffer): LiveEvent | undefined {
  const newline = message.indexOf(10);
  if (newline < 0) return legacyMessage(message);
  const [type, time, catchUp, id] = message.toString('latin1', 0, newline).split(' ');
  if (!type || !time || !id) return undefined;
  // A copy of its own, once per event: the message is a view into the whole chunk ioredis read
  // (up to 64 KiB), and a socket that is slow to drain would otherwise keep a chunk alive for
  // each ~500-byte event it has queued.
  const body = message.subarray(newline + 1);
  const json = Buffer.allocUnsafeSlow(body.length);
  body.copy(json);
  return { id, json, type: type as EventType, time: Number(time), catchUp: catchUp === '1' };
}

/**
 * A worker of an earlier version publishes the bare JSON (which never holds a raw newline): still
 * understood, parsed the slow way, so web processes can be upgraded before workers.
 */
function legacyMessage(message: Buffer): LiveEvent | undefined {
  if (message[0] !== 0x7b) return undefined; // '{'
  try {
    const event = JSON.parse(message.toString()) as MailEvent;
    return typeof event?.id === 'string' && typeof event.type === 'string' && typeof event.time === 'string' ? liveEventOf(event) : undefined;
  } catch {
    return undefined;
  }
}
