// Acting on one message and reading it (POST /v1/accounts/:id/messages/:uid/actions, GET
// /v1/accounts/:id/messages/:uid), shared by the gateway, the web app and the service worker,
// which calls the action from a notification's button. Type-only apart from the const lists.

import type { MailAddress } from './events.js';

/** What a notification's buttons do: mark the message read, or delete it (to Trash where there is one). */
export const MESSAGE_ACTIONS = ['seen', 'delete'] as const;
export type MessageAction = (typeof MESSAGE_ACTIONS)[number];

/**
 * POST /v1/accounts/:id/messages/:uid/actions. `uidValidity` is the mailbox generation the uid
 * belongs to (the mail.new event's): an action meant for an older generation does nothing (409
 * mailbox_changed). `mailbox` defaults to INBOX and must be one the account watches.
 */
export interface MessageActionRequest {
  action: MessageAction;
  uidValidity: number;
  mailbox?: string;
}

/** The answer to an action: what happened to the message on the server. */
export interface MessageActionResult {
  action: MessageAction;
  uid: number;
  /** delete: "trash" when moved to the server's \Trash folder, "expunged" when removed for good. */
  outcome: 'seen' | 'trash' | 'expunged';
}

/** At most this much of a message's text is shown (`truncated` says when there was more). */
export const MESSAGE_TEXT_MAX_CHARS = 256 * 1024;

/**
 * GET /v1/accounts/:id/messages/:uid?uidValidity=&mailbox=: the headers and the text, read from the
 * mailbox on demand and never stored. HTML is turned into plain text on the gateway, so the web
 * app only ever shows text: no script of the sender's runs, no remote image loads.
 */
export interface MessageView {
  accountId: string;
  mailbox: string;
  uid: number;
  uidValidity: number;
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  subject: string;
  /** ISO 8601, when the message says when it was sent. */
  date: string | null;
  text: string;
  /**
   * True when the text shown is not all of it: cut at MESSAGE_TEXT_MAX_CHARS, or its part too large to
   * read whole. A large attachment beside a short text does not make it true.
   */
  truncated: boolean;
  /** This message in the person's webmail, from the account's `webmailUrl` template. */
  webmailUrl?: string;
}

/** The placeholders a webmail URL template may use. */
export const WEBMAIL_PLACEHOLDERS = ['{uid}', '{mailbox}'] as const;

/**
 * Why a webmail URL template cannot be used, or undefined when it can: an absolute https URL
 * (a link a person taps must not downgrade to http or run a `javascript:` URL) whose only
 * `{…}` are the placeholders.
 */
export function webmailTemplateProblem(template: string): string | undefined {
  let url: URL;
  try {
    url = new URL(fillWebmailUrl(template, 1, 'INBOX'));
  } catch {
    return 'webmailUrl must be an absolute URL';
  }
  if (url.protocol !== 'https:') return 'webmailUrl must be an https URL';
  if (url.username || url.password) return 'webmailUrl must not carry a user name or password';
  const unknown = template.match(/\{[^}]*\}/g)?.find((part) => !(WEBMAIL_PLACEHOLDERS as readonly string[]).includes(part));
  return unknown ? `webmailUrl has an unknown placeholder ${unknown}; use {uid} and {mailbox}` : undefined;
}

/** The template with the message's uid and (URL-encoded) mailbox filled in. */
export function fillWebmailUrl(template: string, uid: number, mailbox: string): string {
  return template.replaceAll('{uid}', String(uid)).replaceAll('{mailbox}', encodeURIComponent(mailbox));
}

/** The web app's route for one message, which a tapped notification opens. */
export function messageRoute(accountId: string, uid: number, mailbox = 'INBOX', uidValidity?: number): string {
  const query = new URLSearchParams({ mailbox, ...(uidValidity !== undefined ? { uidValidity: String(uidValidity) } : {}) });
  return `#/message/${encodeURIComponent(accountId)}/${uid}?${query.toString()}`;
}
