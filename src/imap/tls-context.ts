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
//
// Key exchange: Node 24 offers the post-quantum hybrid X25519MLKEM768 first and sends its key
// share in every ClientHello. Most IMAP servers today cannot use it (Dovecot on OpenSSL 3.0
// answers X25519), and then the share was made for nothing: about 8 KiB kept for the connection's
// life, and a quarter of a millisecond of CPU per handshake (docs/benchmarks.md). So a server
// that answered a classical group is offered classical groups only, for an hour, and then the
// hybrid again, so a server that gains it is noticed. No one on the path can fake that answer:
// the server's choice is covered by its signature and the Finished messages of a verified handshake.

import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { Config } from '../config.js';

/** Servers remembered (a session of ~2 KiB and what they take); beyond it the least recently stored is dropped. */
export const TLS_SESSION_HOSTS = 1000;

/**
 * Offered sessions a server may leave unused in a row before it is offered none for a while.
 * Dovecot 2.3 with a login process per connection (its default) sends tickets and never takes one
 * back; offering them there cost the worker a session parsed per login (1 % of a 10,000-account
 * cold start) and a larger ClientHello, for nothing. (In high-performance mode, `service_count = 0`,
 * each login process resumes the tickets it issued itself.)
 */
export const TLS_RESUME_MISSES = 3;

/** How long a server that resumes nothing is offered no session, before it is tried again. */
export const TLS_RESUME_RETRY_MS = 60 * 60_000;

/** The group list offered to a server known not to take the post-quantum hybrid. */
export const CLASSICAL_TLS_GROUPS = 'X25519:P-256:P-384';

/** How long a server that answered a classical group is offered no hybrid key share. */
export const TLS_HYBRID_RETRY_MS = 60 * 60_000;

/** The hybrid Node's OpenSSL leads with, if it knows it (OpenSSL 3.5, Node 24; not Node 22). */
const HYBRID_GROUP = 'X25519MLKEM768';
const hybridKnown = (() => {
  try {
    createSecureContext({ ecdhCurve: HYBRID_GROUP });
    return true;
  } catch {
    return false;
  }
})();

interface ServerTls {
  /** The last session the server gave us. */
  session?: Buffer;
  /** Offered sessions the server did not resume, in a row. */
  misses: number;
  /** While in the future: offer it no session, keep none. */
  noSessionsUntil?: number;
  /** While in the future: offer it classical groups only (it answered one to the hybrid). */
  classicalUntil?: number;
}

/** What a worker has learnt of each TLS server it logs in to: its last session, and what it takes. */
export class TlsServerMemory {
  private readonly servers = new Map<string, ServerTls>();

  constructor(private readonly limit = TLS_SESSION_HOSTS, private readonly now = Date.now) {}

  /** The session to offer `server`, if any and if it resumes sessions at all. */
  get(server: string): Buffer | undefined {
    return this.offering(server) ? this.servers.get(server)?.session : undefined;
  }

  /** False while `server` has shown it resumes nothing: then its sessions are not worth keeping. */
  offering(server: string): boolean {
    return !this.within(this.servers.get(server)?.noSessionsUntil);
  }

  set(server: string, session: Buffer): void {
    this.entry(server).session = unpooledCopy(session);
  }

  /** After a handshake that offered a session: whether the server resumed it. */
  offered(server: string, resumed: boolean): void {
    const entry = this.servers.get(server);
    if (!entry) return;
    if (resumed) {
      entry.misses = 0;
      delete entry.noSessionsUntil;
    } else if (++entry.misses >= TLS_RESUME_MISSES) {
      entry.misses = 0;
      entry.noSessionsUntil = this.now() + TLS_RESUME_RETRY_MS;
      delete entry.session;
    }
  }

  /** True while `server` is to be offered classical groups only. */
  classical(server: string): boolean {
    return this.within(this.servers.get(server)?.classicalUntil);
  }

  /** After a handshake that offered the hybrid: the group the server chose. */
  agreed(server: string, group: string | undefined): void {
    if (group === HYBRID_GROUP) delete this.servers.get(server)?.classicalUntil;
    else if (group) this.entry(server).classicalUntil = this.now() + TLS_HYBRID_RETRY_MS;
  }

  private within(until: number | undefined): boolean {
    return until !== undefined && until > this.now();
  }

  /** The server's entry, made the most recently used; beyond `limit` the least recent is dropped. */
  private entry(server: string): ServerTls {
    const entry = this.servers.get(server) ?? { misses: 0 };
    this.servers.delete(server);
    this.servers.set(server, entry);
    if (this.servers.size > this.limit) this.servers.delete(this.servers.keys().next().value!);
    return entry;
  }
}

