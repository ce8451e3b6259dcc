// Reading the new mail above a watermark from the selected mailbox, for MailboxWatcher: envelopes,
// flags and snippets of up to batchSize messages, or only the count and bounds of more (one
// mail.batch). Memory stays bounded whatever the server holds.
//
// imapflow takes every FETCH response that arrives while one of its FETCH commands runs for that
// command's answer, also an unsolicited one: another client's flag change, which Dovecot holds
// while no IDLE runs and sends at the end of the next command. Dropped with the answer, that change
// was lost for good (a message read on the phone stayed unread here), since imapflow has already
// raised the mailbox's HIGHESTMODSEQ past it and no later QRESYNC lists it again. Such a response
// carries FLAGS and none of the items asked for; each FETCH here gives it back (givenBack()).

import type { FetchMessageObject, FlagsEvent, ImapFlow } from 'imapflow';
import { isoDate, NewMailCollector, senderOf, widenSpan, type NewMessage, type UidSpan } from '../../core/mail-events.js';
import type { FetchedFlags } from '../../core/unseen-tally.js';
import { findTextPart, SNIPPET_FETCH_BYTES, snippetFrom, type TextPart } from '../../imap/snippet.js';

export interface NewMail {
  /** One per message, when at most batchSize came. */
  messages: NewMessage[];
  /** How many and which UIDs, when more came (and no envelopes were kept). */
  span?: UidSpan;
  /** The \Seen flag of each message in `messages`, for the unread tally. */
  flags: FetchedFlags[];
}

/**
 * The messages above the watermark: their envelopes and snippets when at most batchSize came
 * (one mail.new each), else only how many and which UIDs (`span`, one mail.batch). Memory stays
 * bounded whatever the count: the FETCH is consumed as a stream, and when many are expected
 * (`countFirst`) the server is asked for the count and bounds alone before any envelope.
 */
export async function fetchNewMail(client: ImapFlow, lastUid: number, batchSize: number, countFirst: boolean): Promise<NewMail> {
  const range = `${lastUid + 1}:*`;
  if (countFirst) {
    const span = await uidSpanAbove(client, lastUid);
    if (!span) return { messages: [], flags: [] };
    // No flags come with a count of UIDs: the unread count for a mail.batch comes from STATUS.
    if (span.count > batchSize) return { messages: [], span, flags: [] };
  }
  // Part 1 comes along: it is the text of most mail, which then needs no FETCH of its own.
  const collector = new NewMailCollector<FetchMessageObject>(batchSize);
  for await (const message of client.fetch(range, { uid: true, flags: true, envelope: true, bodyStructure: true, bodyParts: [{ key: '1', start: 0, maxLength: SNIPPET_FETCH_BYTES }] }, { uid: true })) {
    if (givenBack(client, message)) continue;
    // "n:*" always includes the highest UID, even when it is below n: filter by the watermark.
    if (message.uid > lastUid) collector.add(message);
  }
  const fresh = collector.messages();
  if (!fresh) return { messages: [], span: collector.spanOf(), flags: [] };
  const snippets = await fetchSnippets(client, fresh);
  const messages = fresh.map((m) => ({
    uid: m.uid,
    messageId: m.envelope?.messageId ?? null,
    from: senderOf(m.envelope?.from),
    subject: m.envelope?.subject ?? '',
    date: isoDate(m.envelope?.date),
    snippet: snippets.get(m.uid) ?? null,
  }));
  const flags = fresh.map((m) => ({ uid: m.uid, seen: m.flags?.has('\\Seen') ?? false }));
  return { messages, flags };
}

/**
 * How many UIDs lie above `lastUid`, and their bounds, without listing them: one
 * `UID SEARCH RETURN (MIN MAX COUNT)` (ESEARCH), else a stream of `UID FETCH (UID)` counted as it
 * comes. Undefined when there are none.
 */
async function uidSpanAbove(client: ImapFlow, lastUid: number): Promise<UidSpan | undefined> {
  const range = `${lastUid + 1}:*`;
  if (client.capabilities.has('ESEARCH')) {
    const found = await client.search({ uid: range }, { uid: true, returnOptions: ['MIN', 'MAX', 'COUNT'] });
    if (found && !Array.isArray(found)) {
      // "n:*" is the highest UID alone when that is below n: then nothing is new.
      if (!found.count || found.min === undefined || found.max === undefined || found.max <= lastUid) return undefined;
      return { count: found.count, first: found.min, last: found.max };
    }
  }
  let span: UidSpan | undefined;
  for await (const message of client.fetch(range, { uid: true }, { uid: true })) {
    if (!givenBack(client, message) && message.uid > lastUid) span = widenSpan(span, message.uid);
  }
  return span;
}

/**
 * The first bytes of each message's text part: from the part 1 prefetched with the envelope when
 * that is the text part (of a single-part message, part 1 is its body), else one FETCH per
 * distinct part number.
 */
async function fetchSnippets(client: ImapFlow, messages: FetchMessageObject[]): Promise<Map<number, string>> {
  const byKey = new Map<string, Array<{ uid: number; part: TextPart }>>();
  const snippets = new Map<number, string>();
  for (const message of messages) {
    const part = findTextPart(message.bodyStructure);
    if (!part) continue;
    const prefetched = part.key === '1' || part.key === 'TEXT' ? message.bodyParts?.get('1') : undefined;
    if (prefetched) snippets.set(message.uid, snippetFrom(prefetched, part));
    else byKey.set(part.key, [...(byKey.get(part.key) ?? []), { uid: message.uid, part }]);
  }
  for (const [key, wanted] of byKey) {
    const uids = wanted.map((w) => w.uid).join(',');
    const bodies = await client.fetchAll(uids, { uid: true, bodyParts: [{ key, start: 0, maxLength: SNIPPET_FETCH_BYTES }] }, { uid: true });
    for (const body of bodies) {
      if (givenBack(client, body)) continue;
      const raw = body.bodyParts?.get(key.toLowerCase()) ?? body.bodyParts?.get(key) ?? [...(body.bodyParts?.values() ?? [])][0];
      const part = wanted.find((w) => w.uid === body.uid)?.part;
      if (raw && part) snippets.set(body.uid, snippetFrom(raw, part));
    }
  }
  return snippets;
}

/**
 * True when `message`, taken by a FETCH command for part of its answer, is an unsolicited flag
 * change instead: FLAGS without an envelope, a structure or a body part (the new-mail FETCH asks
 * for FLAGS with all three, the others ask for no FLAGS). It has been emitted as 'flags' then, as
 * imapflow emits one that comes outside a command; the watcher routes it as any other.
 */
function givenBack(client: ImapFlow, message: FetchMessageObject): boolean {
  const path = client.mailbox ? client.mailbox.path : undefined;
  if (!message.flags || message.envelope || message.bodyStructure || message.bodyParts || path === undefined) return false;
  const event: FlagsEvent = { path, seq: message.seq, uid: message.uid, flags: message.flags, ...(message.modseq !== undefined ? { modseq: message.modseq } : {}) };
  client.emit('flags', event);
  return true;
}
