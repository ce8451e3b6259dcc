// Opening IMAP connections the way every part of mailpush must: to a checked address (SSRF),
// with TLS verified against the host name, within the per-host login limit, with timeouts, with
// one deadline for the whole login, and with bounds on what one server response may make us hold.

import { ImapFlow } from 'imapflow';
import { imapPortAllowed, type Config } from '../config.js';
import { HostNotAllowedError, HostUnresolvableError, resolveTarget } from '../core/address-policy.js';
import type { ImapSettings } from '../core/types.js';
import type { OAuthMechanism } from '../protocol/discovery.js';
import type { HostLimiter } from './host-limiter.js';
import { LeanImapFlow, shareCapabilities } from './lean-imapflow.js';
import { learnFromHandshake, tlsOptionsFor } from './tls-context.js';

export type ImapFailureKind =
  | 'auth_failed' | 'host_not_allowed' | 'port_not_allowed' | 'insecure_not_allowed' | 'mailbox_missing' | 'unreachable'
  /** The server sent a response beyond IMAP_RESPONSE_LIMITS (or LOGIN_CHECK_LIMITS): it is broken or hostile. */
  | 'response_too_large'
  /** The OAuth provider's sign-ins are pinned to a SASL mechanism this server does not offer. */
  | 'mechanism_not_offered';

const MiB = 1024 * 1024;

/**
 * Quiet time before the kernel probes an IMAP connection. Under the shortest idle timeout common
 * NATs and cloud load balancers apply (4 minutes), and far under IMAP_SOCKET_TIMEOUT_SECONDS.
 */
export const IMAP_KEEPALIVE_MS = 60_000;

/**
 * What one server response may make us hold. imapflow's defaults (1 GiB per literal or line, 2 GiB
 * per response) let any server a user registers grow our process by gigabytes; the IMAP server is
 * not ours to trust. We only ever read flags, envelopes, BODYSTRUCTURE, a 2 KiB snippet
 * (SNIPPET_FETCH_BYTES), counts and mailbox status, so the bounds sit far above honest answers and
 * far below harm:
 * - a literal is at most a header field of an envelope, or the snippet: MTAs cap a message's
 *   header at 100 KiB (Postfix) to 1 MiB (Exim), so 4 MiB never refuses real mail;
 * - a line holds an inline BODYSTRUCTURE or a set of UIDs; Dovecot caps a message at 10,000 MIME
 *   parts (it parses no more), a few hundred bytes each, so 8 MiB;
 * - a response is one message's FETCH (envelope + BODYSTRUCTURE + snippet): 16 MiB, above a line
 *   plus a literal as imapflow requires;
 * - tokens cost ~100 bytes of heap each while a response is parsed: 200,000 (20 MB) covers those
 *   10,000 parts, where imapflow's million would let a 16 MiB response cost 100 MB.
 * A server that goes beyond any of them is dropped at once (imapflow fails the connection before
 * buffering the bytes: an announced `{900000000}` costs nothing), and its account shows `error`.
 * Per connection: the worst a hostile account costs is one response in flight: its bytes, a copy when imapflow joins them, and the parse (~50 MB).
 */
export const IMAP_RESPONSE_LIMITS = {
  maxLiteralSize: 4 * MiB,
  maxLineLength: 8 * MiB,
  maxResponseSize: 16 * MiB,
  maxResponseTokens: 200_000,
} as const;

export type ImapResponseLimits = { [K in keyof typeof IMAP_RESPONSE_LIMITS]: number };

/**
 * The registration check only logs in and out: greeting, CAPABILITY, ID and LOGIN answers, a few
 * KiB at most. Anyone may start one without an account, many at once, so it holds far less.
 */
export const LOGIN_CHECK_LIMITS: ImapResponseLimits = {
  maxLiteralSize: 64 * 1024,
  maxLineLength: 64 * 1024,
  maxResponseSize: 128 * 1024,
  maxResponseTokens: 10_000,
};