interface SharedTls {
  context: SecureContext;
  /** The same trust with classical groups only, when the default leads with the hybrid. */
  classicalContext?: SecureContext;
  servers: TlsServerMemory;
}

const shared = new WeakMap<Config['imap'], SharedTls>();

function sharedFor(imap: Config['imap']): SharedTls {
  let found = shared.get(imap);
  if (!found) {
    // `ca` replaces Node's roots, so a private CA is added to them, not put in their place.
    const ca = imap.tlsCa ? { ca: [...rootCertificates, imap.tlsCa] } : {};
    const context = createSecureContext({ ...ca, ...(imap.tlsGroups ? { ecdhCurve: imap.tlsGroups } : {}) });
    // Groups the operator chose (IMAP_TLS_GROUPS) are offered to every server as they are.
    const adaptive = !imap.tlsGroups && hybridKnown;
    found = { context, ...(adaptive ? { classicalContext: createSecureContext({ ...ca, ecdhCurve: CLASSICAL_TLS_GROUPS }) } : {}), servers: new TlsServerMemory() };
    shared.set(imap, found);
  }
  return found;
}

/**
 * `session` in memory of its own. Node 24 hands a session out as a slice of its 64 KiB Buffer pool
 * (`Buffer.poolSize`), so keeping one session of ~1.2 KiB would keep the memory of the whole pool.
 * Not `Buffer.from` or `Buffer.copyBytesFrom`: in Node 24 both take a copy this small from the pool too.
 */
function unpooledCopy(session: Buffer): Buffer {
  const bytes = new Uint8Array(session.length);
  bytes.set(session);
  return Buffer.from(bytes.buffer, 0, bytes.length);
}

/**
 * The session copies handed to connections, released once they have been offered. Each option
 * object a connection is opened with lives as long as the connection (imapflow's copy of its
 * options is held by its handlers, Node's TLSSocket keeps its own two), and every one of them holds
 * the session: on a server that resumes sessions, a session and its share of a pool slab per
 * connection, 2.1 KiB each in heap snapshots of 1,000 (docs/benchmarks.md, "The session each
 * connection was offered").
 */
const offeredCopies = new WeakSet<Buffer>();

/** `transfer` (ES2024; Node 22 and later): moves the bytes out, leaving every view on them empty. */
type TransferableArrayBuffer = ArrayBuffer & { transfer?(length: number): ArrayBuffer };

/** The `tls` options for one connection to `server` (address|port|name): shared context, last session. */
export function tlsOptionsFor(imap: Config['imap'], server: string): ConnectionOptions {
  const { context, classicalContext, servers } = sharedFor(imap);
  const kept = servers.get(server);
  const secureContext = classicalContext && servers.classical(server) ? classicalContext : context;
  const session = kept && unpooledCopy(kept);
  if (session) offeredCopies.add(session);
  return { rejectUnauthorized: imap.tlsRejectUnauthorized, secureContext, ...(session ? { session } : {}) };
}

/**
 * Frees the bytes of the session copy `offered` carried, once the handshake has used it (OpenSSL
 * parsed it into its own object when the connection was set up). The options objects that refer to
 * it keep an empty Buffer. Only copies made by {@link tlsOptionsFor} are touched: detaching a slice
 * of Node's pool would empty every other Buffer on it.
 */
function releaseOfferedSession(offered: ConnectionOptions): void {
  const session = offered.session;
  if (!Buffer.isBuffer(session) || !offeredCopies.delete(session)) return;
  (session.buffer as TransferableArrayBuffer).transfer?.(0);
}

/**
 * Learns from a connection that logged in: keeps its session for the next connection to
 * `server`, notes whether the server resumed the session this one offered, and which key exchange
 * it chose when offered the hybrid; and frees the bytes of the session it was offered. Called
 * after the login, when a TLS 1.3 server has sent its tickets. Plaintext sockets teach nothing.
 */
export function learnFromHandshake(imap: Config['imap'], server: string, socket: unknown, offered: ConnectionOptions): void {
  const tls = socket as Partial<TLSSocket> | undefined;
  const { context, classicalContext, servers } = sharedFor(imap);
  if (offered.session) servers.offered(server, tls?.isSessionReused?.() === true);
  releaseOfferedSession(offered);
  if (classicalContext && offered.secureContext === context) {
    servers.agreed(server, (tls?.getEphemeralKeyInfo?.() as { name?: string } | null | undefined)?.name);
  }
  if (!servers.offering(server)) return;
  const session = tls?.getSession?.();
  if (session) servers.set(server, session);
}
