// A mailbox import as a mail client does it: messages appended to another folder, then copied into
// INBOX with one COPY, so a watching worker hears one EXISTS announcing all of them at once.

import { ImapFlow } from 'imapflow';
import type { DovecotUser } from './dovecot.js';
import { buildMessage } from './message.js';

export async function importIntoInbox(
  imapPort: number,
  user: DovecotUser,
  count: number,
  /** Checked on the logged-in connection before the import, e.g. which extensions the server offers. */
  checkServer?: (imap: ImapFlow) => void,
): Promise<void> {
  const imap = new ImapFlow({ host: '127.0.0.1', port: imapPort, secure: false, doSTARTTLS: false, auth: { user: user.user, pass: user.pass }, logger: false });
  imap.on('error', () => undefined);
  await imap.connect();
  try {
    checkServer?.(imap);
    await imap.mailboxCreate('Import');
    for (let i = 0; i < count; i++) await imap.append('Import', buildMessage({ from: { address: 'sender@example.test' }, to: user.email, subject: `imported ${i}` }));
    await imap.mailboxOpen('Import');
    await imap.messageCopy('1:*', 'INBOX');
  } finally {
    await imap.logout();
  }
}
