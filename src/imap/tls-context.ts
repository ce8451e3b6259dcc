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

export class TlsSessionCache {
  private readonly sessions = new Map<string, Buffer>();

  constructor(private readonly limit = TLS_SESSION_HOSTS) {}

  get(server: string): Buffer | undefined {
    return this.sessions.get(server);
  }

  set(server: string, session: Buffer): void {
    this.sessions.delete(server);
    this.sessions.set(server, session);
    if (this.sessions.size > this.limit) this.sessions.delete(this.sessions.keys().next().value!);
  }

  get size(): number {
    return this.sessions.size;
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
 * Keeps the session of a connection that logged in, for the next connection to `server`. Called
 * after the login, when a TLS 1.3 server has sent its tickets. Plaintext sockets have none.
 */
export function rememberTlsSession(imap: Config['imap'], server: string, socket: unknown): void {
  const session = (socket as Partial<TLSSocket> | undefined)?.getSession?.();
  if (session) sharedFor(imap).sessions.set(server, session);
}