/**
 * The 'error' listener every client gets first. Module-level, not an arrow inside connectImap: a
 * function made there would keep connectImap's whole scope (the credential, the options, the
 * session offered) alive for as long as the connection lives.
 */
const ignoreError = (): undefined => undefined;

/** imapflow's error codes for a response past its limits. */
const RESPONSE_LIMIT_CODES = new Set(['LiteralTooLarge', 'LineTooLarge', 'ResponseTooLarge', 'TooManyTokens']);

/** True when the server broke the response limits (imapflow then closes the connection). */
export function isResponseLimitError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && RESPONSE_LIMIT_CODES.has(code);
}

/** Why a connection could not be made, in words safe to show the account's owner. */
export class ImapConnectError extends Error {
  constructor(readonly kind: ImapFailureKind, message: string) {
    super(message);
    this.name = 'ImapConnectError';
  }
}

/**
 * What proves the login: the mailbox password (a string), or an OAuth2 access token, sent with
 * SASL OAUTHBEARER (RFC 7628) when the server offers it, else XOAUTH2 (Gmail, Microsoft 365), or
 * with the provider's pinned `mechanism`.
 */
export type ImapCredential = string | { readonly accessToken: string; readonly mechanism?: OAuthMechanism };

/** The SASL capabilities each mechanism is offered under (XOAUTH is Google's older name). */
const MECHANISM_CAPABILITIES: Record<OAuthMechanism, readonly string[]> = {
  OAUTHBEARER: ['AUTH=OAUTHBEARER'],
  XOAUTH2: ['AUTH=XOAUTH2', 'AUTH=XOAUTH'],
};

/**
 * An ImapFlow that authenticates with one OAuth mechanism. imapflow always picks OAUTHBEARER when
 * the server offers it and has no setting for it, so the other mechanism's capabilities are hidden
 * from its choice just before it authenticates (the server's capability list is read again after
 * the login). `authenticate` is imapflow's internal step of connect(); if a later imapflow renames
 * it, the pin stops applying and the test that pins XOAUTH2 against Dovecot fails.
 */
class PinnedMechanismImapFlow extends LeanImapFlow {
  constructor(options: ConstructorParameters<typeof ImapFlow>[0], private readonly mechanism: OAuthMechanism) {
    super(options);
  }

  async authenticate(): Promise<unknown> {
    // Without its mechanism imapflow would try another way and fail as if the server were down.
    if (!MECHANISM_CAPABILITIES[this.mechanism].some((capability) => this.capabilities.has(capability))) {
      throw new ImapConnectError('mechanism_not_offered', `the IMAP server does not offer SASL ${this.mechanism}, which this provider's sign-ins are set to use (its "mechanism" in OAUTH_PROVIDERS)`);
    }
    for (const [mechanism, capabilities] of Object.entries(MECHANISM_CAPABILITIES)) {
      if (mechanism !== this.mechanism) for (const capability of capabilities) this.capabilities.delete(capability);
    }
    return (ImapFlow.prototype as unknown as { authenticate(this: ImapFlow): Promise<unknown> }).authenticate.call(this);
  }
}

function imapflowAuth(user: string, credential: ImapCredential): { user: string; pass: string } | { user: string; accessToken: string } {
  return typeof credential === 'string' ? { user, pass: credential } : { user, accessToken: credential.accessToken };
}

export interface ImapClientOptions {
  config: Pick<Config, 'imap'>;
  limiter: HostLimiter;
}

function describeNetworkError(error: unknown): string {
  const e = error as { code?: string; message?: string; responseText?: string; reason?: string };
  if (e.code === 'ECONNREFUSED') return 'connection refused';
  if (e.code === 'CONNECT_TIMEOUT' || e.code === 'ETIMEDOUT' || e.code === 'GREETING_TIMEOUT') return 'timed out';
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return 'host not found';
  if (typeof e.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e.code)) {
    return `TLS certificate not trusted (${e.code})`;
  }
  // OpenSSL's message names its own source file and line; its reason is what a person can act on.
  if (typeof e.code === 'string' && e.code.startsWith('ERR_SSL_') && e.reason) return `TLS failed: ${e.reason}`;
  return e.responseText || e.message || 'connection failed';
}

