// Schemas of acting on one message and reading it, checked against the protocol's types (src/protocol/messages.ts).

import { Type } from 'typebox';
import { MESSAGE_ACTIONS, type MessageActionRequest, type MessageActionResult, type MessageView } from '../../protocol/messages.js';
import { literals, schemaOf } from './schemas.js';

/** IMAP UIDs and UIDVALIDITY are non-zero 32-bit unsigned numbers (RFC 3501 2.3.1.1). */
const Uid32 = Type.Integer({ minimum: 1, maximum: 4294967295 });
/** A mailbox the account watches; the account's own list says which (default INBOX). */
const MailboxName = Type.String({ minLength: 1, maxLength: 256 });

export const MessageParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), uid: Uid32 });

export const MessageActionBody = schemaOf<MessageActionRequest>()(Type.Object({
  action: literals(MESSAGE_ACTIONS),
  uidValidity: Uid32,
  mailbox: Type.Optional(MailboxName),
}, { additionalProperties: false }));

export const MessageActionAnswer = schemaOf<MessageActionResult>()(Type.Object({
  action: literals(MESSAGE_ACTIONS),
  uid: Type.Integer(),
  outcome: Type.Union([Type.Literal('seen'), Type.Literal('trash'), Type.Literal('expunged')]),
}));

export const MessageQuery = Type.Object({ uidValidity: Uid32, mailbox: Type.Optional(MailboxName) }, { additionalProperties: false });

const Address = Type.Object({ name: Type.String(), address: Type.String() });

export const MessageAnswer = schemaOf<MessageView>()(Type.Object({
  accountId: Type.String(),
  mailbox: Type.String(),
  uid: Type.Integer(),
  uidValidity: Type.Integer(),
  from: Type.Array(Address),
  to: Type.Array(Address),
  cc: Type.Array(Address),
  subject: Type.String(),
  date: Type.Union([Type.String(), Type.Null()]),
  text: Type.String(),
  truncated: Type.Boolean(),
  webmailUrl: Type.Optional(Type.String()),
}));
