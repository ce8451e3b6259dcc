// `mailpush check-imap`: tells an operator (or a user) whether push can work with an IMAP server,
// and if not, why. It connects the way a worker does (same client, same options), then reports
// what matters for push: TLS, login, the capabilities (IDLE above all), and, when asked to watch,
// how long the server takes from storing a message to announcing it with EXISTS.
//
// The gateway's address rules (IMAP_ALLOW_PRIVATE, IMAP_ALLOWED_HOSTS) are not applied: this is
// the operator's own tool, pointed at a server on purpose.

import { connect as tcpConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ImapFlow } from 'imapflow';
import type { ImapSecurity } from '../config.js';
import { connectImap, type ImapConnectError } from './client.js';
import { HostLimiter } from './host-limiter.js';

export interface CheckImapOptions {
  host: string;
  port: number;
  security: ImapSecurity;
  user: string;
  mailbox: string;
  /** Also accept a certificate that does not verify (and say so). */
  insecureTls: boolean;
  /** Wait up to this long for new mail and time its EXISTS; 0 = do not watch. */
  watchSeconds: number;
  timeoutSeconds: number;
  /** With watchSeconds: told the new message's UID and when its EXISTS came (ms since epoch). */
  onNewMail?(uid: number, existsAt: number): void;
}

/** Writes one report line: a label and what was found. */
export type ReportLine = (label: string, text: string) => void;

/** The capabilities push relies on, with what having or missing each one means for a user. */
const PUSH_CAPABILITIES: Array<{ name: string; yes: string; no: string }> = [
  {
    name: 'IDLE',
    yes: 'the server announces new mail the moment it arrives',
    no: 'mailpush has to poll every IMAP_POLL_INTERVAL_SECONDS (default 60 s), so notifications come late',
  },
  {
    name: 'QRESYNC',
    yes: 'mail read or deleted elsewhere is reported by UID, so its notification can be dismissed',
    no: 'mail deleted elsewhere cannot always be matched to its notification',
  },
  {
    name: 'METADATA',
    yes: 'a Dovecot with push_notification can tell mailpush of each delivery at once (contrib/dovecot/; try --hook-port)',
    no: 'no server-assisted push: new mail is heard of through IDLE only',
  },
  {
    name: 'CONDSTORE',
    yes: 'flag changes are tracked by modification sequence',
    no: 'flag changes made while disconnected may go unnoticed',
  },
];

/** Time of a plain TCP connect, separately from TLS and login, so a slow network shows as such. */
function tcpConnectTime(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = tcpConnect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(performance.now() - started);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    socket.once('error', reject);
  });
}

const ms = (value: number) => `${Math.round(value)} ms`;

function describeTls(client: ImapFlow): string | undefined {
  const socket = (client as unknown as { socket?: TLSSocket }).socket;
  if (!socket || typeof socket.getProtocol !== 'function') return undefined;
  const cipher = socket.getCipher();
  const peer = socket.getPeerCertificate();
  const subject = peer?.subject?.CN ? `CN=${peer.subject.CN}` : 'no subject';
  const trust = socket.authorized
    ? 'certificate verified'
    : `certificate NOT verified (${String(socket.authorizationError ?? 'unknown reason')}); accepted only because of --insecure-tls`;
  return `${socket.getProtocol() ?? 'TLS'} ${cipher?.name ?? ''}, ${subject}, ${trust}`;
}

