// Opting an account in to Dovecot's push notifications, and out again. Dovecot's push_notification
// plugin (OX driver) notifies a user's deliveries only while the user's server METADATA entry
// /private/vendor/vendor.dovecot/http-notify is set (RFC 5464 SETMETADATA); its value
// "user=<login>" is what Dovecot then sends back as the notification's "user", which the hook
// routes by. See contrib/dovecot/ for the server side.

import type { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import { connectImap, type ImapClientOptions } from '../../imap/client.js';
import type { ImapSettings } from '../../core/types.js';

export const HTTP_NOTIFY_KEY = '/private/vendor/vendor.dovecot/http-notify';

type Attribute = { type: 'ATOM' | 'STRING'; value: string } | Attribute[];
/**
 * imapflow has no SETMETADATA command, but its (untyped) `exec` sends any command through the
 * connection's queue. Its answer parks the connection's reader until `next()` is called: a caller
 * that forgets it leaves the connection's next command waiting for ever (what an earlier attempt
 * ran into); here next() is always called.
 */
type Exec = (command: string, attributes: Attribute[]) => Promise<{ next(): void }>;

/**
 * Sets (login) or removes (null) the http-notify entry on an authenticated connection, before it
 * SELECTs (no IDLE to break). False when the server offers no METADATA, so nothing was asked.
 */
export async function setHttpNotify(client: ImapFlow, login: string | null): Promise<boolean> {
  if (!client.capabilities.has('METADATA')) return false;
  const exec = (client as unknown as { exec: Exec }).exec.bind(client);
  const value: Attribute = login === null ? { type: 'ATOM', value: 'NIL' } : { type: 'STRING', value: `user=${login}` };
  const answer = await exec('SETMETADATA', [{ type: 'STRING', value: '' }, [{ type: 'STRING', value: HTTP_NOTIFY_KEY }, value]]);
  answer.next();
  return true;
}

/**
 * Opts a watcher's connection in, after login and before SELECT (no IDLE running). Never fails:
 * a server that refuses only costs the fast path, IDLE still brings the mail.
 */
export async function optInToDovecotPush(client: ImapFlow, login: string, log: Logger, mailbox: string): Promise<void> {
  await setHttpNotify(client, login).then(
    (done) => log.debug({ mailbox, metadata: done }, done ? 'opted in to Dovecot push notifications' : 'server offers no METADATA: IDLE only'),
    (error: unknown) => log.info({ err: (error as Error).message }, 'could not set Dovecot http-notify METADATA; IDLE only'),
  );
}

/**
 * Removes the entry over a short-lived connection of its own: used when the account is deleted,
 * after its watchers have logged out, so Dovecot stops notifying deliveries nobody watches.
 */
export async function optOutOfDovecotPush(settings: ImapSettings, password: string, imap: ImapClientOptions): Promise<boolean> {
  const client = await connectImap(settings, password, imap);
  try {
    return await setHttpNotify(client, null);
  } finally {
    await client.logout().catch(() => client.close());
  }
}
