// GET /v1/stream, the live WebSocket: the messages both ends send and the close codes. Browsers
// cannot set headers on a WebSocket, so a client may authenticate with a first `auth` message
// instead of `Authorization: Bearer`; the gateway answers `ready`, replays what the client missed
// after `since` (preceded by `resync_required` when retention dropped some of it), then streams
// live events (MailEvent, see events.ts).

import type { AccountView } from './accounts.js';
import type { MailEvent } from './events.js';

/** Close codes: the standard ones the gateway uses, and its own 4xxx. */
export const CloseCode = {
  /** The client is done (signing out). */
  normal: 1000,
  /** The gateway is shutting down: reconnect (elsewhere). */
  goingAway: 1001,
  /** The gateway could not serve this socket right now (replay failed, client too slow): reconnect with `since`. */
  tryAgainLater: 1013,
  /** Sent by the web app when the socket stopped answering its pings; it reconnects. */
  noAnswer: 4000,
  /** Malformed auth message, `since` or `heartbeat`: do not retry the same values. */
  badMessage: 4400,
  /** Missing, wrong or late credentials: the client is signed out. */
  unauthorized: 4401,
  /** The user has WS_MAX_PER_USER streams open already: this new one is refused (the others stay). Retry later, with backoff. */
  tooManyStreams: 4429,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The server-side ping interval a client may ask for with `heartbeat` (seconds), like ActiveSync's. */
export const HEARTBEAT_SECONDS = { min: 10, max: 1740 } as const;

/** Query string of GET /v1/stream (also accepted in the auth message). */
export interface StreamQuery {
  /** Replay the events after this id (an event id, see event-ids.ts); without it, start from now. */
  since?: string;
  /** Seconds between the gateway's protocol pings, within HEARTBEAT_SECONDS. */
  heartbeat?: number;
}

// ---- Client → gateway ---------------------------------------------------------------------

/** The first message when no Authorization header was sent; values here win over the query's. */
export interface AuthMessage extends StreamQuery {
  type: 'auth';
  token: string;
}

/** A page cannot see protocol pings: it sends this and expects a PongMessage. */
export interface PingMessage {
  type: 'ping';
}

export type ClientMessage = AuthMessage | PingMessage;

// ---- Gateway → client ---------------------------------------------------------------------

/** Authenticated: the caller's accounts with fresh counts, and the ping interval in seconds. */
export interface ReadyMessage {
  type: 'ready';
  accounts: AccountView[];
  heartbeat: number;
}

export interface PongMessage {
  type: 'pong';
}

/** Events after `since` were dropped by retention: the client's view may have a gap. */
export interface ResyncRequiredMessage {
  type: 'resync_required';
}

export type ServerMessage = ReadyMessage | PongMessage | ResyncRequiredMessage | MailEvent;