export function classifyImapError(error: unknown): ImapConnectError {
  if (error instanceof ImapConnectError) return error;
  if (error instanceof HostNotAllowedError) return new ImapConnectError('host_not_allowed', error.message);
  if (error instanceof HostUnresolvableError) return new ImapConnectError('unreachable', error.message);
  if (isResponseLimitError(error)) {
    return new ImapConnectError('response_too_large', `the server sent more than this gateway accepts in one response (${(error as Error).message}); the connection was dropped`);
  }
  const e = error as { authenticationFailed?: boolean; serverResponseCode?: string; responseText?: string };
  if (e.authenticationFailed || e.serverResponseCode === 'AUTHENTICATIONFAILED') {
    return new ImapConnectError('auth_failed', e.responseText || 'the server rejected the user name or password');
  }
  return new ImapConnectError('unreachable', describeNetworkError(error));
}

/**
 * Connects and logs in. Resolves with a ready client; rejects with an {@link ImapConnectError}.
 * The caller owns the client and must attach its own 'error' listener before awaiting anything else.
 */
export async function connectImap(
  settings: ImapSettings,
  credential: ImapCredential,
  options: ImapClientOptions,
  extra: {
    maxIdleTime?: number;
    qresync?: boolean;
    /**
     * When the login must be done by (epoch ms), waiting for a login slot included. By default
     * IMAP_CONNECT_TIMEOUT_SECONDS from when the slot is free.
     */
    deadlineAt?: number;
    /** @default IMAP_RESPONSE_LIMITS */
    responseLimits?: ImapResponseLimits;
  } = {},
): Promise<ImapFlow> {
  const { imap } = options.config;
  if (settings.security === 'none' && !imap.allowInsecure) {
    throw new ImapConnectError('insecure_not_allowed', 'plaintext IMAP is not allowed on this gateway; use tls or starttls');
  }
  // Before any lookup or connection: otherwise registration would probe any port of an allowed host.
  if (!imapPortAllowed(settings.port, imap.allowedPorts)) {
    throw new ImapConnectError('port_not_allowed', `port ${settings.port} is not allowed on this gateway (143, 993 and IMAP_ALLOWED_PORTS are)`);
  }
  const target = await resolveTarget(settings.host, imap).catch((error: unknown) => {
    throw classifyImapError(error);
  });
  const mechanism = typeof credential === 'string' ? undefined : credential.mechanism;
  const tlsServer = `${target.address}|${settings.port}|${target.servername ?? ''}`;
  // Made once a login slot is free, not while the login waits for one: at a worker's start
  // thousands wait, and each would hold a client and be handed the TLS session and key-exchange
  // choice known before the first logins ahead of it taught us better (Dovecot takes no session
  // back: offered anyway to every login queued before three had shown it, it was parsed for
  // nothing, 1.2 % of a 10,000-account bring-up).
  const openClient = () => {
    const tls = settings.security === 'none' ? { rejectUnauthorized: imap.tlsRejectUnauthorized } : tlsOptionsFor(imap, tlsServer);
    const flowOptions: ConstructorParameters<typeof ImapFlow>[0] = {
      host: target.address,
      ...(target.servername ? { servername: target.servername } : {}),
      port: settings.port,
      secure: settings.security === 'tls',
      doSTARTTLS: settings.security === 'starttls' ? true : settings.security === 'none' ? false : undefined,
      auth: imapflowAuth(settings.user, credential),
      tls,
      logger: false,
      connectionTimeout: imap.connectTimeoutMs,
      greetingTimeout: imap.connectTimeoutMs,
      socketTimeout: imap.socketTimeoutMs,
      ...(extra.responseLimits ?? IMAP_RESPONSE_LIMITS),
      // Start IDLE as soon as our own commands are done: an EXISTS is only pushed while idling.
      autoIdleDelay: 0,
      disableCompression: true,
      qresync: extra.qresync ?? false,
      ...(extra.maxIdleTime ? { maxIdleTime: extra.maxIdleTime } : {}),
      missingIdleCommand: 'NOOP',
      clientInfo: { name: 'mailpush', vendor: 'mailpush' },
    };
    const made = mechanism ? new PinnedMechanismImapFlow(flowOptions, mechanism) : new LeanImapFlow(flowOptions);
    // A socket error while connect() is pending rejects connect(); afterwards it is emitted, and an
    // ImapFlow without an 'error' listener would crash the process.
    made.on('error', ignoreError);
    return { client: made, tls };
  };
  let opened: ReturnType<typeof openClient> | undefined;
  try {
    await options.limiter.run(settings.host.toLowerCase(), async () => {
      opened = openClient();
      await withinDeadline(opened.client, opened.client.connect(), extra.deadlineAt ?? Date.now() + imap.connectTimeoutMs, imap.connectTimeoutMs);
      // Still in the slot, so the next login waiting for it is offered what this one taught.
      if (settings.security !== 'none') learnFromHandshake(imap, tlsServer, socketOf(opened.client), opened.tls);
    });
  } catch (error) {
    opened?.client.close();
    throw classifyImapError(error);
  }
  const { client } = opened!;
  // imapflow has no options for these two; its socket (after STARTTLS the TLS one, which passes
  // them on) is a plain field. Leaving IDLE, imapflow writes DONE and the next command back to
  // back: with Nagle's algorithm the command waits for DONE's ACK. And it asks the kernel for a
  // keepalive probe after 5 s of quiet, which at 10,000 quiet mailboxes is 2,000 probes a second
  // (nstat's TcpExtTCPKeepAlive); IMAP_KEEPALIVE_MS still holds NAT state and finds a vanished peer.
  const socket = socketOf(client);
  socket?.setNoDelay?.(true);
  socket?.setKeepAlive?.(true, IMAP_KEEPALIVE_MS);
  shareCapabilities(client);
  return client;
}

