// A minimal but honest LMTP client (RFC 2033) used to deliver test mail into
// Dovecot exactly the way an MTA would: the message goes through Dovecot's own
// delivery path (mailbox append, index update, IDLE notification), not through
// IMAP APPEND, so IMAP clients see a genuinely "new" message.
//
// No pipelining: one command, one reply. Every reply outside 2xx/3xx aborts
// the transaction and throws an LmtpError carrying the server's reply.
import net from 'node:net';

export interface LmtpDelivery {
  host: string;
  port: number;
  /** Envelope sender (MAIL FROM). Use '' for the null sender <>. */
  from: string;
  /** Envelope recipient(s) (RCPT TO). */
  to: string | string[];
  /** The complete RFC 5322 message. Line endings are normalised to CRLF. */
  raw: string | Buffer;
  /** Name sent with LHLO (default "mailpush-test"). */
  clientName?: string;
  /** Socket inactivity timeout (default 10 s). */
  timeoutMs?: number;
}

export interface LmtpReply {
  code: number;
  /** Reply text lines without the "250-" / "250 " prefixes. */
  lines: string[];
}

export class LmtpError extends Error {
  constructor(
    readonly stage: string,
    readonly reply: LmtpReply | undefined,
    message?: string,
  ) {
    super(
      message ??
        `LMTP ${stage} failed: ${reply ? `${reply.code} ${reply.lines.join(' / ')}` : 'no reply'}`,
    );
    this.name = 'LmtpError';
  }
}

/**
 * Reads CRLF-terminated reply lines from the socket and groups multi-line
 * replies ("250-first", "250-second", "250 last") into one LmtpReply.
 */
class ReplyReader {
  private buffer = '';
  private pendingLines: string[] = [];
  private readonly replies: LmtpReply[] = [];
  private waiter: { resolve: (r: LmtpReply) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('LMTP connection closed by server')));
  }

  next(): Promise<LmtpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let eol: number;
    while ((eol = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, eol);
      this.buffer = this.buffer.slice(eol + 2);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const match = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (!match) {
      this.fail(new Error(`malformed LMTP reply line: ${JSON.stringify(line)}`));
      return;
    }
    const [, code = '', separator, text = ''] = match;
    this.pendingLines.push(text);
    if (separator === '-') return; // continuation line, more to come
    const reply: LmtpReply = { code: Number(code), lines: this.pendingLines };
    this.pendingLines = [];
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(reply);
    else this.replies.push(reply);
  }
}

/**
 * Converts any mix of CRLF / LF / CR line endings to CRLF, dot-stuffs lines
 * that start with "." (RFC 5321 4.5.2) and appends the "." terminator line.
 * Works on bytes (latin1 is a 1:1 byte<->char mapping) so 8-bit content
 * passes through untouched.
 */
export function encodeDataPayload(raw: string | Buffer): Buffer {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  const lines = bytes.toString('latin1').split(/\r\n|\r|\n/);
  // A trailing line break yields one empty last element; drop it so we do
  // not add an extra blank line to the message.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const stuffed = lines.map((line) => (line.startsWith('.') ? `.${line}` : line));
  const body = stuffed.length > 0 ? `${stuffed.join('\r\n')}\r\n` : '';
  return Buffer.from(`${body}.\r\n`, 'latin1');
}

function isPositive(reply: LmtpReply): boolean {
  return reply.code >= 200 && reply.code < 400;
}

/** Delivers one message over LMTP. Resolves only if every recipient got a 2xx after DATA. */
export async function deliverLmtp(delivery: LmtpDelivery): Promise<void> {
  const { host, port, from, raw, clientName = 'mailpush-test', timeoutMs = 10_000 } = delivery;
  const recipients = Array.isArray(delivery.to) ? delivery.to : [delivery.to];
  if (recipients.length === 0) throw new Error('deliverLmtp: no recipients');
  for (const address of [from, ...recipients]) {
    if (/[\r\n<>]/.test(address)) throw new Error(`deliverLmtp: invalid address ${JSON.stringify(address)}`);
  }

  const socket = net.connect({ host, port });
  const reader = new ReplyReader(socket);
  socket.setTimeout(timeoutMs, () => {
    reader.fail(new Error(`LMTP ${host}:${port}: no reply within ${timeoutMs} ms`));
    socket.destroy();
  });

  // Sends one command (or nothing, for the greeting) and checks its reply.
  const step = async (stage: string, command?: string | Buffer): Promise<LmtpReply> => {
    if (command !== undefined) socket.write(typeof command === 'string' ? `${command}\r\n` : command);
    const reply = await reader.next();
    if (!isPositive(reply)) throw new LmtpError(stage, reply);
    return reply;
  };

  let completed = false;
  try {
    await step('greeting');
    await step('LHLO', `LHLO ${clientName}`);
    await step('MAIL FROM', `MAIL FROM:<${from}>`);
    for (const rcpt of recipients) await step(`RCPT TO <${rcpt}>`, `RCPT TO:<${rcpt}>`);
    await step('DATA', 'DATA');
    // LMTP's difference from SMTP: after the terminating dot the server
    // answers once per accepted recipient, in RCPT order.
    socket.write(encodeDataPayload(raw));
    const failures: string[] = [];
    for (const rcpt of recipients) {
      const reply = await reader.next();
      if (!isPositive(reply)) failures.push(`<${rcpt}>: ${reply.code} ${reply.lines.join(' / ')}`);
    }
    if (failures.length > 0) {
      throw new LmtpError('DATA', undefined, `LMTP delivery failed for ${failures.join('; ')}`);
    }
    await step('QUIT', 'QUIT');
    completed = true;
  } finally {
    if (!completed && !socket.destroyed) socket.write('QUIT\r\n');
    socket.end();
    socket.destroy();
  }
}
