// Opening IMAP connections the way every part of mailpush must: to a checked address (SSRF),
// with TLS verified against the host name, within the per-host login limit, and with timeouts.

import { ImapFlow } from 'imapflow';
import { imapPortAllowed, type Config } from '../config.js';
import { HostNotAllowedError, HostUnresolvableError, resolveTarget } from '../core/address-policy.js';
import type { ImapSettings } from '../core/types.js';
import type { HostLimiter } from './host-limiter.js';

export type ImapFailureKind = 'auth_failed' | 'host_not_allowed' | 'port_not_allowed' | 'insecure_not_allowed' | 'mailbox_missing' | 'unreachable';

/** Why a connection could not be made, in words safe to show the account's owner. */
export class ImapConnectError extends Error {
  constructor(readonly kind: ImapFailureKind, message: string) {
    super(message);
    this.name = 'ImapConnectError';
  }
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
  password: string,
  options: ImapClientOptions,
  extra: { maxIdleTime?: number; qresync?: boolean } = {},
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
  const client = new ImapFlow({
    host: target.address,
    ...(target.servername ? { servername: target.servername } : {}),
    port: settings.port,
    secure: settings.security === 'tls',
    doSTARTTLS: settings.security === 'starttls' ? true : settings.security === 'none' ? false : undefined,
    auth: { user: settings.user, pass: password },
    tls: { rejectUnauthorized: imap.tlsRejectUnauthorized },
    logger: false,
    connectionTimeout: imap.connectTimeoutMs,
    greetingTimeout: imap.connectTimeoutMs,
    socketTimeout: imap.socketTimeoutMs,
    // Start IDLE as soon as our own commands are done: an EXISTS is only pushed while idling.
    autoIdleDelay: 0,
    disableCompression: true,
    qresync: extra.qresync ?? false,
    ...(extra.maxIdleTime ? { maxIdleTime: extra.maxIdleTime } : {}),
    missingIdleCommand: 'NOOP',
    clientInfo: { name: 'mailpush', vendor: 'mailpush' },
  });
  // A socket error while connect() is pending rejects connect(); afterwards it is emitted, and an
  // ImapFlow without an 'error' listener would crash the process.
  client.on('error', () => undefined);
  try {
    await options.limiter.run(settings.host.toLowerCase(), () => client.connect());
  } catch (error) {
    client.close();
    throw classifyImapError(error);
  }
  return client;
}

/** Logs in once to prove the credentials, then logs out. */
export async function verifyImapLogin(settings: ImapSettings, password: string, options: ImapClientOptions): Promise<void> {
  const client = await connectImap(settings, password, options);
  await client.logout().catch(() => client.close());
}
