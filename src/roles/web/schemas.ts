// Request and response schemas of the REST API. Responses are serialised through these, so a
// field that is not listed (a password, say) can never leak into a response.

import { Type, type Static } from 'typebox';
import { ErrorBodyRef } from './errors.js';

const Security = Type.Union([Type.Literal('tls'), Type.Literal('starttls'), Type.Literal('none')]);
const MailboxName = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\x00-\\x1f\\x7f]+$' });
const Mailboxes = Type.Array(MailboxName, { minItems: 1, maxItems: 5, uniqueItems: true });

export const AccountIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const CreateAccountBody = Type.Object(
  {
    imap: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        security: Type.Optional(Security),
        user: Type.String({ minLength: 1, maxLength: 320 }),
        pass: Type.String({ minLength: 1, maxLength: 1024 }),
      },
      { additionalProperties: false },
    ),
    email: Type.Optional(Type.String({ minLength: 3, maxLength: 320, format: 'email' })),
    mailboxes: Type.Optional(Mailboxes),
  },
  { additionalProperties: false },
);
export type CreateAccountBody = Static<typeof CreateAccountBody>;

export const PatchAccountBody = Type.Object(
  {
    imap: Type.Optional(Type.Object({ pass: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false })),
    mailboxes: Type.Optional(Mailboxes),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchAccountBody = Static<typeof PatchAccountBody>;

const AccountState = Type.Union([
  Type.Literal('connecting'), Type.Literal('idle'), Type.Literal('polling'), Type.Literal('reconnecting'),
  Type.Literal('auth_failed'), Type.Literal('error'), Type.Literal('disabled'),
]);

export const Account = Type.Object({
  id: Type.String(),
  email: Type.String(),
  imap: Type.Object({ host: Type.String(), port: Type.Integer(), security: Security, user: Type.String() }),
  mailboxes: Type.Array(Type.String()),
  state: AccountState,
  lastError: Type.Optional(Type.String()),
  unseen: Type.Optional(Type.Integer()),
  updatedAt: Type.String(),
});

export const CreatedAccount = Type.Object({ account: Account, token: Type.Optional(Type.String()) });
export const AccountEnvelope = Type.Object({ account: Account });
export const AccountList = Type.Object({ accounts: Type.Array(Account) });

export const EventId = Type.String({ pattern: '^[0-9]{1,20}-[0-9]{1,20}$', maxLength: 41 });

export const EventsQuery = Type.Object(
  {
    since: Type.Optional(EventId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const Event = Type.Object({
  id: Type.String(),
  type: Type.String(),
  accountId: Type.String(),
  mailbox: Type.Union([Type.String(), Type.Null()]),
  time: Type.String(),
  data: Type.Object({}, { additionalProperties: true }),
});

export const EventList = Type.Object({
  events: Type.Array(Event),
  /** True when events after `since` were dropped by retention: the client must refresh. */
  resyncRequired: Type.Boolean(),
});

export const errorResponses = {
  400: ErrorBodyRef,
  401: ErrorBodyRef,
  403: ErrorBodyRef,
  404: ErrorBodyRef,
  409: ErrorBodyRef,
  413: ErrorBodyRef,
  422: ErrorBodyRef,
  429: ErrorBodyRef,
  500: ErrorBodyRef,
  502: ErrorBodyRef,
  503: ErrorBodyRef,
};
