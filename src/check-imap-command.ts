// Command-line side of `mailpush check-imap`: arguments, the password prompt, and printing the
// report. The check itself is src/imap/check.ts.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { IMAP_SECURITIES, type ImapSecurity } from './protocol/accounts.js';
import { checkImap } from './imap/check.js';
import { listenForHints, type HeardHint } from './imap/dovecot-hint-listener.js';


function seconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new Error(`--${name} must be a whole number of seconds from 1 to 3600`);
  return n;
}

/**
 * Reads the password without echoing it on a terminal; from a pipe, its first line. It is never
 * taken from the command line, where it would land in shell history and `ps`.
 */
function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: stdin });
      lines.once('line', (line) => {
        resolve(line); // before close(), whose 'close' event would otherwise reject first
        lines.close();
      });
      lines.once('close', () => reject(new Error('no password on standard input')));
    });
  }
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(() => resolve(typed));
        if (char === '\u0003') return finish(() => reject(new Error('cancelled')));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    const finish = (done: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      done();
    };
    stdin.on('data', onData);
  });
}

export async function runCheckImap(args: string[], help: string): Promise<number> {
  let options;
  let hookPort: number | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: {
        host: { type: 'string' },
        user: { type: 'string' },
        port: { type: 'string' },
        security: { type: 'string', default: 'tls' },
        mailbox: { type: 'string', default: 'INBOX' },
        watch: { type: 'boolean', default: false },
        'watch-timeout': { type: 'string' },
        timeout: { type: 'string' },
        'insecure-tls': { type: 'boolean', default: false },
        'hook-port': { type: 'string' },
      },
      strict: true,
    });
    if (!values.host || !values.user) throw new Error('--host and --user are required');
    const security = values.security as ImapSecurity;
    if (!IMAP_SECURITIES.includes(security)) throw new Error(`--security must be one of ${IMAP_SECURITIES.join(', ')}`);
    const port = values.port === undefined ? (security === 'tls' ? 993 : 143) : Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--port must be a port number');
    hookPort = values['hook-port'] === undefined ? undefined : Number(values['hook-port']);
    if (hookPort !== undefined && (!values.watch || !Number.isInteger(hookPort) || hookPort < 0 || hookPort > 65535)) {
      throw new Error('--hook-port needs --watch and a port number (0 picks a free one)');
    }
    options = {
      host: values.host,
      user: values.user,
      port,
      security,
      mailbox: values.mailbox,
      insecureTls: values['insecure-tls'],
      watchSeconds: values.watch ? seconds(values['watch-timeout'], 300, 'watch-timeout') : 0,
      timeoutSeconds: seconds(values.timeout, 15, 'timeout'),
    };
  } catch (error) {
    process.stderr.write(`mailpush check-imap: ${(error as Error).message}\n\n${help}\n`);
    return 2;
  }
  let password: string;
  try {
    password = await readPassword(`Password for ${options.user} at ${options.host}: `);
  } catch (error) {
    process.stderr.write(`mailpush check-imap: ${(error as Error).message}\n`);
    return 2;
  }
  const line = (label: string, text: string) => process.stdout.write(`${label.padEnd(11)} ${text}\n`);
  if (hookPort === undefined) return checkImap(options, password, line);
  let listener;
  try {
    listener = await listenForHints(hookPort);
  } catch (error) {
    process.stderr.write(`mailpush check-imap: cannot listen on 127.0.0.1:${hookPort}: ${(error as Error).message}\n`);
    return 2;
  }
  line('hook', `listening on ${listener.url} for Dovecot's push_notification (point the OX driver's url= here while watching)`);
  let newMail: { uid: number; existsAt: number } | undefined;
  try {
    const status = await checkImap({ ...options, onNewMail: (uid, existsAt) => (newMail = { uid, existsAt }) }, password, line);
    if (newMail) line('dovecot push', describeHint(listener.heard, newMail, options.user));
    return status;
  } finally {
    await listener.close();
  }
}

/** Whether a hint for the new message came, and how long before (or after) its EXISTS. */
function describeHint(heard: HeardHint[], mail: { uid: number; existsAt: number }, user: string): string {
  // UID 0: Dovecot had not assigned it yet (concurrent deliveries); it still names this delivery.
  const hint = heard.find((h) => h.uid === mail.uid) ?? heard.find((h) => h.uid === 0);
  if (!hint) {
    const other = heard.length ? `; ${heard.length} other request(s) came (users ${[...new Set(heard.map((h) => h.user ?? '?'))].join(', ')})` : '';
    return `no hint for UID ${mail.uid}: is push_notification loaded for LMTP, the driver's url= pointing here, and ${user}'s /private/vendor/vendor.dovecot/http-notify METADATA set${other}`;
  }
  const lead = mail.existsAt - hint.at;
  const when = lead >= 0 ? `${lead} ms before the EXISTS` : `${-lead} ms after the EXISTS`;
  return `hint for UID ${hint.uid} (user "${hint.user ?? '?'}") arrived ${when}: with mailpush's hook, new mail is fetched that much sooner`;
}
