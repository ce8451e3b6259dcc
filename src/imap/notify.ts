// IMAP NOTIFY (RFC 5465), which imapflow has no command for: the NOTIFY SET command as imapflow's
// exec() sends it, and the untagged STATUS a server sends under it for a mailbox that is not
// selected. New mail, flag changes and expunges there all come as STATUS (Dovecot 2.3 sends
// MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ for new mail, UNSEEN HIGHESTMODSEQ for a flag
// change, MESSAGES UNSEEN HIGHESTMODSEQ for an expunge): they say that the mailbox changed, never
// which message, so the watcher looks there itself (see roles/worker/notify-folders.ts).

import iconv from 'iconv-lite';
import type { ImapFlow } from 'imapflow';
import { internals, registerCommand, type ImapFlowInternals, type Token, type UntaggedResponse } from './imapflow-internals.js';

export type { UntaggedResponse } from './imapflow-internals.js';

/** The events we ask for, in every group: MessageNew needs MessageExpunge, FlagChange needs both (RFC 5465 §5). */
const MESSAGE_EVENTS = ['MessageNew', 'MessageExpunge', 'FlagChange'] as const;


/** What an untagged STATUS says about a mailbox; fields the server left out are absent. */
export interface MailboxStatus {
  /** The mailbox name, decoded from modified UTF-7. */
  mailbox: string;
  messages?: number;
  uidNext?: number;
  uidValidity?: string;
  unseen?: number;
  highestModseq?: bigint;
}

/** The mailbox name as it goes on the wire: modified UTF-7 (RFC 3501 §5.1.3) unless plain ASCII. */
export function encodeMailboxName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x25\x27-\x7e]*$/.test(name) ? name : iconv.encode(name, 'utf-7-imap').toString('latin1');
}

function decodeMailboxName(wire: string): string {
  return wire.includes('&') ? iconv.decode(Buffer.from(wire, 'latin1'), 'utf-7-imap') : wire;
}

const atom = (value: string): Token => ({ type: 'ATOM', value });

