// What every TLS connection to an IMAP server shares in one process: one SecureContext, and the
// last TLS session per server for resumption.
//
// Why: tls.connect() without `secureContext` builds a new OpenSSL SSL_CTX per connection, which
// with a `ca` option also parses the whole root store again: memory per mailbox that buys nothing,
// since every connection trusts the same roots. And a full handshake costs the server and us an
// RSA/ECDSA signature and key exchange each; a worker starting (or reconnecting after a server
// restart) thousands of mailboxes on one host repeats it thousands of times, where a resumed
// session (a TLS 1.3 ticket or a 1.2 session) skips the certificate exchange and its checks.
// A resumed session was verified when it was first made, under the same trust settings (the
// cache belongs to one config), so resuming does not weaken verification.

import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { Config } from '../config.js';

/** Servers whose session is kept; beyond it the least recently stored is dropped. A session is ~2 KiB. */
export const TLS_SESSION_HOSTS = 1000;

/**
 * Offered sessions a server may leave unused in a row before it is offered none for a while.
 * Dovecot 2.3 sends tickets and never takes one back; offering them there cost the worker a
 * session parsed per login (1 % of a 10,000-account cold start) and a larger ClientHello, for nothing.
 */
export const TLS_RESUME_MISSES = 3;

/** How long a server that resumes nothing is offered no session, before it is tried again. */
export const TLS_RESUME_RETRY_MS = 60 * 60_000;

interface ServerSessions {
  /** The last session the server gave us. */
  session?: Buffer;
  /** Offered sessions the server did not resume, in a row. */
  misses: number;
  /** While set and in the future: offer it no session, keep none. */
  pausedUntil?: number;
}

export class TlsSessionCache {
  private readonly servers = new Map<string, ServerSessions>();

  constructor(private readonly limit = TLS_SESSION_HOSTS, private readonly now = Date.now) {}

  /** The session to offer `server`, if any and if it resumes sessions at all. */
  get(server: string): Buffer | undefined {
    return this.offering(server) ? this.servers.get(server)?.session : undefined;
  }

  /** False while `server` has shown it resumes nothing: then its sessions are not worth keeping. */
  offering(server: string): boolean {
    const pausedUntil = this.servers.get(server)?.pausedUntil;
    return pausedUntil === undefined || pausedUntil <= this.now();
  }

  set(server: string, session: Buffer): void {
    const entry = this.servers.get(server) ?? { misses: 0 };
    this.servers.delete(server);
    this.servers.set(server, { ...entry, session });
    if (this.servers.size > this.limit) this.servers.delete(this.servers.keys().next().value!);
  }

  /** After a handshake that offered a session: whether the server resumed it. */
  offered(server: string, resumed: boolean): void {
    const entry = this.servers.get(server);
    if (!entry) return;
    if (resumed) {
      entry.misses = 0;
      delete entry.pausedUntil;
    } else if (++entry.misses >= TLS_RESUME_MISSES) {
      entry.misses = 0;
      entry.pausedUntil = this.now() + TLS_RESUME_RETRY_MS;
      delete entry.session;
    }
  }

  get size(): number {
    return this.servers.size;
  }
}

interface SharedTls {
  context: SecureContext;
  sessions: TlsSessionCache;
}

const shared = new WeakMap<Config['imap'], SharedTls>();

function sharedFor(imap: Config['imap']): SharedTls {
  let found = shared.get(imap);
  if (!found) {
    // `ca` replaces Node's roots, so a private CA is added to them, not put in their place.
    const context = createSecureContext({
      ...(imap.tlsCa ? { ca: [...rootCertificates, imap.tlsCa] } : {}),
      ...(imap.tlsGroups ? { ecdhCurve: imap.tlsGroups } : {}),
    });
    found = { context, sessions: new TlsSessionCache() };
    shared.set(imap, found);
  }
  return found;
}

/** The `tls` options for one connection to `server` (address|port|name): shared context, last session. */
export function tlsOptionsFor(imap: Config['imap'], server: string): ConnectionOptions {
  const { context, sessions } = sharedFor(imap);
  const session = sessions.get(server);
  return { rejectUnauthorized: imap.tlsRejectUnauthorized, secureContext: context, ...(session ? { session } : {}) };
}

/**
 * Keeps the session of a connection that logged in, for the next connection to `server`, and
 * notes whether the server resumed the one this connection offered. Called after the login, when
 * a TLS 1.3 server has sent its tickets. Plaintext sockets have none.
 */
export function rememberTlsSession(imap: Config['imap'], server: string, socket: unknown, offered: boolean): void {
  const tls = socket as Partial<TLSSocket> | undefined;
  const { sessions } = sharedFor(imap);
  if (offered) sessions.offered(server, tls?.isSessionReused?.() === true);
  if (!sessions.offering(server)) return;
  const session = tls?.getSession?.();
  if (session) sessions.set(server, session);
}