/** The part of imapflow's socket mailpush tunes. */
interface TunableSocket {
  setNoDelay?(on: boolean): void;
  setKeepAlive?(on: boolean, delayMs: number): void;
}

/** imapflow's socket (a plain field; after STARTTLS the TLS one). */
function socketOf(client: ImapFlow): TunableSocket | undefined {
  return (client as unknown as { socket?: TunableSocket }).socket;
}

/**
 * Settles with `step`, or closes the connection and rejects once `deadlineAt` passes. imapflow's
 * own timers cannot bound a login or a SELECT: its greeting timeout stops at the greeting, and its
 * socket timeout only sees silence, so a server answering one byte a second would hold the
 * connection (and, at registration, the request) for ever.
 */
export async function withinDeadline<T>(client: ImapFlow, step: Promise<T>, deadlineAt: number, budgetMs: number, what = 'the login'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      client.close();
      reject(new ImapConnectError('unreachable', `the server did not complete ${what} within ${Math.round(budgetMs / 1000)} s`));
    }, Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([step, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Logs in once to prove the credentials, then logs out, all within IMAP_CONNECT_TIMEOUT_SECONDS
 * (waiting for a login slot included): the API request waits on it. On expiry the connection is
 * closed, so a server that stalls cannot keep anything of ours after the request was answered.
 */
export async function verifyImapLogin(settings: ImapSettings, credential: ImapCredential, options: ImapClientOptions): Promise<void> {
  const budgetMs = options.config.imap.connectTimeoutMs;
  const deadlineAt = Date.now() + budgetMs;
  const client = await connectImap(settings, credential, options, { deadlineAt, responseLimits: LOGIN_CHECK_LIMITS });
  // The login worked, which is all we wanted to know: a LOGOUT that stalls is cut at the deadline.
  await withinDeadline(client, client.logout(), deadlineAt, budgetMs).catch(() => client.close());
}
