// Runs what a web process asks of an account this worker holds (MailboxCommands): mark a message
// read, delete it, read it.
//
// Over a short connection of its own, not the watcher's IDLE one: a command there would have to
// wait behind the watcher's queue (a catch-up fetch) and hold new-mail notification up in turn,
// and a 2 MiB read would sit on the connection every notification depends on. Logging in as
// another session has a gift besides: the watcher sees our STORE or EXPUNGE like any other
// client's, so the mail.flags / mail.expunged event that dismisses the notification on the
// person's other devices comes from the one path that already makes it. The login counts against
// the per-host limit like any other.

import type { ImapFlow, MessageStructureObject } from 'imapflow';
import { simpleParser, type AddressObject } from 'mailparser';
import { convert } from 'html-to-text';
import { capText, FIELD_CAPS } from '../../core/field-caps.js';
import type { MailboxCommand, MailboxReply } from '../../core/mailbox-command.js';
import type { ImapSettings, MailAddress } from '../../core/types.js';
import { classifyImapError, connectImap, withinDeadline, type ImapClientOptions, type ImapCredential } from '../../imap/client.js';
import { MESSAGE_TEXT_MAX_CHARS } from '../../protocol/messages.js';

/**
 * How much of a message is read to show it: its text comes first in all but odd messages, and the
 * text shown is capped at MESSAGE_TEXT_MAX_CHARS anyway. 2 MiB leaves room for base64 or quoted-
 * printable text and for HTML's markup, and stays under IMAP_RESPONSE_LIMITS' 4 MiB literal.
 */
export const MESSAGE_READ_BYTES = 2 * 1024 * 1024;
/** Addresses shown per header: a To: with 10,000 recipients is a list, not a header to show whole. */
const MAX_ADDRESSES = 50;

export interface MailboxCommandRunnerOptions {
  settings: ImapSettings;
  credential: ImapCredential;
  imap: ImapClientOptions;
}

/** Logs in, runs the command, logs out (without waiting for the server's goodbye). */
export async function runMailboxCommand(command: MailboxCommand, options: MailboxCommandRunnerOptions): Promise<MailboxReply> {
  const budgetMs = options.imap.config.imap.connectTimeoutMs;
  let client: ImapFlow;
  try {
    client = await connectImap(options.settings, options.credential, options.imap, { deadlineAt: Date.now() + budgetMs });
  } catch (error) {
    return { status: 'failed', message: classifyImapError(error).message };
  }
  try {
    // One budget for the command too: a server that answers a byte a second cannot hold it.
    return await withinDeadline(client, execute(client, command), Date.now() + budgetMs, budgetMs, 'the command');
  } catch (error) {
    return { status: 'failed', message: classifyImapError(error).message };
  } finally {
    void client.logout().catch(() => client.close());
  }
}

async function execute(client: ImapFlow, command: MailboxCommand): Promise<MailboxReply> {
  let opened;
  try {
    opened = await client.mailboxOpen(command.mailbox, { readOnly: command.kind === 'read' });
  } catch (error) {
    if ((error as { responseStatus?: string }).responseStatus === 'NO') return { status: 'not_found' };
    throw error;
  }
  // The uid belongs to the generation it was seen in; under another one it names another message.
  if (String(opened.uidValidity) !== String(command.uidValidity)) return { status: 'mailbox_changed' };
  const found = await client.search({ uid: String(command.uid) }, { uid: true });
  if (!found || !found.includes(command.uid)) return { status: 'not_found' };
  if (command.kind === 'read') return readMessage(client, command);
  const uid = String(command.uid);
  if (command.action === 'seen') {
    await client.messageFlagsAdd(uid, ['\\Seen'], { uid: true });
    return { status: 'done', outcome: 'seen' };
  }
  // Deleting moves to the server's Trash, as a mail app does; in Trash itself (or without one) it expunges.
  const trash = (await client.list()).find((entry) => entry.specialUse === '\\Trash');
  if (trash && trash.path !== opened.path) {
    await client.messageMove(uid, trash.path, { uid: true });
    return { status: 'done', outcome: 'trash' };
  }
  // \Deleted, then UID EXPUNGE of that message only (UIDPLUS), never a plain EXPUNGE of others' \Deleted mail.
  await client.messageDelete(uid, { uid: true });
  return { status: 'done', outcome: 'expunged' };
}