/** A mailbox name as an atom when it may be one, else a quoted string. */
function mailboxToken(name: string): Token {
  const wire = encodeMailboxName(name);
  return /^[^\s(){%*"\\\]]+$/.test(wire) ? atom(wire) : { type: 'STRING', value: wire };
}

/**
 * The arguments of `NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes (<others>)
 * (MessageNew MessageExpunge FlagChange))`: EXISTS, FETCH and EXPUNGE for the selected mailbox as
 * without NOTIFY, a STATUS for every change in the others. No STATUS indicator: the watcher looks
 * at each folder once after connecting anyway (its catch-up).
 */
export function notifySetArguments(others: readonly string[]): Token[] {
  const events: Token = MESSAGE_EVENTS.map(atom);
  const groups: Token[] = [[atom('selected'), events]];
  if (others.length > 0) groups.push([atom('mailboxes'), others.map(mailboxToken), events]);
  return [atom('SET'), ...groups];
}

const NOTIFY_SET = registerCommand('MAILPUSH-NOTIFY-SET', async (connection, others: readonly string[]) => {
  const answer = await connection.exec('NOTIFY', notifySetArguments(others), {});
  answer.next();
});

/** Sends NOTIFY SET; rejects with the server's answer when it refuses. */
export async function notifySet(client: ImapFlow, others: readonly string[]): Promise<void> {
  await internals(client).run(NOTIFY_SET, others);
}


const UINT32 = /^\d{1,10}$/;
const UINT64 = /^\d{1,20}$/;

function tokenValue(token: unknown): string | undefined {
  const value = (token as { value?: unknown } | null | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * The fields of an untagged STATUS, or undefined when it is not one we can read. A value that is
 * not a bounded decimal is dropped (the server is not ours to trust: a NaN UIDNEXT would make
 * every later range wrong).
 */
export function parseStatus(untagged: UntaggedResponse): MailboxStatus | undefined {
  const [nameToken, list] = untagged.attributes ?? [];
  const wire = tokenValue(nameToken);
  if (wire === undefined || !Array.isArray(list)) return undefined;
  const status: MailboxStatus = { mailbox: decodeMailboxName(wire) };
  for (let i = 0; i + 1 < list.length; i += 2) {
    const item = tokenValue(list[i])?.toUpperCase();
    const value = tokenValue(list[i + 1]);
    if (value === undefined) continue;
    if (UINT32.test(value) && Number(value) <= 0xffffffff) {
      if (item === 'MESSAGES') status.messages = Number(value);
      else if (item === 'UIDNEXT') status.uidNext = Number(value);
      else if (item === 'UIDVALIDITY') status.uidValidity = String(Number(value));
      else if (item === 'UNSEEN') status.unseen = Number(value);
    }
    if (item === 'HIGHESTMODSEQ' && UINT64.test(value)) status.highestModseq = BigInt(value);
  }
  return status;
}

/**
 * Routes every untagged STATUS that no command of ours asked for (NOTIFY's) to `listener`, from now
 * until the connection closes. imapflow drops them otherwise: it has no global STATUS handler.
 */
export function onUnsolicitedStatus(client: ImapFlow, listener: (status: MailboxStatus) => void): void {
  internals(client).untaggedHandlers.STATUS = async (untagged) => {
    const status = parseStatus(untagged);
    if (status) listener(status);
  };
}

/**
 * STATUS (UNSEEN UIDNEXT) of one mailbox on a connection under NOTIFY. imapflow's status() takes
 * every STATUS that arrives while it runs as its answer, so a NOTIFY STATUS of another folder in
 * between would be read as this one's; here the one named `mailbox` is the answer and any other is
 * handed to `others` as if it came unasked.
 */
export async function statusUnderNotify(
  client: ImapFlow,
  mailbox: string,
  others: (status: MailboxStatus) => void,
): Promise<{ unseen?: number; uidNext?: number }> {
  return (await internals(client).run(ROUTED_STATUS, mailbox, others)) as { unseen?: number; uidNext?: number };
}

const ROUTED_STATUS = registerCommand('MAILPUSH-STATUS', routedStatus);

async function routedStatus(connection: ImapFlowInternals, mailbox: string, others: (status: MailboxStatus) => void): Promise<{ unseen?: number; uidNext?: number }> {
  let answer: MailboxStatus | undefined;
  const wanted = sameMailbox(mailbox);
  const done = await connection.exec('STATUS', [mailboxToken(mailbox), [atom('UNSEEN'), atom('UIDNEXT')]], {
    untagged: {
      STATUS: async (untagged) => {
        const status = parseStatus(untagged);
        if (!status) return;
        if (sameMailbox(status.mailbox) === wanted && answer === undefined) answer = status;
        else others(status);
      },
    },
  });
  done.next();
  return { ...(answer?.unseen !== undefined ? { unseen: answer.unseen } : {}), ...(answer?.uidNext !== undefined ? { uidNext: answer.uidNext } : {}) };
}

/** What the watcher knew of a folder when it last looked there. */
export interface FolderSeen {
  uidValidity: string;
  /** The highest UID notified (the watermark). */
  lastUid: number;
  /** The folder's HIGHESTMODSEQ then; absent when the server keeps none (no CONDSTORE). */
  highestModseq?: bigint;
}

/**
 * Whether a STATUS shows something the last look at the folder did not see: other mail
 * (UIDNEXT past the watermark), a new UIDVALIDITY, or any change at all (HIGHESTMODSEQ moved: a
 * flag or an expunge). Never looked, or a STATUS without those items: true, look to be sure.
 */
export function statusShowsChange(status: MailboxStatus, seen: FolderSeen | undefined): boolean {
  if (!seen) return true;
  if (status.uidValidity !== undefined && status.uidValidity !== seen.uidValidity) return true;
  if (status.uidNext !== undefined && status.uidNext - 1 > seen.lastUid) return true;
  if (status.highestModseq !== undefined && seen.highestModseq !== undefined) return status.highestModseq > seen.highestModseq;
  // Without mod-sequences a flag change shows only as UNSEEN, an expunge as MESSAGES: look.
  return status.uidNext === undefined || status.messages !== undefined || status.unseen !== undefined;
}

/** A mailbox name for comparing: INBOX is case-insensitive (RFC 3501 §5.1), every other name is not. */
export function sameMailbox(name: string): string {
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}