/** Runs the check; resolves with the exit code (0: push can work, 1: it cannot). */
export async function checkImap(options: CheckImapOptions, password: string, line: ReportLine): Promise<number> {
  const timeoutMs = options.timeoutSeconds * 1000;
  line('server', `${options.host}:${options.port} (${options.security})`);
  try {
    line('tcp', `connected in ${ms(await tcpConnectTime(options.host, options.port, timeoutMs))}`);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    line('tcp', `FAILED: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}; check the host, the port and any firewall`);
    return 1;
  }

  const started = performance.now();
  let client: ImapFlow;
  try {
    client = await connectImap(
      { host: options.host, port: options.port, security: options.security, user: options.user },
      password,
      {
        config: {
          imap: {
            allowedHosts: [], allowedPorts: 'any', allowPrivate: true, allowInsecure: true, tlsRejectUnauthorized: !options.insecureTls,
            defaultSecurity: options.security, idleRestartMs: 300_000, socketTimeoutMs: Math.max(timeoutMs, (options.watchSeconds + 30) * 1000),
            connectConcurrency: 1, connectTimeoutMs: timeoutMs, pollIntervalMs: 60_000, reconnectMinMs: 1000, reconnectMaxMs: 60_000,
            authRetryMs: 3600_000,
          },
        },
        limiter: new HostLimiter(1),
      },
      { qresync: true },
    );
  } catch (error) {
    const failure = error as ImapConnectError;
    const advice = failure.kind === 'auth_failed'
      ? 'check the user name and password (some providers need an app password)'
      : failure.kind === 'response_too_large' ? 'the server is broken or hostile: a worker would drop it the same way'
      : /certificate/i.test(failure.message) ? 'the server\'s certificate does not verify; fix it, or see what else works with --insecure-tls'
      : 'check the host, port and security (tls on 993, starttls or none on 143)';
    line('login', `FAILED: ${failure.message}; ${advice}`);
    return 1;
  }
  client.on('error', () => undefined);
  try {
    const tls = describeTls(client);
    line('tls', tls ?? (options.security === 'none' ? 'none: the password crossed the network in plaintext' : 'unknown'));
    line('login', `ok as ${options.user} in ${ms(performance.now() - started)} (TLS, greeting, CAPABILITY and LOGIN)`);
    const capabilities = [...client.capabilities.keys()];
    line('capability', capabilities.join(' '));
    for (const { name, yes, no } of PUSH_CAPABILITIES) line(name, client.capabilities.has(name) ? `yes: ${yes}` : `no: ${no}`);
    const mailbox = await client.mailboxOpen(options.mailbox).catch((error: { responseText?: string; message?: string }) => {
      throw new Error(`cannot open ${options.mailbox}: ${error.responseText ?? error.message ?? 'no such mailbox'}`);
    });
    line('mailbox', `${options.mailbox}: ${mailbox.exists} messages, UIDVALIDITY ${String(mailbox.uidValidity)}, UIDNEXT ${mailbox.uidNext}`);
    if (options.watchSeconds > 0) await watch(client, options, mailbox.uidNext, line);
    return 0;
  } catch (error) {
    line('error', (error as Error).message);
    return 1;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Waits for the next new message and reports how long the server took to announce it. */
async function watch(client: ImapFlow, options: CheckImapOptions, uidNext: number, line: ReportLine): Promise<void> {
  const idle = client.capabilities.has('IDLE');
  line('watching', `${options.mailbox} for up to ${options.watchSeconds} s${idle ? ' (IDLE)' : ' (no IDLE: polling with NOOP)'}; send a message to ${options.user} now`);
  const existsAt = await new Promise<number | undefined>((resolve) => {
    // Without IDLE the server only tells us when we ask: ask every second while watching.
    const poll = idle ? undefined : setInterval(() => void client.noop().catch(() => undefined), 1000);
    const finish = (at: number | undefined) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(at);
    };
    const timer = setTimeout(() => finish(undefined), options.watchSeconds * 1000);
    client.once('exists', () => finish(Date.now()));
  });
  if (existsAt === undefined) {
    line('new mail', `none within ${options.watchSeconds} s`);
    return;
  }
  const [message] = await client.fetchAll(`${uidNext}:*`, { uid: true, internalDate: true, envelope: true }, { uid: true });
  if (!message) {
    line('new mail', 'EXISTS arrived, but no message above the old UIDNEXT (a message was moved in, then out?)');
    return;
  }
  const stored = message.internalDate ? new Date(message.internalDate).getTime() : undefined;
  const from = message.envelope?.from?.[0]?.address ?? 'unknown sender';
  const delay = stored === undefined ? 'the server gave no INTERNALDATE' : `EXISTS came ${ms(Math.max(0, existsAt - stored))} after the server stored it (INTERNALDATE has whole seconds: ±1 s)`;
  line('new mail', `UID ${message.uid} from ${from}: ${delay}`);
  options.onNewMail?.(message.uid, existsAt);
}