async function readMessage(client: ImapFlow, command: Extract<MailboxCommand, { kind: 'read' }>): Promise<MailboxReply> {
  const uid = String(command.uid);
  const outline = await client.fetchOne(uid, { uid: true, size: true, bodyStructure: true }, { uid: true });
  if (!outline) return { status: 'not_found' };
  // A large message is mostly its attachments: read its text part alone, so `truncated` says
  // whether the text shown is all of it, not whether the message was larger than the read.
  const textPart = (outline.size ?? 0) > MESSAGE_READ_BYTES && outline.bodyStructure ? findTextPart(outline.bodyStructure) : undefined;
  if (textPart) return readTextPart(client, command, textPart);
  const fetched = await client.fetchOne(uid, { uid: true, size: true, source: { start: 0, maxLength: MESSAGE_READ_BYTES } }, { uid: true });
  if (!fetched || !fetched.source) return { status: 'not_found' };
  // Attachments cut short by the cap parse as far as they go; only the text is kept.
  const parsed = await parseMail(fetched.source);
  return shown(command, parsed, parsed, (fetched.size ?? 0) > MESSAGE_READ_BYTES);
}

/**
 * The headers, then the text part with its own MIME header (BODY[n.MIME]), at most
 * MESSAGE_READ_BYTES of it: parsed apart, since together they are no message mailparser reads.
 */
async function readTextPart(client: ImapFlow, command: Extract<MailboxCommand, { kind: 'read' }>, part: TextPart): Promise<MailboxReply> {
  const fetched = await client.fetchOne(String(command.uid), {
    uid: true, headers: true, bodyParts: [`${part.key}.MIME`, { key: part.key, start: 0, maxLength: MESSAGE_READ_BYTES }],
  }, { uid: true });
  const mime = fetched ? fetched.bodyParts?.get(`${part.key}.mime`) : undefined;
  const body = fetched ? fetched.bodyParts?.get(part.key) : undefined;
  if (!fetched || !fetched.headers || !mime || !body) return { status: 'not_found' };
  const [headers, text] = await Promise.all([parseMail(fetched.headers), parseMail(Buffer.concat([mime, body]))]);
  return shown(command, headers, text, part.size > MESSAGE_READ_BYTES);
}

type ParsedMail = Awaited<ReturnType<typeof simpleParser>>;

function parseMail(source: Buffer): Promise<ParsedMail> {
  return simpleParser(source, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
}

/** The message view of `headers` (from, subject…) and `body` (its text), `cut` when the read stopped short. */
function shown(command: Extract<MailboxCommand, { kind: 'read' }>, headers: ParsedMail, body: ParsedMail, cut: boolean): MailboxReply {
  // A text part wins; an HTML-only message (mailparser then leaves the text empty) is turned into text here.
  const fromHtml = !body.text?.trim() && typeof body.html === 'string';
  const full = fromHtml ? htmlAsText(body.html as string) : (body.text ?? '');
  return {
    status: 'message',
    message: {
      mailbox: command.mailbox,
      uid: command.uid,
      uidValidity: command.uidValidity,
      from: addresses(headers.from),
      to: addresses(headers.to),
      cc: addresses(headers.cc),
      subject: capText(headers.subject ?? '', FIELD_CAPS.subject),
      date: headers.date && !Number.isNaN(headers.date.getTime()) ? headers.date.toISOString() : null,
      text: capChars(full, MESSAGE_TEXT_MAX_CHARS),
      truncated: cut || full.length > MESSAGE_TEXT_MAX_CHARS,
    },
  };
}

interface TextPart {
  /** The part's number, for BODY[<key>]. */
  key: string;
  /** Its size as sent (encoded). */
  size: number;
}

/**
 * The part a mail app shows as the message's text: the first text/plain, else the first
 * text/html, that is not an attachment, outside attached messages. Undefined for a message that
 * is not multipart (its body is the text) or has no such part.
 */
export function findTextPart(structure: MessageStructureObject): TextPart | undefined {
  if (!structure.childNodes?.length) return undefined;
  const candidates: MessageStructureObject[] = [];
  const walk = (node: MessageStructureObject): void => {
    if (node.type === 'message/rfc822') return; // a forwarded message's text is not this one's
    if (node.childNodes?.length) return node.childNodes.forEach(walk);
    if (node.part && node.disposition !== 'attachment' && (node.type === 'text/plain' || node.type === 'text/html')) candidates.push(node);
  };
  walk(structure);
  const chosen = candidates.find((node) => node.type === 'text/plain') ?? candidates[0];
  return chosen?.part ? { key: chosen.part, size: chosen.size ?? 0 } : undefined;
}

/**
 * HTML as plain text, which is all the web app shows: scripts, styles and images are left out
 * (nothing of them survives to run or load), links keep their address in brackets.
 */
export function htmlAsText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'script', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'head', format: 'skip' },
    ],
  });
}

/** The first `max` UTF-16 units, never ending in half a surrogate pair (an emoji cut in two). */
function capChars(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

function addresses(header: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const groups = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const flat = groups.flatMap((group) => group.value.flatMap((entry) => (entry.group ? entry.group : [entry])));
  return flat.slice(0, MAX_ADDRESSES).map((entry) => ({
    name: capText(entry.name ?? '', FIELD_CAPS.name),
    address: capText(entry.address ?? '', FIELD_CAPS.address),
  }));
}
