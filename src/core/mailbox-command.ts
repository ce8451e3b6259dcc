// What a web process asks of the worker holding an account (MailboxCommands), and the answers. The
// worker runs them over IMAP; the web process turns the answer into the HTTP response.

import type { MessageAction, MessageView } from '../protocol/messages.js';

/** Act on one message, or read it. `uidValidity` is the generation the uid was seen in. */
export type MailboxCommand =
  | { kind: 'action'; action: MessageAction; mailbox: string; uid: number; uidValidity: number }
  | { kind: 'read'; mailbox: string; uid: number; uidValidity: number };

export type MailboxReply =
  | { status: 'done'; outcome: 'seen' | 'trash' | 'expunged' }
  | { status: 'message'; message: Omit<MessageView, 'accountId'> }
  /** No message with that uid in the mailbox (any more). */
  | { status: 'not_found' }
  /** The mailbox's UIDVALIDITY is not the one the command names: nothing was done. */
  | { status: 'mailbox_changed' }
  /** The IMAP server could not be reached or refused the command; the message is safe to show its owner. */
  | { status: 'failed'; message: string };

/** What the asking side gets: the holder's reply, or why there was none. */
export type MailboxCommandOutcome =
  | { ok: true; reply: MailboxReply }
  /** Nobody holds the account right now (it is being claimed, or no worker runs). */
  | { ok: false; reason: 'no_holder' }
  /** A holder heard the command but did not answer within the deadline. */
  | { ok: false; reason: 'timeout' };
