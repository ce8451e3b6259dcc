// Request and response schemas of the REST API. Responses are serialised through these, so a
// field that is not listed (a password, say) can never leak into a response.

import { Type, type Static, type TLiteral, type TSchema, type TUnion } from 'typebox';
import {
  ACCOUNT_STATES, IMAP_SECURITIES, type AccountFolders as AccountFoldersShape, MAX_WATCHED_MAILBOXES, PREVIEW_LEVELS, type AccountView, type CreateAccountRequest, type CreatedAccount as CreatedAccountShape,
  type PatchAccountRequest, type PublicConfig as PublicConfigShape,
} from '../../protocol/accounts.js';
import { DEVICE_NAME_MAX_LENGTH, type DeviceView as DeviceViewShape } from '../../protocol/devices.js';
import { EVENT_ID_MAX_LENGTH, EVENT_ID_PATTERN_SOURCE } from '../../protocol/event-ids.js';
import { HEARTBEAT_SECONDS, type StreamQuery as StreamQueryShape } from '../../protocol/stream.js';
import { ErrorBodyRef } from './errors.js';

type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * `schemaOf<T>()(schema)` compiles only when the schema's static type is the protocol's type T
 * (src/protocol, shared with the web app), both ways, so neither can change without the other.
 */
export const schemaOf = <T>() => <S extends TSchema>(schema: S & (SameType<Static<S>, T> extends true ? unknown : { mismatch: [Static<S>, T] })): S => schema;

type LiteralsOf<T> = T extends readonly [infer Head extends string, ...infer Rest] ? [TLiteral<Head>, ...LiteralsOf<Rest>] : [];

/** One literal per value of a protocol list: `['tls', …] as const` → 'tls' | … */
export function literals<const T extends readonly string[]>(values: T): TUnion<LiteralsOf<T>> {
  return Type.Union(values.map((value) => Type.Literal(value))) as unknown as TUnion<LiteralsOf<T>>;
}

export const Security = literals(IMAP_SECURITIES);
export const Preview = literals(PREVIEW_LEVELS);
const MailboxName = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\x00-\\x1f\\x7f]+$' });
/** Printable, without control characters, not only spaces. */
export const DeviceName = Type.String({ minLength: 1, maxLength: DEVICE_NAME_MAX_LENGTH, pattern: '^[^\\x00-\\x1f\\x7f]*\\S[^\\x00-\\x1f\\x7f]*$' });
const Mailboxes = Type.Array(MailboxName, { minItems: 1, maxItems: MAX_WATCHED_MAILBOXES, uniqueItems: true });

export const AccountIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const CreateAccountBody = schemaOf<CreateAccountRequest>()(Type.Object(
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
    /** Without a token: the name of the device this sign-in makes. */
    deviceName: Type.Optional(DeviceName),
  },
  { additionalProperties: false },
));
export type CreateAccountBody = Static<typeof CreateAccountBody>;

export const PatchAccountBody = schemaOf<PatchAccountRequest>()(Type.Object(
  {
    imap: Type.Optional(Type.Object({ pass: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false })),
    mailboxes: Type.Optional(Mailboxes),
    disabled: Type.Optional(Type.Boolean()),
    // Checked further by webmailTemplateProblem (https only, known placeholders).
    webmailUrl: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 2048 }), Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
));
export type PatchAccountBody = Static<typeof PatchAccountBody>;

const AccountState = literals(ACCOUNT_STATES);

export const Account = schemaOf<AccountView>()(Type.Object({
  id: Type.String(),
  email: Type.String(),
  imap: Type.Object({ host: Type.String(), port: Type.Integer(), security: Security, user: Type.String() }),
  mailboxes: Type.Array(Type.String()),
  state: AccountState,
  lastError: Type.Optional(Type.String()),
  unseen: Type.Optional(Type.Integer()),
  updatedAt: Type.String(),
  auth: Type.Optional(Type.Literal('oauth2')),
  provider: Type.Optional(Type.String()),
  webmailUrl: Type.Optional(Type.String()),
}));

export const PublicConfig = schemaOf<PublicConfigShape>()(Type.Object({
  imap: Type.Object({
    /** Absent when the gateway has no default IMAP host: the client must ask for one. */
    host: Type.Optional(Type.String()),
    port: Type.Integer(),
    security: Security,
  }),
  push: Type.Object({ enabled: Type.Boolean() }),
  oauth: Type.Object({ providers: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })) }),
}));

export const Device = schemaOf<DeviceViewShape>()(Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  current: Type.Boolean(),
}));

export const CreatedAccount = schemaOf<CreatedAccountShape>()(Type.Object({
  account: Account,
  token: Type.Optional(Type.String()),
  device: Type.Optional(Device),
  created: Type.Optional(Type.Boolean()),
}));
export const AccountFolders = schemaOf<AccountFoldersShape>()(Type.Object({
  folders: Type.Array(Type.Object({ name: Type.String(), specialUse: Type.Optional(Type.String()) })),
  truncated: Type.Boolean(),
  maxMailboxes: Type.Integer(),
}));

export const AccountEnvelope = Type.Object({ account: Account });
export const AccountList = Type.Object({ accounts: Type.Array(Account) });

export const EventId = Type.String({ pattern: EVENT_ID_PATTERN_SOURCE, maxLength: EVENT_ID_MAX_LENGTH });

export const EventsQuery = Type.Object(
  {
    since: Type.Optional(EventId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

/**
 * GET /v1/stream's query. A failed check is not answered with a 400 (the route attaches it
 * instead): the client asked for a WebSocket, so the socket opens and closes with 4400, the same
 * answer as for bad values in the auth message, which no schema sees.
 */
export const StreamQuery = schemaOf<StreamQueryShape>()(Type.Object({
  since: Type.Optional(EventId),
  heartbeat: Type.Optional(Type.Integer({ minimum: HEARTBEAT_SECONDS.min, maximum: HEARTBEAT_SECONDS.max })),
}));

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
